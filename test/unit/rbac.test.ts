// The rules of worker endpoints (src/engine/rbac.ts, worker-endpoints.ts), in Node: id patterns and
// metadata filters, the order the lists are read in, prefixes, the auth function's input and
// answer (fuzzed with answers of every wrong shape), and III_WORKER_ENDPOINTS itself.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  INFRASTRUCTURE_FUNCTIONS,
  UNAUTHENTICATED_RIGHTS,
  type WorkerRights,
  type WorkerRules,
  exposes,
  invocationRefusal,
  needsMetadata,
  parseExposeFilter,
  passesMiddleware,
  stripPrefix,
  visibleFunctionInfo,
  visibleFunctionList,
  wildcardMatch,
  withPrefix,
} from '../../src/engine/rbac'
import { AUTH_ANSWER_MAX_BYTES, authInput, decodeRights, encodeRights, endpointOf, parseAuthAnswer, parseWorkerEndpoints, queryParams, rulesFor } from '../../src/engine/worker-endpoints'

const rights = (over: Partial<WorkerRights> = {}): WorkerRights => ({ ...UNAUTHENTICATED_RIGHTS, allow_trigger_type_registration: false, ...over })
const rules = (over: Partial<WorkerRights> = {}, expose: unknown[] = []): WorkerRules => ({
  endpoint: '/ew',
  middleware_function_id: null,
  rbac: { expose_functions: expose.map((e) => parseExposeFilter(e) as never) },
  rights: rights(over),
})

describe('id patterns', () => {
  it.each([
    ['*', '', true],
    ['*', 'anything::at::all', true],
    ['engine::*', 'engine::foo', true],
    ['engine::*', 'engine::bar::baz', true],
    ['engine::*', 'engine:', false],
    ['engine::*', 'xengine::foo', false],
    ['*::public', 'x::y::public', true],
    ['*::public', 'x::public::y', false],
    ['api::*::read', 'api::users::read', true],
    ['api::*::read', 'api::read', false],
    ['api::*::read', 'api::users::read::more', false],
    ['*public*', 'public', true],
    ['*public*', 'mypublicfn', true],
    ['*public*', 'pub', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['a**b', 'ab', true],
    ['exact', 'exact', true],
    ['exact', 'exactly', false],
    ['x?y', 'xay', false],
  ])('%s matches %s: %s', (pattern, value, expected) => {
    expect(wildcardMatch(pattern, value)).toBe(expected)
  })

  it('agrees with a regular expression on any pattern of letters and stars', () => {
    const text = fc.stringMatching(/^[ab:*]{0,8}$/)
    fc.assert(
      fc.property(text, fc.stringMatching(/^[ab:]{0,10}$/), (pattern, value) => {
        const regex = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's')
        expect(wildcardMatch(pattern, value)).toBe(regex.test(value))
      }),
    )
  })
})

describe('expose_functions filters', () => {
  it('reads match("…") with either quote and surrounding space, and refuses anything else with the engine\'s words', () => {
    expect(parseExposeFilter('match("a::*")')).toEqual({ match: 'a::*' })
    expect(parseExposeFilter("  match('b::*')  ")).toEqual({ match: 'b::*' })
    expect(parseExposeFilter('engine::*')).toEqual({ problem: 'expected match("pattern"), got: engine::*' })
    expect(parseExposeFilter('match("a::*\')')).toHaveProperty('problem')
    expect(parseExposeFilter({ metadata: {} })).toEqual({ problem: "expected a 'metadata' key with filter conditions" })
    expect(parseExposeFilter({ other: 1 })).toHaveProperty('problem')
    expect(parseExposeFilter(7)).toHaveProperty('problem')
  })

  it('metadata: every listed key must be there and hold; match() only on strings; anything else equal as JSON', () => {
    const f = parseExposeFilter({ metadata: { public: true, team: 'match("web-*")', tier: { level: 2 } } }) as never
    expect(exposes(f, 'x', { public: true, team: 'web-a', tier: { level: 2 }, extra: 1 })).toBe(true)
    expect(exposes(f, 'x', { public: 'true', team: 'web-a', tier: { level: 2 } })).toBe(false)
    expect(exposes(f, 'x', { public: true, team: 'api', tier: { level: 2 } })).toBe(false)
    expect(exposes(f, 'x', { public: true, team: 7, tier: { level: 2 } })).toBe(false)
    expect(exposes(f, 'x', { public: true, team: 'web-a', tier: { level: 2, more: 1 } })).toBe(false)
    expect(exposes(f, 'x', { public: true, team: 'web-a' })).toBe(false)
    expect(exposes(f, 'x', undefined)).toBe(false)
    expect(exposes(f, 'x', [true])).toBe(false)
    expect(exposes(f, 'x', 'public')).toBe(false)
  })
})

