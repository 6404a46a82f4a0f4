// SessionObject: one Durable Object per connected worker, created by the front door near that
// worker (a unique id, which is the worker id the SDK sees). It holds the worker's main socket and
// what is in flight to and from it; the rules live in SessionCore (session.ts).
//
// Public methods are the RPC surface, for other sessions (`invoke`, `deliver`, `handOver`), the
// front door (`fetch`: the socket; `invokeHttp`: HTTP triggers) and the registry (`notice`,
// `alive`, `stats`). The core's host callbacks are private.

import { DurableObject } from 'cloudflare:workers'
import { digestHex, matchesDigest, newRandomKey } from '../channel/keys'
import { CloseCode, echoableCloseCode, isReservedCloseCode } from '../protocol/close-codes'
import { type InvocationResult, parseWorkerMessage } from '../protocol/messages'
import { registryStub, sessionStub } from './stubs'
import { statusStub } from '../status/stubs'
import { socketTag } from '../tags'
import { type BuiltinContext, sessionBuiltins } from './builtins'
import { routeEnqueue } from '../data/queue/enqueue'
import { dataEngine } from './data-engine'
import type { Change, Notice } from './registry'
import {
  type CallAnswer,
  type CalleeRecord,
  type CallerRecord,
  type IncomingCall,
  SessionCore,
  type SessionHost,
  type SessionStore,
  type Waiting,
} from './session'
import type { Outcome } from '../protocol/outcome'
import type { HttpFunction } from './http-function'
import { SESSION_SCHEMA } from './sqlite-store'
import { lookupFunction, viewCacheFor } from './cache'
import { workerLimits } from './limits'
import { LINK_IDLE_MS, LINK_PATH, type LinkFrame, Links } from './links'
import { type BodySource, EXCHANGE_ID_HEADER, EXCHANGE_PART_HEADER, EXCHANGE_PATH, EXCHANGE_TABLE_PREFIX, type ExchangeAnswer, HttpExchange } from './exchange'
import { channelLimits } from '../channel/limits'
import type { ChannelLimits } from '../channel/core'
import { DEFAULT_BUFFER_SIZE } from '../protocol/refs'
import { type RowMeter, execCounted } from '../channel/sqlite-store'
import { OtlpExporter, otlpConfig } from '../observability/exporter'
import { type EngineSpan, type TraceContext, childContext, formatTraceparent, parseTraceparent, startSpan } from '../observability/spans'
import { resultAsResponse } from '../protocol/http-control'
import type { ErrorBody } from '../protocol/messages'
import { invokeFunction } from './invoke'
import { type WorkerRights, type WorkerRules, visibleFunctionInfo, visibleFunctionList } from './rbac'
import { ENDPOINT_HEADER, RIGHTS_HEADER, decodeRights, rulesFor, workerEndpoints } from './worker-endpoints'
import { EngineError } from '../protocol/outcome'

/** Header the front door sets on the upgrade: the namespace the engine address named. */
export const NAMESPACE_HEADER = 'x-iii-namespace'

/** How long an invocation may be in flight before it is written to storage (short ones never are). */
const PERSIST_DELAY_MS = 250

/** After its worker left, a session keeps what the worker waited for this long, for a reattach. */
const HANDOVER_GRACE_MS = 60_000

/** How long a caller waits for an invocation that names no `timeout_ms`: the SDK's own default. */
const DEFAULT_INVOCATION_TIMEOUT_MS = 30_000

/** Registry calls are retried this often, this far apart (a registry being reset, or overloaded). */
const REGISTER_RETRIES_MS = [100, 500, 2000]

/**
 * A registration waits this long for the ones after it, so that a worker registering many at once
 * costs the registry a few calls, not one per handful (each call is a round trip and a commit
 * there, and everyone else's events wait behind them). Short enough that a worker that registers
 * and then calls does not notice (its lookup waits for its registrations).
 */
const REGISTER_BATCH_MS = 5

/**
 * At most this many changes per registry call; more go out in the next one, at once. Each call is
 * one event at the registry, during which every object sharing its thread waits: 250 registrations
 * take it a few ms, 1,000 made other workers' calls wait a few hundred (bench R7).
 */
