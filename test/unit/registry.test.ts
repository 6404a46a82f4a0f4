// The registry's rules (control plane), in Node: registrations, ownership moving, triggers handed
// to providers, departures, versions, what each session is told, and a default route winning.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { listFunctions, listTriggers, listTriggerTypes, listWorkers } from '../../src/engine/introspection'
import { DEFAULT_LIMITS } from '../../src/engine/limits'
import { DEPARTED_ROUTE_MS, RegistryCore } from '../../src/engine/registry'
import { namespacesReached, servedByDefault, shadowedRoutes } from '../../src/engine/registry-shadow'
import { type HttpRoute, compileRoute, httpRouteConflict, matchRoute } from '../../src/engine/routes'
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
    expect(listTriggerTypes(reg).triggers.map((t) => t.id)).toEqual(['configuration', 'cron', 'durable:subscriber', 'http', 'log', 'state', 'stream', 'stream:join', 'stream:leave', 'subscribe'])
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

  it("never lets a worker of a worker endpoint take over what a worker of another door holds; the plain socket and the same endpoint still may", () => {
    const logs: string[] = []
    const reg = new RegistryCore(new MemoryRegistryStore(), { log: (m) => logs.push(m) })
    reg.apply('plain', [{ type: 'connect', at: 1 }, fn('auth'), { type: 'registertriggertype', id: 'tt' }, http('t1', 'auth', 'login', 'POST')], 1)
    reg.apply('ew1', [{ type: 'connect', at: 2, door: '/ew' }, fn('mine')], 2)
    const notices = reg.apply('ew1', [fn('auth'), { type: 'registertriggertype', id: 'tt' }, http('t1', 'mine', 'login', 'POST')], 3)
    expect(reg.functions.get('auth')?.workerId).toBe('plain')
    expect(notices.get('ew1')?.lost).toEqual(['auth']) // its session stops thinking it serves it
    expect(notices.get('plain')?.lost ?? []).toEqual([])
    expect(reg.triggerTypes.get('tt')?.workerId).toBe('plain')
    expect(reg.triggers.get('t1')).toMatchObject({ workerId: 'plain', function_id: 'auth' })
    expect(notices.get('ew1')?.messages).toEqual([expect.objectContaining({ type: 'triggerregistrationresult', id: 't1', error: expect.objectContaining({ code: 'trigger_registration_failed' }) })])
    expect(logs.filter((l) => l.includes('may not take over'))).toHaveLength(3)
    // Another connection of the same endpoint (a reconnect) takes over as usual; so does the plain socket.
    reg.apply('ew2', [{ type: 'connect', at: 4, door: '/ew' }, fn('mine')], 4)
    expect(reg.functions.get('mine')?.workerId).toBe('ew2')
    reg.apply('plain', [fn('mine')], 5)
    expect(reg.functions.get('mine')?.workerId).toBe('plain')
    // Another endpoint's worker may not take it from either.
    reg.apply('other', [{ type: 'connect', at: 6, door: '/other' }, fn('mine')], 6)
    expect(reg.functions.get('mine')?.workerId).toBe('plain')
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

describe('a default-namespace route always wins over a namespace\'s', () => {
  const served = (id: string, api_path: string, http_method = 'GET') => compileRoute({ id, function_id: `default::${id}`, config: { api_path, http_method } })
  const defaults = (...routes: HttpRoute[]) => ({ namespace: 'adm', routes, version: 7 })
  const refusal = (notices: Map<string, { messages: unknown[] }>) => (notices.get('w1')?.messages ?? []).find((m) => (m as { type: string }).type === 'triggerregistrationresult') as
    | { id: string; error: { code: string; message: string } }
    | undefined

  it('refuses a namespace route the default namespace already serves, saying what to do, through the refusal the SDK shows', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    const notices = reg.apply('w1', [fn('adm::users'), http('t', 'adm::users', 'users')], 1, defaults(served('d', 'adm/users')))
    expect(refusal(notices)).toEqual({
      type: 'triggerregistrationresult',
      id: 't',
      trigger_type: 'http',
      function_id: 'adm::users',
      error: {
        code: 'trigger_registration_failed',
        message:
          "Route 'GET users' in namespace 'adm' would be served at '/adm/users', which the default namespace's route 'GET /adm/users' already serves " +
          '(a default-namespace route always wins): choose another api_path, or another namespace',
      },
    })
    expect(reg.triggers.size).toBe(0)
  })

  it('matches as a request would: a default :param covers it, HEAD falls back to GET, another method or a partial overlap does not', () => {
    const cases: [string, string, HttpRoute, boolean][] = [
      ['users', 'GET', served('p', ':tenant/users'), true],
      ['users/:id', 'GET', served('p', 'adm/users/:user'), true],
      ['users/:id', 'GET', served('p', 'adm/:what/:which'), true],
      ['users', 'HEAD', served('d', 'adm/users'), true],
      ['users', 'GET', served('d', 'adm/users', 'HEAD'), false],
      ['users', 'POST', served('d', 'adm/users'), false],
      // Only /adm/users/me is the default's: the namespace keeps the rest (and loses that one at request time).
      ['users/:id', 'GET', served('d', 'adm/users/me'), false],
      ['users', 'GET', served('d', 'other/users'), false],
      ['users', 'GET', served('d', 'users'), false],
    ]
    for (const [path, method, route, refused] of cases) {
      const reg = new RegistryCore(new MemoryRegistryStore())
      const notices = reg.apply('w1', [fn('f'), http('t', 'f', path, method)], 1, defaults(route))
      expect({ path, method, route: `${route.method} ${route.apiPath}`, refused: refusal(notices) !== undefined }).toEqual({ path, method, route: `${route.method} ${route.apiPath}`, refused })
    }
  })

  it('checks nothing without the default namespace\'s routes (the default namespace itself)', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    expect(refusal(reg.apply('w1', [fn('f'), http('t', 'f', 'adm/users')], 1))).toBeUndefined()
    expect(reg.snapshot(1).defaultVersion).toBeUndefined()
  })

  it('says in its snapshot which default version its routes were checked against, so older default views are looked at again', () => {
    const reg = new RegistryCore(new MemoryRegistryStore(), { defaultVersion: 3 })
    expect(reg.snapshot(1).defaultVersion).toBe(3)
    reg.apply('w1', [fn('f'), http('t', 'f', 'users')], 1, defaults(served('d', 'adm/other')))
    expect(reg.snapshot(1).defaultVersion).toBe(7)
    // A refused route changes nothing.
    reg.apply('w1', [http('u', 'f', 'other')], 2, { namespace: 'adm', routes: [served('d', 'adm/other')], version: 9 })
    expect(reg.defaultVersion).toBe(7)
  })

  it('announces the routes it now serves, with their function served, once per batch', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [http('t1', 'later', 'adm/users'), fn('f'), http('t2', 'f', 'adm/x'), http('t3', 'f', 'adm/gone'), { type: 'unregistertrigger', id: 't3' }], 1)
    expect(reg.takeEffects().filter((e) => e.type === 'http_routes_added')).toEqual([
      { type: 'http_routes_added', routes: [expect.objectContaining({ triggerId: 't2', apiPath: '/adm/x' })], version: reg.version },
    ])
    // The parked trigger's route is served once its function is.
    reg.apply('w2', [fn('later')], 2)
    expect(reg.takeEffects().filter((e) => e.type === 'http_routes_added')).toEqual([
      { type: 'http_routes_added', routes: [expect.objectContaining({ triggerId: 't1', apiPath: '/adm/users' })], version: reg.version },
    ])
    reg.apply('w2', [fn('unrouted')], 3)
    expect(reg.takeEffects().filter((e) => e.type === 'http_routes_added')).toEqual([])
  })

  it('sends a route to the namespace its first segment names, or to every namespace for a :param', () => {
    const routes = [served('a', 'adm/users'), served('b', ':tenant/users'), served('c', 'nobody/users'), served('d', 'users')]
    const reached = namespacesReached(routes, ['adm', 'team-a'])
    expect(Object.fromEntries([...reached].map(([ns, rs]) => [ns, rs.map((r) => r.triggerId)]))).toEqual({ adm: ['a', 'b'], 'team-a': ['b'] })
  })

  it('logs the namespace routes a later default route shadows and moves the route version, so every session tells front doors to look again', () => {
    const logs: string[] = []
    const reg = new RegistryCore(new MemoryRegistryStore(), { log: (m) => logs.push(m) })
    reg.apply('w1', [fn('adm::users'), http('t', 'adm::users', 'users'), http('u', 'adm::users', 'users/:id'), http('o', 'adm::users', 'other')], 1)
    reg.apply('w2', [{ type: 'connect', at: 2 }], 2)
    const before = reg.routeVersion
    const notices = reg.defaultRoutesAdded('adm', [served('d', 'adm/users'), served('me', ':tenant/users/me')], 12)
    expect(reg.routeVersion).toBeGreaterThan(before)
    expect(notices.get('w1')?.routeVersion).toBe(reg.routeVersion)
    expect(notices.get('w2')?.routeVersion).toBe(reg.routeVersion)
    expect(logs).toEqual([
      "route 'GET /users' (trigger t) is shadowed by the default namespace's route 'GET /adm/users': from now on GET /adm/users is served by the default namespace's function default::d " +
        '(a default-namespace route always wins); give this route another api_path, or move it to another namespace',
      "route 'GET /users/:id' (trigger u) is shadowed by the default namespace's route 'GET /:tenant/users/me': from now on GET /adm/users/me (of GET /adm/users/:id) is served by the default namespace's function default::me " +
        '(a default-namespace route always wins); give this route another api_path, or move it to another namespace',
    ])
    // Routes that overlap none of ours change nothing.
    const version = reg.version
    expect(reg.defaultRoutesAdded('adm', [served('x', 'adm/nothing'), served('y', 'adm/users', 'POST')], 13).size).toBe(0)
    expect(reg.version).toBe(version)
    expect(reg.snapshot(3).defaultVersion).toBe(12)
  })
})

