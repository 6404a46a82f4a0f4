// A worker's session, in Node: one-hop invocations between sessions, results routed back once,
// stale views retried, calls that break, departures, reattach, and what is written when.
import { describe, expect, it } from 'vitest'
import type { EngineMessage, InvocationResult } from '../../src/protocol/messages'
import {
  type CallAnswer,
  type CalleeRecord,
  type CallerRecord,
  type FunctionTarget,
  type IncomingCall,
  SessionCore,
  type SessionHost,
  type SessionStore,
  type Waiting,
} from '../../src/engine/session'

class MemorySessionStore implements SessionStore {
  readonly inflight = { callee: new Map<string, CalleeRecord>(), caller: new Map<string, CallerRecord>() }
  readonly owned = new Set<string>()
  writes = 0
  loadInflight() {
    return { callee: [...this.inflight.callee.values()], caller: [...this.inflight.caller.values()] }
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
  ids = 0

  add(id: string, open = true) {
    const sent: EngineMessage[] = []
    const store = new MemorySessionStore()
    const host = new TestHost(this, id, sent)
    const core = new SessionCore(id, store, host, open)
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
    const host = new TestHost(this, id, old.sent)
    const core = new SessionCore(id, old.store, host, open)
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

  constructor(
    private readonly world: World,
    private readonly self: string,
    private readonly sent: EngineMessage[],
  ) {}

  send(message: EngineMessage) {
    this.sent.push(message)
  }
  async lookup(fn: string, stale?: boolean) {
    this.world.lookups++
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
  register(changes: unknown[]) {
    this.registered.push(...changes)
  }
  builtin(fn: string) {
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

  it('answers builtins itself', async () => {
    const world = new World()
    const a = world.add('A')
    a.core.message({ type: 'invokefunction', invocation_id: 'b', function_id: 'engine::echo' })
    await settle()
    expect(results(a.sent)[0]).toMatchObject({ invocation_id: 'b', result: { echoed: true } })
  })

  it('answers HTTP-invoked functions with function_not_invokable', async () => {
    const world = new World()
    const a = world.add('A')
    world.view.set('web::fn', { worker: 'B', invocation: true })
    a.core.message({ type: 'invokefunction', invocation_id: 'w', function_id: 'web::fn' })
    await settle()
    expect(results(a.sent)[0]?.error?.code).toBe('function_not_invokable')
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

describe('persistence', () => {
  it('never writes an invocation that finishes before the persist delay', async () => {
    const world = new World()
    const a = world.add('A')
    const b = world.add('B')
    world.serve('B', 'fast')
    a.core.message({ type: 'invokefunction', invocation_id: 'f', function_id: 'fast' })
    await settle()
    answerLast(world, 'B', 1)
    await settle()
    a.core.persist()
    b.core.persist()
    expect(a.store.writes + b.store.writes).toBe(0)
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
