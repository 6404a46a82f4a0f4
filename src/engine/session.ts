// The rules of one worker's session, free of Workers APIs (docs/architecture.md). SessionObject
// adapts its socket, RPC and SQLite to this; the unit tests drive it with fakes.
//
// An invocation is one hop: the caller's session looks the function up in its cached registry view
// and calls the session serving it, which sends it to its worker; the result comes back as the
// answer to that call. Each side keeps a record under an engine id that the caller's session picks
// (so two callers that choose the same invocation id never see each other's results): the callee
// side where the result goes, the caller side what its worker waits for. Records live in memory
// and are written in one batch only when still in flight after the host's persist delay; a written
// invocation is also delivered by a separate call (`deliver`), because the call that is waiting
// for it may not survive an eviction of either object. The caller forwards the first answer for a
// record it still holds, so a result is never forwarded twice.
//
// The session is the authority for the functions its worker serves (`owned`): a call for one it
// does not serve (any more) is answered `not_here`, and the caller refreshes its view and retries.
//
// An HTTP-invoked function (registered with a URL) is owned the same way by the session that
// received its registration, so every caller reaches it by the normal path; that session makes the
// HTTP request where it would otherwise send `invokefunction` to its worker (http-function.ts).
//
// Two records are exceptions to "written after the persist delay", both so that no invocation is
// left to hang (docs/architecture.md, "One invocation"):
// - A caller record is written when the invocation starts, in the same event that sends it on (the
//   output gate holds the call until the row is stored). A reset (a deploy) then never takes the
//   only trace of what a worker waits for: its reattaching connection ends each with an error.
//   Its row is deleted with the next batch, so a short call costs two rows written.
// - Every invocation has a deadline (`timeout_ms`, else III_INVOCATION_TIMEOUT_MS, 30 s): the
//   caller answers `timeout` and forgets it, the callee forgets it too (its worker's late answer is
//   dropped). Deadlines are kept by the object's alarm, armed once records outlive the persist delay.

import type { EngineMessage, ErrorBody, InvocationResult, InvokeFunction, RegisterFunction, WorkerMessage } from '../protocol/messages'
import type { EngineCall, Outcome } from '../protocol/outcome'
import { type TraceContext, parseTraceparent } from '../observability/spans'
import { type HttpCaller, type HttpFunction, type SecretLookup, callHttpFunction, parseHttpInvocation } from './http-function'
import { DEFAULT_LIMITS, type LimitKind, type WorkerLimits, limitMessage, tooManyInvocations } from './limits'
import { namespaceSecrets } from './namespace-secrets'
import type { Change, Notice } from './registry'
import { type WorkerRules, stripPrefix, withPrefix } from './rbac'
import { WorkerGate } from './worker-gate'

/** An outcome with the trace context the serving worker sent back. */
export type Traced = Outcome & { traceparent?: string; baggage?: string }

/** An invocation this session's worker serves (callee side). */
export interface CalleeRecord {
  /** The engine id (the worker sees it as the invocation id). */
  id: string
  functionId: string
  /** The session whose worker waits, and its own invocation id; null for an HTTP request. */
  caller: { session: string; invocationId: string } | null
  /** An HTTP-invoked function's call: its request lives only in this object's memory. */
  http?: true
  /** When the caller stops waiting (unix ms), and how long that was; absent for an HTTP trigger's call. */
  deadline?: number
  timeoutMs?: number
}

/** An invocation this session's worker waits for (caller side), under the worker's own id. */
export interface CallerRecord {
  id: string
  engineId: string
  functionId: string
  callee: string
  /** Its answer, when it came after the worker's socket was gone: kept for the reattaching connection. */
  outcome?: Traced
  /** When the worker stops waiting (unix ms), and how long that was: it is then answered `timeout`. */
  deadline?: number
  timeoutMs?: number
}

/** A call from a session (this one or another) to the worker this session serves. */
export interface IncomingCall {
  /** Caller session. */
  from: string
  /** The engine id the caller picked; absent for a void call (nothing comes back). */
  id?: string
  /** The caller's worker's invocation id (for a one-way delivery). */
  invocation_id?: string
  function_id: string
  data?: unknown
  traceparent?: string
  baggage?: string
  metadata?: unknown
  /** How long the caller waits from when it sent the call (ms); the callee forgets the call after that. */
  timeout_ms?: number
}

export type CallAnswer = { status: 'done'; outcome: Traced } | { status: 'accepted' } | { status: 'not_here' } | { status: 'gone' }

/** An invocation a worker was waiting for when its connection was replaced, with its answer if it came. */
export interface Waiting {
  id: string
  functionId: string
  outcome?: Traced
}

