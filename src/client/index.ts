// A small web-standard channel client: the standard WebSocket and WHATWG streams only, so the same
// code runs in browsers, Workers, Deno, Bun and Node 22. The page at `/` uses its bundle
// (public/_iii/client.js, built by `npm run build:page`).
//
//   const { writer, reader } = await createChannel(base)
//   const w = await openChannel(base, writer)          // { writable, sendMessage, close, abort }
//   const r = await openChannel(base, reader)          // { readable, onMessage, cancel }
//
// The writer sends binary frames of at most 64 KiB and waits while its socket's bufferedAmount is
// above a high-water mark. The reader asks the channel for a flow-control window and acknowledges
// what its consumer has taken out of `readable`, so the server keeps the rest in storage, not in
// memory on the way (see README "A slow reader").

import { closeReason } from '../protocol/close-codes'
import { type ChannelRef, type ChannelRefPair, MAX_WINDOW, MIN_WINDOW, parseChannelSocketTarget } from '../protocol/refs'
import { ChannelClosedError, ChannelError, ChannelNotFoundError, errorForResponse, errorForStatus } from './errors'

export type { ChannelRef } from '../protocol/refs'
/** "64 MiB": byte counts as the server's messages and the page show them. */
export { formatBytes } from '../channel/frame'

export type WriteRef = ChannelRef & { direction: 'write' }
export type ReadRef = ChannelRef & { direction: 'read' }
/** What `POST /channels` answers: the refs of both ends (hand one to another party, keep the other). */
export interface ChannelRefs extends ChannelRefPair {
  writer: WriteRef
  reader: ReadRef
}
export * from './errors'
/** A worker for a page: calls the functions a worker endpoint exposes (./worker.ts). */
export * from './worker'

/** Largest binary frame the writer sends (what the iii SDK sends too). */
export const FRAME_BYTES = 64 * 1024
/** The writer waits while more than this is queued in its socket. */
export const DEFAULT_HIGH_WATER_MARK = 1024 * 1024
/** Flow-control window a reader asks for by default. */
export const DEFAULT_WINDOW = 1024 * 1024
export { MAX_WINDOW, MIN_WINDOW }

/** How a channel socket ended: the Close code and reason it got (1006 when the connection was lost). */
export interface ChannelEnd {
  code: number
  reason: string
}

/** What the client needs of a WebSocket; the standard one (browsers, Node 22, Deno, Bun, workerd) fits. */
export interface ChannelSocket {
  readonly readyState: number
  readonly bufferedAmount?: number
  binaryType: string
  send(data: string | ArrayBufferView | ArrayBuffer): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: any) => void): void
}

/** Opens a socket to a channel URL (ws: or wss:). Default: `new WebSocket(url)`. */
export type SocketFactory = (url: string) => ChannelSocket | Promise<ChannelSocket>
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

export interface CreateChannelOptions {
  /** Storage batch size in frames (1..1024, server default 64). */
  bufferSize?: number
  /** Engine token, when the server has III_ENGINE_TOKEN set. */
  token?: string
  /** The namespace whose status page lists the channel (default: the default namespace). */
  namespace?: string
  fetch?: FetchLike
}

export interface OpenOptions {
  /** How to open the socket; `upgradeViaFetch(fetch)` in a Worker shows the upgrade's HTTP status. */
  webSocket?: SocketFactory
  /** Used to tell "server unreachable" from "channel not found" when a socket fails before it opens. */
  fetch?: FetchLike
}

export interface WriterOptions extends OpenOptions {
  /** Largest binary frame, default 64 KiB (the server's limit is CHANNEL_MAX_FRAME_BYTES). */
  frameBytes?: number
  /** Wait while the socket's bufferedAmount is above this many bytes (default 1 MiB). */
  highWaterMark?: number
}

export interface ReaderOptions extends OpenOptions {
  /** Flow-control window in bytes (64 KiB..64 MiB, default 1 MiB); `false` reads like the SDK (no acks). */
  window?: number | false
  /** Text messages, from the first one on (same as calling `onMessage` before anything arrives). */
  onMessage?: (text: string) => void
}

const OPEN = 1
const encoder = new TextEncoder()

const httpBase = (base: string) => base.replace(/^ws(s?):/i, 'http$1:').replace(/\/+$/, '')
const wsBase = (base: string) => base.replace(/^http(s?):/i, 'ws$1:').replace(/\/+$/, '')

/** `<base as ws(s)>/ws/channels/<id>?key=…&dir=read|write[&window=…]`; the base may carry a path prefix. */
export function channelSocketUrl(baseUrl: string, ref: ChannelRef, window?: number): string {
  const query = `key=${encodeURIComponent(ref.access_key)}&dir=${ref.direction}${window ? `&window=${window}` : ''}`
  return `${wsBase(baseUrl)}/ws/channels/${encodeURIComponent(ref.channel_id)}?${query}`
}

