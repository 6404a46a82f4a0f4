// Registry views as caches hold them, and HTTP routing from them: no registry call on a warm
// request, a miss refreshes before 404, namespaces under /<name>/ where a default route always
// wins, 503 for a route whose worker left.
import { describe, expect, it } from 'vitest'
import { DEPARTED_ROUTE_MS, type RegistrySnapshot } from '../../src/engine/registry'
import { type SnapshotSource, ViewCache } from '../../src/engine/view'
import { resolveHttp } from '../../src/http/router'

const snapshot = (version: number, extra: Partial<RegistrySnapshot> = {}): RegistrySnapshot => ({
  version,
  routeVersion: version,
  functions: [],
  routes: [],
  departed: [],
  namespaces: [],
  ...extra,
})

/** A registry that answers from `current`, counting calls; `gate` holds answers back until released. */
function fakeRegistry(current: () => RegistrySnapshot) {
  const calls: (number | null)[] = []
  let release: (() => void)[] = []
  let held = false
  const source: SnapshotSource = async (known) => {
    calls.push(known)
    if (held) await new Promise<void>((r) => release.push(r))
    const snap = current()
    return known === snap.version ? null : structuredClone(snap)
  }
  return {
    source,
    calls,
    hold: () => void (held = true),
    releaseAll: () => {
      held = false
      const r = release
      release = []
      r.forEach((f) => f())
    },
  }
}

describe('ViewCache', () => {
  it('loads once, then serves the cached view with no call', async () => {
    const reg = fakeRegistry(() => snapshot(3, { functions: [{ id: 'f', worker: 'w' }] }))
    const cache = new ViewCache(reg.source, () => 0)
    expect((await cache.current()).functions.get('f')).toEqual({ worker: 'w' })
    await cache.current()
    await cache.current()
    expect(reg.calls).toEqual([null])
  })

  it('asks with its version and keeps its view when the registry says nothing changed', async () => {
    let version = 1
    const reg = fakeRegistry(() => snapshot(version))
    const cache = new ViewCache(reg.source, () => 0)
    const first = await cache.current()
    expect(await cache.fresher(0)).toBe(first)
    version = 2
    expect((await cache.fresher(0)).version).toBe(2)
    expect(reg.calls).toEqual([null, 1, 1])
  })

  it('shares one refresh among misses that arrive while it runs, and starts one more only for later misses', async () => {
    let clock = 0
    const reg = fakeRegistry(() => snapshot(1))
    const cache = new ViewCache(reg.source, () => clock)
    await cache.current()
    reg.hold()
    clock = 10
    const a = cache.fresher(10) // starts a refresh at 10
    const b = cache.fresher(5) // a refresh that started at 10 is fresh enough
    clock = 20
    const c = cache.fresher(20) // arrived after that refresh started: needs another
    const d = cache.fresher(20) // shares c's
    expect(reg.calls.length).toBe(2)
    reg.releaseAll()
    await a
    await new Promise((r) => setTimeout(r, 0))
    reg.releaseAll()
    await Promise.all([b, c, d])
    expect(reg.calls.length).toBe(3)
  })

  it('does not keep a failure: the next miss asks again', async () => {
    let fail = true
    const cache = new ViewCache(async () => {
      if (fail) throw new Error('registry reset')
      return snapshot(1)
    }, () => 0)
    await expect(cache.current()).rejects.toThrow('registry reset')
    fail = false
    expect((await cache.current()).version).toBe(1)
  })
})