/** Where a function is served, as the registry view says. */
export interface FunctionTarget {
  worker: string
  invocation?: true
  /** As registered: a worker endpoint's metadata filters read it (rbac.ts). */
  metadata?: unknown
}

/** Durable copy of in-flight invocations (see the file comment) and of the functions owned. */
export interface SessionStore {
  loadInflight(): { callee: CalleeRecord[]; caller: CallerRecord[] }
  putInflight(side: 'callee' | 'caller', records: (CalleeRecord | CallerRecord)[]): void
  removeInflight(side: 'callee' | 'caller', ids: string[]): void
  loadOwned(): string[]
  own(id: string): void
  disown(id: string): void
  /** The validated configs of owned HTTP-invoked functions (secret names only, never values). */
  loadHttp(): HttpFunction[]
  putHttp(fn: HttpFunction): void
  removeHttp(id: string): void
}

export interface SessionHost {
  /** `TriggerAction.Enqueue`: hands the job to the queue provider; the answer is the receipt or `enqueue_error` (data/queue/enqueue.ts). */
  enqueue(action: { queue: unknown; function_id: string; data: unknown; traceparent?: string; baggage?: string }): Promise<Outcome>
  /** To this session's worker (dropped when its socket is gone). */
  send(message: EngineMessage): void
  /** The function in the registry view; `stale` forces a refresh first. A miss refreshes before null. */
  lookup(functionId: string, stale?: boolean): Promise<FunctionTarget | null>
  /** `invoke` on another session: answers when its worker answered (or at once: not here, gone, void). */
  call(session: string, call: IncomingCall): Promise<CallAnswer>
  /** Does another session still hold this invocation (it will deliver it)? Asked when a call broke. */
  holds(session: string, engineId: string): Promise<boolean>
  /** Results to another session's worker, one way (best effort: a caller that left has nobody to tell). */
  deliver(session: string, results: InvocationResult[]): void
  /**
   * Registrations to the registry, in order (the host batches them). Before a batch leaves, the
   * host calls `saveOwned()`: the registry never names a function this session has not written.
   */
  register(changes: Change[]): void
  /** A call the engine makes itself, with no session's rules (a worker endpoint's hooks and middleware). */
  engineCall(call: EngineCall): Promise<Outcome>
  /** A builtin (`engine::*`), or undefined when `functionId` is not one. */
  builtin(functionId: string, data: unknown): (() => Promise<unknown>) | undefined
  /** What the previous connection of a reattaching worker still waited for (null: not ours, or wrong token). */
  handOver(previousWorkerId: string, token: string): Promise<Waiting[] | null>
  /** Run `persist()` a little later; repeated calls before it runs are one. */
  schedulePersist(): void
  newId(): string
  log(message: string): void
  /** A Worker env entry (secret or var) by name: HTTP functions' auth, at registration and at each call. */
  env(name: string): unknown
  /** The namespace this session's worker joined: it decides which secrets its HTTP functions may name. */
  namespace(): string
  /** The outgoing request of an HTTP-invoked function. */
  fetch: HttpCaller['fetch']
  /** Keeps the object at work until `promise` settles (an HTTP call nobody awaits, or awaits from afar). */
  waitUntil(promise: Promise<unknown>): void
  now(): number
  /** How long a caller waits when its invocation names no `timeout_ms` (ms). */
  invocationTimeoutMs(): number
  /** Call `expire()` at `at` (unix ms) or soon after, even if this object sleeps meanwhile. */
  wakeAt(at: number): void
  /**
   * A span of the engine's own under the caller's trace, or null when no traces are exported
   * (then the caller's `traceparent` goes on untouched, and nothing is made).
   */
  startSpan(name: string, parent: TraceContext, attributes: Record<string, string>): SpanHandle | null
}

/** A span the host is making: its context for the next hop, and its end. */
export interface SpanHandle {
  traceparent: string
  end(error?: ErrorBody): void
}

/** The longest a caller may ask to wait (`timeout_ms`): a record lives that long on both sides. */
export const MAX_INVOCATION_TIMEOUT_MS = 3_600_000