describe('the invocation check', () => {
  const r = rules({ allowed_functions: ['a::granted', 'both'], forbidden_functions: ['both', 'engine::log::info'] }, ['match("pub::*")', { metadata: { public: true } }])

  it('reads forbidden first, then allowed, then the infrastructure set, then the filters', () => {
    expect(invocationRefusal(r, 'both')).toEqual({ code: 'FORBIDDEN', message: "function 'both' not allowed (remove from rbac.forbidden_functions)" })
    expect(invocationRefusal(r, 'engine::log::info')?.code).toBe('FORBIDDEN') // an infrastructure id can be forbidden
    expect(invocationRefusal(r, 'a::granted')).toBeNull()
    expect(invocationRefusal(r, 'engine::workers::register')).toBeNull()
    expect(invocationRefusal(r, 'pub::x')).toBeNull()
    expect(invocationRefusal(r, 'meta', { public: true })).toBeNull()
    expect(invocationRefusal(r, 'meta', { public: false })).toEqual({ code: 'FORBIDDEN', message: "function 'meta' not allowed (add to rbac.expose_functions)" })
    expect(invocationRefusal(r, 'engine::functions::list')?.code).toBe('FORBIDDEN') // discovery is not infrastructure
  })

  it('with no rbac at all, everything not forbidden is allowed', () => {
    const open: WorkerRules = { ...r, rbac: null }
    expect(invocationRefusal(open, 'anything')).toBeNull()
    expect(invocationRefusal(open, 'both')?.code).toBe('FORBIDDEN')
  })

  it('holds the infrastructure set the engine has, exactly', () => {
    expect([...INFRASTRUCTURE_FUNCTIONS].sort()).toEqual(
      ['engine::baggage::get', 'engine::baggage::get_all', 'engine::baggage::set', 'engine::channels::create', 'engine::log::debug', 'engine::log::error', 'engine::log::info', 'engine::log::trace', 'engine::log::warn', 'engine::workers::register'].sort(),
    )
  })

  it('asks for metadata only when the lists and id patterns did not decide and a metadata filter exists', () => {
    expect(needsMetadata(r, 'both')).toBe(false)
    expect(needsMetadata(r, 'pub::x')).toBe(false)
    expect(needsMetadata(r, 'engine::log::warn')).toBe(false)
    expect(needsMetadata(r, 'other')).toBe(true)
    expect(needsMetadata(rules({}, ['match("x")']), 'other')).toBe(false)
  })

  it('sends every call but engine:: ones through the middleware', () => {
    const m = { ...r, middleware_function_id: 'mw' }
    expect(passesMiddleware(m, 'a::granted')).toBe('mw')
    expect(passesMiddleware(m, 'engine::functions::list')).toBeNull()
    expect(passesMiddleware(r, 'a::granted')).toBeNull()
  })

  it('filters lists and info with the same check, hiding whether a hidden function exists', () => {
    const list = { functions: [{ function_id: 'pub::a' }, { function_id: 'secret' }, { function_id: 'meta', metadata: { public: true } }, { function_id: 'both' }] }
    expect(visibleFunctionList(r, list)).toEqual({ functions: [{ function_id: 'pub::a' }, { function_id: 'meta', metadata: { public: true } }] })
    expect(visibleFunctionInfo(r, { function_id: 'secret' }, { function_id: 'secret' })).toEqual({ error: { code: 'FORBIDDEN', message: "Function 'secret' is not visible to this session." } })
    expect(visibleFunctionInfo(r, { function_id: 'pub::a' }, { function_id: 'pub::a' })).toEqual({ answer: { function_id: 'pub::a' } })
    expect(visibleFunctionInfo(r, { function_ids: ['pub::a', 'secret'] }, { functions: [{ function_id: 'pub::a' }, { function_id: 'secret', description: 'd' }] })).toEqual({
      answer: { functions: [{ function_id: 'pub::a' }, { function_id: 'secret', error: 'forbidden' }] },
    })
  })
})