const REGISTER_BATCH_MAX = 250

interface SessionRow {
  namespace: string
  /** SHA-256 of the reattach token, hex. */
  tokenDigest: string
  connectedAt: number
  state: 'open' | 'closed'
  /** When the worker left (the handover grace counts from here). */
  closedAt?: number
  /** The name the worker gave (`engine::workers::register`), for its log records after a wake too. */
  workerName?: string
  /** A worker endpoint's worker: the endpoint's served path and what its auth function answered (docs/rbac.md). */
  endpoint?: string
  rights?: WorkerRights
}

/** An HTTP trigger's invocation, from the front door. */
export interface HttpCall {
  function_id: string
  /** The function's input; its `request_body` and `response` refs name this request's exchange. */
  data: unknown
  metadata?: unknown
  /** Version of the registry view the front door matched the route in. */
  viewVersion: number
  /** The request's exchange id (a uuid; its channel ids carry it). */
  exchange: string
  /** A small JSON body read whole, or where to pull the body from when the worker reads it. */
  body: Uint8Array | BodySource | null
  /** The request's `content-length`, when it declared one. */
  bodyLength: number | null
  /** III_HTTP_TIMEOUT_MS: how long the request waits for a result or the start of a response. */
  timeoutMs: number
}

export type HttpAnswer =
  | Exclude<ExchangeAnswer, { status: 'done' }>
  | { status: 'done'; outcome: Outcome }
  /** The front door's route table is older than the last route change: refresh and retry. */
  | { status: 'stale' }
  | { status: 'not_here' }
  | { status: 'gone' }

export class SessionObject extends DurableObject<Env> {
  #row: SessionRow | null
  #core: SessionCore | null = null
  #socket: WebSocket | null
  #persistScheduled = false
  /** The alarm this instance set (null: none, or unknown after a wake: the next arm sets it again). */
  #alarmAt: number | null = null
  /** Registrations not yet sent, and the chain that sends them in order. */
  #changes: Change[] = []
  #flushQueued = false
  /** Sends the queued batch before REGISTER_BATCH_MS is up (it is full). */
  #sendNow: (() => void) | null = null
  #registered: Promise<void> = Promise.resolve()
  /** Messages and requests this object handled since it woke (bench S1). */
  #events = 0
  /** HTTP requests this session hosts right now (exchange.ts), by exchange id. */
  readonly #exchanges = new Map<string, HttpExchange>()
  /** A request's response channel holds and spills as any channel does (CHANNEL_* vars; read at the first request, not at every wake). */
  #exchangeLimits: ChannelLimits | null = null
  /** Rows this object wrote since it woke, as workerd counts them (bench H4). */
  readonly #meter: RowMeter = { rowsWritten: 0 }
  /** Where this session's spans go (III_OTLP_ENDPOINT); null: none are made. */
  readonly #exporter = ((config) => (config ? new OtlpExporter(config, (p) => this.ctx.waitUntil(p)) : null))(otlpConfig(this.env))

  /** How long a caller waits for a call that names no `timeout_ms`, from III_INVOCATION_TIMEOUT_MS (read once, as the bounds are). */
  readonly #invocationTimeoutMs = ((ms) => (Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_INVOCATION_TIMEOUT_MS))(Number(this.env.III_INVOCATION_TIMEOUT_MS))

  /** This deployment's bounds per worker (limits.ts), from its vars. */
  readonly #limits = workerLimits((name) => (this.env as unknown as Record<string, unknown>)[name], (message) => this.#log(message))