/** Error bodies; codes as the iii engine v0.22 sends them, so SDK code that checks them works. */
export const engineError = {
  notFound: (id: string): ErrorBody => ({ code: 'function_not_found', message: `Function ${id} not found` }),
  workerGone: (id: string): ErrorBody => ({
    code: 'invocation_stopped',
    message: `Invocation stopped: the worker serving ${id} disconnected before answering`,
  }),
  replaced: (id: string): ErrorBody => ({
    code: 'invocation_stopped',
    message: `Invocation stopped: the connection that was waiting for ${id} was replaced (a reconnect or a deploy) before the answer came`,
  }),
  httpInterrupted: (id: string): ErrorBody => ({
    code: 'invocation_stopped',
    message: `Invocation stopped: the session calling ${id}'s URL was reset (a deploy or an eviction) before the response came`,
  }),
  /** The code the iii engine's own tests use for an invocation nobody answered in time. */
  timeout: (id: string, ms: number): ErrorBody => ({
    code: 'timeout',
    message: `Invocation timed out: ${id} did not answer within ${ms} ms (timeout_ms, or III_INVOCATION_TIMEOUT_MS)`,
  }),
  unreachable: (id: string, err: unknown): ErrorBody => ({
    code: 'invocation_failed',
    message: `lost touch with the session serving ${id} before it answered: ${err instanceof Error ? err.message : String(err)}`,
  }),
  /** A builtin's own error keeps its engine code (`NOT_FOUND`, `INVALID_ARGUMENTS`…); anything else is a failure. */
  builtinFailed: (id: string, err: unknown): ErrorBody =>
    err instanceof Error && typeof (err as { code?: unknown }).code === 'string'
      ? { code: (err as unknown as { code: string }).code, message: err.message }
      : { code: 'invocation_failed', message: `${id}: ${err instanceof Error ? err.message : String(err)}` },
}

type Side = 'callee' | 'caller'

/** In-flight records of one side, with what changed since the last write. */
class Inflight<R extends { id: string }> {
  readonly records = new Map<string, R>()
  readonly persisted = new Set<string>()
  readonly unsavedNew = new Set<string>()
  readonly unsavedDone = new Set<string>()

  add(record: R): void {
    this.records.set(record.id, record)
    this.unsavedNew.add(record.id)
  }

  /** A record the caller has just written itself (a retry may reuse an id whose delete is pending). */
  addWritten(record: R): void {
    this.records.set(record.id, record)
    this.unsavedDone.delete(record.id)
    this.persisted.add(record.id)
  }

  /** Forgets a record; true when storage must be told. */
  forget(id: string): boolean {
    if (!this.records.delete(id)) return false
    this.unsavedNew.delete(id)
    if (!this.persisted.has(id)) return false
    this.unsavedDone.add(id)
    return true
  }
}

export class SessionCore {
  readonly owned: Set<string>
  /** Owned functions added or dropped since the last `saveOwned()` (written per batch, not per message). */
  readonly #ownedUnsaved = new Set<string>()
  /** Bounds this session has refused something for already: each is logged once per connection. */
  readonly #refusalsLogged = new Set<LimitKind>()
  /** Invocations this worker waits for that have no caller record (yet): builtins, lookups. */
  #unrecorded = 0
  /** The owned functions that are HTTP-invoked, by id. */
  readonly #http = new Map<string, HttpFunction>()
  readonly #callee = new Inflight<CalleeRecord>()
  readonly #caller = new Inflight<CallerRecord>()
  /** Callers waiting in this object for a callee record (a call's answer, or an HTTP request). */
  readonly #waiters = new Map<string, (outcome: Traced) => void>()
  #open: boolean
  /**
   * Invocations handled here since this instance started (in memory: an eviction starts it at 0
   * again): each call this worker served, and each engine builtin it called. Every invocation is
   * counted once, where it runs, so the page can sum the sessions into invocations per second.
   */
  #handled = 0
  /** Registry version of the last HTTP route change this session heard of (see RegistryCore). */
  routeVersion = 0
  /** The env as this namespace's HTTP functions may see it (namespace-secrets.ts). */
  readonly #secrets: SecretLookup
  /** A worker of a worker endpoint: its rules (null: the plain engine socket, no checks). */
  readonly #gate: WorkerGate | null
  /** Its messages waiting, in order, behind a registration hook (the engine reads them in order too). */
  readonly #inbox: WorkerMessage[] = []
  #draining = false

  constructor(
    readonly workerId: string,
    private readonly store: SessionStore,
    private readonly host: SessionHost,
    open: boolean,
    private readonly limits: WorkerLimits = DEFAULT_LIMITS,
    rules: WorkerRules | null = null,
  ) {
    this.#open = open
    this.#gate = rules && new WorkerGate(rules, { engineCall: (call) => host.engineCall(call), lookup: (id) => host.lookup(id), log: (m) => host.log(m) })
    this.#secrets = namespaceSecrets(host.namespace(), (name) => host.env(name), (message) => host.log(message))
    this.owned = new Set(store.loadOwned())
    const saved = store.loadInflight()
    for (const r of saved.callee) {
      this.#callee.records.set(r.id, r)
      this.#callee.persisted.add(r.id)
    }
    for (const r of saved.caller) {
      this.#caller.records.set(r.id, r)
      this.#caller.persisted.add(r.id)
    }
    for (const fn of store.loadHttp()) this.#http.set(fn.id, fn)
    // A written HTTP call found on waking had its request in the memory of an instance that is gone
    // (reset or evicted): nothing will ever answer it, so its caller is told now.
    for (const r of saved.callee) if (r.http) this.#complete(r, { error: engineError.httpInterrupted(r.functionId) })
  }