describe('which namespace routes a default route shadows', () => {
  const words = ['adm', 'users', 'me', ':a', ':b']
  const methods = ['GET', 'HEAD', 'POST']
  const routeOf = (id: string, segments: string[], method: string) => compileRoute({ id, function_id: id, config: { api_path: segments.join('/') || '/', http_method: method } })
  /** Every request path of up to 3 segments over the literals, and one literal neither route names. */
  const requests = (() => {
    const out: string[][] = [[]]
    for (let n = 0; n < 3; n++) for (const p of out.filter((p) => p.length === n)) for (const w of ['adm', 'users', 'me', 'zz']) out.push([...p, w])
    return out
  })()

  it('says "shadowed" exactly when some request would go to both, "whole" exactly when every request of ours would (property)', () => {
    const route = fc.record({ segments: fc.array(fc.constantFrom(...words), { maxLength: 3 }), method: fc.constantFrom(...methods) })
    fc.assert(
      fc.property(route, route, (ns, dflt) => {
        const ours = routeOf('ours', ns.segments, ns.method)
        const by = routeOf('by', dflt.segments, dflt.method)
        const both = (m: string, p: string[]) => matchRoute([by], m, `/${['adm', ...p].join('/')}`) !== null && matchRoute([ours], m, `/${p.join('/')}`) !== null
        const ourRequests = methods.flatMap((m) => requests.filter((p) => matchRoute([ours], m, `/${p.join('/')}`)).map((p) => [m, p] as const))
        const shadowed = shadowedRoutes('adm', [by], [ours])
        expect(shadowed.length > 0).toBe(ourRequests.some(([m, p]) => both(m, p)))
        // "whole" (no `only`) is what a registration is refused for.
        const whole = shadowed.length > 0 && shadowed[0]!.only === undefined
        expect(whole).toBe(servedByDefault([by], 'adm', { api_path: ns.segments.join('/') || '/', http_method: ns.method }) !== null)
        expect(whole).toBe(ourRequests.length > 0 && ourRequests.every(([m, p]) => both(m, p)))
      }),
      { numRuns: 500 },
    )
  })
})
