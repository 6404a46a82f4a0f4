// The registry's rules (control plane), in Node: registrations, ownership moving, triggers handed
// to providers, departures, versions and what each session is told.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { listFunctions, listTriggers, listTriggerTypes, listWorkers } from '../../src/engine/introspection'
import { DEFAULT_LIMITS } from '../../src/engine/limits'
import { DEPARTED_ROUTE_MS, RegistryCore } from '../../src/engine/registry'
import { httpRouteConflict } from '../../src/http/routes'
import { MemoryRegistryStore } from './fakes'

const fn = (id: string) => ({ type: 'registerfunction' as const, id })
const http = (id: string, function_id: string, api_path: string, http_method = 'GET') => ({
  type: 'registertrigger' as const,
  id,
  trigger_type: 'http',
  function_id,
  config: { api_path, http_method },
})

describe('registrations', () => {
  it('lists what a worker registered, and bumps the version once per batch', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [{ type: 'connect', at: 5 }, { type: 'metadata', metadata: { name: 'one', runtime: 'node' } }, fn('a::b'), http('t1', 'a::b', 'x/:id')], 10)
    expect(reg.version).toBe(1)
    const snap = reg.snapshot(10)
    expect(snap.functions).toEqual([{ id: 'a::b', worker: 'w1' }])
    expect(snap.routes).toEqual([{ trigger_id: 't1', function_id: 'a::b', worker: 'w1', config: { api_path: 'x/:id', http_method: 'GET' }, metadata: undefined }])
    expect(listWorkers(reg, () => 0).workers).toEqual([expect.objectContaining({ id: 'w1', name: 'one', runtime: 'node', connected_at_ms: 5, function_count: 1, functions: ['a::b'], status: 'connected' })])
    expect(listFunctions(reg, { worker: 'one' }).functions).toEqual([expect.objectContaining({ function_id: 'a::b', worker_id: 'w1', worker_name: 'one' })])
    expect(listTriggers(reg).registered_triggers).toEqual([expect.objectContaining({ id: 't1', trigger_type: 'http', function_id: 'a::b', worker_id: 'w1', worker_name: 'one' })])
    expect(listTriggerTypes(reg).triggers.map((t) => t.id)).toEqual(['cron', 'http', 'state', 'stream', 'stream:join', 'stream:leave', 'subscribe'])
  })

  it('moves a function id registered again to the new worker, telling the old owner it lost it', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [fn('shared'), http('t', 'shared', 'p')], 1)
    const notices = reg.apply('w2', [fn('shared')], 2)
    expect(notices.get('w1')?.lost).toEqual(['shared'])
    expect(reg.snapshot(2).routes[0]?.worker).toBe('w2')
    // The route table changed (its function moved): every worker hears the new route version.
    expect(notices.get('w1')?.routeVersion).toBe(reg.version)
    expect(notices.get('w2')?.routeVersion).toBe(reg.version)
    // The old owner can no longer unregister it, nor does leaving take it.
    reg.apply('w1', [{ type: 'unregisterfunction', id: 'shared' }], 3)
    reg.leave('w1', 4)
    expect(reg.functions.get('shared')?.workerId).toBe('w2')
  })

  it('refuses an http trigger without api_path or on a path of the engine, telling only the registrant', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    const notices = reg.apply('w1', [
      { type: 'registertrigger', id: 'h', trigger_type: 'http', function_id: 'f', config: {} },
      http('r', 'f', '/channels', 'POST'),
    ], 1)
    const errors = notices.get('w1')!.messages
    expect(errors.map((m) => m.type)).toEqual(['triggerregistrationresult', 'triggerregistrationresult'])
    expect(errors[0]).toMatchObject({ id: 'h', error: { code: 'trigger_registration_failed', message: expect.stringContaining('api_path') } })
    expect(errors[1]).toMatchObject({ id: 'r', error: { message: expect.stringMatching(/reserved/) } })
    expect(reg.triggers.size).toBe(0)
  })

  it('keeps a trigger of a type nobody provides, hands it to the provider, and passes its answer back', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    const parked = reg.apply('user', [{ type: 'registertrigger', id: 'c1', trigger_type: 'queue::later', function_id: 'job', config: { every: '1m' } }], 1)
    expect(parked.get('user')?.messages ?? []).toEqual([])
    const offered = reg.apply('provider', [{ type: 'registertriggertype', id: 'queue::later', description: 'later' }], 2)
    expect(offered.get('provider')?.messages).toEqual([{ type: 'registertrigger', id: 'c1', trigger_type: 'queue::later', function_id: 'job', config: { every: '1m' }, metadata: undefined }])
    // Only the provider of the type may answer for it.
    expect(reg.apply('user', [{ type: 'triggerregistrationresult', id: 'c1', error: { code: 'x', message: 'forged' } }], 3).get('user')).toBeUndefined()
    const answer = reg.apply('provider', [{ type: 'triggerregistrationresult', id: 'c1', trigger_type: 'queue::later', function_id: 'job', error: { code: 'bad_cron', message: 'no' } }], 4)
    expect(answer.get('user')?.messages).toEqual([expect.objectContaining({ type: 'triggerregistrationresult', id: 'c1', error: { code: 'bad_cron', message: 'no' } })])
    // Unregistering tells the provider.
    expect(reg.apply('user', [{ type: 'unregistertrigger', id: 'c1' }], 5).get('provider')?.messages).toEqual([{ type: 'unregistertrigger', id: 'c1', trigger_type: 'queue::later' }])
  })
})

