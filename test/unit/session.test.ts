// A worker's session, in Node: one-hop invocations between sessions, results routed back once,
// stale views retried, calls that break, departures, reattach, what is written when, and the
// HTTP-invoked functions a session owns (it makes their requests through the host's fetch).
import { describe, expect, it } from 'vitest'
import type { HttpFunction } from '../../src/engine/http-function'
import { DEFAULT_LIMITS, type WorkerLimits, workerLimits } from '../../src/engine/limits'
import type { EngineMessage, InvocationResult, InvokeFunction } from '../../src/protocol/messages'
import {
  type CallAnswer,
  type CalleeRecord,
  type CallerRecord,
  type FunctionTarget,
  type IncomingCall,
  SessionCore,
  type SessionHost,
  type SessionStore,
  type SpanHandle,
  type Waiting,
} from '../../src/engine/session'
import type { TraceContext } from '../../src/observability/spans'
import type { ErrorBody } from '../../src/protocol/messages'
import type { EngineCall, Outcome } from '../../src/protocol/outcome'
import type { WorkerRules } from '../../src/engine/rbac'

class MemorySessionStore implements SessionStore {
  readonly inflight = { callee: new Map<string, CalleeRecord>(), caller: new Map<string, CallerRecord>() }
  readonly owned = new Set<string>()
  readonly http = new Map<string, string>()
  writes = 0
  loadInflight() {
    // Copies, as rows are: a record changed in memory is not changed in storage until written.
    return { callee: [...this.inflight.callee.values()].map((r) => structuredClone(r)), caller: [...this.inflight.caller.values()].map((r) => structuredClone(r)) }
  }
  putInflight(side: 'callee' | 'caller', records: (CalleeRecord | CallerRecord)[]) {
    for (const r of records) {
      // Writing a record again is allowed only when it changed (an answer kept for a reattach).
      const before = (this.inflight[side] as Map<string, unknown>).get(r.id)
      if (before && JSON.stringify(before) === JSON.stringify(r)) throw new Error(`${side} ${r.id} written twice unchanged`)
      ;(this.inflight[side] as Map<string, unknown>).set(r.id, structuredClone(r))
      this.writes++
    }
  }
  removeInflight(side: 'callee' | 'caller', ids: string[]) {
    for (const id of ids) {
      if (!this.inflight[side].delete(id)) throw new Error(`${side} ${id} removed but never written`)
      this.writes++
    }
  }
  loadOwned() {
    return [...this.owned]
  }
  own(id: string) {
    this.owned.add(id)
  }
  disown(id: string) {
    this.owned.delete(id)
  }
  loadHttp() {
    return [...this.http.values()].map((body) => JSON.parse(body) as HttpFunction)
  }
  putHttp(fn: HttpFunction) {
    this.http.set(fn.id, JSON.stringify(fn))
  }
  removeHttp(id: string) {
    if (!this.http.delete(id)) throw new Error(`http function ${id} removed but never written`)
  }
}

/** A request an HTTP function made, and the way to answer it. */
interface Fetched {
  url: string
  init: { method: string; headers: [string, string][]; body?: string; redirect: string; signal: AbortSignal }
  respond: (response: Response) => void
  fail: (err: Error) => void
}

/**
 * A small world of sessions: `view` says where functions are (what the registry view holds), calls
 * between sessions go straight to the other core, unless a test makes them fail.
 */
class World {
  readonly sessions = new Map<string, { core: SessionCore; sent: EngineMessage[]; store: MemorySessionStore; host: TestHost }>()
  readonly view = new Map<string, FunctionTarget>()
  /** What a refresh of the view would find (tests change it to model a stale cache). */
  readonly fresh = new Map<string, FunctionTarget>()
  lookups = 0
  refreshes = 0
  breakCalls = false
  /** How long looking a function up takes (the clock moves by it). */
  lookupMs = 0
  ids = 0
  /** The Worker env (secrets and vars) every session reads. */
  env: Record<string, unknown> = {}
  /** Requests made by HTTP functions, answered by the test. */
  readonly fetched: Fetched[] = []
  /** The clock every session reads (tests move it to pass deadlines). */
  clock = 1_700_000_000_000
  /** The bounds per worker every session gets (limits.ts). */
  limits: WorkerLimits = DEFAULT_LIMITS
  /** Whether spans are exported (III_OTLP_ENDPOINT): without, hosts make none. */
  tracing = false
  readonly spans: { session: string; name: string; parent: TraceContext; attributes: Record<string, string>; traceparent: string; ended?: { error?: ErrorBody } }[] = []

  /** Calls the engine makes itself (hooks, middleware), and how they are answered. */
  readonly engineCalls: EngineCall[] = []
  engine: (call: EngineCall) => Promise<Outcome> = async (call) => ({ error: { code: 'function_not_found', message: `Function ${call.function_id} not found` } })

  add(id: string, open = true, namespace = '', rules: WorkerRules | null = null) {
    const sent: EngineMessage[] = []
    const store = new MemorySessionStore()
    const host = new TestHost(this, id, sent, namespace)
    const core = new SessionCore(id, store, host, open, this.limits, rules)
    this.sessions.set(id, { core, sent, store, host })
    return this.sessions.get(id)!
  }

  /** A worker registers a function: its session owns it, and the view knows it. */
  serve(session: string, fn: string) {
    this.sessions.get(session)!.core.message({ type: 'registerfunction', id: fn })
    this.view.set(fn, { worker: session })
    this.fresh.set(fn, { worker: session })
  }

  rebuild(id: string, open = true) {
    const old = this.sessions.get(id)!
    const host = new TestHost(this, id, old.sent, old.host.namespace())
    const core = new SessionCore(id, old.store, host, open, this.limits)
    this.sessions.set(id, { core, sent: old.sent, store: old.store, host })
    return core
  }
}

class TestHost implements SessionHost {
  persistScheduled = false
  registered: unknown[] = []
  delivered: { to: string; results: InvocationResult[] }[] = []
  handOvers: Waiting[] | null = null
  logs: string[] = []
  /** Work the object was asked to keep running for (HTTP calls). */
  background: Promise<unknown>[] = []

  constructor(
    private readonly world: World,
    private readonly self: string,
    private readonly sent: EngineMessage[],
    private readonly ns: string,
  ) {}

  send(message: EngineMessage) {
    this.sent.push(message)
  }
  async lookup(fn: string, stale?: boolean) {
    this.world.lookups++
    this.world.clock += this.world.lookupMs
    if (stale || !this.world.view.has(fn)) {
      this.world.refreshes++
      for (const [k, v] of this.world.fresh) this.world.view.set(k, v)
      for (const k of [...this.world.view.keys()]) if (!this.world.fresh.has(k)) this.world.view.delete(k)
    }
    return this.world.view.get(fn) ?? null
  }
  async call(session: string, call: IncomingCall): Promise<CallAnswer> {
    if (this.world.breakCalls) throw new Error('link broke')
    const target = this.world.sessions.get(session)
    return target ? target.core.incoming(structuredClone(call)) : { status: 'gone' }
  }
  async holds(session: string, engineId: string) {
    return this.world.sessions.get(session)?.core.holds(engineId) ?? false
  }
  deliver(session: string, results: InvocationResult[]) {
    this.delivered.push({ to: session, results })
    this.world.sessions.get(session)?.core.delivered(structuredClone(results))
  }
  /** Batches wait for the test to send them (`core.saveOwned()` is what the real host does first). */
  holdBatches = false
  register(changes: unknown[]) {
    this.registered.push(...changes)
    // The real host sends a batch a moment later and saves the owned functions first; here at once.
    if (!this.holdBatches) this.world.sessions.get(this.self)?.core.saveOwned()
  }
  /** What the queue provider was given (TriggerAction.Enqueue). */
  enqueued: { queue: unknown; function_id: string; data: unknown }[] = []
  async enqueue(action: { queue: unknown; function_id: string; data: unknown }) {
    this.enqueued.push({ queue: action.queue, function_id: action.function_id, data: action.data })
    if (action.queue === 'missing') return { error: { code: 'enqueue_error', message: "Queue 'missing' not found" } }
    return { result: { messageReceiptId: `receipt-${this.enqueued.length}` } }
  }
  engineCall(call: EngineCall) {
    this.world.engineCalls.push(call)
    return this.world.engine(call)
  }
  builtin(fn: string) {
    if (fn === 'engine::log::info') return async () => undefined
    return fn === 'engine::echo' ? async () => ({ echoed: true }) : undefined
  }
  async handOver() {
    return this.handOvers
  }
  schedulePersist() {
    this.persistScheduled = true
  }
  newId() {
    return `e${this.world.ids++}`
  }
  log(message: string) {
    this.logs.push(message)
  }
  env(name: string) {
    return this.world.env[name]
  }
  namespace() {
    return this.ns
  }
  fetch = (url: string, init: Fetched['init']) =>
    new Promise<Response>((respond, fail) => {
      this.world.fetched.push({ url, init, respond, fail })
    })
  waitUntil(promise: Promise<unknown>) {
    this.background.push(promise)
  }
  now() {
    return this.world.clock
  }
  invocationTimeoutMs() {
    return 30_000
  }
  startSpan(name: string, parent: TraceContext, attributes: Record<string, string>): SpanHandle | null {
    if (!this.world.tracing) return null
    const span: World['spans'][number] = { session: this.self, name, parent, attributes, traceparent: `00-${parent.trace_id}-${String(this.world.spans.length).padStart(16, '0')}-${parent.flags}` }
    this.world.spans.push(span)
    return { traceparent: span.traceparent, end: (error) => void (span.ended = { error }) }
  }
  /** Times the object asked to be woken at (its alarm). */
  wakes: number[] = []
  wakeAt(at: number) {
    this.wakes.push(at)
  }
}

