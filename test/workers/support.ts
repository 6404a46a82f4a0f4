// Test clients for the Channel Durable Object inside workerd: sockets opened through the front door.
import { exports } from 'cloudflare:workers'
import { expect } from 'vitest'
import { channelSocketUrl } from '../../src/client'
import type { ChannelRef, ChannelRefPair } from '../../src/protocol/refs'

/**
 * Where the tests address the Worker: a loopback host, as `wrangler dev` on this machine is. Without
 * an engine token only loopback hosts may use the engine (src/http/guard.ts); a deployed host is
 * tested on its own (guard.test.ts).
 */
export const BASE = 'http://localhost'

/** A request to the Worker's own front door (its default export), in this isolate. */
export const frontDoor = (input: string | Request, init?: RequestInit): Promise<Response> => exports.default.fetch(input, init)

export interface Client {
  ws: WebSocket
  /** Frames in arrival order: strings for text frames, Uint8Array for binary ones. */
  frames: (string | Uint8Array)[]
  closed: Promise<{ code: number; reason: string }>
}

export async function createChannel(bufferSize?: number): Promise<ChannelRefPair> {
  const body = bufferSize === undefined ? '' : JSON.stringify({ buffer_size: bufferSize })
  const res = await frontDoor(`${BASE}/channels`, { method: 'POST', body })
  expect(res.status).toBe(201)
  return res.json()
}

/** A channel end's socket address (the client's, as http: for an upgrade through `frontDoor`). */
export function socketUrl(ref: ChannelRef, prefix = ''): string {
  return channelSocketUrl(`${BASE}${prefix}`, ref).replace(/^ws/, 'http')
}

export async function connect(ref: ChannelRef, prefix = '', query = ''): Promise<Client> {
  const res = await frontDoor(socketUrl(ref, prefix) + query, { headers: { Upgrade: 'websocket' } })
  expect(res.status).toBe(101)
  const ws = res.webSocket!
  const frames: Client['frames'] = []
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })),
  )
  ws.addEventListener('message', (e) => {
    frames.push(typeof e.data === 'string' ? e.data : new Uint8Array(e.data as ArrayBuffer))
  })
  ws.binaryType = 'arraybuffer' // workerd's standard default (2026 compat dates) is Blob
  ws.accept()
  return { ws, frames, closed }
}

/** Deterministic bytes, different for every (seed, index), so reordering or loss shows. */
export function chunk(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (seed * 31 + i * 7) & 255
  return out
}

export async function waitFor(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

export function concat(frames: (string | Uint8Array)[]): Uint8Array {
  const binary = frames.filter((f): f is Uint8Array => typeof f !== 'string')
  const out = new Uint8Array(binary.reduce((n, f) => n + f.byteLength, 0))
  let at = 0
  for (const f of binary) {
    out.set(f, at)
    at += f.byteLength
  }
  return out
}