describe('a worker leaving', () => {
  it('takes its registrations, marks its routes departed for 30 s, and tells providers about its triggers', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('provider', [{ type: 'registertriggertype', id: 'queue' }], 1)
    reg.apply('w1', [fn('f'), http('t', 'f', 'files/:name'), { type: 'registertrigger', id: 'q', trigger_type: 'queue', function_id: 'f', config: {} }], 2)
    const notices = reg.leave('w1', 1000)
    expect(reg.functions.size + reg.triggers.size).toBe(0)
    expect(reg.workers.has('w1')).toBe(false)
    expect(notices.get('provider')?.messages).toEqual([{ type: 'unregistertrigger', id: 'q', trigger_type: 'queue' }])
    expect(reg.snapshot(1000).departed).toEqual([{ id: 'GET /files/:name', config: { api_path: 'files/:name', http_method: 'GET' }, function_id: 'f', leftAt: 1000 }])
    expect(reg.snapshot(1000 + DEPARTED_ROUTE_MS).departed).toEqual([])
  })

  it('leaves triggers others registered on its type parked, and offers them to the next provider', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('p1', [{ type: 'registertriggertype', id: 'queue::later' }], 1)
    reg.apply('user', [{ type: 'registertrigger', id: 'c', trigger_type: 'queue::later', function_id: 'job', config: {} }], 2)
    reg.leave('p1', 3)
    expect(reg.triggers.has('c')).toBe(true)
    expect(reg.apply('p2', [{ type: 'registertriggertype', id: 'queue::later' }], 4).get('p2')?.messages).toEqual([expect.objectContaining({ type: 'registertrigger', id: 'c' })])
  })
})

describe('versions and storage', () => {
  it('comes back from storage as it was, versions included, and only grows them', () => {
    const store = new MemoryRegistryStore()
    const reg = new RegistryCore(store)
    reg.apply('w1', [fn('a'), http('t', 'a', 'a')], 1)
    reg.noteNamespace('team-a')
    const again = new RegistryCore(store)
    expect(again.snapshot(2)).toEqual(reg.snapshot(2))
    expect(again.snapshot(2).namespaces).toEqual(['team-a'])
    const before = again.version
    again.apply('w1', [fn('b')], 3)
    expect(again.version).toBe(before + 1)
  })

  it('does not bump anything for a batch that changes nothing', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [fn('a')], 1)
    const v = reg.version
    reg.apply('w1', [{ type: 'unregisterfunction', id: 'nobody' }], 2)
    expect(reg.version).toBe(v)
  })

  it('holds its invariants under any sequence of changes and departures (property)', () => {
    const workers = ['w1', 'w2', 'w3']
    const ids = ['f1', 'f2', 'f3']
    const op = fc.oneof(
      fc.record({ kind: fc.constant('register' as const), w: fc.constantFrom(...workers), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('unregister' as const), w: fc.constantFrom(...workers), id: fc.constantFrom(...ids) }),
      fc.record({ kind: fc.constant('route' as const), w: fc.constantFrom(...workers), id: fc.constantFrom(...ids), path: fc.constantFrom('a', 'b/:x', 'c') }),
      fc.record({ kind: fc.constant('leave' as const), w: fc.constantFrom(...workers) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const store = new MemoryRegistryStore()
        const reg = new RegistryCore(store)
        const owner = new Map<string, string>()
        let version = reg.version
        let now = 0
        for (const o of ops) {
          now += 10
          let notices
          if (o.kind === 'register') {
            const previous = owner.get(o.id)
            notices = reg.apply(o.w, [fn(o.id)], now)
            // The old owner hears it lost the function exactly when it moved.
            expect(notices.get(previous ?? '')?.lost.includes(o.id) ?? false).toBe(previous !== undefined && previous !== o.w)
            owner.set(o.id, o.w)
          } else if (o.kind === 'unregister') {
            notices = reg.apply(o.w, [{ type: 'unregisterfunction', id: o.id }], now)
            if (owner.get(o.id) === o.w) owner.delete(o.id)
          } else if (o.kind === 'route') {
            notices = reg.apply(o.w, [http(`${o.w}-${o.path}`, o.id, o.path)], now)
          } else {
            notices = reg.leave(o.w, now)
            for (const [id, w] of owner) if (w === o.w) owner.delete(id)
          }
          expect(reg.version).toBeGreaterThanOrEqual(version)
          version = reg.version
          const snap = reg.snapshot(now)
          expect(new Map(snap.functions.map((f) => [f.id, f.worker]))).toEqual(owner)
          for (const f of snap.functions) expect(reg.workers.has(f.worker)).toBe(true)
          for (const r of snap.routes) expect(r.worker).toBe(owner.get(r.function_id) ?? null)
          // A route change is announced to every worker still registered.
          if (reg.routeVersion === reg.version && [...notices.values()].some((n) => n.routeVersion !== undefined)) {
            for (const w of reg.workers.keys()) expect(notices.get(w)?.routeVersion).toBe(reg.routeVersion)
          }
          // What a rebuilt object would load is the same registry.
          expect(new RegistryCore(store).snapshot(now)).toEqual(snap)
        }
        for (const w of workers) reg.leave(w, now + 1)
        expect(reg.functions.size + reg.triggers.size + reg.workers.size).toBe(0)
      }),
      { numRuns: 300 },
    )
  })
})

