// One HTTP trigger's request as the session serving its function hosts it (docs/architecture.md,
// "One HTTP request"). Its two channels are not objects: the worker's sockets for them come to this
// session (their ids name it), the request body comes from the front door when the worker reads it,
// and the response goes back to the front door as the stream it answers with. So a request whose
// function answers with a result, or streams to a client that keeps up, creates no object and
// writes no row.
//
// - body: the worker's reader socket. The first one pulls the body from the front door and sends
//   it in frames of at most 64 KiB; a body that ends short of its `content-length`, or breaks (the
//   client went away), ends the socket with 4001, as a channel whose writer was lost.
// - response: the worker's writer socket. Text frames before the first binary one are the `http()`
//   helper's `set_status` / `set_headers`; from the first binary frame (or a clean end) on, the
//   response has started and the frames go through a ChannelCore to the front door's stream: straight
//   through while the client keeps up, into this session's SQLite (a table per request) while it
//   does not, as a channel's would (channel/core.ts).
//
// The sockets are accepted without hibernation: a session closing a hibernatable socket keeps its
// TCP connection ~10 s (docs/platform.md), and the SDK's reader ends its stream only then. A
// request in flight keeps the object awake anyway.

import { ChannelCore, type ChannelHost, type ChannelLimits, type Peer } from '../channel/core'
import type { Frame } from '../channel/frame'
import { taskTimer } from '../channel/limits'
import { type RowMeter, SqliteFrameStore } from '../channel/sqlite-store'
import { CloseCode, closeReason, echoableCloseCode, isReservedCloseCode } from '../protocol/close-codes'
import { isVoidResult, parseControlFrame } from '../protocol/http-control'
import type { Traced } from './session'

/** The session's path for an HTTP request's channel socket, forwarded by the front door. */
export const EXCHANGE_PATH = '/exchange'
export const EXCHANGE_ID_HEADER = 'x-iii-exchange'
export const EXCHANGE_PART_HEADER = 'x-iii-exchange-part'

/** Request body frames, as the SDK's writer cuts them. */
const BODY_FRAME_BYTES = 64 * 1024

/** After a function returned nothing, how long its response writer has to show up (then 204). */
export const EMPTY_RESULT_GRACE_MS = 3000

/** What a function answered with, as the front door needs it to answer the HTTP request. */
export type ExchangeAnswer =
  /** An error, or a result (anything but nothing), which is the response: the channels were not used. */
  | { status: 'done'; outcome: Traced }
  /** The response channel started: its status, headers and body (streamed, in order). */
  | { status: 'stream'; status_code: number; headers: [string, string][]; body: ReadableStream<Uint8Array> }
  /** The response channel broke before anything came (its writer lost): 502. */
  | { status: 'broken'; reason: string }
  /** Neither a result nor a response within the request's timeout: 504; the invocation is dropped. */
  | { status: 'timeout'; timeoutMs: number }
  /** An empty result and no response writer within EMPTY_RESULT_GRACE_MS: 204. */
  | { status: 'empty' }

/** The front door's handle on the request body: opened by the session when the worker reads it. */
export interface BodySource {
  open(): Promise<ReadableStream<Uint8Array> | null> | ReadableStream<Uint8Array> | null
}

export interface ExchangeOptions {
  limits: ChannelLimits
  /** The session's SQLite, for what a slow client has not taken yet, and its count of rows written. */
  sql: SqlStorage
  meter: RowMeter
  /** A small JSON body the front door read whole, or the source to pull any other body from. */
  body: Uint8Array | BodySource | null
  /** The body's declared `content-length` (a body that ends short of it ends with 4001). */
  bodyLength: number | null
  log: (message: string) => void
  /** The exchange is over (answered and, if streamed, delivered): the session forgets it. */
  onDone: () => void
}

const closeSocket = (ws: WebSocket, code: number, reason: string) => {
  try {
    ws.close(code, closeReason(reason))
  } catch {
    // already closing
  }
}

export class HttpExchange {
  #status = 200
  readonly #headers: [string, string][] = []
  /** Settles the answer once: the first of result, start of the response, break, timeout. */
  #answer!: (answer: ExchangeAnswer) => void
  readonly #answered: Promise<ExchangeAnswer>
  #settled = false
  #writer: WebSocket | null = null
  #bodyReader: WebSocket | null = null
  #core: ChannelCore | null = null
  #store: SqliteFrameStore | null = null
  /** The stream the front door answers with, and what was written to it and not yet taken. */
  readonly #out: { readable: ReadableStream<Uint8Array>; writer: WritableStreamDefaultWriter<Uint8Array>; queued: number }
  #started = false
  #done = false

