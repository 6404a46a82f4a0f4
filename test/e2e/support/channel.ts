// Channel client helpers for end-to-end tests: create a channel over HTTP, open its ends with `ws`.

import { createHash } from 'node:crypto'
import WebSocket from 'ws'
import { channelSocketUrl } from '../../../src/client'

export interface ChannelRef {
  channel_id: string
  access_key: string
  direction: 'read' | 'write'
}

export interface ChannelRefs {
  writer: ChannelRef
  reader: ChannelRef
}

export interface Closed {
  code: number
  reason: string
}

/** What a reader saw: binary frames digested as they came, texts with their place among them. */
export interface Received extends Closed {
  binaryBytes: number
  binaryFrames: number
  sha256: string
  /** Each text message with the number of binary frames received before it. */
  texts: Array<{ text: string; afterFrames: number }>
}

export async function createChannel(baseUrl: string, bufferSize?: number): Promise<ChannelRefs> {
  const res = await fetch(`${baseUrl}/channels`, {
    method: 'POST',
    ...(bufferSize === undefined ? {} : { body: JSON.stringify({ buffer_size: bufferSize }) }),
  })
  if (res.status !== 201) throw new Error(`POST /channels: ${res.status} ${await res.text()}`)
  return (await res.json()) as ChannelRefs
}

/** The socket address of one end (the client's own); `prefix` mimics an engine address with a path (e.g. '/iii'). */
export function channelUrl(wsUrl: string, ref: ChannelRef, prefix = ''): string {
  return channelSocketUrl(`${wsUrl}${prefix}`, ref)
}

/** Resolves once the socket is open; rejects if the upgrade is refused or fails. */
function opened(ws: WebSocket): Promise<void> {
  return new Promise((res, rej) => {
    ws.once('open', () => res())
    ws.once('unexpected-response', (_req, r) => rej(new Error(`upgrade refused: ${r.statusCode}`)))
    ws.once('error', rej)
  })
}

function closedOf(ws: WebSocket): Promise<Closed> {
  return new Promise((res) => ws.once('close', (code, reason) => res({ code, reason: reason.toString() })))
}

export interface Writer {
  ws: WebSocket
  /** The Close the writer got (from the server or its own). */
  closed: Promise<Closed>
}

export async function openWriter(url: string): Promise<Writer> {
  const ws = new WebSocket(url)
  // Listen before the handshake ends: a Close sent with the 101 (e.g. 1008) comes right after 'open'.
  const closed = closedOf(ws)
  ws.on('error', () => {}) // a terminated socket emits 'error'; 'close' still tells the outcome
  await opened(ws)
  return { ws, closed }
}

/** Sends each message (strings as text, bytes as binary); resolves once the last is written to the socket. */
export function sendAll(ws: WebSocket, messages: Array<string | Uint8Array>): Promise<void> {
  return new Promise((res, rej) => {
    if (messages.length === 0) return res()
    messages.forEach((m, i) =>
      ws.send(m, { binary: typeof m !== 'string' }, i < messages.length - 1 ? undefined : (e) => (e ? rej(e) : res())),
    )
  })
}

export interface Reader {
  ws: WebSocket
  /** Binary bytes received so far. */
  bytesSoFar: () => number
  /** Everything the reader got, once its socket closed. */
  done: Promise<Received>
}

export async function openReader(url: string): Promise<Reader> {
  const ws = new WebSocket(url)
  // Attach the message listener before the handshake: frames that arrive with the 101 are delivered
  // before code after `await open` runs, and would be lost otherwise.
  const hash = createHash('sha256')
  const got = { binaryBytes: 0, binaryFrames: 0, texts: [] as Received['texts'] }
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary) {
      hash.update(data)
      got.binaryBytes += data.length
      got.binaryFrames++
    } else got.texts.push({ text: data.toString(), afterFrames: got.binaryFrames })
  })
  const done = closedOf(ws).then((c) => ({ ...got, ...c, sha256: hash.digest('hex') }))
  ws.on('error', () => {})
  await opened(ws)
  return { ws, bytesSoFar: () => got.binaryBytes, done }
}

/** Status of an upgrade the server refuses (e.g. 404); rejects if the socket opens instead. */
export function refusedUpgradeStatus(url: string): Promise<number> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(url)
    ws.once('unexpected-response', (req, r) => {
      res(r.statusCode ?? 0)
      req.destroy()
    })
    ws.once('open', () => {
      ws.terminate()
      rej(new Error('upgrade unexpectedly accepted'))
    })
    ws.on('error', () => {})
  })
}

export const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex')
