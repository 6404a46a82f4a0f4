// HTTP-invoked functions, pure parts: what a registration may say, the request a call makes (header
// order, body, auth, signature), and how a response becomes the outcome (iii engine v0.22 rules).
import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  type HttpCaller,
  type HttpFunction,
  MAX_TIMEOUT_MS,
  buildRequest,
  callHttpFunction,
  checkUrl,
  hostKind,
  outcomeOf,
  parseHttpInvocation,
} from '../../src/engine/http-function'

const envOf =
  (vars: Record<string, unknown>) =>
  (name: string): unknown =>
    vars[name]
const noEnv = envOf({})

const fn = (over: Partial<HttpFunction> = {}): HttpFunction => ({
  id: 'hooks::on_order',
  url: 'https://example.com/hooks/order?sig=secret-in-query',
  method: 'POST',
  timeout_ms: 30_000,
  headers: {},
  auth: null,
  ...over,
})

describe('URL policy', () => {
  it.each([
    ['https://example.com/x', null],
    ['https://93.184.216.34/x', null],
    ['https://[2606:4700::1111]/', null],
    ['https://100.64.0.1/', null], // CGNAT is not private for the engine either
    ['https://172.32.0.1/', null],
    ['https://[fec0::1]/', null],
    ['http://localhost:8787/x', null],
    ['http://127.0.0.1:9000/', null],
    ['http://127.9.9.9/', null],
    ['http://2130706433/', null], // 127.0.0.1 written as one number: URL normalises it
    ['http://[::1]:3000/', null],
    ['http://[::ffff:127.0.0.1]/', null],
    ['https://localhost/', null],
  ])('accepts %s', (url, problem) => {
    expect(checkUrl(url)).toBe(problem)
  })

  it.each([
    ['not a url', /^Invalid URL/],
    ['', /^Invalid URL/],
    [42, /^Invalid URL/],
    ['http://example.com/', /^HTTPS is required/],
    ['http://10.0.0.1/', /^HTTPS is required/], // the scheme is checked first, as in the engine
    ['ftp://example.com/', /^HTTPS is required/],
    ['ws://localhost/', /^HTTPS is required/],
    ['https://10.1.2.3/', /^Private IP blocked/],
    ['https://172.16.0.1/', /^Private IP blocked/],
    ['https://172.31.255.255/', /^Private IP blocked/],
    ['https://192.168.1.1/', /^Private IP blocked/],
    ['https://169.254.169.254/latest/meta-data', /^Private IP blocked/],
    ['https://0.0.0.0/', /^Private IP blocked/],
    ['https://0x0a000001/', /^Private IP blocked/], // 10.0.0.1 in hex
    ['https://255.255.255.255/', /^Private IP blocked/],
    ['https://192.0.2.7/', /^Private IP blocked/],
    ['https://[fc00::1]/', /^Private IP blocked/],
    ['https://[fd12:3456::1]/', /^Private IP blocked/],
    ['https://[fe80::1]/', /^Private IP blocked/],
    ['https://[febf::1]/', /^Private IP blocked/],
    ['https://[ff02::1]/', /^Private IP blocked/],
    ['https://[::]/', /^Private IP blocked/],
    ['https://[::ffff:192.168.0.1]/', /^Private IP blocked/],
  ])('refuses %s', (url, problem) => {
    expect(checkUrl(url)).toMatch(problem)
  })

  it('classifies only IP literals and localhost (no DNS in a Worker)', () => {
    expect(hostKind('internal.corp')).toBe('public')
    expect(hostKind('localhost')).toBe('loopback')
    expect(hostKind('127.0.0.1')).toBe('loopback')
    expect(hostKind('[::1]')).toBe('loopback')
    expect(hostKind('10.0.0.1')).toBe('private')
  })
})