  get isOpen(): boolean {
    return this.#open
  }

  /** Invocations this worker serves right now. */
  get activeInvocations(): number {
    return this.#callee.records.size
  }

  /** Invocations handled since this instance started (see #handled). */
  get invocationsHandled(): number {
    return this.#handled
  }

  /**
   * A message from this session's worker. A worker of an endpoint has its messages handled in
   * order, each registration after its hook answered; results and pings never wait (a hook served
   * by this very worker would otherwise wait for itself).
   */
  message(message: WorkerMessage): void {
    if (!this.#gate || message.type === 'invocationresult' || message.type === 'ping' || message.type === 'pong') return this.#handle(message)
    if (this.#inbox.length >= this.limits.invocations) {
      // A flood behind a slow hook: refused as a flood of invocations is, never queued without bound.
      if (message.type === 'invokefunction' && message.invocation_id && message.action?.type !== 'void') {
        this.host.send({ type: 'invocationresult', invocation_id: message.invocation_id, function_id: message.function_id, error: tooManyInvocations(this.limits.invocations, message.function_id) })
      }
      return this.#refused('invocations', `${message.type} dropped: ${this.#inbox.length} messages wait behind a registration hook`)
    }
    this.#inbox.push(message)
    if (!this.#draining) void this.#drain(this.#gate)
  }

  async #drain(gate: WorkerGate): Promise<void> {
    this.#draining = true
    try {
      for (let message = this.#inbox.shift(); message; message = this.#inbox.shift()) {
        switch (message.type) {
          case 'registerfunction': {
            const stored = await gate.registerFunction(message)
            if (stored) this.#handle(stored)
            break
          }
          case 'unregisterfunction':
            this.#handle({ ...message, id: withPrefix(gate.rules.rights, message.id) })
            break
          case 'registertriggertype': {
            const stored = await gate.registerTriggerType(message)
            if (stored) this.#handle(stored)
            break
          }
          case 'registertrigger': {
            const stored = await gate.registerTrigger(message, (id) => this.owned.has(id))
            if (stored) this.#handle(stored)
            break
          }
          default:
            this.#handle(message)
        }
      }
    } finally {
      this.#draining = false
    }
  }

  #handle(message: WorkerMessage): void {
    switch (message.type) {
      case 'registerfunction':
        return this.#registerFunction(message)
      case 'unregisterfunction':
        if (this.owned.delete(message.id)) this.#ownedUnsaved.add(message.id)
        this.#dropHttp(message.id)
        return this.host.register([message])
      case 'registertrigger':
      case 'unregistertrigger':
      case 'registertriggertype':
      case 'unregistertriggertype':
      case 'triggerregistrationresult':
        return this.host.register([message])
      case 'invokefunction':
        return void this.invoke(message)
      case 'invocationresult':
        return this.#result(message)
      case 'reattach':
        return void this.#reattach(message.previous_worker_id, message.reattach_token ?? '')
      case 'ping':
        return this.host.send({ type: 'pong' })
      case 'pong':
        return
    }
  }

