// CORS on HTTP triggers (src/http/cors.ts): tower-http's headers in each mode, the vars parsed once
// and failing closed, and the middleware on the app's last route (preflights answered before the
// handler, error responses covered, the engine's own paths untouched). Tried as an attacker would:
// a refused origin never gets `access-control-allow-origin`, credentials are never allowed.
import { Hono } from 'hono'
import { describe, expect, it, vi } from 'vitest'
import {
  type CorsPolicy,
  type CorsVars,
  PERMISSIVE,
  VARY,
  corsPolicyOf,
  httpTriggerCors,
  isPreflight,
  parseCorsPolicy,
  parseOrigin,
  preflightResponse,
  withCors,
} from '../../src/http/cors'
import { corsHeaders } from '../cases/cors-headers'

const APP = 'https://app.example'
const DEV = 'http://localhost:5173'
const EVIL = 'https://evil.example'

const policy = (vars: CorsVars): CorsPolicy => parseCorsPolicy(vars).policy
const restricted = policy({ III_HTTP_CORS_ORIGINS: `${APP}, ${DEV}`, III_HTTP_CORS_METHODS: 'get, POST' })

const preflight = (origin: string | null, method: string, extra: Record<string, string> = {}) =>
  new Request('http://127.0.0.1:8787/orders', {
    method: 'OPTIONS',
    headers: { ...(origin === null ? {} : { origin }), 'access-control-request-method': method, ...extra },
  })
const request = (method: string, origin: string | null) =>
  new Request('http://127.0.0.1:8787/orders', { method, headers: origin === null ? {} : { origin } })

describe('parseCorsPolicy', () => {
  it('is the permissive layer when neither var lists anything', () => {
    for (const vars of [{}, { III_HTTP_CORS_ORIGINS: '' }, { III_HTTP_CORS_ORIGINS: ' , ', III_HTTP_CORS_METHODS: '' }]) {
      expect(parseCorsPolicy(vars)).toEqual({ policy: PERMISSIVE, problems: [] })
    }
  })

  it('reads origins as browsers send them and methods in upper case; empty or "*" is any, as in the engine', () => {
    expect(restricted).toEqual({ origins: new Set([APP, DEV]), methods: ['GET', 'POST'], permissive: false })
    expect(policy({ III_HTTP_CORS_METHODS: 'GET' })).toEqual({ origins: null, methods: ['GET'], permissive: false })
    expect(policy({ III_HTTP_CORS_ORIGINS: APP, III_HTTP_CORS_METHODS: '*' })).toEqual({ origins: new Set([APP]), methods: null, permissive: false })
    const star = parseCorsPolicy({ III_HTTP_CORS_ORIGINS: `*, ${APP}` })
    expect(star.policy.origins).toBeNull()
    expect(star.problems).toEqual(['III_HTTP_CORS_ORIGINS lists "*" with other origins: every origin is allowed'])
  })

  it('normalises an origin the way a browser serializes it', () => {
    expect(parseOrigin('HTTPS://App.Example:443/')).toBe(APP)
    expect(parseOrigin('http://localhost:5173')).toBe(DEV)
    expect(parseOrigin('http://[::1]:3000')).toBe('http://[::1]:3000')
    expect(parseOrigin('tauri://localhost')).toBe('tauri://localhost')
    for (const bad of ['app.example', 'https://app.example/path', 'https://app.example?x', 'https://user@app.example', 'https://', '*.example.com', 'https://a b']) {
      expect(parseOrigin(bad), bad).toBeNull()
    }
  })

  it('fails closed: an entry that is no origin or method is dropped, never read as "any", and said', () => {
    const { policy: p, problems } = parseCorsPolicy({ III_HTTP_CORS_ORIGINS: 'null, app.example', III_HTTP_CORS_METHODS: 'GET POST' })
    expect(p).toEqual({ origins: new Set(), methods: [], permissive: false })
    expect(problems).toHaveLength(3)
    expect(problems[0]).toContain('"null" is not an origin')
    expect(problems[2]).toContain('"GET POST" is not a method name')
    // A binding that is not text (a JSON var) allows nothing either.
    expect(parseCorsPolicy({ III_HTTP_CORS_ORIGINS: ['https://app.example'] }).policy.origins).toEqual(new Set())
  })
})