describe('registration', () => {
  it('fills the engine defaults: POST, 30 s, no headers, no auth', () => {
    expect(parseHttpInvocation('a::b', { url: 'https://example.com/' }, noEnv)).toEqual({
      ok: true,
      fn: { id: 'a::b', url: 'https://example.com/', method: 'POST', timeout_ms: 30_000, headers: {}, auth: null },
      notes: [],
    })
  })

  it('takes what the SDK sends, undefined fields dropped and nulls meaning "none"', () => {
    const sent = JSON.parse(JSON.stringify({ url: 'https://example.com/', method: 'PUT', timeout_ms: undefined, headers: { 'x-team': 'a' }, auth: undefined }))
    const parsed = parseHttpInvocation('f', sent, noEnv)
    expect(parsed.ok && parsed.fn).toMatchObject({ method: 'PUT', timeout_ms: 30_000, headers: { 'x-team': 'a' }, auth: null })
    const withNulls = parseHttpInvocation('f', { url: 'https://example.com/', method: null, timeout_ms: null, auth: null }, noEnv)
    expect(withNulls.ok && withNulls.fn).toMatchObject({ method: 'POST', timeout_ms: 30_000, auth: null })
  })

  it(`cuts a timeout over ${MAX_TIMEOUT_MS} ms and says so`, () => {
    const parsed = parseHttpInvocation('f', { url: 'https://example.com/', timeout_ms: 3_600_000 }, noEnv)
    expect(parsed.ok && parsed.fn.timeout_ms).toBe(MAX_TIMEOUT_MS)
    expect(parsed.ok && parsed.notes).toEqual([`timeout_ms 3600000 cut to ${MAX_TIMEOUT_MS}`])
  })

  it.each([
    [{ url: 'https://example.com/', method: 'get' }, /method must be one of GET, POST, PUT, PATCH, DELETE/],
    [{ url: 'https://example.com/', method: 'HEAD' }, /method/],
    [{ url: 'https://example.com/', timeout_ms: 0 }, /timeout_ms/],
    [{ url: 'https://example.com/', timeout_ms: -5 }, /timeout_ms/],
    [{ url: 'https://example.com/', timeout_ms: '100' }, /timeout_ms/],
    [{ url: 'https://example.com/', headers: null }, /headers must be an object/],
    [{ url: 'https://example.com/', headers: ['x'] }, /headers must be an object/],
    [{ url: 'https://example.com/', headers: { 'x-n': 1 } }, /header x-n must have a string value/],
    [{ url: 'https://example.com/', headers: { 'x-n': 'a\r\nx-injected: 1' } }, /header x-n/],
    [{ url: 'https://example.com/', headers: { 'bad name': 'v' } }, /not a valid HTTP header name/],
    [{ url: 'https://example.com/', auth: { type: 'basic', user: 'u' } }, /auth type must be hmac, bearer or api_key/],
    [{ url: 'https://example.com/', auth: 'bearer' }, /auth must be an object/],
    [{ url: 'https://example.com/', auth: { type: 'hmac' } }, /secret_key/],
    [{ url: 'https://example.com/', auth: { type: 'bearer', token_key: '' } }, /token_key/],
    [{ url: 'https://example.com/', auth: { type: 'api_key', value_key: 'K' } }, /header/],
    [{ url: 'https://example.com/', auth: { type: 'api_key', header: 'x-key' } }, /value_key/],
    ['https://example.com/', /invocation must be an object/],
  ])('refuses a bad shape with invalid_config: %j', (invocation, message) => {
    const parsed = parseHttpInvocation('f', invocation, noEnv)
    expect(parsed.ok).toBe(false)
    expect(!parsed.ok && parsed.error.code).toBe('invalid_config')
    expect(!parsed.ok && parsed.error.message).toMatch(message)
  })

  it('refuses a URL the policy refuses with url_validation_failed', () => {
    expect(parseHttpInvocation('f', { url: 'http://example.com/' }, noEnv)).toEqual({
      ok: false,
      error: { code: 'url_validation_failed', message: expect.stringMatching(/^HTTPS is required/) },
    })
  })

  it.each([
    [{ type: 'hmac', secret_key: 'HOOK_SECRET' }, 'secret_not_found', 'Secret not found: HOOK_SECRET'],
    [{ type: 'bearer', token_key: 'HOOK_TOKEN' }, 'token_not_found', 'Token not found: HOOK_TOKEN'],
    [{ type: 'api_key', header: 'x-api-key', value_key: 'HOOK_KEY' }, 'api_key_not_found', 'API key not found: HOOK_KEY'],
  ])('refuses a missing secret with the engine\'s code: %j', (auth, code, message) => {
    expect(parseHttpInvocation('f', { url: 'https://example.com/', auth }, noEnv)).toEqual({ ok: false, error: { code, message } })
  })

  it('resolves secrets by name from the env, and keeps only the name', () => {
    const parsed = parseHttpInvocation('f', { url: 'https://example.com/', auth: { type: 'bearer', token_key: 'HOOK_TOKEN' } }, envOf({ HOOK_TOKEN: 's3cret' }))
    expect(parsed.ok && parsed.fn.auth).toEqual({ type: 'bearer', token_key: 'HOOK_TOKEN' })
    expect(JSON.stringify(parsed)).not.toContain('s3cret')
  })

  it('never hands out the engine\'s own secrets (III_*), even when they exist', () => {
    const env = envOf({ III_ENGINE_TOKEN: 'engine-token', iii_signing_secret: 'x' })
    for (const key of ['III_ENGINE_TOKEN', 'iii_signing_secret', 'III_ANYTHING']) {
      const parsed = parseHttpInvocation('f', { url: 'https://example.com/', auth: { type: 'bearer', token_key: key } }, env)
      expect(!parsed.ok && parsed.error).toEqual({ code: 'token_not_found', message: expect.stringContaining(`Token not found: ${key} (names starting with III_`) })
    }
  })

  it('refuses an env entry that is not text (a binding)', () => {
    const parsed = parseHttpInvocation('f', { url: 'https://example.com/', auth: { type: 'hmac', secret_key: 'SESSION' } }, envOf({ SESSION: { get() {} } }))
    expect(!parsed.ok && parsed.error).toEqual({ code: 'secret_not_found', message: expect.stringContaining('not a secret or a text var') })
  })
})

