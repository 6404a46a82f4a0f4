// A worker for a page: connects to a worker endpoint (`III_WORKER_ENDPOINTS`, e.g. `wss://<engine>/app`)
// and triggers the functions its rbac exposes. The endpoint's auth function decides at the upgrade;
// a browser cannot set headers on a WebSocket, so the token goes in the address (`?access_token=`).
//
//   const worker = await connectWorker(`wss://engine.example/app?access_token=${token}`)
//   const greeting = await worker.trigger({ function_id: 'app::public::hello', payload: {} })
//
// Only calls: a page registers nothing. Same wire as iii-sdk's `trigger` (docs/protocol.md).

import type { ErrorBody, InvocationResult, InvokeFunction, WorkerRegistered } from '../protocol/messages'

/** How long `connectWorker` waits to be registered, and a call for its result, unless told otherwise (iii-sdk's default too). */
export const DEFAULT_TIMEOUT_MS = 30_000

/** What the worker needs of a WebSocket; the standard one (browsers, Node 22, Deno, Bun) fits. */
export interface WorkerSocket {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  addEventListener(type: 'open' | 'message' | 'close' | 'error', listener: (event: any) => void): void
}

export interface ConnectWorkerOptions {
  /** The WebSocket class to use (default: the global one). */
  WebSocket?: new (url: string) => WorkerSocket
  /** Wait for registration at most this long, and the default wait of each call (ms, default 30 s). */
  timeoutMs?: number
}

/** A routing action, as iii-sdk's `TriggerAction`: `{ type: 'void' }` sends the call and waits for nothing. */
export type TriggerAction = { type: 'void' } | { type: string; [field: string]: unknown }

export interface TriggerRequest<TInput = unknown> {
  function_id: string
  payload?: TInput
  action?: TriggerAction
  /** How long to wait for the result (ms); the engine is told too, so it forgets the call then as well. */
  timeoutMs?: number
}

/** How the worker's socket ended. */
export interface WorkerEnd {
  code: number
  reason: string
}

/** Anything the engine refused or that failed on the way: `code` is the engine's (`AUTH_ERROR`, `FORBIDDEN`, ...) or ours (`TIMEOUT`, `CONNECTION_CLOSED`). */
export class EngineError extends Error {
  override name = 'EngineError'
  readonly code: string
  constructor(code: string, message: string, options?: ErrorOptions) {
    // "<code>: <message>", as iii-sdk's InvocationError, so a shown or logged error needs no formatting.
    super(`${code}: ${message}`, options)
    this.code = code
  }
}

/** A call that did not answer a result (iii-sdk's InvocationError: same fields, same message). */
export class InvocationError extends EngineError {
  override name = 'InvocationError'
  readonly function_id: string
  readonly stacktrace: string | undefined
  constructor(init: ErrorBody & { function_id: string }) {
    super(init.code, init.message)
    this.function_id = init.function_id
    this.stacktrace = init.stacktrace
  }
}

const CONNECTING = 0
const OPEN = 1
const CLOSED_CODE = 'CONNECTION_CLOSED'

const wsUrl = (url: string) => url.replace(/^http(s?):/i, 'ws$1:')

/**
 * A v4 UUID (the engine's invocation ids are UUIDs). Browsers give `crypto.randomUUID` only to secure
 * contexts; a page on plain http (a LAN dev server) still has `getRandomValues`.
 */
function invocationId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID()
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6]! & 0x0f) | 0x40
  b[8] = (b[8]! & 0x3f) | 0x80
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * Opens a worker's socket to an engine endpoint; resolves once the engine has registered it (the
 * auth function let it in). Rejects with an `EngineError`: `AUTH_ERROR` and the auth function's
 * message when it refused, `CONNECTION_CLOSED` when the socket ended first, `TIMEOUT`.
 */
export function connectWorker(url: string, options: ConnectWorkerOptions = {}): Promise<EngineWorker> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const Socket = options.WebSocket ?? (globalThis as { WebSocket?: new (url: string) => WorkerSocket }).WebSocket
  if (!Socket) return Promise.reject(new EngineError(CLOSED_CODE, 'no WebSocket in this runtime: pass { WebSocket }'))
  let socket: WorkerSocket
  try {
    socket = new Socket(wsUrl(url))
  } catch (err) {
    return Promise.reject(new EngineError(CLOSED_CODE, `could not open a socket to ${url}: ${(err as Error).message}`, { cause: err }))
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new EngineError('TIMEOUT', `not registered by the engine within ${timeoutMs} ms`))
      socket.close(1000)
    }, timeoutMs)
    // Listeners go on at once: the engine's first frame may come with the 101.
    const worker = new EngineWorker(socket, timeoutMs, {
      registered: () => {
        clearTimeout(timer)
        resolve(worker)
      },
      refused: (error) => {
        clearTimeout(timer)
        reject(error)
      },
    })
  })
}

interface Pending {
  function_id: string
  resolve(result: unknown): void
  reject(error: Error): void
  timer: ReturnType<typeof setTimeout>
}

interface Handshake {
  registered(): void
  refused(error: EngineError): void
}

/** A connected worker: `trigger` calls a function through the engine, `close` ends the socket. */
export class EngineWorker {
  /** How the socket ended; resolves (never rejects) once it is closed. */
  readonly closed: Promise<WorkerEnd>
  readonly #socket: WorkerSocket
  readonly #timeoutMs: number
  readonly #pending = new Map<string, Pending>()
  #handshake: Handshake | null
  /** The engine's last `error` frame: why it is about to close the socket (an AUTH_ERROR before registration). */
  #lastError: ErrorBody | null = null
  #end: WorkerEnd | null = null
  #workerId = ''