  readonly #store: SessionStore = {
    loadInflight: () => {
      const rows = this.ctx.storage.sql.exec<{ side: string; body: string }>('SELECT side, body FROM inflight').toArray()
      const of = (side: string) => rows.filter((r) => r.side === side).map((r) => JSON.parse(r.body))
      return { callee: of('callee') as CalleeRecord[], caller: of('caller') as CallerRecord[] }
    },
    putInflight: (side, records) => {
      for (const r of records) this.#write('INSERT OR REPLACE INTO inflight (id, side, body) VALUES (?, ?, ?)', r.id, side, JSON.stringify(r))
    },
    removeInflight: (side, ids) => {
      for (const id of ids) this.#write('DELETE FROM inflight WHERE side = ? AND id = ?', side, id)
    },
    loadOwned: () => this.ctx.storage.sql.exec<{ id: string }>('SELECT id FROM owned').toArray().map((r) => r.id),
    own: (id) => void this.#write('INSERT OR IGNORE INTO owned (id) VALUES (?)', id),
    disown: (id) => void this.#write('DELETE FROM owned WHERE id = ?', id),
    loadHttp: () => {
      const sql = this.ctx.storage.sql
      // A session made before this table existed has none (SESSION_SCHEMA creates it for new ones).
      if (sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'http_function'").toArray().length === 0) return []
      return sql.exec<{ body: string }>('SELECT body FROM http_function').toArray().map((r) => JSON.parse(r.body) as HttpFunction)
    },
    putHttp: (fn) => void this.#write('INSERT OR REPLACE INTO http_function (id, body) VALUES (?, ?)', fn.id, JSON.stringify(fn)),
    removeHttp: (id) => void this.#write('DELETE FROM http_function WHERE id = ?', id),
  }