  /**
   * An invocation from this session's worker. Void invocations (no invocation_id, or action void)
   * are sent and forgotten; the others get exactly one result.
   */
  async invoke(message: InvokeFunction): Promise<void> {
    const invocationId = message.action?.type !== 'void' ? message.invocation_id : undefined
    const fn = message.function_id
    const answer = (outcome: Outcome) => {
      if (invocationId) this.host.send({ type: 'invocationresult', invocation_id: invocationId, function_id: fn, ...outcome })
    }
    if (invocationId && this.#caller.records.size + this.#unrecorded >= this.limits.invocations) {
      this.#refused('invocations', `Invocation of ${fn} refused`)
      return answer({ error: tooManyInvocations(this.limits.invocations, fn) })
    }
    const timeoutMs = Math.min(message.timeout_ms ?? this.host.invocationTimeoutMs(), MAX_INVOCATION_TIMEOUT_MS)
    const gate = this.#gate
    if (gate) {
      // A worker of an endpoint: checked before anything runs, the middleware in place of the target.
      const refusal = await this.#counted(invocationId, gate.refusal(fn))
      if (refusal) return answer({ error: refusal })
      const viaMiddleware = gate.middleware(message, timeoutMs)
      if (viaMiddleware) {
        this.#handled++
        return this.#counted(invocationId, viaMiddleware).then(answer, (err) => answer({ error: engineError.unreachable(fn, err) }))
      }
    }
    if (message.action?.type === 'enqueue') {
      // The job runs later, through the queue; the caller hears only whether it was accepted.
      this.#handled++
      const action = { queue: message.action.queue, function_id: fn, data: message.data, traceparent: message.traceparent, baggage: message.baggage }
      return this.#counted(invocationId, this.host.enqueue(action)).then(answer, (err) => answer({ error: { code: 'enqueue_error', message: String(err) } }))
    }
    const builtin = this.host.builtin(fn, message.data)
    if (builtin) {
      this.#handled++
      return this.#counted(invocationId, builtin()).then(
        (result) => answer({ result }),
        (err) => answer({ error: engineError.builtinFailed(fn, err) }),
      )
    }
    const deadline = this.host.now() + timeoutMs
    let target = await this.#counted(invocationId, this.host.lookup(fn))
    for (let attempt = 0; ; attempt++) {
      if (!target) return answer({ error: engineError.notFound(fn) })
      const callee = target.worker
      const engineId = this.host.newId()
      // The hop from this worker's session to another's is a span of ours in the caller's trace.
      const parent = callee === this.workerId ? null : parseTraceparent(message.traceparent)
      const span = parent ? this.host.startSpan(`call ${fn}`, parent, { function_id: fn, 'faas.invoked_name': fn, 'iii.function.kind': 'user' }) : null
      const call: IncomingCall = {
        from: this.workerId,
        ...(invocationId ? { id: engineId, invocation_id: invocationId } : {}),
        function_id: fn,
        data: message.data,
        traceparent: span?.traceparent ?? message.traceparent,
        baggage: message.baggage,
        metadata: message.metadata,
        timeout_ms: Math.max(1, deadline - this.host.now()),
      }
      if (invocationId) this.#remember('caller', { id: invocationId, engineId, functionId: fn, callee, deadline, timeoutMs })
      let reply: CallAnswer
      try {
        reply = callee === this.workerId ? await this.incoming(call) : await this.host.call(callee, call)
      } catch (err) {
        span?.end(engineError.unreachable(fn, err))
        if (!invocationId) return
        // The call broke (an object was evicted or reset). If the callee still holds the
        // invocation it will deliver the result by itself; otherwise it is lost: say so now.
        if (await this.host.holds(callee, engineId).catch(() => false)) return
        if (this.#forget('caller', invocationId)) answer({ error: engineError.unreachable(fn, err) })
        return
      }
      if (reply.status === 'done') span?.end('error' in reply.outcome ? reply.outcome.error : undefined)
      else if (reply.status === 'accepted') span?.end()
      else span?.end({ code: reply.status, message: `the session the view named no longer serves ${fn}: looked again` })
      if (reply.status === 'accepted') return
      if (reply.status === 'done') return this.#settle(invocationId!, fn, reply.outcome)
      if (invocationId) this.#forget('caller', invocationId)
      // Our view was out of date (the function moved or its worker left): look again, once.
      const fresh = await this.#counted(invocationId, this.host.lookup(fn, true))
      if (attempt >= 1 || fresh?.worker === callee) return answer({ error: engineError.notFound(fn) })
      target = fresh
    }
  }

