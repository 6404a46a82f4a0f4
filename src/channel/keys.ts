// Access keys: 32 bytes in base64url, distinct for the writer and the reader, so a reader ref
// cannot write. Only SHA-256 digests are stored; they are compared in constant time.
//
// With a signing secret (III_SIGNING_SECRET) a key is 16 random bytes followed by the first 16
// bytes of HMAC-SHA256(secret, "<channel_id>:<direction>:<random part>"): the front door can then
// refuse forged or wrong-direction keys before any Durable Object wakes. Without one, all 32
// bytes are random and only the channel object can tell a good key from a bad one.

import type { Direction } from '../protocol/refs'

const encoder = new TextEncoder()

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')

function fromBase64url(text: string): Uint8Array {
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
  return Uint8Array.from(bin, (c) => c.charCodeAt(0))
}

/** 32 random bytes, for keys without a signing secret and for reattach tokens. */
export function newRandomKey(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)))
}

async function signature(secret: string, channelId: string, direction: Direction, nonce: Uint8Array): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const message = new Uint8Array([...encoder.encode(`${channelId}:${direction}:`), ...nonce])
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, message)).slice(0, 16)
}

/** A new access key for one end of a channel: signed when a secret is configured. */
export async function newAccessKey(channelId: string, direction: Direction, secret?: string): Promise<string> {
  if (!secret) return newRandomKey()
  const nonce = crypto.getRandomValues(new Uint8Array(16))
  return base64url(new Uint8Array([...nonce, ...(await signature(secret, channelId, direction, nonce))]))
}

/** Was `key` signed with `secret` for this channel and direction? (Keys are already shape-checked.) */
export async function keySigned(key: string, channelId: string, direction: Direction, secret: string): Promise<boolean> {
  const bytes = fromBase64url(key)
  if (bytes.byteLength !== 32) return false
  const expected = await signature(secret, channelId, direction, bytes.slice(0, 16))
  return crypto.subtle.timingSafeEqual(bytes.slice(16), expected)
}

export async function hashKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', encoder.encode(key))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** Does `key` hash to `expectedHash`? Constant time in the content of both. */
export async function keyMatches(key: string, expectedHash: string): Promise<boolean> {
  const actual = encoder.encode(await hashKey(key))
  const expected = encoder.encode(expectedHash)
  return actual.byteLength === expected.byteLength && crypto.subtle.timingSafeEqual(actual, expected)
}

/** Do two secrets match? Both are hashed first, so the comparison is constant time whatever their lengths. */
export async function sameSecret(given: string, expected: string): Promise<boolean> {
  return keyMatches(given, await hashKey(expected))
}