describe('corsPolicyOf', () => {
  it('parses once per value of the vars and logs its problems once', () => {
    const log = vi.fn()
    const env = { III_HTTP_CORS_ORIGINS: 'nope' }
    const first = corsPolicyOf(env, log)
    expect(corsPolicyOf({ ...env }, log)).toBe(first)
    expect(log).toHaveBeenCalledTimes(1)
    expect(corsPolicyOf({ III_HTTP_CORS_ORIGINS: APP }, log).origins).toEqual(new Set([APP]))
    expect(log).toHaveBeenCalledTimes(1)
  })
})

describe('isPreflight', () => {
  it('is an OPTIONS with Origin and Access-Control-Request-Method, nothing less', () => {
    expect(isPreflight(preflight(APP, 'PUT'))).toBe(true)
    expect(isPreflight(preflight(null, 'PUT'))).toBe(false)
    expect(isPreflight(new Request('http://h/x', { method: 'OPTIONS', headers: { origin: APP } }))).toBe(false)
    expect(isPreflight(new Request('http://h/x', { method: 'POST', headers: { origin: APP, 'access-control-request-method': 'PUT' } }))).toBe(false)
  })
})

describe('preflightResponse', () => {
  it("permissive: tower-http's permissive answer (200, any origin, method and header, no max-age, no credentials)", async () => {
    const res = preflightResponse(PERMISSIVE, preflight(EVIL, 'DELETE', { 'access-control-request-headers': 'x-custom, content-type' }))
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('')
    expect(corsHeaders(res)).toEqual({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': '*',
      'access-control-allow-headers': '*',
      vary: VARY,
    })
  })

  it('restricted: an allowed origin and method get the origin echoed and the method list', () => {
    for (const origin of [APP, DEV]) {
      const res = preflightResponse(restricted, preflight(origin, 'POST'))
      expect(res.status).toBe(200)
      expect(corsHeaders(res)).toEqual({
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'GET,POST',
        'access-control-allow-headers': '*',
        vary: VARY,
      })
    }
  })

  it('restricted: a refused origin or method gets 403 saying which var, and no grant at all', async () => {
    const cases = [
      [EVIL, 'POST', 'III_HTTP_CORS_ORIGINS'],
      ['null', 'POST', 'III_HTTP_CORS_ORIGINS'],
      [`${APP}.evil.example`, 'POST', 'III_HTTP_CORS_ORIGINS'],
      ['http://app.example', 'POST', 'III_HTTP_CORS_ORIGINS'], // another scheme is another origin
      [APP.toUpperCase(), 'POST', 'III_HTTP_CORS_ORIGINS'], // browsers send origins lower-cased
      [APP, 'DELETE', 'III_HTTP_CORS_METHODS'],
      [APP, 'post', 'III_HTTP_CORS_METHODS'], // methods are case-sensitive; browsers send PATCH/post as written
    ] as const
    for (const [origin, method, why] of cases) {
      const res = preflightResponse(restricted, preflight(origin, method))
      expect(res.status, `${origin} ${method}`).toBe(403)
      expect(corsHeaders(res), `${origin} ${method}`).toEqual({ vary: VARY })
      expect((await res.json()).error).toEqual({ code: 'FORBIDDEN', message: expect.stringContaining(why) })
    }
  })

  it('any origin with a method list: `*` for listed methods only', () => {
    const p = policy({ III_HTTP_CORS_METHODS: 'GET' })
    expect(preflightResponse(p, preflight(EVIL, 'GET')).headers.get('access-control-allow-origin')).toBe('*')
    expect(preflightResponse(p, preflight(EVIL, 'PUT')).status).toBe(403)
  })
})