describe('data module triggers (state, subscribe, stream…)', () => {
  const trigger = (id: string, trigger_type: string, config: unknown) => ({ type: 'registertrigger' as const, id, trigger_type, function_id: `f::${id}`, config })

  it('are in every snapshot and move routeVersion, so sessions know their view is older than a change', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w2', [{ type: 'connect', at: 1 }], 1)
    const notices = reg.apply('w1', [trigger('s', 'state', { scope: 'orders' }), trigger('p', 'subscribe', { topic: 't' })], 2)
    expect(reg.routeVersion).toBe(reg.version)
    expect(notices.get('w2')?.routeVersion).toBe(reg.version)
    expect(reg.snapshot(2).triggers).toEqual([
      { id: 's', trigger_type: 'state', function_id: 'f::s', config: { scope: 'orders' } },
      { id: 'p', trigger_type: 'subscribe', function_id: 'f::p', config: { topic: 't' } },
    ])
    const before = reg.routeVersion
    reg.apply('w1', [{ type: 'unregistertrigger', id: 's' }], 3)
    expect(reg.routeVersion).toBeGreaterThan(before)
    expect(reg.snapshot(3).triggers?.map((t) => t.id)).toEqual(['p'])
  })

  it('a function that takes a stream over (createStream) moves routeVersion when it comes and goes; other functions do not', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w2', [{ type: 'connect', at: 1 }], 1)
    const plain = reg.apply('w1', [fn('orders::get')], 2)
    expect(plain.get('w2')?.routeVersion).toBeUndefined()
    const custom = reg.apply('w1', [fn('stream::get(orders)')], 3)
    expect(custom.get('w2')?.routeVersion).toBe(reg.version)
    const before = reg.routeVersion
    reg.apply('w1', [{ type: 'unregisterfunction', id: 'stream::get(orders)' }], 4)
    expect(reg.routeVersion).toBeGreaterThan(before)
  })

  it('are the engine’s own types: a worker cannot provide them, and a bad config is refused', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [{ type: 'registertriggertype', id: 'state', description: 'mine' }], 1)
    expect(reg.triggerTypes.has('state')).toBe(false)
    const notices = reg.apply('w1', [trigger('bad', 'state', { scope: 123 })], 2)
    expect(notices.get('w1')?.messages[0]).toMatchObject({ id: 'bad', error: { code: 'trigger_registration_failed', message: expect.stringMatching(/Failed to parse trigger config/) } })
    expect(reg.triggers.has('bad')).toBe(false)
  })
})