describe('the registration prefix', () => {
  it('is added as <prefix>::<id> and stripped once, only when present', () => {
    const p = rights({ function_registration_prefix: 'tenant' })
    expect(withPrefix(p, 'echo')).toBe('tenant::echo')
    expect(stripPrefix(p, 'tenant::echo')).toBe('echo')
    expect(stripPrefix(p, 'tenant::tenant::echo')).toBe('tenant::echo')
    expect(stripPrefix(p, 'other::echo')).toBe('other::echo')
    expect(stripPrefix(p, 'tenantecho')).toBe('tenantecho')
    expect(withPrefix(rights(), 'echo')).toBe('echo')
    fc.assert(
      fc.property(fc.string(), (id) => {
        expect(stripPrefix(p, withPrefix(p, id))).toBe(id)
      }),
    )
  })
})

describe("the auth function's input", () => {
  it('has every header under its lower-case name, the raw query as lists, and the address', () => {
    const headers = new Headers({ 'X-Test-Token': 'valid', Cookie: 'sid=1; theme=dark' })
    expect(authInput(new Headers([['__proto__', 'x']]), '', '').headers).toEqual(JSON.parse('{"__proto__":"x"}'))
    expect(authInput(headers, '?a=1&a=2&b=3&c=&d&=skip&&e=%20+x', '203.0.113.9')).toEqual({
      headers: { 'x-test-token': 'valid', cookie: 'sid=1; theme=dark' },
      query_params: { a: ['1', '2'], b: ['3'], c: [''], d: [''], e: ['%20+x'] },
      ip_address: '203.0.113.9',
    })
    expect(queryParams('')).toEqual({})
    expect(queryParams('?x=a=b')).toEqual({ x: ['a=b'] })
    expect(queryParams('?__proto__=1&constructor=2')).toEqual(JSON.parse('{"__proto__":["1"],"constructor":["2"]}'))
  })
})

describe("the auth function's answer", () => {
  it('takes the engine defaults for absent fields: no trigger types registered, functions registered, context {}', () => {
    expect(parseAuthAnswer({})).toEqual({ ok: true, rights: rights() })
    expect(parseAuthAnswer({ allowed_trigger_types: null, function_registration_prefix: null, context: null })).toEqual({ ok: true, rights: rights({ context: null }) })
    expect(parseAuthAnswer({ allowed_functions: ['a'], allowed_trigger_types: [], allow_function_registration: false, function_registration_prefix: 'p', context: { user: 1 } })).toEqual({
      ok: true,
      rights: rights({ allowed_functions: ['a'], allowed_trigger_types: [], allow_function_registration: false, function_registration_prefix: 'p', context: { user: 1 } }),
    })
  })

  it('refuses no answer, a non-object, a field of the wrong type and an answer too large, saying which', () => {
    expect(parseAuthAnswer(undefined)).toEqual({ ok: false, message: 'auth function returned no result' })
    expect(parseAuthAnswer(null)).toEqual({ ok: false, message: 'auth function returned no result' })
    expect(parseAuthAnswer([])).toMatchObject({ ok: false, message: expect.stringContaining('a list') })
    expect(parseAuthAnswer('yes')).toMatchObject({ ok: false })
    expect(parseAuthAnswer(true)).toMatchObject({ ok: false })
    expect(parseAuthAnswer({ allowed_functions: 'a' })).toMatchObject({ ok: false, message: expect.stringContaining('allowed_functions') })
    expect(parseAuthAnswer({ forbidden_functions: [1] })).toMatchObject({ ok: false, message: expect.stringContaining('forbidden_functions') })
    expect(parseAuthAnswer({ allow_function_registration: 'true' })).toMatchObject({ ok: false, message: expect.stringContaining('allow_function_registration') })
    expect(parseAuthAnswer({ function_registration_prefix: 3 })).toMatchObject({ ok: false })
    expect(parseAuthAnswer({ context: 'x'.repeat(AUTH_ANSWER_MAX_BYTES) })).toMatchObject({ ok: false, message: expect.stringContaining('bytes') })
  })

  it('fuzz: any JSON answer is either refused with a message or gives rights of the right types, never a throw', () => {
    const field = fc.constantFrom('allowed_functions', 'forbidden_functions', 'allowed_trigger_types', 'allow_trigger_type_registration', 'allow_function_registration', 'function_registration_prefix', 'context', 'other')
    const answer = fc.oneof(fc.jsonValue(), fc.dictionary(field, fc.oneof(fc.jsonValue(), fc.array(fc.string()), fc.boolean(), fc.constant(undefined))))
    fc.assert(
      fc.property(answer, (value) => {
        const parsed = parseAuthAnswer(value)
        if (!parsed.ok) {
          expect(parsed.message).toMatch(/\S/)
          return
        }
        const r = parsed.rights
        for (const list of [r.allowed_functions, r.forbidden_functions, r.allowed_trigger_types ?? []]) expect(list.every((s) => typeof s === 'string')).toBe(true)
        expect(typeof r.allow_function_registration).toBe('boolean')
        expect(typeof r.allow_trigger_type_registration).toBe('boolean')
        expect(r.function_registration_prefix === null || typeof r.function_registration_prefix === 'string').toBe(true)
        // What rides to the session in a header comes back the same.
        expect(decodeRights(encodeRights(r))).toEqual(JSON.parse(JSON.stringify(r)))
      }),
      { numRuns: 500 },
    )
  })
})