/** `POST /channels`: a new channel's writer and reader refs. HTTP 400/401/404 become typed errors. */
export async function createChannel(baseUrl: string, options: CreateChannelOptions = {}): Promise<ChannelRefs> {
  const url = `${httpBase(baseUrl)}/channels${options.namespace ? `?namespace=${encodeURIComponent(options.namespace)}` : ''}`
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  const body = options.bufferSize === undefined ? '' : JSON.stringify({ buffer_size: options.bufferSize })
  let res: Response
  try {
    res = await (options.fetch ?? fetch)(url, { method: 'POST', headers, body })
  } catch (err) {
    throw new ChannelError(`could not reach ${url}: ${(err as Error).message}`, { cause: err })
  }
  if (res.status === 201) return (await res.json()) as ChannelRefs
  throw await errorForResponse(res, 'POST /channels')
}

/**
 * A socket factory that upgrades with `fetch` (Workers: the global fetch, a service binding, or
 * `SELF.fetch` in tests). Unlike `new WebSocket()`, it sees the refusal's HTTP status.
 */
export function upgradeViaFetch(fetcher: FetchLike): SocketFactory {
  return async (url) => {
    const res = await fetcher(url.replace(/^ws(s?):/i, 'http$1:'), { headers: { Upgrade: 'websocket' } })
    const ws = (res as Response & { webSocket?: ChannelSocket & { accept(): void } | null }).webSocket
    if (res.status !== 101 || !ws) throw await errorForResponse(res, 'upgrade refused')
    ws.accept()
    return ws
  }
}

/** Opens one end of a channel; resolves once its socket is open. */
export function openChannel(baseUrl: string, ref: WriteRef, options?: WriterOptions): Promise<ChannelWriter>
export function openChannel(baseUrl: string, ref: ReadRef, options?: ReaderOptions): Promise<ChannelReader>
export function openChannel(baseUrl: string, ref: ChannelRef, options?: WriterOptions & ReaderOptions): Promise<ChannelWriter | ChannelReader>
export function openChannel(baseUrl: string, ref: ChannelRef, options: WriterOptions & ReaderOptions = {}): Promise<ChannelWriter | ChannelReader> {
  return ref?.direction === 'write' ? openWriter(baseUrl, ref, options) : openReader(baseUrl, ref, options)
}

export async function openWriter(baseUrl: string, ref: ChannelRef, options: WriterOptions = {}): Promise<ChannelWriter> {
  checkRef(ref, 'write')
  const socket = await connect(baseUrl, channelSocketUrl(baseUrl, ref), options)
  const writer = new ChannelWriter(socket, options)
  await opened(socket, baseUrl, options)
  return writer
}

export async function openReader(baseUrl: string, ref: ChannelRef, options: ReaderOptions = {}): Promise<ChannelReader> {
  const window = options.window === false ? null : (options.window ?? DEFAULT_WINDOW)
  checkRef(ref, 'read', window)
  const socket = await connect(baseUrl, channelSocketUrl(baseUrl, ref, window ?? undefined), options)
  // Listeners go on before the handshake ends: frames may arrive together with the 101.
  const reader = new ChannelReader(socket, window, options.onMessage)
  await opened(socket, baseUrl, options)
  return reader
}

/** The server's own stateless checks, so a bad ref fails with the status the server would give. */
function checkRef(ref: ChannelRef, direction: 'read' | 'write', window: number | null = null): void {
  if (ref?.direction !== direction) throw errorForStatus(400, `expected a ${direction} ref, got ${JSON.stringify(ref?.direction)}`)
  const target = parseChannelSocketTarget(String(ref.channel_id), ref.access_key, ref.direction, window === null ? undefined : String(window))
  if (!target.ok) throw errorForStatus(target.status, target.message)
}