describe('resolveHttp', () => {
  const route = (trigger_id: string, function_id: string, api_path: string, worker: string | null = 'w1', http_method = 'GET') => ({
    trigger_id,
    function_id,
    worker,
    config: { api_path, http_method },
  })

  function world(defaults: () => RegistrySnapshot, scoped: Record<string, () => RegistrySnapshot> = {}) {
    const regs = new Map<string, ReturnType<typeof fakeRegistry>>()
    const caches = new Map<string, ViewCache>()
    const views = (ns: string) => {
      if (!caches.has(ns)) {
        const reg = fakeRegistry(ns === '' ? defaults : (scoped[ns] ?? (() => snapshot(1))))
        regs.set(ns, reg)
        caches.set(ns, new ViewCache(reg.source, () => now))
      }
      return caches.get(ns)!
    }
    let now = 1000
    return {
      resolve: (method: string, path: string, fresh = false) => resolveHttp(views, method, path, { fresh, now: () => now }),
      calls: () => [...regs.values()].reduce((n, r) => n + r.calls.length, 0),
      regs,
      views,
      tick: (ms: number) => void (now += ms),
    }
  }

  it('matches from the cached view with no registry call once warm', async () => {
    const w = world(() => snapshot(1, { routes: [route('t', 'files::get', 'files/:name')] }))
    expect(await w.resolve('GET', '/files/a.pdf')).toMatchObject({ kind: 'route', namespace: '', match: { function_id: 'files::get', worker: 'w1', path_params: { name: 'a.pdf' } } })
    const warm = w.calls()
    for (let i = 0; i < 10; i++) await w.resolve('GET', '/files/b.pdf')
    expect(w.calls()).toBe(warm)
  })

  it('refreshes before answering none, so a route registered after the view was cached is found', async () => {
    let routes = [route('t1', 'a', 'a')]
    const w = world(() => snapshot(routes.length, { routes }))
    await w.resolve('GET', '/a')
    routes = [...routes, route('t2', 'b', 'b')]
    expect(await w.resolve('GET', '/b')).toMatchObject({ kind: 'route', match: { function_id: 'b' } })
    expect(await w.resolve('GET', '/nothing')).toEqual({ kind: 'none' })
  })

  it('serves a namespace\'s routes under /<namespace>/ when no default route matches', async () => {
    const w = world(() => snapshot(1, { namespaces: ['team-a'], routes: [route('d2', 'default::y', 'y')] }), {
      'team-a': () => snapshot(4, { routes: [route('s', 'scoped::x', 'x', 'w9')] }),
    })
    expect(await w.resolve('GET', '/team-a/x')).toMatchObject({ kind: 'route', namespace: 'team-a', match: { function_id: 'scoped::x', worker: 'w9', api_path: '/x' } })
    expect(await w.resolve('GET', '/y')).toMatchObject({ kind: 'route', namespace: '', match: { function_id: 'default::y' } })
    // A first segment that is no namespace costs no call to a registry of that name.
    await w.resolve('GET', '/random/x')
    expect([...w.regs.keys()].sort()).toEqual(['', 'team-a'])
  })

  describe('a default route always wins over a namespace\'s', () => {
    const adm = () => snapshot(4, { routes: [route('s', 'adm::users', 'users', 'w9'), route('s2', 'adm::other', 'other', 'w9', 'HEAD')] })

    it('whatever the namespace registered for the same path: literal, :param or HEAD falling back to GET', async () => {
      const w = world(() => snapshot(1, { namespaces: ['adm'], routes: [route('d', 'default::users', 'adm/users'), route('p', 'default::tenant', ':tenant/other')] }), { adm })
      expect(await w.resolve('GET', '/adm/users')).toMatchObject({ kind: 'route', namespace: '', match: { function_id: 'default::users', api_path: '/adm/users' } })
      // `/:tenant/other` matches `/adm/other` as well: the namespace's HEAD route gets nothing.
      expect(await w.resolve('HEAD', '/adm/other')).toMatchObject({ kind: 'route', namespace: '', match: { function_id: 'default::tenant', path_params: { tenant: 'adm' } } })
      // A method the default does not serve there is the namespace's.
      expect(await w.resolve('POST', '/adm/users')).toEqual({ kind: 'none' })
    })

    it('from the moment a front door sees the default route, even when the namespace\'s came first', async () => {
      let defaults = snapshot(1, { namespaces: ['adm'] })
      const w = world(() => defaults, { adm })
      expect(await w.resolve('GET', '/adm/users')).toMatchObject({ namespace: 'adm', match: { function_id: 'adm::users' } })
      defaults = snapshot(2, { namespaces: ['adm'], routes: [route('d', 'default::users', 'adm/users')] })
      // The cached default view is older than the route: the namespace's session says "stale", and the retry looks again.
      expect(await w.resolve('GET', '/adm/users', true)).toMatchObject({ namespace: '', match: { function_id: 'default::users' } })
      expect(await w.resolve('GET', '/adm/users')).toMatchObject({ namespace: '', match: { function_id: 'default::users' } })
    })

    it('looks at the default namespace again when the namespace\'s view says its routes were checked against a newer one', async () => {
      let defaults = snapshot(1, { namespaces: ['adm'] })
      let scoped = adm()
      const w = world(() => defaults, { adm: () => scoped })
      expect(await w.resolve('GET', '/adm/users')).toMatchObject({ namespace: 'adm' })
      const warm = w.calls()
      await w.resolve('GET', '/adm/users')
      expect(w.calls()).toBe(warm)
      // The default registered adm/users (version 2) and told the namespace; this isolate refreshed
      // only the namespace's view (a session of the namespace did), so its default view is older.
      defaults = snapshot(2, { namespaces: ['adm'], routes: [route('d', 'default::users', 'adm/users')] })
      scoped = { ...adm(), version: 5, routeVersion: 5, defaultVersion: 2 }
      await w.views('adm').fresher(0)
      expect(await w.resolve('GET', '/adm/users')).toMatchObject({ namespace: '', match: { function_id: 'default::users' } })
      const after = w.calls()
      await w.resolve('GET', '/adm/users')
      expect(w.calls()).toBe(after)
    })

    it('also while the default route\'s worker just left (503), and hands the path over only after that', async () => {
      const departed = [{ id: 'GET /adm/users', config: { api_path: 'adm/users' }, function_id: 'default::users', leftAt: 1000 }]
      const w = world(() => snapshot(2, { namespaces: ['adm'], departed }), { adm })
      expect(await w.resolve('GET', '/adm/users')).toMatchObject({ kind: 'departed' })
      w.tick(DEPARTED_ROUTE_MS)
      expect(await w.resolve('GET', '/adm/users')).toMatchObject({ kind: 'route', namespace: 'adm', match: { function_id: 'adm::users' } })
    })

    it('answers departed for a namespace route whose worker left only when no default route matches', async () => {
      const departed = [{ id: 'GET /users', config: { api_path: 'users' }, function_id: 'adm::users', leftAt: 1000 }]
      const w = world(() => snapshot(1, { namespaces: ['adm'], routes: [route('d', 'default::users', 'adm/users')] }), { adm: () => snapshot(3, { departed }) })
      expect(await w.resolve('GET', '/adm/users')).toMatchObject({ kind: 'route', namespace: '', match: { function_id: 'default::users' } })
      expect(await w.resolve('HEAD', '/adm/users')).toMatchObject({ namespace: '' })
      const v = world(() => snapshot(1, { namespaces: ['adm'] }), { adm: () => snapshot(3, { departed }) })
      expect(await v.resolve('GET', '/adm/users')).toMatchObject({ kind: 'departed' })
    })
  })

  it('ignores routes whose function nobody serves', async () => {
    const w = world(() => snapshot(1, { routes: [route('t', 'parked', 'p', null)] }))
    expect(await w.resolve('GET', '/p')).toEqual({ kind: 'none' })
  })

  it('answers departed (503) for a route whose worker left less than 30 s ago, then none', async () => {
    const departed = [{ id: 'GET /brief', config: { api_path: 'brief' }, function_id: 'brief::fn', leftAt: 1000 }]
    const w = world(() => snapshot(2, { departed }))
    expect(await w.resolve('GET', '/brief')).toMatchObject({ kind: 'departed', retryAfterS: expect.any(Number) })
    expect(await w.resolve('POST', '/brief')).toEqual({ kind: 'none' })
    w.tick(DEPARTED_ROUTE_MS)
    expect(await w.resolve('GET', '/brief')).toEqual({ kind: 'none' })
  })
})
