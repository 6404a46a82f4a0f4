// HTTP-invoked functions, pure parts: what a registration may say, the request a call makes (header
// order, body, auth, signature), and how a response becomes the outcome (iii engine v0.22 rules).
import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  type HttpCaller,
  type HttpFunction,
  MAX_TIMEOUT_MS,
  type SecretLookup,
  buildRequest,
  callHttpFunction,
  checkUrl,
  outcomeOf,
  parseHttpInvocation,
} from '../../src/engine/http-function'
import { hostKind } from '../../src/engine/ip-address'

/** The default namespace's view of an env: every entry (namespace-secrets.ts). */
const envOf =
  (vars: Record<string, unknown>): SecretLookup =>
  (name) => ({ value: vars[name] })
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
    ['https://172.32.0.1/', null],
    ['https://100.63.255.255/', null], // just outside CGNAT 100.64/10
    ['https://100.128.0.1/', null],
    ['https://198.17.255.255/', null], // just outside benchmarking 198.18/15
    ['https://198.20.0.1/', null],
    ['https://223.255.255.255/', null], // just below multicast 224/4
    ['https://[2a00:1450:4001::200e]/', null],
    ['https://[2001:200::1]/', null], // just outside 2001::/23
    ['https://[3fff:1000::1]/', null], // just outside the documentation range 3fff::/20
    ['https://[::ffff:93.184.216.34]/', null], // IPv4-mapped, public inside
    ['https://[::ffff:0:93.184.216.34]/', null], // IPv4-translated, public inside
    ['https://[64:ff9b::93.184.216.34]/', null], // NAT64, public inside
    ['https://[2002:5db8:d822::1]/', null], // 6to4 of 93.184.216.34
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

  // Each of these was accepted before: special IPv4 ranges, and IPv6 forms that embed an IPv4
  // address (URL serialises the embedded address as two hex groups: [::a9fe:a9fe] is ::169.254.169.254).
  it.each([
    // IPv4 ranges that are not public unicast
    'https://100.64.0.1/', // CGNAT 100.64/10
    'https://100.127.255.255/',
    'https://100.64.0.1./', // a trailing dot: URL drops it
    'https://192.0.0.170/', // IETF protocol assignments 192.0.0/24
    'https://192.88.99.1/', // 6to4 relay anycast
    'https://198.18.0.1/', // benchmarking 198.18/15
    'https://198.19.255.255/',
    'https://224.0.0.1/', // multicast 224/4
    'https://239.255.255.250/',
    'https://240.0.0.1/', // reserved 240/4
    'https://254.1.2.3/',
    // IPv4-compatible ::/96 (deprecated): refused whatever it embeds
    'https://[::a9fe:a9fe]/',
    'https://[::169.254.169.254]/',
    'https://[::10.0.0.1]/',
    'https://[::127.0.0.1]/',
    'https://[::1.2.3.4]/',
    // IPv4-mapped ::ffff:0:0/96 of special ranges this filter did not know
    'https://[::ffff:100.64.0.1]/',
    'https://[::ffff:198.18.0.1]/',
    'https://[::ffff:224.0.0.1]/',
    // IPv4-translated ::ffff:0:0:0/96
    'https://[::ffff:0:169.254.169.254]/',
    'https://[::ffff:0:a9fe:a9fe]/',
    'https://[::ffff:0:10.0.0.1]/',
    'https://[::ffff:0:127.0.0.1]/',
    // NAT64 64:ff9b::/96 of a private, loopback or link-local address, and all of local-use 64:ff9b:1::/48
    'https://[64:ff9b::a9fe:a9fe]/',
    'https://[64:ff9b::169.254.169.254]/',
    'https://[64:ff9b::10.0.0.1]/',
    'https://[64:ff9b::127.0.0.1]/',
    'https://[64:ff9b:1::a9fe:a9fe]/',
    'https://[64:ff9b:1:ffff::5db8:d822]/',
    // 6to4 2002::/16 of a private, loopback or link-local address
    'https://[2002:a9fe:a9fe::1]/',
    'https://[2002:a00:1::]/',
    'https://[2002:7f00:1::1]/',
    'https://[2002:c0a8:101:1::1]/',
    // Teredo 2001::/32 (its client address is obfuscated), and the rest of 2001::/23
    'https://[2001::1]/',
    'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/',
    'https://[2001:2::1]/', // benchmarking
    'https://[2001:1ff::1]/',
    // discard-only, documentation, site-local, SRv6, and anything outside global unicast 2000::/3
    'https://[100::1]/',
    'https://[100::ffff:ffff:ffff:ffff]/',
    'https://[2001:db8::1]/',
    'https://[3fff::1]/',
    'https://[fec0::1]/',
    'https://[feff::1]/',
    'https://[5f00::1]/',
    'https://[::1:0:0:1]/',
    'https://[4000::1]/',
  ])('refuses the special address %s', (url) => {
    expect(checkUrl(url)).toMatch(/^Private IP blocked/)
  })

  // The first and last address of each refused IPv4 range, in each IPv6 form that carries one.
  const edges = ['0.0.0.0', '0.255.255.255', '10.0.0.0', '10.255.255.255', '100.64.0.0', '100.127.255.255', '127.0.0.1', '127.255.255.255',
    '169.254.0.0', '169.254.255.255', '172.16.0.0', '172.31.255.255', '192.0.0.0', '192.0.0.255', '192.0.2.0', '192.0.2.255',
    '192.88.99.0', '192.88.99.255', '192.168.0.0', '192.168.255.255', '198.18.0.0', '198.19.255.255', '198.51.100.0', '198.51.100.255',
    '203.0.113.0', '203.0.113.255', '224.0.0.0', '239.255.255.255', '240.0.0.0', '255.255.255.255']
  const sixToFour = (v4: string) => {
    const [a, b, c, d] = v4.split('.').map(Number) as [number, number, number, number]
    return `2002:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}::1`
  }
  it.each(edges)('refuses %s in every IPv6 form (over https)', (v4) => {
    // Loopback is allowed as itself and IPv4-mapped (the same socket address); in other forms it is
    // a translator's or relay's loopback, not this machine's.
    const loopback = v4.startsWith('127.')
    expect(checkUrl(`https://${v4}/`) === null).toBe(loopback)
    expect(checkUrl(`https://[::ffff:${v4}]/`) === null).toBe(loopback)
    for (const host of [`[::${v4}]`, `[::ffff:0:${v4}]`, `[64:ff9b::${v4}]`, `[64:ff9b:1::${v4}]`, `[${sixToFour(v4)}]`]) {
      expect(checkUrl(`https://${host}/`), host).toMatch(/^Private IP blocked/)
    }
  })

  it.each([
    'http://[::ffff:10.0.0.1]/',
    'http://[64:ff9b::127.0.0.1]/', // NAT64 of loopback is the translator's, not this machine's
    'http://[::127.0.0.1]/',
    'http://[2002:7f00:1::1]/',
  ])('allows plain http to real loopback only: %s', (url) => {
    expect(checkUrl(url)).toMatch(/^HTTPS is required/)
  })

  it('classifies only IP literals and localhost (no DNS in a Worker)', () => {
    expect(hostKind('internal.corp').kind).toBe('public')
    expect(hostKind('localhost').kind).toBe('loopback')
    expect(hostKind('127.0.0.1').kind).toBe('loopback')
    expect(hostKind('[::1]').kind).toBe('loopback')
    expect(hostKind('[::ffff:7f00:1]').kind).toBe('loopback') // IPv4-mapped 127.0.0.1 is this machine too
    expect(hostKind('10.0.0.1').kind).toBe('refused')
  })

  it('says which range a refused address is in, and what an embedding form carries', () => {
    expect(checkUrl('https://100.64.0.1/')).toBe('Private IP blocked: 100.64.0.1 is in 100.64.0.0/10 (shared address space, CGNAT); an HTTP function may call only public addresses')
    expect(hostKind('[64:ff9b::a9fe:a9fe]')).toEqual({ kind: 'refused', why: 'the NAT64 form of 169.254.169.254, in 169.254.0.0/16 (link-local)' })
    expect(hostKind('[::ffff:0:a00:1]')).toEqual({ kind: 'refused', why: 'the IPv4-translated form of 10.0.0.1, in 10.0.0.0/8 (private)' })
    expect(hostKind('[2002:7f00:1::1]')).toEqual({ kind: 'refused', why: 'the 6to4 form of 127.0.0.1, in 127.0.0.0/8 (loopback)' })
    expect(hostKind('[::a9fe:a9fe]')).toEqual({ kind: 'refused', why: 'in ::/96 (IPv4-compatible, deprecated)' })
    expect(hostKind('[2001::1]')).toEqual({ kind: 'refused', why: 'in 2001::/32 (Teredo)' })
    expect(hostKind('[4000::1]')).toEqual({ kind: 'refused', why: 'outside global unicast 2000::/3' })
    expect(hostKind('[1:2:3]')).toEqual({ kind: 'refused', why: 'not an IPv6 address this check can read' })
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

  it('refuses a secret the namespace may not name, saying why, without reading it', () => {
    const refusing: SecretLookup = (name) => (name === 'BILLING_TOKEN' ? { refused: 'namespace team-a may not use this secret: grant it in III_NAMESPACE_SECRETS' } : { value: 'x' })
    const parsed = parseHttpInvocation('f', { url: 'https://example.com/', auth: { type: 'bearer', token_key: 'BILLING_TOKEN' } }, refusing)
    expect(!parsed.ok && parsed.error).toEqual({
      code: 'token_not_found',
      message: 'Token not found: BILLING_TOKEN (namespace team-a may not use this secret: grant it in III_NAMESPACE_SECRETS)',
    })
  })

  it('refuses an env entry that is not text (a binding)', () => {
    const parsed = parseHttpInvocation('f', { url: 'https://example.com/', auth: { type: 'hmac', secret_key: 'SESSION' } }, envOf({ SESSION: { get() {} } }))
    expect(!parsed.ok && parsed.error).toEqual({ code: 'secret_not_found', message: expect.stringContaining('not a secret or a text var') })
  })
})

describe('the request', () => {
  const call = (secrets = noEnv) => ({ invocationId: 'inv-uuid', nowMs: 1_700_000_123_456, secrets })

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
  const host = (fetch: HttpCaller['fetch']): HttpCaller => ({ fetch, secrets: noEnv, newId: () => 'id-1', now: () => 1_000_000 })

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