  /** A call for this session's worker, from any session (this one included); answers once its worker did. */
  incoming(call: IncomingCall): Promise<CallAnswer> | CallAnswer {
    if (!this.#open) return { status: 'gone' }
    if (!this.owned.has(call.function_id)) return { status: 'not_here' }
    this.#handled++
    // `timeout_ms` is ours (between sessions): the worker gets the engine's message, and a
    // prefixed worker (an endpoint's) the id it registered (rbac.ts).
    const { from, id, invocation_id, timeout_ms, ...rest } = call
    const forward = this.#gate ? { ...rest, function_id: stripPrefix(this.#gate.rules.rights, rest.function_id) } : rest
    const http = this.#http.get(call.function_id)
    if (!id || !invocation_id) {
      // A void call: nobody waits, so nothing is recorded; an HTTP one still makes its request.
      if (!http) this.host.send({ type: 'invokefunction', ...forward })
      else this.host.waitUntil(this.#callHttp(http, call.data).then((o) => void ('error' in o && this.host.log(`void call of ${http.id}: ${o.error.code}: ${o.error.message}`))))
      return { status: 'accepted' }
    }
    const caller = { session: from, invocationId: invocation_id }
    const timeoutMs = Math.min(timeout_ms ?? this.host.invocationTimeoutMs(), MAX_INVOCATION_TIMEOUT_MS)
    const deadline = this.host.now() + timeoutMs
    const served = http
      ? this.#serve({ id, functionId: http.id, caller, http: true, deadline, timeoutMs }, (r) => this.#request(r, http, call.data))
      : this.#serve({ id, functionId: call.function_id, caller, deadline, timeoutMs }, (r) => this.host.send({ type: 'invokefunction', ...forward, invocation_id: r.id }))
    return served.then((outcome) => ({ status: 'done' as const, outcome }))
  }

  /**
   * An invocation for code in some isolate (an HTTP trigger); resolves with its outcome. `id`: the
   * engine id to use (the request's, so that `abandon(id)` can drop it).
   */
  incomingLocal(functionId: string, data: unknown, metadata?: unknown, id: string = this.host.newId(), traceparent?: string): Promise<Traced> | 'not_here' | 'gone' {
    if (!this.#open) return 'gone'
    if (!this.owned.has(functionId)) return 'not_here'
    this.#handled++
    const http = this.#http.get(functionId)
    if (http) return this.#serve({ id, functionId, caller: null, http: true }, (r) => this.#request(r, http, data))
    const dispatched = this.#gate ? stripPrefix(this.#gate.rules.rights, functionId) : functionId
    return this.#serve({ id, functionId, caller: null }, (r) =>
      this.host.send({ type: 'invokefunction', function_id: dispatched, data, metadata, invocation_id: r.id, ...(traceparent ? { traceparent } : {}) }),
    )
  }

  /**
   * Drops a local invocation whose requester stopped waiting (an HTTP request that timed out): its
   * waiter gets `outcome`, and the worker's late answer is dropped like any unknown one.
   */
  abandon(id: string, outcome: Traced): void {
    const record = this.#callee.records.get(id)
    if (record && record.caller === null) this.#complete(record, outcome)
  }

  /** Does this session still hold (and so will deliver) this invocation? */
  holds(engineId: string): boolean {
    return this.#callee.records.has(engineId)
  }

  /** Results delivered one way, for invocations this session's worker made. */
  delivered(results: InvocationResult[]): void {
    for (const result of results) {
      const { invocation_id, function_id, type: _, ...outcome } = result
      this.#settle(invocation_id, function_id ?? '', outcome as Traced)
    }
  }

  /** What the registry says after a change: messages for the worker, functions lost, route version. */
  notice(notice: Partial<Notice>): void {
    for (const message of notice.messages ?? []) this.host.send(message)
    for (const id of notice.lost ?? []) {
      if (this.owned.delete(id)) this.#ownedUnsaved.add(id)
      this.#dropHttp(id)
    }
    // Now, not with the next batch: none may come before this object sleeps.
    this.saveOwned()
    if (notice.routeVersion !== undefined && notice.routeVersion > this.routeVersion) this.routeVersion = notice.routeVersion
  }

  /**
   * The worker's socket is gone (closed, or found missing after a reset). Nobody keeps waiting on
   * it; what it waited for itself is kept for a reattach, which ends each with an error. HTTP calls
   * already made do not need the worker: they finish and answer, as in the engine.
   */
  closed(): void {
    if (!this.#open) return
    this.#open = false
    this.saveOwned()
    for (const record of [...this.#callee.records.values()]) {
      if (!record.http) this.#complete(record, { error: engineError.workerGone(record.functionId) })
    }
    // What the worker waited for was written when it asked (#remember): it waits for a reattach.
    this.persist()
  }

  /**
   * A new connection of the same worker takes over: this one closes, and what its worker still
   * waited for goes to the new connection, which ends each with an error.
   */
  takeOver(): Waiting[] {
    this.closed()
    const waiting = [...this.#caller.records.values()].map(({ id, functionId, outcome }) => ({ id, functionId, ...(outcome ? { outcome } : {}) }))
    for (const { id } of waiting) this.#forget('caller', id)
    this.persist()
    return waiting
  }

  /** Writes the in-flight changes since the last write, in one batch. */
  persist(): void {
    for (const side of ['callee', 'caller'] as const) {
      const inflight: Inflight<CalleeRecord | CallerRecord> = side === 'callee' ? this.#callee : this.#caller
      const fresh = [...inflight.unsavedNew].map((id) => inflight.records.get(id)).filter((r) => r !== undefined)
      // An HTTP trigger's request waits in some isolate and cannot outlive its call: not written.
      const durable = fresh.filter((r) => !('caller' in r) || r.caller !== null)
      const done = [...inflight.unsavedDone].filter((id) => inflight.persisted.has(id))
      inflight.unsavedNew.clear()
      inflight.unsavedDone.clear()
      if (durable.length) this.store.putInflight(side, durable)
      if (done.length) this.store.removeInflight(side, done)
      for (const r of durable) inflight.persisted.add(r.id)
      for (const id of done) inflight.persisted.delete(id)
    }
    // Records that outlived the persist delay may outlive this instance's timers too: the host's
    // alarm keeps their deadlines (short calls never get this far, so they cost no alarm).
    const next = this.nextDeadline()
    if (next !== null) this.host.wakeAt(next)
  }

  /** The earliest deadline of a record still waiting, or null when none waits. */
  nextDeadline(): number | null {
    let next: number | null = null
    for (const r of this.#callee.records.values()) if (r.deadline !== undefined && (next === null || r.deadline < next)) next = r.deadline
    // A caller record that holds its answer (for a reattach) waits for nothing.
    for (const r of this.#caller.records.values()) if (r.deadline !== undefined && !r.outcome && (next === null || r.deadline < next)) next = r.deadline
    return next
  }

  /**
   * Ends every invocation past its deadline: a waiting worker is answered `timeout` (or, with its
   * socket gone, keeps that answer for its reattach); a callee forgets the call, so its worker's
   * late answer is dropped, and its caller, if still waiting, hears `timeout` too.
   */
  expire(now: number): void {
    for (const r of [...this.#caller.records.values()]) {
      if (r.deadline !== undefined && r.deadline <= now && !r.outcome) this.#settle(r.id, r.functionId, { error: engineError.timeout(r.functionId, r.timeoutMs ?? 0) })
    }
    for (const r of [...this.#callee.records.values()]) {
      if (r.deadline !== undefined && r.deadline <= now) this.#complete(r, { error: engineError.timeout(r.functionId, r.timeoutMs ?? 0) })
    }
    const next = this.nextDeadline()
    if (next !== null) this.host.wakeAt(next)
  }

  /** Writes the owned functions added or dropped since the last call, in one event (one commit). */
  saveOwned(): void {
    for (const id of this.#ownedUnsaved) {
      if (this.owned.has(id)) this.store.own(id)
      else this.store.disown(id)
    }
    this.#ownedUnsaved.clear()
  }

  /** Counts `pending` among the invocations this worker waits for until it settles (not for a void one). */
  async #counted<T>(invocationId: string | undefined, pending: Promise<T>): Promise<T> {
    if (!invocationId) return pending
    this.#unrecorded++
    try {
      return await pending
    } finally {
      this.#unrecorded--
    }
  }

  /** Logs a refusal by a bound, the first of its kind on this connection only (a flood would log thousands). */
  #refused(kind: LimitKind, what: string): void {
    if (this.#refusalsLogged.has(kind)) return
    this.#refusalsLogged.add(kind)
    this.host.log(`${limitMessage(kind, this.limits[kind], what)}; later refusals of this kind on this connection are not logged`)
  }

  /** Records a callee invocation and starts it (`start`: to the worker, or the HTTP request); resolves with its outcome. */
  #serve(record: CalleeRecord, start: (record: CalleeRecord) => void): Promise<Traced> {
    return new Promise((resolve) => {
      this.#waiters.set(record.id, resolve)
      this.#remember('callee', record)
      start(record)
    })
  }

  /** An HTTP function's call: its response completes the record, as a worker's result would. */
  #request(record: CalleeRecord, fn: HttpFunction, data: unknown): void {
    const done = this.#callHttp(fn, data).then((outcome) => {
      // Gone if something else ended it meanwhile (a wake found it orphaned): first answer wins.
      if (this.#callee.records.get(record.id) === record) this.#complete(record, outcome)
    })
    this.host.waitUntil(done)
  }

  #callHttp(fn: HttpFunction, data: unknown): Promise<Outcome> {
    return callHttpFunction(fn, data, { fetch: this.host.fetch, secrets: this.#secrets, newId: () => this.host.newId(), now: () => this.host.now() })
  }

  /**
   * A registration. One past the bound of functions per worker is refused; one with a URL
   * (`invocation`) is validated and its secret resolved first. A refused one is only logged, as the
   * engine does with a bad URL (the protocol has no answer to registerfunction, and calls get
   * function_not_found). The registry hears only that the function is HTTP-invoked: its URL and
   * auth stay here.
   */
  #registerFunction(message: RegisterFunction): void {
    if (!this.owned.has(message.id) && this.owned.size >= this.limits.functions) return this.#refused('functions', `Function ${message.id} not registered`)
    let change: RegisterFunction = message
    if (message.invocation !== undefined && message.invocation !== null) {
      const parsed = parseHttpInvocation(message.id, message.invocation, this.#secrets)
      if (!parsed.ok) return this.host.log(`HTTP function ${message.id} not registered: ${parsed.error.code}: ${parsed.error.message}`)
      for (const note of parsed.notes) this.host.log(`HTTP function ${message.id}: ${note}`)
      this.#http.set(message.id, parsed.fn)
      this.store.putHttp(parsed.fn)
      change = { ...message, invocation: true }
    } else {
      this.#dropHttp(message.id)
    }
    if (!this.owned.has(message.id)) this.#ownedUnsaved.add(message.id)
    this.owned.add(message.id)
    this.host.register([change])
  }

  #dropHttp(id: string): void {
    if (this.#http.delete(id)) this.store.removeHttp(id)
  }

  /**
   * The caller side: forwards an answer to this worker, once (a second answer for it is dropped).
   * With the worker's socket gone the answer is kept (written) for its reattaching connection.
   */
  #settle(invocationId: string, functionId: string, outcome: Traced): void {
    const record = this.#caller.records.get(invocationId)
    if (!record || record.outcome) return
    // The callee's timer runs on what was left of the caller's window when the call reached it
    // (999 ms of 1000): whoever fires first, the caller is told the window it asked for.
    if ('error' in outcome && outcome.error?.code === 'timeout' && record.timeoutMs !== undefined) {
      outcome = { ...outcome, error: engineError.timeout(functionId, record.timeoutMs) }
    }
    if (!this.#open) {
      record.outcome = outcome
      this.store.putInflight('caller', [record])
      this.#caller.persisted.add(record.id)
      return
    }
    this.#forget('caller', invocationId)
    this.host.send({ type: 'invocationresult', invocation_id: invocationId, function_id: functionId, ...outcome })
  }

  #result(message: InvocationResult): void {
    const record = this.#callee.records.get(message.invocation_id)
    if (!record) return this.host.log(`result for unknown invocation ${message.invocation_id}`)
    const outcome: Traced = message.error ? { error: message.error } : { result: message.result }
    if (message.traceparent) outcome.traceparent = message.traceparent
    if (message.baggage) outcome.baggage = message.baggage
    this.#complete(record, outcome)
  }

  /**
   * The callee side: the waiting call gets the outcome; a written invocation (or one whose call did
   * not survive an eviction) is also delivered one way.
   */
  #complete(record: CalleeRecord, outcome: Traced): void {
    const written = this.#callee.persisted.has(record.id)
    this.#forget('callee', record.id)
    const waiter = this.#waiters.get(record.id)
    this.#waiters.delete(record.id)
    waiter?.(outcome)
    const caller = record.caller
    if (!caller || (waiter && !written)) return
    const result: InvocationResult = { type: 'invocationresult', invocation_id: caller.invocationId, function_id: record.functionId, ...outcome }
    if (caller.session === this.workerId) this.delivered([result])
    else this.host.deliver(caller.session, [result])
  }

  async #reattach(previousWorkerId: string, token: string): Promise<void> {
    if (previousWorkerId === this.workerId) return
    const waiting = await this.host.handOver(previousWorkerId, token).catch((err) => {
      this.host.log(`reattach to ${previousWorkerId.slice(0, 12)}…: ${err instanceof Error ? err.message : String(err)}`)
      return null
    })
    for (const { id, functionId, outcome } of waiting ?? []) {
      this.host.send({ type: 'invocationresult', invocation_id: id, function_id: functionId, ...(outcome ?? { error: engineError.replaced(functionId) }) })
    }
  }

  #remember(side: Side, record: CalleeRecord | CallerRecord): void {
    if (side === 'caller') {
      // Written now, in the event that sends the call on (file comment): a reset cannot lose it.
      this.store.putInflight('caller', [record])
      this.#caller.addWritten(record as CallerRecord)
    } else this.#callee.add(record as CalleeRecord)
    if (side === 'caller' || (record as CalleeRecord).caller !== null) this.host.schedulePersist()
  }

  /** Forgets a record; false when there was none. */
  #forget(side: Side, id: string): boolean {
    const inflight = side === 'callee' ? this.#callee : this.#caller
    const had = inflight.records.has(id)
    if (inflight.forget(id)) this.host.schedulePersist()
    return had
  }
}