describe('III_WORKER_ENDPOINTS', () => {
  it('reads a JSON string or a list; serves an entry under its namespace; leaves out entries with a problem, saying why', () => {
    const raw = [
      { path: '/ew', middleware_function_id: 'mw', rbac: { auth_function_id: 'auth', expose_functions: ['match("a::*")', { metadata: { p: true } }], unknown_key: 1 } },
      { path: '/team/', namespace: 'team-a' },
      { path: 'nope' },
      { path: '/api/x' },
      { path: '/ew' },
      { path: '/bad', rbac: { expose_functions: ['engine::*'] } },
      { path: '/ns', namespace: 'api' },
      { path: '/mw', middleware_function_id: 3 },
    ]
    for (const input of [raw, JSON.stringify(raw)]) {
      const { endpoints, problems } = parseWorkerEndpoints(input)
      expect(endpoints).toEqual([
        { path: '/ew', namespace: '', middleware_function_id: 'mw', rbac: { auth_function_id: 'auth', expose_functions: [{ match: 'a::*' }, { metadata: { p: true } }] } },
        { path: '/team', namespace: 'team-a', middleware_function_id: null, rbac: null },
      ])
      expect(problems).toHaveLength(6)
      expect(problems.join('\n')).toMatch(/\[2\].*path must be/)
      expect(problems.join('\n')).toMatch(/\[3\].*engine's own/)
      expect(problems.join('\n')).toMatch(/\[4\].*earlier entry/)
      expect(problems.join('\n')).toMatch(/\[5\].*expected match/)
      expect(problems.join('\n')).toMatch(/\[6\].*namespace/)
      expect(problems.join('\n')).toMatch(/\[7\].*middleware_function_id/)
      expect(endpointOf(endpoints, '/ew')?.endpoint.path).toBe('/ew')
      expect(endpointOf(endpoints, '/ew/otel')).toMatchObject({ otel: true })
      expect(endpointOf(endpoints, '/team-a/team')?.endpoint.namespace).toBe('team-a')
      expect(endpointOf(endpoints, '/team')).toBeNull()
      expect(endpointOf(endpoints, '/ew/more')).toBeNull()
    }
    expect(parseWorkerEndpoints(undefined)).toEqual({ endpoints: [], problems: [] })
    expect(parseWorkerEndpoints('{not json').problems[0]).toMatch(/not JSON/)
    expect(parseWorkerEndpoints({ path: '/x' }).problems[0]).toMatch(/must be a list/)
  })

  it('an endpoint no longer configured leaves its workers nothing but the infrastructure set', () => {
    const gone = rulesFor([], '/old', rights({ allowed_functions: [] }))
    expect(invocationRefusal(gone, 'app::x')?.code).toBe('FORBIDDEN')
    expect(invocationRefusal(gone, 'engine::log::info')).toBeNull()
  })
})