describe('the request', () => {
  const call = (env = noEnv) => ({ invocationId: 'inv-uuid', nowMs: 1_700_000_123_456, env })

  it('sends the payload as JSON with the engine\'s headers, in its order, config headers added (not replacing)', async () => {
    const built = await buildRequest(fn({ headers: { 'x-team': 'orders', 'content-type': 'text/plain' } }), { order: 7, items: ['a'] }, call())
    expect(built).toEqual({
      ok: true,
      request: {
        url: 'https://example.com/hooks/order?sig=secret-in-query',
        method: 'POST',
        headers: [
          ['content-type', 'application/json'],
          ['x-iii-function-path', 'hooks::on_order'],
          ['x-iii-invocation-id', 'inv-uuid'],
          ['x-iii-timestamp', '1700000123'],
          ['x-team', 'orders'],
          ['content-type', 'text/plain'],
        ],
        body: '{"order":7,"items":["a"]}',
        timeoutMs: 30_000,
      },
    })
  })

  it('sends null for an absent payload, and no body at all for GET (Workers refuses one)', async () => {
    const post = await buildRequest(fn(), undefined, call())
    expect(post.ok && post.request.body).toBe('null')
    const get = await buildRequest(fn({ method: 'GET' }), { q: 1 }, call())
    expect(get.ok && 'body' in get.request).toBe(false)
  })

  it('adds bearer and api key auth last, read from the env at this call', async () => {
    const bearer = await buildRequest(fn({ auth: { type: 'bearer', token_key: 'TOKEN' } }), {}, call(envOf({ TOKEN: 'rotated' })))
    expect(bearer.ok && bearer.request.headers.at(-1)).toEqual(['authorization', 'Bearer rotated'])
    const apiKey = await buildRequest(fn({ auth: { type: 'api_key', header: 'X-Api-Key', value_key: 'KEY' } }), {}, call(envOf({ KEY: 'k1' })))
    expect(apiKey.ok && apiKey.request.headers.at(-1)).toEqual(['X-Api-Key', 'k1'])
  })

  it('refuses the call when the secret went away since registration', async () => {
    const built = await buildRequest(fn({ auth: { type: 'bearer', token_key: 'TOKEN' } }), {}, call())
    expect(built).toEqual({ ok: false, error: { code: 'token_not_found', message: 'Token not found: TOKEN' } })
  })

  it('signs HMAC-SHA256 over "<timestamp>:<base64 of the body bytes>", verifiable with the secret', async () => {
    const payload = { text: 'héllo ✓' } // non-ASCII: base64 is over the UTF-8 bytes
    const built = await buildRequest(fn({ auth: { type: 'hmac', secret_key: 'HOOK_SECRET' } }), payload, call(envOf({ HOOK_SECRET: 'shh' })))
    if (!built.ok) throw new Error('not built')
    const headers = Object.fromEntries(built.request.headers)
    const expected = createHmac('sha256', 'shh').update(`${headers['x-iii-timestamp']}:${Buffer.from(built.request.body!, 'utf8').toString('base64')}`).digest('hex')
    expect(built.request.headers.at(-1)).toEqual(['x-iii-signature', `sha256=${expected}`])
    // GET sends no body, so its signature covers an empty one.
    const get = await buildRequest(fn({ method: 'GET', auth: { type: 'hmac', secret_key: 'HOOK_SECRET' } }), payload, call(envOf({ HOOK_SECRET: 'shh' })))
    expect(get.ok && get.request.headers.at(-1)?.[1]).toBe(`sha256=${createHmac('sha256', 'shh').update('1700000123:').digest('hex')}`)
  })

  it('answers serialization_error for a payload JSON cannot carry', async () => {
    const built = await buildRequest(fn(), { n: 1n }, call())
    expect(!built.ok && built.error.code).toBe('serialization_error')
  })
})