describe('withCors', () => {
  const fromFunction = () =>
    new Response('{"ok":true}', {
      status: 201,
      headers: {
        'content-type': 'application/json',
        vary: 'accept-encoding',
        'x-app': 'kept',
        // What a function might set itself: the deployment decides these, not the function.
        'access-control-allow-origin': 'https://evil.example',
        'access-control-allow-credentials': 'true',
      },
    })

  it('permissive: any origin (with or without Origin), every header exposed, credentials dropped, vary appended', async () => {
    for (const origin of [EVIL, null]) {
      const res = withCors(PERMISSIVE, request('POST', origin), fromFunction())
      expect(res.status).toBe(201)
      expect(await res.text()).toBe('{"ok":true}')
      expect(res.headers.get('x-app')).toBe('kept')
      expect(corsHeaders(res)).toEqual({
        'access-control-allow-origin': '*',
        'access-control-expose-headers': '*',
        vary: `accept-encoding, ${VARY}`,
      })
    }
  })

  it('restricted: an allowed origin and method get the origin echoed; nothing exposed (as the engine)', () => {
    const res = withCors(restricted, request('GET', APP), fromFunction())
    expect(corsHeaders(res)).toEqual({ 'access-control-allow-origin': APP, vary: `accept-encoding, ${VARY}` })
  })

  it("restricted: a refused origin, no Origin, or a method not listed get no grant, even one the function set", () => {
    for (const [method, origin] of [['GET', EVIL], ['GET', 'null'], ['GET', null], ['DELETE', APP], ['HEAD', APP]] as const) {
      const res = withCors(restricted, request(method, origin), fromFunction())
      expect(res.status).toBe(201) // CORS decides who may read, not who is served
      expect(corsHeaders(res), `${method} ${origin}`).toEqual({ vary: `accept-encoding, ${VARY}` })
    }
  })

  it('keeps a streamed body streaming and a function-set expose list in the restricted mode', async () => {
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode('data: 1\n\n'))
        c.close()
      },
    })
    const res = withCors(restricted, request('GET', APP), new Response(body, { headers: { 'access-control-expose-headers': 'x-request-id' } }))
    expect(res.headers.get('access-control-expose-headers')).toBe('x-request-id')
    expect(await res.text()).toBe('data: 1\n\n')
  })
})

describe('httpTriggerCors on the last route', () => {
  /** The front door's shape: an engine route, the trigger route with the middleware, one onError. */
  function app(handler: () => Response | Promise<Response>) {
    const calls = { trigger: 0 }
    const a = new Hono<{ Bindings: CorsVars }>()
    a.get('/api/status', () => Response.json({ ok: true }))
    a.all('*', httpTriggerCors(), async () => {
      calls.trigger++
      return handler()
    })
    a.onError(() => Response.json({ error: { code: 'INTERNAL', message: 'internal error' } }, { status: 500 }))
    return { a, calls }
  }
  const env: CorsVars = { III_HTTP_CORS_ORIGINS: APP }

  it('answers a preflight itself: the handler (the worker) is never reached', async () => {
    const { a, calls } = app(() => new Response('served'))
    const ok = await a.request('/orders', { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'PUT' } }, env)
    expect(ok.status).toBe(200)
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP)
    const refused = await a.request('/orders', { method: 'OPTIONS', headers: { origin: EVIL, 'access-control-request-method': 'PUT' } }, env)
    expect(refused.status).toBe(403)
    expect(refused.headers.get('access-control-allow-origin')).toBeNull()
    expect(calls.trigger).toBe(0)
    // A plain OPTIONS is no preflight: it goes to the triggers (one may serve OPTIONS).
    expect(await (await a.request('/orders', { method: 'OPTIONS' }, env)).text()).toBe('served')
    expect(calls.trigger).toBe(1)
  })

  it('puts the headers on error responses of the trigger path too: a thrown error, a 404, a 503', async () => {
    for (const handler of [
      () => {
        throw new Error('boom')
      },
      () => Response.json({ error: { code: 'NOT_FOUND' } }, { status: 404 }),
      () => Response.json({ error: { code: 'UNAVAILABLE' } }, { status: 503, headers: { 'retry-after': '2' } }),
    ]) {
      const res = await app(handler).a.request('/orders', { headers: { origin: APP } }, env)
      expect(res.status).toBeGreaterThanOrEqual(404)
      expect(res.headers.get('access-control-allow-origin')).toBe(APP)
      expect(res.headers.get('vary')).toBe(VARY)
    }
  })

  it("leaves the engine's own paths alone, even when they reach the last route", async () => {
    const { a, calls } = app(() => new Response('not found', { status: 404 }))
    expect((await a.request('/api/status', { headers: { origin: APP } }, env)).headers.get('access-control-allow-origin')).toBeNull()
    for (const path of ['/', '/channels', '/api/status', '/api/x', '/ws/channels/abc', '/otel', '/streams/s/g', '/_iii/client.js']) {
      const res = await a.request(path, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'POST' } }, {})
      expect(res.status, path).toBe(404)
      expect(res.headers.get('access-control-allow-origin'), path).toBeNull()
      expect(res.headers.get('vary'), path).toBeNull()
    }
    expect(calls.trigger).toBe(8)
  })
})