async function connect(baseUrl: string, url: string, options: OpenOptions): Promise<ChannelSocket> {
  if (options.webSocket) return options.webSocket(url)
  try {
    return new WebSocket(url) as unknown as ChannelSocket
  } catch (err) {
    throw new ChannelError(`could not open a socket to ${wsBase(baseUrl)}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Resolves once the socket is open. A socket that fails first was refused or never got there: a
 * browser cannot see the status, so we ask the server whether it is reachable at all; if it is, the
 * refusal was the only state-dependent one, 404.
 */
async function opened(socket: ChannelSocket, baseUrl: string, options: OpenOptions): Promise<void> {
  if (socket.readyState === OPEN) return
  const ok = await new Promise<boolean>((resolve) => {
    socket.addEventListener('open', () => resolve(true))
    socket.addEventListener('error', () => resolve(false))
    socket.addEventListener('close', () => resolve(false))
  })
  if (!ok) throw await refusal(baseUrl, options)
}

async function refusal(baseUrl: string, options: OpenOptions): Promise<ChannelError> {
  const url = `${httpBase(baseUrl)}/api/info`
  try {
    await (options.fetch ?? fetch)(url, { signal: AbortSignal.timeout(5000) })
  } catch (err) {
    return new ChannelError(`could not reach ${httpBase(baseUrl)}: ${(err as Error).message}`, { cause: err })
  }
  return new ChannelNotFoundError()
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The write end: binary through `writable`, text through `sendMessage`, in the order they are called. */
export class ChannelWriter {
  readonly writable: WritableStream<Uint8Array>
  /** How the socket ended; resolves (never rejects) once it is closed. */
  readonly closed: Promise<ChannelEnd>
  readonly #socket: ChannelSocket
  readonly #frameBytes: number
  readonly #highWaterMark: number
  #controller: WritableStreamDefaultController | null = null
  /** Sends happen one after another, so messages and writes keep their order. */
  #queue: Promise<void> = Promise.resolve()
  #failure: ChannelError | null = null
  #closing = false
  #bytesSent = 0

  constructor(socket: ChannelSocket, options: WriterOptions = {}) {
    this.#socket = socket
    this.#frameBytes = Math.max(1, options.frameBytes ?? FRAME_BYTES)
    this.#highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK
    socket.binaryType = 'arraybuffer'
    this.closed = new Promise((resolve) => {
      socket.addEventListener('close', (e: { code: number; reason: string }) => {
        if (!this.#closing) {
          this.#failure ??= new ChannelClosedError(e.code, e.reason)
          this.#controller?.error(this.#failure)
        }
        resolve({ code: e.code, reason: e.reason })
      })
    })
    this.writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller
      },
      write: (chunk) => this.#enqueue(() => this.#sendBinary(chunk)),
      close: () => this.#finish(),
      abort: (reason) => this.#abort(reason),
    })
  }

  /** Bytes handed to the socket so far (binary frames only). */
  get bytesSent(): number {
    return this.#bytesSent
  }

  /** Sends a text frame, after everything written or sent before it. */
  sendMessage(text: string): Promise<void> {
    return this.#enqueue(async () => {
      await this.#drained()
      this.#socket.send(text)
    })
  }

  /** Ends the stream cleanly (Close 1000) after what was written; resolves once the server has it. */
  async close(): Promise<void> {
    if (this.writable.locked) return this.#finish()
    return this.writable.close()
  }

  /** Ends the stream as failed: the reader sees 4001 "writer lost" with this reason. */
  async abort(reason?: unknown): Promise<void> {
    if (this.writable.locked) return this.#abort(reason)
    return this.writable.abort(reason)
  }

  #enqueue(send: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(() => {
      if (this.#failure) throw this.#failure
      return send()
    })
    this.#queue = next.catch(() => {})
    return next
  }

  async #sendBinary(chunk: Uint8Array | ArrayBuffer | ArrayBufferView): Promise<void> {
    const bytes =
      chunk instanceof Uint8Array
        ? chunk
        : ArrayBuffer.isView(chunk)
          ? new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
          : new Uint8Array(chunk)
    for (let at = 0; at < bytes.byteLength; at += this.#frameBytes) {
      await this.#drained()
      const frame = bytes.subarray(at, Math.min(at + this.#frameBytes, bytes.byteLength))
      this.#socket.send(frame)
      this.#bytesSent += frame.byteLength
    }
  }

  /** Waits while the socket holds more than the high-water mark (there is no event for it: poll). */
  async #drained(): Promise<void> {
    for (let wait = 1; (this.#socket.bufferedAmount ?? 0) > this.#highWaterMark; wait = Math.min(wait * 2, 16)) {
      if (this.#failure) throw this.#failure
      await delay(wait)
    }
    if (this.#failure) throw this.#failure
    if (this.#socket.readyState !== OPEN) throw (this.#failure = new ChannelClosedError(1006, 'socket is not open'))
  }

  async #finish(): Promise<void> {
    await this.#queue
    if (this.#failure) throw this.#failure
    this.#closing = true
    this.#socket.close(1000)
    const end = await this.closed
    if (end.code !== 1000) throw new ChannelClosedError(end.code, end.reason)
  }

  async #abort(reason: unknown): Promise<void> {
    this.#closing = true
    const text = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason)
    try {
      this.#socket.close(3000, closeReason(text))
    } catch {
      // already closing
    }
  }
}

/**
 * The read end: binary through `readable`, text through `onMessage`. With a window (the default),
 * it acknowledges what the consumer has read, about every quarter window, and whatever is left a
 * moment after the consumer stops taking more.
 */
export class ChannelReader {
  readonly readable: ReadableStream<Uint8Array>
  /** How the socket ended; resolves (never rejects) once it is closed. */
  readonly closed: Promise<ChannelEnd>
  /** The flow-control window in bytes, or null when reading without acknowledgements. */
  readonly window: number | null
  readonly #socket: ChannelSocket
  readonly #highWaterMark: number
  #controller!: ReadableStreamDefaultController<Uint8Array>
  readonly #listeners = new Set<(text: string) => void>()
  /** Text messages that came before anyone listened. */
  #early: string[] | null = []
  #bytesReceived = 0
  #textBytes = 0
  #acked = 0
  #ackTimer: ReturnType<typeof setTimeout> | undefined
  /** An error end waiting until the consumer has read what came before it. */
  #pendingError: ChannelClosedError | null = null
  #done = false
  #cancelled = false

  constructor(socket: ChannelSocket, window: number | null, onMessage?: (text: string) => void) {
    this.#socket = socket
    this.window = window
    this.#highWaterMark = window ?? DEFAULT_WINDOW
    if (onMessage) this.onMessage(onMessage)
    socket.binaryType = 'arraybuffer'
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller
        },
        pull: () => this.#consumed(),
        cancel: (reason) => this.#cancel(reason),
      },
      { highWaterMark: this.#highWaterMark, size: (chunk) => chunk.byteLength },
    )
    socket.addEventListener('message', (e: { data: unknown }) => this.#message(e.data))
    this.closed = new Promise((resolve) => {
      socket.addEventListener('close', (e: { code: number; reason: string }) => {
        this.#end(e.code, e.reason)
        resolve({ code: e.code, reason: e.reason })
      })
    })
  }

  /** Binary bytes received from the channel so far. */
  get bytesReceived(): number {
    return this.#bytesReceived
  }

  /** Calls `listener` with every text message; returns a function that stops it. */
  onMessage(listener: (text: string) => void): () => void {
    this.#listeners.add(listener)
    const early = this.#early
    this.#early = null
    for (const text of early ?? []) listener(text)
    return () => this.#listeners.delete(listener)
  }

  /** Stops reading: the writer is told the reader went away (4002). */
  async cancel(reason?: unknown): Promise<void> {
    if (this.readable.locked) return this.#cancel(reason)
    return this.readable.cancel(reason)
  }

  #message(data: unknown): void {
    if (typeof data === 'string') {
      // Text counts against the window too: it is consumed once handed to the listeners.
      this.#textBytes += encoder.encode(data).length
      if (this.#early) this.#early.push(data)
      else for (const listener of this.#listeners) listener(data)
      this.#consumed()
      return
    }
    const chunk =
      data instanceof ArrayBuffer
        ? new Uint8Array(data)
        : ArrayBuffer.isView(data)
          ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
          : null
    if (!chunk || this.#done || this.#cancelled) return
    this.#bytesReceived += chunk.byteLength
    this.#controller.enqueue(chunk)
    // Straight into a waiting read: consumed already.
    this.#consumed()
  }

  /** Binary bytes the consumer has read out of `readable` (meaningful while the stream is open). */
  #bytesConsumed(): number {
    return this.#bytesReceived - this.#queued()
  }

  /** Bytes received but not yet read by the consumer. */
  #queued(): number {
    const desired = this.#controller.desiredSize
    return desired === null ? 0 : Math.max(0, this.#highWaterMark - desired)
  }

  /** The consumer took something (or may have): acknowledge, or finish an error end. */
  #consumed(): void {
    if (this.#pendingError && this.#queued() === 0) {
      this.#controller.error(this.#pendingError)
      this.#pendingError = null
      return
    }
    if (this.window === null || this.#done) return
    const total = this.#bytesConsumed() + this.#textBytes
    if (total - this.#acked >= this.window / 4) return this.#ack(total)
    if (total > this.#acked && this.#ackTimer === undefined) {
      this.#ackTimer = setTimeout(() => {
        this.#ackTimer = undefined
        if (!this.#done) this.#ack(this.#bytesConsumed() + this.#textBytes)
      }, 10)
    }
  }

  #ack(total: number): void {
    if (total <= this.#acked || this.#socket.readyState !== OPEN) return
    this.#acked = total
    this.#socket.send(JSON.stringify({ type: 'ack', bytes: total }))
  }

  #end(code: number, reason: string): void {
    if (this.#done) return
    this.#done = true
    if (this.#ackTimer !== undefined) clearTimeout(this.#ackTimer)
    if (this.#cancelled) return
    if (code === 1000) {
      this.#controller.close()
      return
    }
    // What came before a failed end was delivered: let the consumer read it, then the error.
    this.#pendingError = new ChannelClosedError(code, reason)
    this.#consumed()
  }

  #cancel(reason: unknown): void {
    this.#cancelled = true
    const text = reason instanceof Error ? reason.message : reason === undefined ? 'reader cancelled' : String(reason)
    try {
      this.#socket.close(1000, closeReason(text))
    } catch {
      // already closing
    }
  }
}
