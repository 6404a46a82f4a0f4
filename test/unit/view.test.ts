// Registry views as caches hold them, and HTTP routing from them: no registry call on a warm
// request, a miss refreshes before 404, namespaces under /<name>/, 503 for a route whose worker left.
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

  it('serves a namespace\'s routes under /<namespace>/, preferred over the default namespace\'s', async () => {
    const w = world(() => snapshot(1, { namespaces: ['team-a'], routes: [route('d', 'default::x', 'team-a/x'), route('d2', 'default::y', 'y')] }), {
      'team-a': () => snapshot(4, { routes: [route('s', 'scoped::x', 'x', 'w9')] }),
    })
    expect(await w.resolve('GET', '/team-a/x')).toMatchObject({ kind: 'route', namespace: 'team-a', match: { function_id: 'scoped::x', worker: 'w9', api_path: '/x' } })
    expect(await w.resolve('GET', '/y')).toMatchObject({ kind: 'route', namespace: '', match: { function_id: 'default::y' } })
    // A first segment that is no namespace costs no call to a registry of that name.
    await w.resolve('GET', '/random/x')
    expect([...w.regs.keys()].sort()).toEqual(['', 'team-a'])
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