  /** Use `connectWorker`; this adapts a socket that is still connecting. */
  constructor(socket: WorkerSocket, timeoutMs: number, handshake: Handshake) {
    this.#socket = socket
    this.#timeoutMs = timeoutMs
    this.#handshake = handshake
    socket.addEventListener('message', (e: { data: unknown }) => this.#message(e.data))
    this.closed = new Promise((resolve) => {
      socket.addEventListener('close', (e: { code: number; reason: string }) => {
        this.#closed({ code: e.code, reason: e.reason ?? '' })
        resolve(this.#end!)
      })
    })
  }

  /** The id the engine gave this worker (its `workerregistered`). */
  get workerId(): string {
    return this.#workerId
  }

  /**
   * Calls a function and resolves with its result; rejects with an `InvocationError` (`FORBIDDEN`
   * when the endpoint does not expose it, `TIMEOUT`, `CONNECTION_CLOSED`, or the function's own).
   * With `action: { type: 'void' }`, resolves once sent, with undefined.
   */
  trigger<TOutput = unknown, TInput = unknown>(request: TriggerRequest<TInput>): Promise<TOutput> {
    const { function_id, payload, action } = request
    if (this.#end || this.#socket.readyState !== OPEN) {
      return Promise.reject(new InvocationError({ code: CLOSED_CODE, message: this.#endMessage(), function_id }))
    }
    if (action?.type === 'void') {
      this.#send({ type: 'invokefunction', function_id, data: payload, action })
      return Promise.resolve(undefined as TOutput)
    }
    const timeoutMs = request.timeoutMs ?? this.#timeoutMs
    const invocation_id = invocationId()
    return new Promise<TOutput>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(invocation_id)
        reject(new InvocationError({ code: 'TIMEOUT', message: `invocation timed out after ${timeoutMs}ms`, function_id }))
      }, timeoutMs)
      this.#pending.set(invocation_id, { function_id, resolve: resolve as (r: unknown) => void, reject, timer })
      const message: InvokeFunction = { type: 'invokefunction', invocation_id, function_id, data: payload, timeout_ms: timeoutMs }
      if (action) message.action = action
      this.#send(message)
    })
  }

  /** Ends the socket (1000); calls still waiting reject with `CONNECTION_CLOSED`. */
  close(): void {
    if (this.#socket.readyState === CONNECTING || this.#socket.readyState === OPEN) this.#socket.close(1000)
  }

  #send(message: object): void {
    this.#socket.send(JSON.stringify(message))
  }

  #message(data: unknown): void {
    // The engine sends only text on this socket; anything else is not for us.
    if (typeof data !== 'string') return
    let message: { type?: unknown } & Record<string, unknown>
    try {
      message = JSON.parse(data)
    } catch {
      return
    }
    switch (message.type) {
      case 'workerregistered':
        this.#workerId = String((message as unknown as WorkerRegistered).worker_id ?? '')
        this.#handshake?.registered()
        this.#handshake = null
        return
      case 'invocationresult':
        return this.#result(message as unknown as InvocationResult)
      case 'ping':
        return this.#send({ type: 'pong' })
      case 'error': {
        const error = errorBody(message.error)
        if (!error) return
        this.#lastError = error
        // Refused before registration: say why now, the Close follows.
        if (this.#handshake) {
          this.#handshake.refused(new EngineError(error.code, error.message))
          this.#handshake = null
        }
        return
      }
      default:
      // Other messages (trigger registrations, metrics) are for workers that register things.
    }
  }

  #result(message: InvocationResult): void {
    const pending = this.#pending.get(message.invocation_id)
    if (!pending) return
    this.#pending.delete(message.invocation_id)
    clearTimeout(pending.timer)
    const error = message.error === undefined || message.error === null ? null : (errorBody(message.error) ?? { code: 'UNKNOWN', message: JSON.stringify(message.error) })
    if (error) pending.reject(new InvocationError({ ...error, function_id: pending.function_id }))
    else pending.resolve(message.result)
  }

  #closed(end: WorkerEnd): void {
    this.#end = end
    if (this.#handshake) {
      // No error frame came (or it was lost): the Close reason may still name the refusal (`AUTH_ERROR: …`).
      const named = /^([A-Z][A-Z0-9_]+)(?::\s*|\s+|$)(.*)$/s.exec(end.reason)
      this.#handshake.refused(
        named ? new EngineError(named[1]!, named[2] || end.reason) : new EngineError(CLOSED_CODE, `socket closed before the engine registered the worker: ${this.#endMessage()}`),
      )
      this.#handshake = null
    }
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id)
      clearTimeout(pending.timer)
      pending.reject(new InvocationError({ code: CLOSED_CODE, message: this.#endMessage(), function_id: pending.function_id }))
    }
  }

  #endMessage(): string {
    if (!this.#end) return 'socket is not open'
    const why = this.#lastError ? ` after ${this.#lastError.code}: ${this.#lastError.message}` : ''
    return `socket closed (${this.#end.code}${this.#end.reason ? ` ${this.#end.reason}` : ''})${why}`
  }
}

/** `{code, message}` of an error frame, or null when it is not one. */
function errorBody(value: unknown): ErrorBody | null {
  if (typeof value !== 'object' || value === null) return null
  const v = value as Record<string, unknown>
  if (typeof v.code !== 'string' || typeof v.message !== 'string') return null
  return { code: v.code, message: v.message, ...(typeof v.stacktrace === 'string' ? { stacktrace: v.stacktrace } : {}) }
}
