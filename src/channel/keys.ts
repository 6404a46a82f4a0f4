// Access keys: 32 bytes in base64url, one per end, always signed with the deployment's signing key:
// 16 random bytes followed by the first 16 bytes of HMAC-SHA256(key, "<channel_id>:<direction>:" +
// random part). The front door checks the signature, so a forged or wrong-direction key is refused
// before any Durable Object wakes, and no object has to remember keys (docs/architecture.md).
// Pure WebCrypto: runs in workerd, Node 20+ and browsers.

import type { Direction } from '../protocol/refs'

const encoder = new TextEncoder()

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')

function fromBase64url(text: string): Uint8Array {
  const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
  return Uint8Array.from(bin, (c) => c.charCodeAt(0))
}

/** 32 random bytes, for reattach tokens and generated secrets. */
export function newRandomKey(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)))
}

/** Equal bytes, in time that depends on the length only (no early exit on the first difference). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  let diff = 0
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

/** The HMAC key for a signing secret (imported once per secret and isolate). */
const imported = new Map<string, Promise<CryptoKey>>()
export function signingKeyFor(secret: string): Promise<CryptoKey> {
  let key = imported.get(secret)
  if (!key) {
    key = crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
    imported.set(secret, key)
  }
  return key
}

async function signature(key: CryptoKey, channelId: string, direction: Direction, nonce: Uint8Array): Promise<Uint8Array> {
  const message = new Uint8Array([...encoder.encode(`${channelId}:${direction}:`), ...nonce])
  return new Uint8Array(await crypto.subtle.sign('HMAC', key, message)).slice(0, 16)
}

/** A new access key for one end of a channel. */
export async function newAccessKey(key: CryptoKey, channelId: string, direction: Direction): Promise<string> {
  const nonce = crypto.getRandomValues(new Uint8Array(16))
  return base64url(new Uint8Array([...nonce, ...(await signature(key, channelId, direction, nonce))]))
}

/** Was `accessKey` signed with `key` for this channel and direction? (Keys are already shape-checked.) */
export async function keySigned(accessKey: string, channelId: string, direction: Direction, key: CryptoKey): Promise<boolean> {
  const bytes = fromBase64url(accessKey)
  if (bytes.byteLength !== 32) return false
  return constantTimeEqual(bytes.slice(16), await signature(key, channelId, direction, bytes.slice(0, 16)))
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(text)))
}

/** SHA-256 of a secret, in hex: what is stored where a secret must be recognised later (reattach tokens). */
export async function digestHex(text: string): Promise<string> {
  return [...(await digest(text))].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** Does `given` hash to `expectedHex` (from `digestHex`)? Constant time in the content of both. */
export async function matchesDigest(given: string, expectedHex: string): Promise<boolean> {
  return constantTimeEqual(encoder.encode(await digestHex(given)), encoder.encode(expectedHex))
}

/** Do two secrets match? Both are hashed first, so the comparison is constant time whatever their lengths. */
export async function sameSecret(given: string, expected: string): Promise<boolean> {
  return given.length > 0 && constantTimeEqual(await digest(given), await digest(expected))
}