  readonly #host: SessionHost = {
    send: (message) => {
      try {
        this.#socket?.send(JSON.stringify(message))
      } catch {
        // the socket is closing: its close handler ends the session
      }
    },
    lookup: async (functionId, stale) => {
      // Our worker's own registrations go first, so a call right after a registration finds it.
      await this.#registered
      return lookupFunction(viewCacheFor(this.env, this.#namespace), functionId, stale ?? false)
    },
    call: (session, call) => this.#links.call(session, call),
    holds: async (session, engineId) => (await sessionStub(this.env, session)?.holds(engineId)) ?? false,
    deliver: (session, results) => {
      // By RPC, never over a link: a link can look open for a moment after its caller was evicted,
      // and a one-way delivery is exactly what must survive that (session.ts).
      const delivered = sessionStub(this.env, session)?.deliver(results)
      if (delivered) this.ctx.waitUntil(delivered.catch((err) => this.#log(`result not delivered to ${session.slice(0, 12)}…: ${err}`)))
    },
    register: (changes) => this.#register(changes),
    engineCall: async (call) => {
      const outcome = await invokeFunction(this.env, this.#namespace, call)
      return 'accepted' in outcome ? { result: undefined } : outcome
    },
    enqueue: (action) => routeEnqueue(this.#builtinContext, action),
    builtin: (functionId, data) => {
      const builtin = this.#builtins[functionId]
      const rules = this.#rules
      if (!builtin || !rules) return builtin && (() => builtin(data))
      // A worker of an endpoint sees only the functions it may invoke.
      if (functionId === 'engine::functions::list') return async () => visibleFunctionList(rules, await builtin(data))
      if (functionId === 'engine::functions::info') return () => visibleInfo(rules, data, builtin)
      return () => builtin(data)
    },
    handOver: async (previousWorkerId, token) => {
      const stub = sessionStub(this.env, previousWorkerId)
      return stub ? ((await stub.handOver(token)) as Waiting[] | null) : null
    },
    schedulePersist: () => {
      if (this.#persistScheduled) return
      this.#persistScheduled = true
      // Short invocations finish before this fires and never touch storage (a write would hold back
      // the next outgoing message until it is confirmed). While the timer is pending the object
      // cannot hibernate, so nothing in flight is only in memory across a sleep.
      setTimeout(() => {
        this.#persistScheduled = false
        this.#core?.persist()
      }, PERSIST_DELAY_MS)
    },
    newId: () => crypto.randomUUID(),
    log: (message) => this.#log(message),
    // Secrets and vars by name; HTTP functions' auth (http-function.ts refuses III_* names, and the
    // core lets a namespace name only what III_NAMESPACE_SECRETS grants it).
    env: (name) => (this.env as unknown as Record<string, unknown>)[name],
    namespace: () => this.#namespace,
    fetch: (url, init) => fetch(url, init),
    waitUntil: (promise) => this.ctx.waitUntil(promise),
    now: () => Date.now(),
    invocationTimeoutMs: () => this.#invocationTimeoutMs,
    wakeAt: (at) => this.#wakeAt(at),
    startSpan: (name, parent, attributes) => {
      const span = this.#span(name, 'server', parent, attributes)
      return span && { traceparent: formatTraceparent(childContext(span.span, parent.flags)), end: span.end }
    },
  }

  /** A span of ours, exported when it ends; null without a collector (nothing is made then). */
  #span(name: string, kind: EngineSpan['kind'], parent: TraceContext | null, attributes: EngineSpan['attributes']): { span: EngineSpan; end: (error?: ErrorBody, more?: EngineSpan['attributes']) => void } | null {
    const exporter = this.#exporter
    if (!exporter) return null
    const span = startSpan(name, kind, parent, { ...attributes, 'iii.worker.id': this.ctx.id.toString() }, Date.now())
    let ended = false
    const end = (error?: ErrorBody, more: EngineSpan['attributes'] = {}) => {
      if (ended) return
      ended = true
      span.end_ms = Date.now()
      span.status = error ? 'error' : 'ok'
      if (error) {
        span.status_message = error.message
        Object.assign(span.attributes, { 'error.type': error.code, 'error.message': error.message })
      }
      Object.assign(span.attributes, more)
      exporter.addSpan(this.#namespace, span)
    }
    return { span, end }
  }

  /** Links to the sessions this worker calls (links.ts). */
  readonly #links = new Links(
    async (callee) => {
      const stub = sessionStub(this.env, callee)
      if (!stub) return null
      const res = await stub.fetch(`https://session${LINK_PATH}`, { headers: { Upgrade: 'websocket' } })
      return res.webSocket ?? null
    },
    Number(this.env.III_LINK_IDLE_MS ?? LINK_IDLE_MS),
  )

  readonly #builtinContext: BuiltinContext = {
    env: this.env,
    engine: dataEngine(this.env),
    namespace: () => this.#namespace,
    workerName: () => this.#row?.workerName ?? this.ctx.id.toString().slice(0, 12),
    register: (change) => {
      const name = change.type === 'metadata' ? change.metadata.name : undefined
      if (typeof name === 'string' && this.#row && this.#row.workerName !== name) {
        this.#row.workerName = name
        this.#saveRow() // once per connection: the name outlives this instance (a wake, an eviction)
      }
      this.#register([change])
    },
    status: () => statusStub(this.env, this.#namespace),
    waitUntil: (promise) => this.ctx.waitUntil(promise),
    registry: async () => {
      await this.#registered // the list shows what this worker registered before asking
      return registryStub(this.env, this.#namespace)
    },
    view: async () => {
      // This worker's own registrations first; then a view at least as new as the last trigger or
      // custom-stream change the registry told us of (one registered just before a write counts).
      await this.#registered
      const views = viewCacheFor(this.env, this.#namespace)
      const view = await views.current()
      return view.routeVersion < (this.#core?.routeVersion ?? 0) ? views.fresher(Date.now()) : view
    },
  }

  readonly #builtins = sessionBuiltins(this.#builtinContext)

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.#row = this.#loadRow()
    this.#socket = ctx.getWebSockets('worker')[0] ?? null
    if (!this.#row) return
    this.#dropExchangeTables()
    this.#core = new SessionCore(ctx.id.toString(), this.#store, this.#host, this.#row.state === 'open', this.#limits, this.#rules)
    // 'open' without its socket: it is closing right now (the event that woke us), or the object
    // was reset (a deploy) and the socket went with it. Either way the worker has left.
    if (this.#row.state === 'open' && !this.#socket) void ctx.blockConcurrencyWhile(() => this.#left())
  }

  /**
   * The worker's main socket, forwarded by the front door (token and namespace already checked),
   * or a link from another session (links.ts).
   */
  override async fetch(request: Request): Promise<Response> {
    this.#events++
    const path = new URL(request.url).pathname
    if (path === LINK_PATH) return this.#acceptLink()
    if (path === EXCHANGE_PATH) return this.#acceptExchangeSocket(request)
    if (this.#row) return new Response('this session already has a worker', { status: 409 })
    const namespace = request.headers.get(NAMESPACE_HEADER) ?? ''
    // Set by the front door for a worker endpoint's connection only (it removes them from any other).
    const endpoint = request.headers.get(ENDPOINT_HEADER)
    const rights = request.headers.get(RIGHTS_HEADER)
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
    this.ctx.acceptWebSocket(server, ['worker'])
    this.#socket = server
    const token = newRandomKey()
    const now = Date.now()
    this.#row = { namespace, tokenDigest: await digestHex(token), connectedAt: now, state: 'open', ...(endpoint && rights ? { endpoint, rights: decodeRights(rights) } : {}) }
    this.#write(SESSION_SCHEMA)
    this.#saveRow()
    const workerId = this.ctx.id.toString()
    this.#core = new SessionCore(workerId, this.#store, this.#host, true, this.#limits, this.#rules)
    this.#register([{ type: 'connect', at: now, ...(this.#row.endpoint ? { door: this.#row.endpoint } : {}) }])
    this.#host.send({ type: 'workerregistered', worker_id: workerId, reattach_token: token })
    return new Response(null, { status: 101, webSocket: client })
  }

  /** A call for this session's worker, from another session: answers once the worker did. */
  async invoke(call: IncomingCall): Promise<CallAnswer> {
    this.#events++
    return (await this.#core?.incoming(call)) ?? { status: 'gone' }
  }

  /** Does this session still hold an invocation (the caller's call to us broke; we will deliver it)? */
  holds(engineId: string): boolean {
    this.#events++
    return this.#core?.holds(engineId) ?? false
  }

  /** Results of invocations this session's worker made, one way. */
  deliver(results: InvocationResult[]): void {
    this.#events++
    this.#core?.delivered(results)
    this.#links.settled(results)
  }

  /**
   * An HTTP trigger's invocation. This session hosts the request's two channels (exchange.ts) and
   * answers once the function answered with a result, or its response started streaming.
   */
  async invokeHttp(call: HttpCall): Promise<HttpAnswer> {
    this.#events++
    const core = this.#core
    if (!core) return { status: 'gone' }
    if (call.viewVersion < core.routeVersion) return { status: 'stale' }
    // The body's source is a stub of the front door's, released when this call returns unless kept.
    const source = call.body
    const body = source && !(source instanceof Uint8Array) && typeof (source as { dup?: unknown }).dup === 'function' ? (source as BodySource & { dup(): BodySource }).dup() : source
    const release = () => {
      const dispose = (Symbol as unknown as { dispose?: symbol }).dispose
      const kept = body as unknown as Record<symbol, (() => void) | undefined> | null
      if (body !== source && dispose && kept) kept[dispose]?.()
    }
    const exchange = new HttpExchange(call.exchange, {
      limits: (this.#exchangeLimits ??= channelLimits(this.env, DEFAULT_BUFFER_SIZE)),
      sql: this.ctx.storage.sql,
      meter: this.#meter,
      body,
      bodyLength: call.bodyLength,
      log: (message) => this.#log(message),
      onDone: () => {
        this.#exchanges.delete(call.exchange)
        release()
      },
    })
    // The request is a server span of ours under the client's `traceparent` (a root without one),
    // and the worker's handler joins it; without a collector the client's context goes on as it is.
    const request = httpRequestSeen(call.data)
    const client = parseTraceparent(request.traceparent)
    const span = this.#span(`${request.method} ${request.route}`, 'server', client, {
      'http.request.method': request.method,
      'http.route': request.route,
      function_id: call.function_id,
      'faas.trigger': 'http',
    })
    const traceparent = span ? formatTraceparent(childContext(span.span, client?.flags)) : request.traceparent
    const pending = core.incomingLocal(call.function_id, call.data, call.metadata, call.exchange, traceparent)
    if (typeof pending === 'string') {
      release()
      span?.end({ code: pending, message: `the session no longer serves ${call.function_id}` })
      return { status: pending }
    }
    this.#exchanges.set(call.exchange, exchange)
    const timedOut = { error: { code: 'timeout', message: `HTTP request timed out after ${call.timeoutMs} ms (III_HTTP_TIMEOUT_MS)` } }
    const answer = await exchange.settle(pending, call.timeoutMs, () => core.abandon(call.exchange, timedOut))
    if (span) endHttpSpan(span.end, answer)
    if (answer.status !== 'done') return answer
    const { traceparent: _t, baggage: _b, ...outcome } = answer.outcome
    return { status: 'done', outcome }
  }

  /** From the registry: messages for the worker, functions it lost, the route version. */
  notice(notice: Partial<Notice>): void {
    this.#events++
    this.#core?.notice(notice)
  }

  /**
   * A new connection of the same worker (it sent `reattach` with our token) takes over: our socket
   * closes, and what our worker still waited for goes to the new connection, which ends each with
   * an error. Null when the token is wrong or this session never was.
   */
  async handOver(token: string): Promise<Waiting[] | null> {
    this.#events++
    const row = this.#row
    const core = this.#core
    if (!row || !core || !(await matchesDigest(token, row.tokenDigest))) return null
    try {
      this.#socket?.close(1000, 'replaced by a reattached connection')
    } catch {
      // already closed
    }
    await this.#left()
    return core.takeOver()
  }

  /** Is the worker still connected? (The registry asks after a wake, to find sessions a reset ended.) */
  alive(): boolean {
    this.#events++
    return this.#core?.isOpen ?? false
  }

  /** Counters for listings and the bench (not counted as traffic). */
  stats(): { active_invocations: number; invocations: number; events: number; rows_written: number } {
    const core = this.#core
    return { active_invocations: core?.activeInvocations ?? 0, invocations: core?.invocationsHandled ?? 0, events: this.#events, rows_written: this.#meter.rowsWritten }
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    this.#events++
    const core = this.#core
    if (!core) return
    if (ws !== this.#socket && socketTag(this.ctx, ws) === 'link') return this.#linkFrame(ws, message)
    if (typeof message !== 'string') return this.#log('binary frame ignored on the main socket')
    const parsed = parseWorkerMessage(message)
    if (parsed.ok) return core.message(parsed.message)
    // Only an invocation has someone waiting for an answer; anything else is logged and dropped.
    if (parsed.invocationId) {
      this.#host.send({ type: 'invocationresult', invocation_id: parsed.invocationId, error: { code: 'invalid_message', message: parsed.reason } })
    }
    this.#log(parsed.reason)
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.#events++
    if (!isReservedCloseCode(code)) {
      try {
        ws.close(echoableCloseCode(code), '')
      } catch {
        // already closed
      }
    }
    // A caller's link closing changes nothing here: answers for it fall back to RPC.
    if (socketTag(this.ctx, ws) !== 'link') await this.#left()
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.#events++
    if (socketTag(this.ctx, ws) !== 'link') await this.#left()
  }

  /**
   * Invocations past their deadline end (session.ts); some time after the worker left, nothing is
   * kept (once HTTP calls still running have answered). One alarm serves both: the earlier wins.
   */
  override async alarm(): Promise<void> {
    this.#alarmAt = null
    const now = Date.now()
    this.#core?.expire(now)
    const row = this.#row
    if (row?.state !== 'closed') return
    const graceEnds = (row.closedAt ?? now) + HANDOVER_GRACE_MS
    // Only HTTP-invoked functions' calls outlive the worker (session.ts); their deadlines end them.
    if (now < graceEnds || (this.#core?.activeInvocations ?? 0) > 0) return this.#wakeAt(Math.max(graceEnds, now + 1_000))
    await this.ctx.storage.deleteAll()
  }

  /** Arms the alarm for `at` unless it already fires by then. */
  #wakeAt(at: number): void {
    if (this.#alarmAt !== null && this.#alarmAt <= at) return
    this.#alarmAt = at
    this.#meter.rowsWritten++ // Cloudflare bills setting an alarm as a row written
    this.ctx.waitUntil(this.ctx.storage.setAlarm(at).catch((err) => this.#log(`alarm not set: ${err}`)))
  }

  /**
   * A worker's socket for a channel of an HTTP request this session hosts, forwarded by the front
   * door (its key checked there). Not hibernatable (exchange.ts says why). A request that is over,
   * or that this instance never hosted (it was reset since), closes the socket at once.
   */
  #acceptExchangeSocket(request: Request): Response {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
    server.accept()
    const part = request.headers.get(EXCHANGE_PART_HEADER) === 'body' ? 'body' : 'response'
    const exchange = this.#exchanges.get(request.headers.get(EXCHANGE_ID_HEADER) ?? '')
    if (exchange) exchange.attach(part, server)
    else {
      // Answer the peer's Close too, or its `close` waits (docs/platform.md).
      server.addEventListener('close', () => {})
      server.close(part === 'body' ? CloseCode.WriterLost : CloseCode.ReaderGone, 'this HTTP request is over')
    }
    return new Response(null, { status: 101, webSocket: client })
  }

  /** Tables of requests a previous instance hosted when it was reset: nobody can read them now. */
  #dropExchangeTables(): void {
    const sql = this.ctx.storage.sql
    const tables = sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?", `${EXCHANGE_TABLE_PREFIX}%`).toArray()
    for (const { name } of tables) sql.exec(`DROP TABLE IF EXISTS "${name}"`)
  }

  /** A caller session's link: hibernatable, tagged (the caller's id rides in each call). */
  #acceptLink(): Response {
    if (!this.#core?.isOpen) return new Response('this worker has left', { status: 410 })
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
    this.ctx.acceptWebSocket(server, ['link'])
    return new Response(null, { status: 101, webSocket: client })
  }

  /** A call over a link: answered on the same link (a written invocation is also delivered by RPC). */
  #linkFrame(ws: WebSocket, message: string | ArrayBuffer): void {
    if (typeof message !== 'string') return
    const frame = JSON.parse(message) as LinkFrame
    if (frame.t !== 'call') return
    const answer = (a: CallAnswer) => {
      try {
        ws.send(JSON.stringify({ t: 'answer', k: frame.k, a } satisfies LinkFrame))
      } catch {
        // The caller's end went away: if it was written, the caller gets it by RPC (session.ts).
      }
    }
    const reply = this.#core?.incoming(frame.c) ?? { status: 'gone' as const }
    if (reply instanceof Promise) void reply.then(answer)
    else answer(reply)
  }

  get #namespace(): string {
    return this.#row?.namespace ?? ''
  }

  /** A worker endpoint's worker's rules, from its row and the deployment's endpoints (null: the plain socket). */
  get #rules(): WorkerRules | null {
    const row = this.#row
    if (!row?.endpoint || !row.rights) return null
    return (this.#rulesMemo ??= rulesFor(workerEndpoints(this.env.III_WORKER_ENDPOINTS, (m) => this.#log(m)), row.endpoint, row.rights))
  }

  #rulesMemo: WorkerRules | null = null

  /**
   * The worker is gone (its socket closed, or a reset took it): everyone waiting on it is told, the
   * registry forgets what it registered, and in a while this object forgets everything.
   */
  async #left(): Promise<void> {
    const row = this.#row
    if (!row || row.state === 'closed') return
    row.state = 'closed'
    row.closedAt = Date.now()
    this.#socket = null
    this.#core?.closed()
    this.#links.closeAll()
    this.#saveRow()
    this.#wakeAt(row.closedAt + HANDOVER_GRACE_MS)
    await this.#registered
    await registryStub(this.env, row.namespace)
      .leave(row.namespace, this.ctx.id.toString())
      .catch((err) => this.#log(`registry did not hear that the worker left: ${err}`))
  }

  /**
   * Sends registrations to the registry in order, batched: a batch leaves REGISTER_BATCH_MS after
   * its first change (at once when full, or later while the previous call is still out).
   */
  #register(changes: Change[]): void {
    this.#changes.push(...changes)
    if (!this.#flushQueued) this.#queueFlush()
    else if (this.#changes.length >= REGISTER_BATCH_MAX) this.#sendNow?.()
  }

  /** Queues the next batch after the one on its way; returns what sends it without waiting for the timer. */
  #queueFlush(): () => void {
    this.#flushQueued = true
    let sendNow!: () => void
    const due = new Promise<void>((resolve) => (sendNow = resolve))
    // A pending timer also keeps this object from hibernating with changes only in memory.
    const timer = setTimeout(sendNow, REGISTER_BATCH_MS)
    this.#sendNow = sendNow
    this.#registered = Promise.all([this.#registered, due]).then(async () => {
      clearTimeout(timer)
      this.#flushQueued = false
      this.#sendNow = null
      const batch = this.#changes.splice(0, REGISTER_BATCH_MAX)
      // More than one batch was waiting: the rest goes next (chained: order holds), without waiting again.
      if (this.#changes.length > 0) this.#queueFlush()()
      // Owned before the registry can name us as serving them (one commit for the whole batch).
      this.#core?.saveOwned()
      const namespace = this.#namespace
      for (let attempt = 0; ; attempt++) {
        try {
          const notice = (await registryStub(this.env, namespace).apply(namespace, this.ctx.id.toString(), batch)) as Notice | null
          if (notice) this.#core?.notice(notice)
          return
        } catch (err) {
          const wait = REGISTER_RETRIES_MS[attempt]
          if (wait === undefined) return this.#log(`registrations lost after ${attempt + 1} tries: ${err}`)
          await new Promise((r) => setTimeout(r, wait))
        }
      }
    })
    return sendNow
  }

  #loadRow(): SessionRow | null {
    const sql = this.ctx.storage.sql
    if (sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'session'").toArray().length === 0) return null
    const row = sql.exec<{ body: string }>('SELECT body FROM session').toArray()[0]
    return row ? (JSON.parse(row.body) as SessionRow) : null
  }

  #saveRow(): void {
    this.#write('INSERT OR REPLACE INTO session (id, body) VALUES (1, ?)', JSON.stringify(this.#row))
  }

  /** A statement that writes, counted as workerd bills it (the status page and bench H4 read the count). */
  #write(query: string, ...bindings: unknown[]): void {
    execCounted(this.ctx.storage.sql, this.#meter, query, ...bindings)
  }

  #log(message: string): void {
    console.warn(`[session ${this.ctx.id.toString().slice(0, 8)}] ${message}`)
  }
}

/** What an HTTP request's span says of it: method, registered route, the client's trace context. */
function httpRequestSeen(data: unknown): { method: string; route: string; traceparent: string | undefined } {
  const d = (data ?? {}) as { method?: unknown; path?: unknown; headers?: Record<string, unknown> }
  const traceparent = d.headers?.traceparent
  return {
    method: typeof d.method === 'string' ? d.method : 'GET',
    route: typeof d.path === 'string' ? d.path : '',
    traceparent: typeof traceparent === 'string' ? traceparent : undefined,
  }
}

/** Ends an HTTP request's span with the status the front door answers (an error from 400 on, as the engine marks them). */
function endHttpSpan(end: (error?: ErrorBody, more?: EngineSpan['attributes']) => void, answer: ExchangeAnswer): void {
  const status =
    answer.status === 'done'
      ? 'error' in answer.outcome
        ? 500
        : resultAsResponse(answer.outcome.result).status
      : answer.status === 'stream'
        ? answer.status_code
        : answer.status === 'broken'
          ? 502
          : answer.status === 'timeout'
            ? 504
            : 204
  const error = answer.status === 'done' && 'error' in answer.outcome ? answer.outcome.error : status >= 400 ? { code: `HTTP ${status}`, message: `answered ${status}` } : undefined
  end(error, { 'http.response.status_code': status })
}

/** `engine::functions::info` for a worker of an endpoint: a function it may not invoke is not visible (not even whether it exists). */
async function visibleInfo(rules: WorkerRules, data: unknown, builtin: (data: unknown) => Promise<unknown>): Promise<unknown> {
  let answer: unknown
  try {
    answer = await builtin(data)
  } catch (err) {
    const id = (data as { function_id?: unknown } | null)?.function_id
    // NOT_FOUND for a function it could not see anyway would tell it what exists: FORBIDDEN instead.
    if (err instanceof EngineError && err.code === 'NOT_FOUND' && typeof id === 'string') {
      const seen = visibleFunctionInfo(rules, data, {})
      if ('error' in seen) throw new EngineError(seen.error.code, seen.error.message)
    }
    throw err
  }
  const seen = visibleFunctionInfo(rules, data, answer)
  if ('error' in seen) throw new EngineError(seen.error.code, seen.error.message)
  return seen.answer
}