describe('bounds per worker', () => {
  const limits = { ...DEFAULT_LIMITS, triggers: 3, httpRoutes: 2, triggerTypes: 2 }
  const custom = (id: string) => ({ type: 'registertrigger' as const, id, trigger_type: 'queue', function_id: 'f', config: {} })
  const errors = (notices: ReturnType<RegistryCore['apply']>, worker: string) =>
    (notices.get(worker)?.messages ?? []).flatMap((m) => (m.type === 'triggerregistrationresult' && m.error ? [[m.id, m.error.code, m.error.message]] : []))

  it('refuses triggers past the bounds with limit_exceeded naming the var, logs each bound once per worker, and leaves others alone', () => {
    const logs: string[] = []
    const reg = new RegistryCore(new MemoryRegistryStore(), { limits, log: (m) => logs.push(m) })
    const notices = reg.apply('w1', [http('r1', 'f', 'a'), http('r2', 'f', 'b'), http('r3', 'f', 'c'), http('r4', 'f', 'd'), custom('q1'), custom('q2'), custom('q3')], 1)
    expect(errors(notices, 'w1')).toEqual([
      ['r3', 'limit_exceeded', 'Trigger r3 not registered: this worker already has 2 http triggers, the most one worker may (III_MAX_HTTP_ROUTES_PER_WORKER; raise it with `--var III_MAX_HTTP_ROUTES_PER_WORKER:<n>`)'],
      ['r4', 'limit_exceeded', expect.stringContaining('III_MAX_HTTP_ROUTES_PER_WORKER')],
      ['q2', 'limit_exceeded', 'Trigger q2 not registered: this worker already has 3 triggers, the most one worker may (III_MAX_TRIGGERS_PER_WORKER; raise it with `--var III_MAX_TRIGGERS_PER_WORKER:<n>`)'],
      ['q3', 'limit_exceeded', expect.stringContaining('III_MAX_TRIGGERS_PER_WORKER')],
    ])
    expect([...reg.triggers.keys()]).toEqual(['r1', 'r2', 'q1'])
    expect(logs).toEqual([expect.stringContaining('III_MAX_HTTP_ROUTES_PER_WORKER'), expect.stringContaining('III_MAX_TRIGGERS_PER_WORKER')])
    // Its own triggers again under their ids are not new; another worker has bounds of its own.
    expect(errors(reg.apply('w1', [http('r1', 'f', 'a2'), custom('q1')], 2), 'w1')).toEqual([])
    expect(errors(reg.apply('w2', [http('s1', 'g', 's'), http('s2', 'g', 't')], 3), 'w2')).toEqual([])
    expect(logs).toHaveLength(2)
  })

  it('frees a slot when a trigger goes, counts again after a rebuild, and forgets a worker that left', () => {
    const store = new MemoryRegistryStore()
    const reg = new RegistryCore(store, { limits })
    reg.apply('w1', [http('r1', 'f', 'a'), http('r2', 'f', 'b')], 1)
    reg.apply('w1', [{ type: 'unregistertrigger', id: 'r2' }], 2)
    expect(errors(reg.apply('w1', [http('r3', 'f', 'c')], 3), 'w1')).toEqual([])
    // A rebuilt object counts what it loaded.
    const rebuilt = new RegistryCore(store, { limits })
    expect(errors(rebuilt.apply('w1', [http('r4', 'f', 'd')], 4), 'w1')).toEqual([['r4', 'limit_exceeded', expect.any(String)]])
    rebuilt.leave('w1', 5)
    expect(errors(rebuilt.apply('w1', [http('r5', 'f', 'e'), http('r6', 'f', 'g')], 6), 'w1')).toEqual([])
  })

  it('does not register trigger types past the bound (logged once: registertriggertype has no answer)', () => {
    const logs: string[] = []
    const reg = new RegistryCore(new MemoryRegistryStore(), { limits, log: (m) => logs.push(m) })
    const types = ['t1', 't2', 't3', 't4', 't1'].map((id) => ({ type: 'registertriggertype' as const, id }))
    expect(reg.apply('w1', types, 1).get('w1')?.messages ?? []).toEqual([])
    expect([...reg.triggerTypes.keys()]).toEqual(['t1', 't2'])
    expect(logs).toEqual([
      'worker w1…: Trigger type t3 not registered: this worker already has 2 trigger types, the most one worker may (III_MAX_TRIGGER_TYPES_PER_WORKER; raise it with `--var III_MAX_TRIGGER_TYPES_PER_WORKER:<n>`); later refusals of this kind for this worker are not logged',
    ])
  })

  it('finds route conflicts through its index exactly as a pass over every route would (property)', () => {
    const paths = ['a/:x', 'a/:y', 'a/b', 'a/:x/c', 'a/:y/c', ':p', ':q/:r', 'b/:x']
    const op = fc.record({ remove: fc.boolean(), id: fc.constantFrom('t1', 't2', 't3', 't4'), path: fc.constantFrom(...paths), method: fc.constantFrom('GET', 'POST') })
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const reg = new RegistryCore(new MemoryRegistryStore())
        ops.forEach((o, i) => {
          if (o.remove) return void reg.apply('w', [{ type: 'unregistertrigger', id: o.id }], i)
          const config = { api_path: o.path, http_method: o.method }
          const others = [...reg.triggers.values()].filter((t) => t.id !== o.id).map((t) => t.config)
          const expected = httpRouteConflict(config, others)
          const refused = reg.apply('w', [{ type: 'registertrigger', id: o.id, trigger_type: 'http', function_id: 'f', config }], i)
          const message = (refused.get('w')?.messages ?? []).find((m) => m.type === 'triggerregistrationresult')
          expect(message && 'error' in message ? message.error?.message : null).toBe(expected)
        })
      }),
      { numRuns: 300 },
    )
  })
})