  constructor(
    readonly id: string,
    private readonly options: ExchangeOptions,
  ) {
    this.#answered = new Promise((resolve) => (this.#answer = resolve))
    // A byte stream (what RPC carries) with no buffer of its own: a write completes once the front
    // door took it, so `queued` is what the client has not taken yet.
    const { readable, writable } = new IdentityTransformStream()
    this.#out = { readable, writer: writable.getWriter() as WritableStreamDefaultWriter<Uint8Array>, queued: 0 }
    // The client went away (the front door cancelled the stream): the writer hears 4002.
    this.#out.writer.closed.catch(() => this.#core?.readerClosed())
  }

  /**
   * The answer for the front door: waits for the function's outcome and the response channel,
   * whichever decides first, for at most `timeoutMs`; `onTimeout` drops the invocation.
   */
  async settle(outcome: Promise<Traced>, timeoutMs: number, onTimeout: () => void): Promise<ExchangeAnswer> {
    const timer = setTimeout(() => {
      if (this.#settled) return
      onTimeout()
      this.#finish({ status: 'timeout', timeoutMs }, 'the HTTP request timed out')
    }, timeoutMs)
    void outcome.then((o) => this.#outcome(o))
    try {
      return await this.#answered
    } finally {
      clearTimeout(timer)
    }
  }

  /** A worker's socket for one of this request's channels (already accepted). */
  attach(part: 'body' | 'response', ws: WebSocket): void {
    ws.addEventListener('error', () => {})
    if (this.#done || (part === 'body' ? this.#bodyReader : this.#writer)) {
      const state = this.#done ? 'already finished' : 'already connected'
      return closeSocket(ws, CloseCode.EndTaken, `channel ${part === 'body' ? 'reader' : 'writer'} ${state}`)
    }
    if (part === 'body') return this.#readBody(ws)
    this.#writer = ws
    ws.binaryType = 'arraybuffer'
    ws.addEventListener('message', (event) => this.#responseFrame(event.data as string | ArrayBuffer))
    ws.addEventListener('close', (event) => {
      if (!isReservedCloseCode(event.code)) closeSocket(ws, echoableCloseCode(event.code), '') // reply to the Close ourselves
      this.#responseClosed(event.code, event.reason)
    })
  }

  #outcome(outcome: Traced): void {
    if (this.#settled) {
      // The body is streaming: an error still ends it as broken, for the client to see.
      if ('error' in outcome && this.#started && !this.#done) {
        this.#core?.writerClosed(CloseCode.Internal, outcome.error.message)
        if (this.#writer) closeSocket(this.#writer, CloseCode.ReaderGone, 'the function failed: the response is over')
      }
      return
    }
    // Any result is the response, as on the engine, unless the response has started already.
    if ('error' in outcome || !isVoidResult(outcome.result)) {
      return this.#finish({ status: 'done', outcome }, 'the HTTP request was answered by the function result')
    }
    // The function returned nothing: its response channel decides (the `http()` helper may return
    // before its writer has connected). One that never shows up gets 204 (docs/engine-compat.md).
    if (!this.#writer) {
      setTimeout(() => {
        if (!this.#writer && !this.#settled) this.#finish({ status: 'empty' }, 'no response came')
      }, EMPTY_RESULT_GRACE_MS)
    }
  }

  #responseFrame(data: string | ArrayBuffer): void {
    if (typeof data === 'string') {
      if (this.#started) return // control frames after the body started cannot change it
      const control = parseControlFrame(data)
      if (control?.type === 'set_status') this.#status = control.status_code
      else if (control?.type === 'set_headers') this.#headers.push(...control.headers)
      return
    }
    if (!this.#started) this.#start()
    this.#core?.writerFrame(new Uint8Array(data))
  }

  #responseClosed(code: number, reason: string): void {
    if (this.#started) return this.#core?.writerClosed(code, reason)
    if (this.#settled) return
    if (code !== CloseCode.Normal) return this.#finish({ status: 'broken', reason: `the response channel broke before the function answered (${code})` }, '')
    // A clean end with no body: the status and headers are the whole response.
    this.#start()
    this.#core?.writerClosed(code, reason)
  }

  /** The response starts: status and headers are fixed, the body streams through a channel core. */
  #start(): void {
    this.#started = true
    const out = this.#out
    const reader: Peer = {
      send: (frame: Frame) => {
        const bytes = frame as Uint8Array
        out.queued += bytes.byteLength
        out.writer.write(bytes).then(
          () => {
            out.queued -= bytes.byteLength
            // The client took some: whatever waits for it may go now.
            if (this.#core && this.#core.backlog.frames > 0) this.#schedule('drain')
          },
          () => {},
        )
      },
      get bufferedAmount() {
        return out.queued
      },
      close: (code, reason) => {
        if (code === CloseCode.Normal) out.writer.close().catch(() => {})
        else out.writer.abort(new Error(`response stream ended abnormally (${code} ${reason})`)).catch(() => {})
        this.#end()
      },
    }
    const writer: Peer = {
      send: () => {}, // nothing goes back to a writer
      close: (code, reason) => this.#writer && closeSocket(this.#writer, code, reason),
    }
    const host: ChannelHost = {
      schedule: (task) => this.#schedule(task),
      saveEnds: () => {}, // nothing survives the request: its caller's RPC ends with the object
      finish: () => this.#end(),
    }
    this.#store = new SqliteFrameStore(this.options.sql, this.options.meter, undefined, exchangeTable(this.id))
    this.#core = new ChannelCore(this.options.limits, this.#store, host)
    this.#core.connect('reader', reader)
    this.#core.connect('writer', writer)
    this.#settle({ status: 'stream', status_code: this.#status, headers: [...this.#headers], body: out.readable })
  }

  readonly #schedule = taskTimer((task) => this.#core?.runTask(task))

  /** The worker reads the body: pulled from the front door now, sent on in frames, ended as it ended. */
  #readBody(ws: WebSocket): void {
    this.#bodyReader = ws
    let open = true
    let stream: ReadableStream<Uint8Array> | null = null
    ws.addEventListener('close', (event) => {
      open = false
      if (!isReservedCloseCode(event.code)) closeSocket(ws, echoableCloseCode(event.code), '')
      stream?.cancel().catch(() => {})
    })
    const declared = this.options.bodyLength
    let sent = 0
    const send = (bytes: Uint8Array) => {
      for (let at = 0; at < bytes.byteLength && open; at += BODY_FRAME_BYTES) ws.send(bytes.subarray(at, at + BODY_FRAME_BYTES))
      sent += bytes.byteLength
    }
    const pump = async () => {
      const body = this.options.body
      try {
        if (body instanceof Uint8Array) send(body)
        else if (body) {
          stream = await body.open()
          if (stream) for await (const chunk of stream) {
            if (!open) return
            send(chunk)
          }
        }
        if (!open) return
        if (declared !== null && sent < declared) closeSocket(ws, CloseCode.WriterLost, `request body ended after ${sent} of ${declared} bytes`)
        else closeSocket(ws, CloseCode.Normal, 'request_complete')
      } catch (err) {
        // The client went away mid-upload: the function's reader sees a writer lost.
        closeSocket(ws, CloseCode.WriterLost, `request body aborted: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
    void pump()
  }

  #settle(answer: ExchangeAnswer): void {
    if (this.#settled) return
    this.#settled = true
    this.#answer(answer)
  }

  /** Answers without a streamed response: the worker's sockets are told the request is over. */
  #finish(answer: ExchangeAnswer, why: string): void {
    this.#settle(answer)
    if (this.#writer && !this.#started) closeSocket(this.#writer, CloseCode.ReaderGone, why)
    this.#end()
  }

  /** Nothing more goes through this request: its spilled frames go, the session forgets it. */
  #end(): void {
    if (this.#done) return
    this.#done = true
    try {
      this.#store?.clear()
    } catch (err) {
      this.options.log(`HTTP request ${this.id}: could not drop its frames: ${err}`)
    }
    this.options.onDone()
  }
}

/** The SQLite table a request's spilled response frames go to (dropped when it ends, or when the session wakes). */
export const exchangeTable = (id: string) => `exchange_${id.replace(/-/g, '')}`
export const EXCHANGE_TABLE_PREFIX = 'exchange_'