const settle = () => new Promise((r) => setTimeout(r, 0))
const results = (sent: EngineMessage[]) => sent.filter((m): m is InvocationResult => m.type === 'invocationresult')
const invocations = (sent: EngineMessage[]) => sent.filter((m) => m.type === 'invokefunction') as { invocation_id?: string; function_id: string; data?: unknown }[]

/** The callee's worker answers its latest invocation. */
function answerLast(world: World, session: string, result: unknown, extra: Partial<InvocationResult> = {}) {
  const s = world.sessions.get(session)!
  const inv = invocations(s.sent).at(-1)!
  s.core.message({ type: 'invocationresult', invocation_id: inv.invocation_id!, function_id: inv.function_id, result, ...extra })
}

describe('invocations between sessions', () => {
  it('routes an invocation to the serving session and its result back under the caller\'s id, data untouched', async () => {
    const world = new World()
    const a = world.add('A')
    const b = world.add('B')
    world.serve('B', 'math::add')
    const data = { x: 1, reader: { channel_id: 'c', access_key: 'k', direction: 'read' } }
    a.core.message({ type: 'invokefunction', invocation_id: 'inv-1', function_id: 'math::add', data, traceparent: 'tp' })
    await settle()
    const inv = invocations(b.sent)[0]!
    expect(inv).toMatchObject({ function_id: 'math::add', data, traceparent: 'tp' })
    expect(inv.invocation_id).not.toBe('inv-1') // an engine id of its own
    answerLast(world, 'B', { sum: 3 }, { traceparent: 'tp2' })
    await settle()
    expect(results(a.sent)).toEqual([{ type: 'invocationresult', invocation_id: 'inv-1', function_id: 'math::add', result: { sum: 3 }, traceparent: 'tp2' }])
    expect(b.core.activeInvocations).toBe(0)
  })

  it('counts each invocation once, where it runs: calls served (void too), HTTP-trigger calls and builtins called, never a stale miss', async () => {
    const world = new World()
    const a = world.add('A')
    const b = world.add('B')
    world.serve('B', 'f')
    a.core.message({ type: 'invokefunction', invocation_id: 'one', function_id: 'f' })
    a.core.message({ type: 'invokefunction', function_id: 'f' }) // void
    a.core.message({ type: 'invokefunction', invocation_id: 'two', function_id: 'engine::echo' })
    a.core.message({ type: 'invokefunction', invocation_id: 'three', function_id: 'nobody::here' })
    await settle()
    void b.core.incomingLocal('f', { from: 'http' })
    expect(a.core.incoming({ from: 'B', id: 'e', invocation_id: 'x', function_id: 'f' })).toEqual({ status: 'not_here' })
    // B ran f three times (answered or not); A ran one builtin and called f, which is B's to count.
    expect([a.core.invocationsHandled, b.core.invocationsHandled]).toEqual([1, 3])
  })

  it('keeps two callers that chose the same invocation id apart', async () => {
    const world = new World()
    const [a, c] = [world.add('A'), world.add('C')]
    const b = world.add('B')
    world.serve('B', 'f')
    a.core.message({ type: 'invokefunction', invocation_id: 'same', function_id: 'f', data: 'from a' })
    c.core.message({ type: 'invokefunction', invocation_id: 'same', function_id: 'f', data: 'from c' })
    await settle()
    for (const inv of invocations(b.sent)) b.core.message({ type: 'invocationresult', invocation_id: inv.invocation_id!, result: inv.data })
    await settle()
    expect(results(a.sent).map((r) => r.result)).toEqual(['from a'])
    expect(results(c.sent).map((r) => r.result)).toEqual(['from c'])
  })

  it('answers function_not_found after one refresh of the view, not before', async () => {
    const world = new World()
    const a = world.add('A')
    a.core.message({ type: 'invokefunction', invocation_id: 'x', function_id: 'nobody::here' })
    await settle()
    expect(world.refreshes).toBe(1)
    expect(results(a.sent)[0]?.error).toEqual({ code: 'function_not_found', message: 'Function nobody::here not found' })
  })

  it('finds a function registered after the view was cached (a miss refreshes first)', async () => {
    const world = new World()
    const a = world.add('A')
    const b = world.add('B')
    b.core.message({ type: 'registerfunction', id: 'late' })
    world.fresh.set('late', { worker: 'B' }) // the registry has it; our cached view does not
    a.core.message({ type: 'invokefunction', invocation_id: 'x', function_id: 'late' })
    await settle()
    expect(invocations(b.sent)).toHaveLength(1)
  })

  it('retries once on the new owner when the cached view pointed at a session that no longer serves it', async () => {
    const world = new World()
    const a = world.add('A')
    world.add('B')
    const c = world.add('C')
    world.serve('B', 'moved')
    world.serve('C', 'moved')
    world.sessions.get('B')!.core.notice({ lost: ['moved'] })
    world.view.set('moved', { worker: 'B' }) // stale cache
    a.core.message({ type: 'invokefunction', invocation_id: 'm', function_id: 'moved' })
    await settle()
    expect(invocations(c.sent)).toHaveLength(1)
    answerLast(world, 'C', 'from C')
    await settle()
    expect(results(a.sent)[0]?.result).toBe('from C')
  })

  it('says not found (not a loop) when the view keeps naming a session that does not serve it', async () => {
    const world = new World()
    const a = world.add('A')
    world.add('B')
    world.view.set('ghost', { worker: 'B' })
    world.fresh.set('ghost', { worker: 'B' })
    a.core.message({ type: 'invokefunction', invocation_id: 'g', function_id: 'ghost' })
    await settle()
    expect(results(a.sent)[0]?.error?.code).toBe('function_not_found')
  })

  it('gives up after one retry even when every refresh names another session', async () => {
    const world = new World()
    const a = world.add('A')
    world.add('B')
    world.add('C')
    world.view.set('flaky', { worker: 'B' })
    world.fresh.set('flaky', { worker: 'C' })
    const lookup = a.host.lookup.bind(a.host)
    a.host.lookup = async (fn, stale) => {
      const found = await lookup(fn, stale)
      world.fresh.set('flaky', { worker: found?.worker === 'B' ? 'C' : 'B' }) // the next refresh flips
      return found
    }
    a.core.message({ type: 'invokefunction', invocation_id: 'f', function_id: 'flaky' })
    for (let i = 0; i < 20 && results(a.sent).length === 0; i++) await settle()
    expect(results(a.sent)[0]?.error?.code).toBe('function_not_found')
  })

  it('invokes its own worker without leaving the session', async () => {
    const world = new World()
    const a = world.add('A')
    world.serve('A', 'self::fn')
    a.core.message({ type: 'invokefunction', invocation_id: 's', function_id: 'self::fn', data: 1 })
    await settle()
    answerLast(world, 'A', 2)
    await settle()
    expect(results(a.sent)).toEqual([expect.objectContaining({ invocation_id: 's', result: 2 })])
    expect(a.host.delivered).toEqual([])
  })

  it('sends void invocations without an id and answers nothing', async () => {
    const world = new World()
    const a = world.add('A')
    const b = world.add('B')
    world.serve('B', 'log::it')
    a.core.message({ type: 'invokefunction', function_id: 'log::it', data: 1, action: { type: 'void' } })
    a.core.message({ type: 'invokefunction', invocation_id: 'v', function_id: 'log::it', data: 2, action: { type: 'void' } })
    await settle()
    expect(invocations(b.sent).map((i) => i.invocation_id)).toEqual([undefined, undefined])
    expect(results(a.sent)).toEqual([])
  })

  it('makes the hop to another session a span of its own in the caller\'s trace, only when traces are exported', async () => {
    const world = new World()
    const a = world.add('A')
    const b = world.add('B')
    world.serve('B', 'math::add')
    world.serve('A', 'self::fn')
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    // Without a collector nothing is made and the caller's context goes on as it is.
    a.core.message({ type: 'invokefunction', invocation_id: 'plain', function_id: 'math::add', data: 1, traceparent })
    await settle()
    expect(invocations(b.sent).at(-1)).toMatchObject({ traceparent })
    answerLast(world, 'B', 1)
    await settle()
    expect(world.spans).toEqual([])

    world.tracing = true
    a.core.message({ type: 'invokefunction', invocation_id: 'traced', function_id: 'math::add', data: 2, traceparent })
    await settle()
    const [span] = world.spans
    expect(span).toMatchObject({ session: 'A', name: 'call math::add', parent: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' } })
    // The callee's worker gets our span as its parent, in the same trace; the span ends with the answer.
    expect(invocations(b.sent).at(-1)).toMatchObject({ traceparent: span!.traceparent })
    expect(span!.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-/)
    expect(span!.ended).toBeUndefined()
    answerLast(world, 'B', undefined, { error: { code: 'boom', message: 'failed' } })
    await settle()
    expect(span!.ended).toEqual({ error: { code: 'boom', message: 'failed' } })

    // No span for a call that stays in the session, or for a caller that sent no trace context.
    a.core.message({ type: 'invokefunction', invocation_id: 'self', function_id: 'self::fn', data: 3, traceparent })
    a.core.message({ type: 'invokefunction', invocation_id: 'untraced', function_id: 'math::add', data: 4 })
    a.core.message({ type: 'invokefunction', invocation_id: 'bad', function_id: 'math::add', data: 5, traceparent: 'not-a-traceparent' })
    await settle()
    expect(world.spans).toHaveLength(1)
  })

  it('answers builtins itself', async () => {
    const world = new World()
    const a = world.add('A')
    a.core.message({ type: 'invokefunction', invocation_id: 'b', function_id: 'engine::echo' })
    await settle()
    expect(results(a.sent)[0]).toMatchObject({ invocation_id: 'b', result: { echoed: true } })
  })

})

describe('calls that break', () => {
  it('waits for a one-way delivery when the callee still holds the invocation, and forwards it once', async () => {
    const world = new World()
    const a = world.add('A')
    const b = world.add('B')
    world.serve('B', 'slow')
    // The call reaches B, then the answer path breaks (as when an object is evicted).
    const realCall = a.host.call.bind(a.host)
    a.host.call = async (s, call) => {
      void realCall(s, call)
      throw new Error('evicted')
    }
    a.core.message({ type: 'invokefunction', invocation_id: 'k', function_id: 'slow' })
    await settle()
    expect(results(a.sent)).toEqual([]) // nothing yet: B will deliver
    b.core.persist() // in flight long enough to be written
    answerLast(world, 'B', 'late')
    await settle()
    expect(results(a.sent)).toEqual([expect.objectContaining({ invocation_id: 'k', result: 'late' })])
    // A second delivery of the same result is dropped.
    a.core.delivered([{ type: 'invocationresult', invocation_id: 'k', result: 'again' }])
    expect(results(a.sent)).toHaveLength(1)
  })

  it('answers invocation_failed at once when the callee does not hold it', async () => {
    const world = new World()
    const a = world.add('A')
    world.add('B')
    world.serve('B', 'f')
    world.breakCalls = true
    a.core.message({ type: 'invokefunction', invocation_id: 'k', function_id: 'f' })
    await settle()
    expect(results(a.sent)[0]?.error).toMatchObject({ code: 'invocation_failed', message: expect.stringContaining('link broke') })
  })
})

describe('departures', () => {
  it('tells every caller waiting on a worker that leaves invocation_stopped, at once', async () => {
    const world = new World()
    const [a, c] = [world.add('A'), world.add('C')]
    const b = world.add('B')
    world.serve('B', 'slow')
    a.core.message({ type: 'invokefunction', invocation_id: 'a1', function_id: 'slow' })
    c.core.message({ type: 'invokefunction', invocation_id: 'c1', function_id: 'slow' })
    await settle()
    b.core.closed()
    await settle()
    expect(results(a.sent)[0]?.error?.code).toBe('invocation_stopped')
    expect(results(c.sent)[0]?.error?.code).toBe('invocation_stopped')
    // A closed session refuses new calls: the caller looks again and finds nobody.
    world.fresh.delete('slow')
    a.core.message({ type: 'invokefunction', invocation_id: 'a2', function_id: 'slow' })
    await settle()
    expect(results(a.sent)[1]?.error?.code).toBe('function_not_found')
  })

  it('writes what a leaving worker waited for, and hands it to its reattaching connection', async () => {
    const world = new World()
    const a = world.add('A')
    world.add('B')
    world.serve('B', 'slow')
    a.core.message({ type: 'invokefunction', invocation_id: 'w1', function_id: 'slow' })
    a.core.message({ type: 'invokefunction', invocation_id: 'w2', function_id: 'slow' })
    await settle()
    a.core.closed()
    expect([...a.store.inflight.caller.keys()].sort()).toEqual(['w1', 'w2'])
    // A reset: a rebuilt object finds them in storage and hands them over.
    const rebuilt = world.rebuild('A', false)
    expect(rebuilt.takeOver().map((w) => w.id).sort()).toEqual(['w1', 'w2'])
    expect(a.store.inflight.caller.size).toBe(0)
    // The new connection ends each with an error.
    const fresh = world.add('A2')
    fresh.host.handOvers = [{ id: 'w1', functionId: 'slow' }]
    fresh.core.message({ type: 'reattach', previous_worker_id: 'A', reattach_token: 't' })
    await settle()
    expect(results(fresh.sent)).toEqual([expect.objectContaining({ invocation_id: 'w1', function_id: 'slow', error: expect.objectContaining({ code: 'invocation_stopped' }) })])
  })
})

describe('answers that come after the worker\'s socket is gone', () => {
  it('keeps them (written) and gives them to the reattaching connection instead of a generic error', async () => {
    const world = new World()
    const a = world.add('A')
    const b = world.add('B')
    const c = world.add('C')
    world.serve('B', 'dies')
    world.serve('C', 'answers')
    a.core.message({ type: 'invokefunction', invocation_id: 'x', function_id: 'dies' })
    a.core.message({ type: 'invokefunction', invocation_id: 'y', function_id: 'answers' })
    a.core.message({ type: 'invokefunction', invocation_id: 'z', function_id: 'answers' })
    await settle()
    a.core.closed() // A's socket goes first (a deploy closes them all)...
    b.core.closed() // ...then B's: its error reaches A's session, which keeps it
    answerLast(world, 'C', 'real result') // and C's worker still answers one
    await settle()
    expect(results(a.sent)).toEqual([])
    const rebuilt = world.rebuild('A', false) // a reset: only what was written counts
    const waiting = rebuilt.takeOver()
    const byId = Object.fromEntries(waiting.map((w) => [w.id, w]))
    expect(byId.x?.outcome).toMatchObject({ error: { code: 'invocation_stopped' } })
    expect(byId.z?.outcome).toEqual({ result: 'real result' })
    expect(byId.y?.outcome).toBeUndefined()
    const fresh = world.add('A2')
    fresh.host.handOvers = waiting
    fresh.core.message({ type: 'reattach', previous_worker_id: 'A', reattach_token: 't' })
    await settle()
    const got = Object.fromEntries(results(fresh.sent).map((r) => [r.invocation_id, r]))
    expect(got.x?.error?.code).toBe('invocation_stopped')
    expect(got.z?.result).toBe('real result')
    expect(got.y?.error?.message).toMatch(/replaced/)
  })
})

/** Session A's worker invokes `fn`, which session B's worker serves; resolves once B's worker has the call. */
async function aCallsB(fn: string, invocation: Partial<InvokeFunction> = {}) {
  const world = new World()
  const a = world.add('A')
  const b = world.add('B')
  world.serve('B', fn)
  a.core.message({ type: 'invokefunction', invocation_id: fn[0]!, function_id: fn, ...invocation })
  await settle()
  return { world, a, b }
}

describe('deadlines', () => {
  const timedOut = (sent: EngineMessage[]) => results(sent).filter((r) => r.error?.code === 'timeout')

  it('answers a caller `timeout` at its deadline, and the callee forgets the call: its late answer is dropped', async () => {
    const { world, a, b } = await aCallsB('hangs')
    const engineId = invocations(b.sent)[0]!.invocation_id!
    // Still in flight after the persist delay: both sides arm their alarm for the deadline.
    a.core.persist()
    b.core.persist()
    expect(a.host.wakes.at(-1)).toBe(world.clock + 30_000)
    expect(b.host.wakes.at(-1)).toBe(world.clock + 30_000)
    world.clock += 29_999
    a.core.expire(world.clock)
    b.core.expire(world.clock)
    expect(results(a.sent)).toEqual([])
    world.clock += 1
    a.core.expire(world.clock)
    expect(timedOut(a.sent)).toEqual([expect.objectContaining({ invocation_id: 'h', function_id: 'hangs', error: expect.objectContaining({ message: expect.stringContaining('30000 ms') }) })])
    b.core.expire(world.clock)
    expect(b.core.holds(engineId)).toBe(false)
    expect(b.core.activeInvocations).toBe(0)
    // The callee's worker answers at last: nobody waits, and A's worker heard once.
    answerLast(world, 'B', 'too late')
    await settle()
    expect(results(a.sent)).toHaveLength(1)
    expect(b.host.logs.at(-1)).toContain('unknown invocation')
    // Nothing is left on either side, in memory or in storage.
    a.core.persist()
    b.core.persist()
    expect(a.store.inflight.caller.size + b.store.inflight.callee.size).toBe(0)
    expect(a.core.nextDeadline()).toBeNull()
  })

  it("takes the caller's timeout_ms, and passes what is left of it to the callee", async () => {
    const { world, a, b } = await aCallsB('slow', { timeout_ms: 500 })
    expect(invocations(b.sent)[0]).not.toHaveProperty('timeout_ms') // the worker gets the engine's message
    expect(a.core.nextDeadline()).toBe(world.clock + 500)
    expect(b.core.nextDeadline()).toBe(world.clock + 500)
    world.clock += 500
    b.core.expire(world.clock) // the callee may notice first: its answer ends the caller's wait
    await settle()
    expect(timedOut(a.sent)).toEqual([expect.objectContaining({ invocation_id: 's', error: expect.objectContaining({ message: expect.stringContaining('500 ms') }) })])
    a.core.expire(world.clock)
    expect(results(a.sent)).toHaveLength(1)
  })

  it('tells the caller the window it asked for, when the callee (which got what was left of it) times out first', async () => {
    const world = new World()
    world.lookupMs = 1
    const a = world.add('A')
    world.add('B')
    world.serve('B', 'slow')
    a.core.message({ type: 'invokefunction', invocation_id: 's', function_id: 'slow', timeout_ms: 1_000 })
    await settle()
    const b = world.sessions.get('B')!
    expect(b.core.nextDeadline()).toBe(world.clock + 999)
    world.clock += 999
    b.core.expire(world.clock)
    await settle()
    expect(timedOut(a.sent)).toEqual([expect.objectContaining({ error: expect.objectContaining({ message: expect.stringContaining('within 1000 ms') }) })])
  })

  it('bounds calls the engine makes itself (no caller session) on the callee side', async () => {
    const world = new World()
    const b = world.add('B')
    world.serve('B', 'cron::job')
    const answer = b.core.incoming({ from: 'engine', id: 'x', invocation_id: 'x', function_id: 'cron::job', timeout_ms: 1_000 })
    world.clock += 1_000
    b.core.expire(world.clock)
    expect(await answer).toEqual({ status: 'done', outcome: { error: expect.objectContaining({ code: 'timeout' }) } })
  })

  it('keeps deadlines across a rebuild (an eviction), and a worker that left gets its timeout on reattach', async () => {
    const { world, a, b } = await aCallsB('hangs')
    a.core.persist()
    b.core.persist()
    const rebuiltB = world.rebuild('B')
    expect(rebuiltB.nextDeadline()).toBe(world.clock + 30_000)
    a.core.closed() // A's worker is gone meanwhile
    const rebuiltA = world.rebuild('A', false)
    world.clock += 30_000
    rebuiltA.expire(world.clock)
    expect(rebuiltA.takeOver()).toEqual([{ id: 'h', functionId: 'hangs', outcome: { error: expect.objectContaining({ code: 'timeout' }) } }])
    rebuiltB.expire(world.clock)
    expect(rebuiltB.activeInvocations).toBe(0)
  })

  it('arms nothing for a call that ends before the persist delay', async () => {
    const { world, a, b } = await aCallsB('fast')
    answerLast(world, 'B', 1)
    await settle()
    a.core.persist()
    b.core.persist()
    expect(a.host.wakes).toEqual([])
    expect(b.host.wakes).toEqual([])
  })
})

describe('persistence', () => {
  it("writes a short invocation's caller record before the call leaves (two rows), and nothing on the callee's side", async () => {
    const { world, a, b } = await aCallsB('fast')
    // When the callee's worker got the call, the caller's record was already stored (a reset of
    // A from here on cannot lose what its worker waits for).
    expect(invocations(b.sent)).toHaveLength(1)
    expect([...a.store.inflight.caller.keys()]).toEqual(['f'])
    answerLast(world, 'B', 1)
    await settle()
    a.core.persist()
    b.core.persist()
    // One row written at the start, one deleted with the next batch; the callee wrote nothing.
    expect(a.store.writes).toBe(2)
    expect(b.store.writes).toBe(0)
    expect(a.store.inflight.caller.size).toBe(0)
    expect(a.host.persistScheduled && b.host.persistScheduled).toBe(true)
  })

  it('routes the result of a written invocation after the callee is rebuilt (an eviction)', async () => {
    const world = new World()
    const a = world.add('A')
    const b = world.add('B')
    world.serve('B', 'long')
    a.core.message({ type: 'invokefunction', invocation_id: 'l', function_id: 'long' })
    await settle()
    a.core.persist()
    b.core.persist()
    const engineId = invocations(b.sent)[0]!.invocation_id!
    const rebuilt = world.rebuild('B')
    expect(rebuilt.holds(engineId)).toBe(true)
    rebuilt.message({ type: 'invocationresult', invocation_id: engineId, result: 'survived' })
    await settle()
    expect(results(a.sent)).toEqual([expect.objectContaining({ invocation_id: 'l', result: 'survived' })])
    // Both records are gone from storage once it is done.
    a.core.persist()
    rebuilt.persist()
    expect(a.store.inflight.caller.size + b.store.inflight.callee.size).toBe(0)
  })

  it('never writes an HTTP request\'s invocation (its caller cannot outlive the call)', async () => {
    const world = new World()
    const b = world.add('B')
    world.serve('B', 'web')
    const outcome = b.core.incomingLocal('web', { q: 1 })
    expect(outcome).toBeInstanceOf(Promise)
    b.core.persist()
    expect(b.store.writes).toBe(0)
    answerLast(world, 'B', { status_code: 200 })
    expect(await outcome).toEqual({ result: { status_code: 200 } })
  })

  it('forgets the functions it lost, and answers not_here for them', () => {
    const world = new World()
    const b = world.add('B')
    world.serve('B', 'f')
    b.core.notice({ lost: ['f'] })
    expect(b.core.incoming({ from: 'A', id: 'e', invocation_id: 'i', function_id: 'f' })).toEqual({ status: 'not_here' })
    expect(b.store.owned.has('f')).toBe(false)
  })
})

describe('HTTP-invoked functions', () => {
  const ORDER = 'hooks::order'
  const invocation = { url: 'https://example.com/hook?tok=in-url', method: 'POST', headers: { 'x-team': 'orders' }, auth: { type: 'bearer', token_key: 'HOOK_TOKEN' } }

  /** World with A (caller) and B, whose worker registered ORDER with a URL. */
  function httpWorld(inv: unknown = invocation) {
    const world = new World()
    // The engine's own token is set, so refusing it is refusing a secret that exists.
    world.env = { HOOK_TOKEN: 'tok-1', III_ENGINE_TOKEN: 'the-engine-token' }
    const a = world.add('A')
    const b = world.add('B')
    b.core.message({ type: 'registerfunction', id: ORDER, invocation: inv })
    if (b.core.owned.has(ORDER)) {
      world.view.set(ORDER, { worker: 'B', invocation: true })
      world.fresh.set(ORDER, { worker: 'B', invocation: true })
    }
    return { world, a, b }
  }

  const until = async (done: () => boolean) => {
    for (let i = 0; i < 50 && !done(); i++) await settle()
    if (!done()) throw new Error('never happened')
  }
  const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status })

  it('owns a function registered with a URL; the registry hears only that it is HTTP-invoked', () => {
    const { b } = httpWorld()
    expect(b.host.registered).toEqual([{ type: 'registerfunction', id: ORDER, invocation: true }])
    expect(b.store.owned.has(ORDER)).toBe(true)
    expect(JSON.parse(b.store.http.get(ORDER)!)).toMatchObject({ url: invocation.url, auth: { type: 'bearer', token_key: 'HOOK_TOKEN' } })
    expect(b.store.http.get(ORDER)).not.toContain('tok-1') // secret values are never stored
    expect(b.sent).toEqual([]) // the engine answers a registration with nothing
  })

  it('makes the request where it would invoke its worker, and routes the JSON result back under the caller\'s id', async () => {
    const { world, a, b } = httpWorld()
    a.core.message({ type: 'invokefunction', invocation_id: 'inv-1', function_id: ORDER, data: { order: 7 } })
    await until(() => world.fetched.length === 1)
    const req = world.fetched[0]!
    expect(req.url).toBe(invocation.url)
    expect(req.init).toMatchObject({ method: 'POST', body: '{"order":7}', redirect: 'manual' })
    const headers = Object.fromEntries(req.init.headers)
    expect(headers).toMatchObject({ 'content-type': 'application/json', 'x-iii-function-path': ORDER, 'x-iii-timestamp': '1700000000', 'x-team': 'orders', authorization: 'Bearer tok-1' })
    expect(headers['x-iii-invocation-id']).not.toBe('inv-1') // a fresh id per request
    expect(invocations(b.sent)).toEqual([]) // B's worker is not involved
    expect(b.core.activeInvocations).toBe(1)
    req.respond(json({ accepted: true }))
    await until(() => results(a.sent).length === 1)
    expect(results(a.sent)).toEqual([{ type: 'invocationresult', invocation_id: 'inv-1', function_id: ORDER, result: { accepted: true } }])
    expect(b.core.activeInvocations).toBe(0)
    expect(b.host.background).toHaveLength(1) // the object was asked to keep working for it
  })

  it('gives the caller the error an HTTP failure maps to', async () => {
    const { world, a } = httpWorld()
    a.core.message({ type: 'invokefunction', invocation_id: 'e', function_id: ORDER })
    await until(() => world.fetched.length === 1)
    world.fetched[0]!.respond(json({ error: { code: 'out_of_stock', message: 'none left' } }, 409))
    await until(() => results(a.sent).length === 1)
    expect(results(a.sent)[0]?.error).toEqual({ code: 'out_of_stock', message: 'none left' })
  })

  it.each([
    [{ ...invocation, auth: { type: 'bearer', token_key: 'III_ENGINE_TOKEN' } }, 'token_not_found: Token not found: III_ENGINE_TOKEN (names starting with III_'],
    [{ ...invocation, auth: { type: 'hmac', secret_key: 'NOT_SET' } }, 'secret_not_found: Secret not found: NOT_SET'],
    [{ ...invocation, url: 'http://example.com/hook' }, 'url_validation_failed: HTTPS is required'],
    [{ ...invocation, method: 'get' }, 'invalid_config: method must be one of'],
  ])('refuses a registration it could not call, only logging why; callers get function_not_found (%#)', async (inv, logged) => {
    const { world, a, b } = httpWorld(inv)
    expect(b.host.logs).toEqual([expect.stringContaining(`HTTP function ${ORDER} not registered: ${logged}`)])
    expect(b.host.registered).toEqual([])
    expect(b.sent).toEqual([])
    expect(b.store.owned.size + b.store.http.size).toBe(0)
    expect(b.core.incoming({ from: 'A', id: 'x', invocation_id: 'y', function_id: ORDER })).toEqual({ status: 'not_here' })
    a.core.message({ type: 'invokefunction', invocation_id: 'n', function_id: ORDER })
    await until(() => results(a.sent).length === 1)
    expect(results(a.sent)[0]?.error?.code).toBe('function_not_found')
    expect(world.fetched).toEqual([])
  })

  it('reads the secret again at each call: a rotated one is used, a removed one fails the call without a request', async () => {
    const { world, a } = httpWorld()
    const call = async (id: string) => {
      a.core.message({ type: 'invokefunction', invocation_id: id, function_id: ORDER })
      await settle()
      await settle()
    }
    await call('1')
    world.env.HOOK_TOKEN = 'tok-2'
    await call('2')
    expect(world.fetched.map((f) => Object.fromEntries(f.init.headers).authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2'])
    delete world.env.HOOK_TOKEN
    await call('3')
    expect(world.fetched).toHaveLength(2)
    expect(results(a.sent).find((r) => r.invocation_id === '3')?.error).toEqual({ code: 'token_not_found', message: 'Token not found: HOOK_TOKEN' })
  })

  describe('in a namespace other than the default', () => {
    const billing = { url: 'https://billing.example/charge', auth: { type: 'bearer', token_key: 'BILLING_TOKEN' } }

    /** A (caller) and B in team-a; B's worker registers a billing function naming BILLING_TOKEN. */
    function teamWorld(grants: unknown) {
      const world = new World()
      world.env = { BILLING_TOKEN: 'billing-secret', ...(grants === undefined ? {} : { III_NAMESPACE_SECRETS: typeof grants === 'string' ? grants : JSON.stringify(grants) }) }
      const a = world.add('A', true, 'team-a')
      const b = world.add('B', true, 'team-a')
      b.core.message({ type: 'registerfunction', id: 'billing::charge', invocation: billing })
      if (b.core.owned.has('billing::charge')) {
        world.view.set('billing::charge', { worker: 'B', invocation: true })
        world.fresh.set('billing::charge', { worker: 'B', invocation: true })
      }
      return { world, a, b }
    }

    it('refuses a registration naming a secret not granted to it, saying how to grant it', async () => {
      const { world, a, b } = teamWorld({ 'team-b': ['BILLING_TOKEN'] })
      expect(b.host.logs).toEqual([
        'HTTP function billing::charge not registered: token_not_found: Token not found: BILLING_TOKEN (namespace team-a may not use this secret: grant it in III_NAMESPACE_SECRETS)',
      ])
      expect(b.host.registered).toEqual([])
      a.core.message({ type: 'invokefunction', invocation_id: 'n', function_id: 'billing::charge' })
      await until(() => results(a.sent).length === 1)
      expect(results(a.sent)[0]?.error?.code).toBe('function_not_found')
      expect(world.fetched).toEqual([])
    })

    it('serves a granted secret, and checks the grant again at each call', async () => {
      const { world, a } = teamWorld({ 'team-a': ['BILLING_TOKEN'] })
      a.core.message({ type: 'invokefunction', invocation_id: '1', function_id: 'billing::charge' })
      await until(() => world.fetched.length === 1)
      expect(Object.fromEntries(world.fetched[0]!.init.headers).authorization).toBe('Bearer billing-secret')
      world.env.III_NAMESPACE_SECRETS = '{}' // the grant is taken back (a new deploy of the vars)
      a.core.message({ type: 'invokefunction', invocation_id: '2', function_id: 'billing::charge' })
      await until(() => results(a.sent).some((r) => r.invocation_id === '2'))
      expect(world.fetched).toHaveLength(1)
      expect(results(a.sent).find((r) => r.invocation_id === '2')?.error).toEqual({
        code: 'token_not_found',
        message: 'Token not found: BILLING_TOKEN (namespace team-a may not use this secret: grant it in III_NAMESPACE_SECRETS)',
      })
    })

    it('refuses every secret while III_NAMESPACE_SECRETS is malformed, and logs that', () => {
      const { b } = teamWorld('{"team-a": BILLING_TOKEN}')
      expect(b.host.logs).toEqual([
        expect.stringContaining('III_NAMESPACE_SECRETS is not valid JSON of the shape {"<namespace>": ["SECRET_NAME", ...]}: '),
        expect.stringContaining('not registered: token_not_found: Token not found: BILLING_TOKEN (namespace team-a may not use this secret: III_NAMESPACE_SECRETS is not valid JSON'),
      ])
      expect(b.host.registered).toEqual([])
    })

    it('leaves the default namespace every secret, as before', () => {
      const world = new World()
      world.env = { BILLING_TOKEN: 'billing-secret', III_NAMESPACE_SECRETS: 'not json' }
      const b = world.add('B')
      b.core.message({ type: 'registerfunction', id: 'billing::charge', invocation: billing })
      expect(b.host.logs).toEqual([])
      expect(b.host.registered).toEqual([{ type: 'registerfunction', id: 'billing::charge', invocation: true }])
    })
  })

  it('makes a void call\'s request without anyone waiting, and answers nothing', async () => {
    const { world, a, b } = httpWorld()
    a.core.message({ type: 'invokefunction', function_id: ORDER, data: { fire: 1 }, action: { type: 'void' } })
    await until(() => world.fetched.length === 1)
    expect(world.fetched[0]!.init.body).toBe('{"fire":1}')
    expect(b.core.activeInvocations).toBe(0) // nothing to route back, so nothing recorded
    expect(b.host.background).toHaveLength(1)
    world.fetched[0]!.respond(new Response('oops', { status: 500 }))
    await Promise.all(b.host.background)
    expect(results(a.sent)).toEqual([])
    expect(b.host.logs).toEqual([`void call of ${ORDER}: http_error: HTTP 500 Internal Server Error`])
  })

  it('forgets the function on unregister: its config goes and callers find nobody', async () => {
    const { world, a, b } = httpWorld()
    b.core.message({ type: 'unregisterfunction', id: ORDER })
    world.fresh.delete(ORDER) // the registry removed it too
    expect(b.store.http.size + b.store.owned.size).toBe(0)
    expect(b.host.registered.at(-1)).toEqual({ type: 'unregisterfunction', id: ORDER })
    a.core.message({ type: 'invokefunction', invocation_id: 'u', function_id: ORDER })
    await until(() => results(a.sent).length === 1)
    expect(results(a.sent)[0]?.error?.code).toBe('function_not_found')
    expect(world.fetched).toEqual([])
  })

  it('forgets the function when another worker takes its id over', () => {
    const { b } = httpWorld()
    b.core.notice({ lost: [ORDER] })
    expect(b.store.http.size).toBe(0)
    expect(b.core.incoming({ from: 'A', id: 'x', invocation_id: 'y', function_id: ORDER })).toEqual({ status: 'not_here' })
  })

  it('becomes an ordinary function when registered again without a URL', async () => {
    const { world, b } = httpWorld()
    b.core.message({ type: 'registerfunction', id: ORDER })
    expect(b.store.http.size).toBe(0)
    void b.core.incoming({ from: 'A', id: 'x', invocation_id: 'y', function_id: ORDER })
    await settle()
    expect(invocations(b.sent)).toHaveLength(1)
    expect(world.fetched).toEqual([])
  })

  it('keeps its functions across an eviction (the config is in storage)', async () => {
    const { world, b } = httpWorld()
    const rebuilt = world.rebuild('B')
    void rebuilt.incoming({ from: 'A', id: 'x', invocation_id: 'y', function_id: ORDER, data: 1 })
    await until(() => world.fetched.length === 1)
    expect(world.fetched[0]!.url).toBe(invocation.url)
    expect(b.sent).toEqual([])
  })

  it('answers an HTTP trigger with the function\'s JSON result, never writing the request', async () => {
    const { world, b } = httpWorld()
    const outcome = b.core.incomingLocal(ORDER, { method: 'POST', path: '/orders' })
    expect(outcome).toBeInstanceOf(Promise)
    await until(() => world.fetched.length === 1)
    b.core.persist()
    expect(b.store.writes).toBe(0)
    world.fetched[0]!.respond(json({ status_code: 201, body: { id: 9 } }))
    expect(await outcome).toEqual({ result: { status_code: 201, body: { id: 9 } } })
  })

  it('still answers a call in flight when the registering worker leaves (the request does not need it)', async () => {
    const { world, a, b } = httpWorld()
    world.serve('B', 'worker::fn')
    a.core.message({ type: 'invokefunction', invocation_id: 'h', function_id: ORDER })
    a.core.message({ type: 'invokefunction', invocation_id: 'w', function_id: 'worker::fn' })
    await until(() => world.fetched.length === 1 && invocations(b.sent).length === 1)
    b.core.closed()
    await settle()
    expect(results(a.sent)).toEqual([expect.objectContaining({ invocation_id: 'w', error: expect.objectContaining({ code: 'invocation_stopped' }) })])
    expect(b.core.activeInvocations).toBe(1)
    world.fetched[0]!.respond(json('late but fine'))
    await until(() => results(a.sent).length === 2)
    expect(results(a.sent)[1]).toMatchObject({ invocation_id: 'h', result: 'late but fine' })
  })

  it('tells the caller at once when a written call is found on waking (its request died with the old instance)', async () => {
    const { world, a, b } = httpWorld()
    a.core.message({ type: 'invokefunction', invocation_id: 'long', function_id: ORDER })
    await until(() => world.fetched.length === 1)
    a.core.persist()
    b.core.persist()
    expect(JSON.parse(JSON.stringify([...b.store.inflight.callee.values()]))).toEqual([expect.objectContaining({ functionId: ORDER, http: true })])
    const rebuilt = world.rebuild('B') // a reset or an eviction: a new instance, no request running
    await settle()
    expect(results(a.sent)).toEqual([
      expect.objectContaining({ invocation_id: 'long', error: { code: 'invocation_stopped', message: expect.stringContaining(`calling ${ORDER}'s URL was reset`) } }),
    ])
    rebuilt.persist()
    expect(b.store.inflight.callee.size).toBe(0)
    // Had the old instance's response come after all, the caller would not hear twice.
    world.fetched[0]!.respond(json('too late'))
    await settle()
    expect(results(a.sent)).toHaveLength(1)
  })
})

describe('bounds per worker', () => {
  const small = { ...DEFAULT_LIMITS, functions: 3, invocations: 2 }
  const registered = (host: TestHost) => host.registered.map((c) => (c as { id?: string }).id)

  it('refuses a function past the bound: the registry never hears of it, it is logged once, and calls get function_not_found', async () => {
    const world = new World()
    world.limits = small
    const a = world.add('A')
    const b = world.add('B')
    for (let i = 0; i < 100; i++) b.core.message({ type: 'registerfunction', id: `f${i}` })
    expect(registered(b.host)).toEqual(['f0', 'f1', 'f2'])
    expect([...b.core.owned]).toEqual(['f0', 'f1', 'f2'])
    expect([...b.store.owned]).toEqual(['f0', 'f1', 'f2'])
    expect(b.host.logs).toEqual([
      'Function f3 not registered: this worker already has 3 functions, the most one worker may (III_MAX_FUNCTIONS_PER_WORKER; raise it with `--var III_MAX_FUNCTIONS_PER_WORKER:<n>`); later refusals of this kind on this connection are not logged',
    ])
    expect(b.sent).toEqual([]) // registerfunction has no answer in the protocol
    for (const id of ['f0', 'f1', 'f2']) world.view.set(id, { worker: 'B' })
    a.core.message({ type: 'invokefunction', invocation_id: 'x', function_id: 'f3' })
    await settle()
    expect(results(a.sent)).toEqual([expect.objectContaining({ invocation_id: 'x', error: expect.objectContaining({ code: 'function_not_found' }) })])
  })

  it('lets a worker at the bound register its own functions again, and take a new one once it unregistered one', () => {
    const world = new World()
    world.limits = small
    const b = world.add('B')
    for (const id of ['f0', 'f1', 'f2', 'f1', 'f9']) b.core.message({ type: 'registerfunction', id })
    expect(registered(b.host)).toEqual(['f0', 'f1', 'f2', 'f1'])
    b.core.message({ type: 'unregisterfunction', id: 'f0' })
    b.core.message({ type: 'registerfunction', id: 'f9' })
    expect([...b.core.owned].sort()).toEqual(['f1', 'f2', 'f9'])
    expect([...b.store.owned].sort()).toEqual(['f1', 'f2', 'f9'])
  })

  it('answers an invocation past the in-flight bound at once with too_many_invocations, counting builtins and lookups, not void calls', async () => {
    const world = new World()
    world.limits = small
    const a = world.add('A')
    world.add('B')
    world.serve('B', 'slow')
    a.core.message({ type: 'invokefunction', invocation_id: 'one', function_id: 'slow' })
    a.core.message({ type: 'invokefunction', invocation_id: 'two', function_id: 'engine::echo' }) // a builtin, still running
    a.core.message({ type: 'invokefunction', function_id: 'slow' }) // void: nothing waits for it
    a.core.message({ type: 'invokefunction', invocation_id: 'three', function_id: 'slow' })
    a.core.message({ type: 'invokefunction', invocation_id: 'four', function_id: 'slow' })
    // Refused at once, before anything was looked up or sent.
    expect(results(a.sent)).toEqual([
      {
        type: 'invocationresult',
        invocation_id: 'three',
        function_id: 'slow',
        error: {
          code: 'too_many_invocations',
          message:
            'Invocation of slow refused: this worker already has 2 invocations in flight, the most one worker may (III_MAX_INVOCATIONS_PER_WORKER; raise it with `--var III_MAX_INVOCATIONS_PER_WORKER:<n>`); wait for some of them to finish',
        },
      },
      expect.objectContaining({ invocation_id: 'four', error: expect.objectContaining({ code: 'too_many_invocations' }) }),
    ])
    expect(a.host.logs).toHaveLength(1)
    await settle()
    // The builtin answered, so one slot is free again (the call to slow still waits).
    a.core.message({ type: 'invokefunction', invocation_id: 'five', function_id: 'slow' })
    await settle()
    expect(results(a.sent).map((r) => [r.invocation_id, r.error?.code ?? 'ok'])).toEqual([
      ['three', 'too_many_invocations'],
      ['four', 'too_many_invocations'],
      ['two', 'ok'],
    ])
    answerLast(world, 'B', 'done')
    await settle()
    expect(results(a.sent).map((r) => r.invocation_id)).toEqual(['three', 'four', 'two', 'five'])
  })

  it('writes owned functions once per batch to the registry, before the batch leaves, and a lost one at once', () => {
    const world = new World()
    const b = world.add('B')
    b.host.holdBatches = true
    for (let i = 0; i < 50; i++) b.core.message({ type: 'registerfunction', id: `f${i}` })
    b.core.message({ type: 'unregisterfunction', id: 'f7' })
    expect(b.store.owned.size).toBe(0) // nothing written per message
    b.core.saveOwned() // what the host does as the batch leaves
    expect(b.store.owned.size).toBe(49)
    expect(b.store.owned.has('f7')).toBe(false)
    b.core.notice({ lost: ['f8'] })
    expect(b.store.owned.has('f8')).toBe(false) // no batch may follow before the object sleeps
    expect(world.rebuild('B').owned.size).toBe(48)
  })

  it('reads each bound from its var; a value that is not a positive integer keeps the default and is said', () => {
    const logs: string[] = []
    const env: Record<string, string> = { III_MAX_FUNCTIONS_PER_WORKER: '20000', III_MAX_HTTP_ROUTES_PER_WORKER: 'lots', III_MAX_INVOCATIONS_PER_WORKER: '0' }
    const limits = workerLimits((name) => env[name], (m) => logs.push(m))
    expect(limits).toEqual({ functions: 20000, triggers: 1000, httpRoutes: 500, triggerTypes: 100, invocations: 5000 })
    expect(logs).toEqual([
      'III_MAX_HTTP_ROUTES_PER_WORKER must be a positive integer, not "lots": using the default 500',
      'III_MAX_INVOCATIONS_PER_WORKER must be a positive integer, not "0": using the default 5000',
    ])
  })
})

describe('TriggerAction.Enqueue', () => {
  it('hands the job to the queue provider and answers its receipt; the function is not invoked now', async () => {
    const world = new World()
    const a = world.add('A')
    const b = world.add('B')
    world.serve('B', 'jobs::work')
    a.core.message({ type: 'invokefunction', invocation_id: 'inv-1', function_id: 'jobs::work', data: { n: 1 }, action: { type: 'enqueue', queue: 'default' } })
    await settle()
    expect(a.host.enqueued).toEqual([{ queue: 'default', function_id: 'jobs::work', data: { n: 1 } }])
    expect(results(a.sent)).toEqual([{ type: 'invocationresult', invocation_id: 'inv-1', function_id: 'jobs::work', result: { messageReceiptId: 'receipt-1' } }])
    expect(invocations(b.sent)).toEqual([])
  })

  it("answers the provider's enqueue_error, and nothing at all to an enqueue without an invocation id", async () => {
    const world = new World()
    const a = world.add('A')
    a.core.message({ type: 'invokefunction', invocation_id: 'inv-1', function_id: 'jobs::work', data: {}, action: { type: 'enqueue', queue: 'missing' } })
    a.core.message({ type: 'invokefunction', function_id: 'jobs::work', data: {}, action: { type: 'enqueue', queue: 'default' } })
    await settle()
    expect(a.host.enqueued).toHaveLength(2)
    expect(results(a.sent)).toEqual([{ type: 'invocationresult', invocation_id: 'inv-1', function_id: 'jobs::work', error: { code: 'enqueue_error', message: "Queue 'missing' not found" } }])
  })
})

describe('a worker of a worker endpoint (rbac)', () => {
  const rules = (over: Partial<WorkerRules['rights']> = {}, endpoint: Partial<WorkerRules> = {}): WorkerRules => ({
    endpoint: '/ew',
    middleware_function_id: null,
    rbac: {
      expose_functions: [{ match: 'app::public::*' }, { metadata: { public: true } }],
      on_function_registration_function_id: 'hooks::fn',
      on_trigger_registration_function_id: 'hooks::trigger',
      on_trigger_type_registration_function_id: 'hooks::type',
    },
    rights: {
      allowed_functions: ['app::granted'],
      forbidden_functions: ['app::public::banned'],
      allowed_trigger_types: null,
      allow_trigger_type_registration: true,
      allow_function_registration: true,
      function_registration_prefix: null,
      context: { user_id: 'u1' },
      ...over,
    },
    ...endpoint,
  })
  /** Hooks allow with `{}`, except for ids starting `denied`; other engine calls answer `{via: id}`. */
  const hooks = (world: World) =>
    (world.engine = async (call) => {
      const d = call.data as Record<string, unknown>
      const id = String(d.function_id ?? d.trigger_type_id ?? '')
      if (call.function_id.startsWith('hooks::')) return id.startsWith('denied') ? { error: { code: 'invocation_failed', message: 'denied' } } : { result: {} }
      return { result: { via: call.function_id, saw: d } }
    })

  it('refuses what it may not invoke with the engine FORBIDDEN error, before anything runs, and lets the rest through in order of the rules', async () => {
    const world = new World()
    const a = world.add('A', true, '', rules())
    world.add('B')
    for (const fn of ['app::public::echo', 'app::public::banned', 'app::granted', 'app::private']) world.serve('B', fn)
    world.serve('B', 'app::meta')
    world.fresh.set('app::meta', { worker: 'B', metadata: { public: true } })
    world.view.set('app::meta', { worker: 'B', metadata: { public: true } })
    for (const [i, fn] of ['app::public::echo', 'app::public::banned', 'app::granted', 'app::private', 'app::meta', 'engine::log::info', 'engine::echo'].entries()) {
      a.core.message({ type: 'invokefunction', invocation_id: `i${i}`, function_id: fn, data: {} })
    }
    await settle()
    const b = world.sessions.get('B')!
    expect(invocations(b.sent).map((m) => m.function_id).sort()).toEqual(['app::granted', 'app::meta', 'app::public::echo'])
    expect(results(a.sent)).toEqual([
      { type: 'invocationresult', invocation_id: 'i1', function_id: 'app::public::banned', error: { code: 'FORBIDDEN', message: "function 'app::public::banned' not allowed (remove from rbac.forbidden_functions)" } },
      { type: 'invocationresult', invocation_id: 'i3', function_id: 'app::private', error: { code: 'FORBIDDEN', message: "function 'app::private' not allowed (add to rbac.expose_functions)" } },
      { type: 'invocationresult', invocation_id: 'i5', function_id: 'engine::log::info' },
      { type: 'invocationresult', invocation_id: 'i6', function_id: 'engine::echo', error: { code: 'FORBIDDEN', message: "function 'engine::echo' not allowed (add to rbac.expose_functions)" } },
    ])
  })

  it("hands a call to the middleware instead of the target, with the worker's context, and answers what the middleware answered; engine:: calls skip it", async () => {
    const world = new World()
    hooks(world)
    const a = world.add('A', true, '', rules({}, { middleware_function_id: 'app::mw' }))
    world.add('B')
    world.serve('B', 'app::public::echo')
    a.core.message({ type: 'invokefunction', invocation_id: 'i1', function_id: 'app::public::echo', data: { x: 1 }, action: { type: 'enqueue', queue: 'q' } })
    a.core.message({ type: 'invokefunction', invocation_id: 'i2', function_id: 'engine::log::info', data: { message: 'm' } })
    await settle()
    expect(invocations(world.sessions.get('B')!.sent)).toEqual([])
    expect(a.host.enqueued).toEqual([])
    expect(world.engineCalls).toEqual([{ function_id: 'app::mw', data: { function_id: 'app::public::echo', payload: { x: 1 }, action: { type: 'enqueue', queue: 'q' }, context: { user_id: 'u1' } }, timeout_ms: 30_000 }])
    expect(results(a.sent)).toHaveLength(2)
    expect(results(a.sent)).toEqual(
      expect.arrayContaining([
        { type: 'invocationresult', invocation_id: 'i2', function_id: 'engine::log::info' },
        { type: 'invocationresult', invocation_id: 'i1', function_id: 'app::public::echo', result: { via: 'app::mw', saw: world.engineCalls[0]!.data } },
      ]),
    )
  })

  it('runs registrations through the hooks in message order, later messages waiting; a refused one is dropped silently, a result never waits', async () => {
    const world = new World()
    const gates: (() => void)[] = []
    world.engine = (call) =>
      new Promise((resolve) => {
        const id = String((call.data as { function_id?: unknown }).function_id)
        gates.push(() => resolve(id.startsWith('denied') ? { error: { code: 'invocation_failed', message: 'no' } } : { result: { description: `checked ${id}` } }))
      })
    const a = world.add('A', true, '', rules())
    a.core.message({ type: 'registerfunction', id: 'denied::one' })
    a.core.message({ type: 'registerfunction', id: 'app::two' })
    a.core.message({ type: 'invokefunction', invocation_id: 'i1', function_id: 'engine::log::info', data: { message: 'x' } })
    a.core.message({ type: 'invocationresult', invocation_id: 'unknown', result: 1 })
    await settle()
    expect(world.engineCalls.map((c) => (c.data as { function_id: string }).function_id)).toEqual(['denied::one'])
    expect(a.host.logs.some((l) => l.includes('result for unknown invocation'))).toBe(true) // the result did not wait
    expect(results(a.sent)).toEqual([]) // the invocation waits behind the hook
    gates.shift()!()
    await settle()
    expect(world.engineCalls.map((c) => (c.data as { function_id: string }).function_id)).toEqual(['denied::one', 'app::two'])
    gates.shift()!()
    await settle()
    expect(a.host.registered).toEqual([{ type: 'registerfunction', id: 'app::two', description: 'checked app::two' }])
    expect([...a.core.owned]).toEqual(['app::two'])
    expect(results(a.sent).map((r) => r.invocation_id)).toEqual(['i1'])
    expect(a.host.logs.some((l) => l.includes('denied::one') && l.includes('refused'))).toBe(true)
  })

  it('stores registrations under its prefix, strips it when dispatching to the worker, and unregisters under it', async () => {
    const world = new World()
    hooks(world)
    const a = world.add('A', true, '', rules({ function_registration_prefix: 'tenant' }))
    const b = world.add('B')
    a.core.message({ type: 'registerfunction', id: 'echo' })
    a.core.message({ type: 'registertrigger', id: 't1', trigger_type: 'cron', function_id: 'echo', config: { expression: '* * * * * *' } })
    await settle()
    expect(a.host.registered).toEqual([
      { type: 'registerfunction', id: 'tenant::echo' },
      { type: 'registertrigger', id: 't1', trigger_type: 'cron', function_id: 'tenant::echo', config: { expression: '* * * * * *' } },
    ])
    world.view.set('tenant::echo', { worker: 'A' })
    b.core.message({ type: 'invokefunction', invocation_id: 'i1', function_id: 'tenant::echo', data: 1 })
    await settle()
    expect(invocations(a.sent).map((m) => m.function_id)).toEqual(['echo'])
    a.core.message({ type: 'unregisterfunction', id: 'echo' })
    await settle()
    expect(a.host.registered.at(-1)).toEqual({ type: 'unregisterfunction', id: 'tenant::echo' })
    expect(a.core.owned.has('tenant::echo')).toBe(false)
  })

  it('refuses registrations its rights or the engine forbid: functions when not allowed, HTTP-invoked functions, engine ids, trigger types, triggers of other types or for functions it may not call', async () => {
    const world = new World()
    hooks(world)
    const a = world.add('A', true, '', rules({ allow_trigger_type_registration: false, allowed_trigger_types: ['cron'] }))
    const b = world.add('B', true, '', rules({ allow_function_registration: false }))
    world.serve('A', 'app::mine')
    world.serve('A', 'app::public::shared')
    await settle()
    a.host.registered.length = 0
    a.core.message({ type: 'registerfunction', id: 'app::web', invocation: { url: 'https://example.com' } })
    a.core.message({ type: 'registerfunction', id: 'engine::queue::enqueue' })
    a.core.message({ type: 'registerfunction', id: 'stream::set(orders)' })
    a.core.message({ type: 'registertriggertype', id: 'mine' })
    a.core.message({ type: 'registertrigger', id: 't1', trigger_type: 'http', function_id: 'app::mine', config: {} })
    a.core.message({ type: 'registertrigger', id: 't2', trigger_type: 'cron', function_id: 'app::private', config: {} })
    a.core.message({ type: 'registertrigger', id: 't3', trigger_type: 'cron', function_id: 'app::mine', config: {} })
    b.core.message({ type: 'registerfunction', id: 'app::b' })
    await settle()
    await settle()
    expect(a.host.registered).toEqual([{ type: 'registertrigger', id: 't3', trigger_type: 'cron', function_id: 'app::mine', config: {} }])
    expect(b.host.registered.filter((c) => (c as { type: string }).type === 'registerfunction')).toEqual([])
  })

  it('answers a flood waiting behind a stuck hook with too_many_invocations instead of queueing it without bound', async () => {
    const world = new World()
    world.limits = { ...DEFAULT_LIMITS, invocations: 3 }
    world.engine = () => new Promise(() => {})
    const a = world.add('A', true, '', rules())
    a.core.message({ type: 'registerfunction', id: 'app::slow' })
    for (let i = 0; i < 5; i++) a.core.message({ type: 'invokefunction', invocation_id: `i${i}`, function_id: 'engine::log::info', data: { message: 'x' } })
    await settle()
    expect(results(a.sent).map((r) => [r.invocation_id, r.error?.code])).toEqual([
      ['i3', 'too_many_invocations'],
      ['i4', 'too_many_invocations'],
    ])
  })
})