describe('response → outcome', () => {
  it.each([
    [200, '', { result: undefined }],
    [200, '{"ok":true}', { result: { ok: true } }],
    [201, '[1,2]', { result: [1, 2] }],
    [204, '', { result: undefined }],
    [200, '"text"', { result: 'text' }],
    [200, 'null', { result: null }],
    [200, 'hello', { error: { code: 'invalid_response', message: expect.stringContaining('not JSON') } }],
    [200, ' ', { error: { code: 'invalid_response', message: expect.any(String) } }],
    [302, '<html>moved</html>', { result: undefined }],
    [304, '', { result: undefined }],
    [301, '{"to":"x"}', { result: { to: 'x' } }],
    [500, '', { error: { code: 'http_error', message: 'HTTP 500 Internal Server Error' } }],
    [400, 'nope', { error: { code: 'http_error', message: 'HTTP 400 Bad Request' } }],
    [404, '{"message":"no error key"}', { error: { code: 'http_error', message: 'HTTP 404 Not Found' } }],
    [599, '', { error: { code: 'http_error', message: 'HTTP 599' } }],
    [422, '{"error":{"code":"bad_order","message":"no items"}}', { error: { code: 'bad_order', message: 'no items' } }],
    [500, '{"error":{"message":"only a message"}}', { error: { code: 'http_error', message: 'only a message' } }],
    [500, '{"error":{"code":"only_code"}}', { error: { code: 'only_code', message: 'HTTP request failed' } }],
    [500, '{"error":"a string"}', { error: { code: 'http_error', message: 'HTTP request failed' } }],
  ])('%i %s', (status, body, outcome) => {
    expect(outcomeOf(status, body)).toEqual(outcome)
  })
})

describe('a call', () => {
  const host = (fetch: HttpCaller['fetch']): HttpCaller => ({ fetch, env: noEnv, newId: () => 'id-1', now: () => 1_000_000 })

  it('fetches with the built request, redirects not followed, under a timeout signal', async () => {
    const seen: Parameters<HttpCaller['fetch']>[] = []
    const outcome = await callHttpFunction(fn({ timeout_ms: 5000 }), { a: 1 }, host(async (url, init) => {
      seen.push([url, init])
      return new Response('{"done":1}', { status: 200 })
    }))
    expect(outcome).toEqual({ result: { done: 1 } })
    expect(seen[0]![0]).toBe('https://example.com/hooks/order?sig=secret-in-query')
    expect(seen[0]![1]).toMatchObject({ method: 'POST', body: '{"a":1}', redirect: 'manual' })
    expect(seen[0]![1].signal).toBeInstanceOf(AbortSignal)
  })

  it('answers http_request_failed saying "timed out" when the timeout passes, and names no path or query', async () => {
    const outcome = await callHttpFunction(fn({ timeout_ms: 30 }), {}, host((_url, init) =>
      new Promise((_resolve, reject) => init.signal.addEventListener('abort', () => reject(init.signal.reason))),
    ))
    expect(outcome).toEqual({ error: { code: 'http_request_failed', message: expect.stringContaining('timed out after 30 ms') } })
    expect(JSON.stringify(outcome)).not.toContain('secret-in-query')
    expect(JSON.stringify(outcome)).toContain('https://example.com')
  })

  it('answers http_request_failed with the cause when the connection fails', async () => {
    const outcome = await callHttpFunction(fn(), {}, host(async () => {
      throw new TypeError('connect ECONNREFUSED')
    }))
    expect(outcome).toEqual({ error: { code: 'http_request_failed', message: expect.stringContaining('connect ECONNREFUSED') } })
  })

  it('answers http_response_failed when the body cannot be read', async () => {
    const outcome = await callHttpFunction(fn(), {}, host(async () => ({ status: 200, text: () => Promise.reject(new Error('stream reset')) })))
    expect(outcome).toEqual({ error: { code: 'http_response_failed', message: expect.stringContaining('stream reset') } })
  })

  it('makes no request when the secret is gone', async () => {
    let fetched = 0
    const outcome = await callHttpFunction(fn({ auth: { type: 'api_key', header: 'x-k', value_key: 'K' } }), {}, host(async () => {
      fetched++
      return new Response('')
    }))
    expect(outcome).toEqual({ error: { code: 'api_key_not_found', message: 'API key not found: K' } })
    expect(fetched).toBe(0)
  })
})
