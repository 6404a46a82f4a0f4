// HTTP-invoked functions end to end: the unmodified SDK's `registerFunction(id, { url, ... })`
// against `wrangler dev`, calling a local HTTP server on 127.0.0.1 (plain http is allowed for
// loopback hosts only). The engine token is set, so the test also shows a worker cannot have an
// III_* secret sent to its own URL, and a namespace cannot have a secret it was not granted sent
// (III_NAMESPACE_SECRETS grants BILLING_TOKEN to team-b, and team-a only its own TEAM_A_TOKEN).
import { createHmac } from 'node:crypto'
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http'
import { TriggerAction, registerWorker } from 'iii-sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { until } from './support/wait'
import { type WranglerDev, startWrangler } from './support/wrangler'

type Iii = ReturnType<typeof registerWorker>

const ENGINE_TOKEN = 'e2e-engine-token'
const HOOK_TOKEN = 'e2e-hook-token'
const HOOK_SECRET = 'e2e-hmac-secret'
const BILLING_TOKEN = 'e2e-billing-token'
const TEAM_A_TOKEN = 'e2e-team-a-token'
const NAMESPACE_SECRETS = JSON.stringify({ 'team-a': ['TEAM_A_TOKEN'], 'team-b': ['BILLING_TOKEN'] })

interface Seen {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: string
}

let dev: WranglerDev
let server: Server
let base: string
let owner: Iii
let caller: Iii
let teamA: Iii
let teamB: Iii
const seen: Seen[] = []
const seenAt = (path: string) => seen.filter((s) => s.path === path)

/** The far end: records every request, answers by path. */
function startServer(): Promise<Server> {
  const srv = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const path = (req.url ?? '').split('?')[0]!
      const body = Buffer.concat(chunks).toString('utf8')
      seen.push({ method: req.method ?? '', path, headers: req.headers, body })
      const json = (status: number, value: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value))
      if (path === '/ok' || path.startsWith('/billing/')) return json(200, { got: JSON.parse(body || 'null'), method: req.method })
      if (path === '/web') return json(200, { status_code: 201, headers: { 'x-from': 'http-function' }, body: { created: true } })
      if (path === '/fail') return res.writeHead(500).end('it broke')
      if (path === '/coded') return json(409, { error: { code: 'out_of_stock', message: 'none left' } })
      if (path === '/slow') return void setTimeout(() => json(200, { late: true }), 3000)
      return res.writeHead(204).end()
    })
  })
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)))
}

beforeAll(async () => {
  server = await startServer()
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  dev = await startWrangler({ vars: { III_ENGINE_TOKEN: ENGINE_TOKEN, HOOK_TOKEN, HOOK_SECRET, BILLING_TOKEN, TEAM_A_TOKEN, III_NAMESPACE_SECRETS: NAMESPACE_SECRETS } })
  const opts = { headers: { authorization: `Bearer ${ENGINE_TOKEN}` } }
  owner = registerWorker(dev.wsUrl, { ...opts, workerName: 'hook-owner', otel: { enabled: false } })
  caller = registerWorker(dev.wsUrl, { ...opts, workerName: 'hook-caller', otel: { enabled: false } })
  teamA = registerWorker(`${dev.wsUrl}/team-a`, { ...opts, workerName: 'team-a', otel: { enabled: false } })
  teamB = registerWorker(`${dev.wsUrl}/team-b`, { ...opts, workerName: 'team-b', otel: { enabled: false } })

  owner.registerFunction('hooks::order', { url: `${base}/ok?tok=in-query`, headers: { 'x-team': 'orders' }, auth: { type: 'bearer', token_key: 'HOOK_TOKEN' } })
  owner.registerFunction('hooks::signed', { url: `${base}/ok`, method: 'PUT', auth: { type: 'hmac', secret_key: 'HOOK_SECRET' } })
  owner.registerFunction('hooks::fail', { url: `${base}/fail` })
  owner.registerFunction('hooks::coded', { url: `${base}/coded` })
  owner.registerFunction('hooks::slow', { url: `${base}/slow`, timeout_ms: 300 })
  owner.registerFunction('hooks::void', { url: `${base}/void` })
  owner.registerFunction('hooks::web', { url: `${base}/web` })
  // Refused at registration: III_* are the engine's own secrets, even though this one is set.
  owner.registerFunction('hooks::steal', { url: `${base}/steal`, auth: { type: 'bearer', token_key: 'III_ENGINE_TOKEN' } })
  // Registered after the refused one by the same worker: once it is listed, the refusal happened.
  owner.registerFunction('hooks::last', { url: `${base}/ok` })
  owner.registerTrigger({ type: 'http', function_id: 'hooks::web', config: { api_path: 'orders', http_method: 'POST' } })
  await waitForFunctions(caller, ['hooks::order', 'hooks::signed', 'hooks::fail', 'hooks::coded', 'hooks::slow', 'hooks::void', 'hooks::web', 'hooks::last'])
})

afterAll(async () => {
  await Promise.allSettled([owner?.shutdown(), caller?.shutdown(), teamA?.shutdown(), teamB?.shutdown()])
  await dev?.stop()
  server?.closeAllConnections()
  await new Promise((r) => server?.close(r))
})

async function listFunctions(iii: Iii): Promise<Record<string, unknown>[]> {
  const { functions } = (await iii.trigger({ function_id: 'engine::functions::list', payload: {} })) as { functions: Record<string, unknown>[] }
  return functions
}

async function waitForFunctions(iii: Iii, ids: string[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const functions = await listFunctions(iii)
    if (ids.every((id) => functions.some((f) => f.function_id === id))) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`functions not registered: ${ids.join(', ')}`)
}


describe('HTTP-invoked functions', () => {
  it('are called by the owning session: the caller gets the JSON result, the server the payload and the engine\'s headers', async () => {
    const before = Math.floor(Date.now() / 1000)
    const result = await caller.trigger({ function_id: 'hooks::order', payload: { order: 7, items: ['a', 'b'] } })
    expect(result).toEqual({ got: { order: 7, items: ['a', 'b'] }, method: 'POST' })
    const req = seenAt('/ok').at(-1)!
    expect(req.method).toBe('POST')
    expect(JSON.parse(req.body)).toEqual({ order: 7, items: ['a', 'b'] })
    expect(req.headers).toMatchObject({
      'content-type': 'application/json',
      'x-iii-function-path': 'hooks::order',
      'x-team': 'orders',
      authorization: `Bearer ${HOOK_TOKEN}`,
    })
    expect(req.headers['x-iii-invocation-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    const ts = Number(req.headers['x-iii-timestamp'])
    expect(ts).toBeGreaterThanOrEqual(before - 5)
    expect(ts).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 5)
  })

  it('sign the body with HMAC-SHA256 when asked, verifiable with the shared secret', async () => {
    expect(await caller.trigger({ function_id: 'hooks::signed', payload: { n: 1, text: 'héllo' } })).toEqual({ got: { n: 1, text: 'héllo' }, method: 'PUT' })
    const req = seenAt('/ok').findLast((s) => s.method === 'PUT')!
    const signed = `${req.headers['x-iii-timestamp']}:${Buffer.from(req.body, 'utf8').toString('base64')}`
    expect(req.headers['x-iii-signature']).toBe(`sha256=${createHmac('sha256', HOOK_SECRET).update(signed).digest('hex')}`)
    expect(req.headers.authorization).toBeUndefined()
  })

  it('turn an error status into the caller\'s error: http_error, or the body\'s own code', async () => {
    // The SDK's InvocationError message is "<code>: <message>".
    await expect(caller.trigger({ function_id: 'hooks::fail', payload: {} })).rejects.toMatchObject({ code: 'http_error', message: 'http_error: HTTP 500 Internal Server Error' })
    await expect(caller.trigger({ function_id: 'hooks::coded', payload: {} })).rejects.toMatchObject({ code: 'out_of_stock', message: 'out_of_stock: none left' })
  })

  it('answer http_request_failed when the server does not answer within timeout_ms', async () => {
    const started = Date.now()
    await expect(caller.trigger({ function_id: 'hooks::slow', payload: {} })).rejects.toMatchObject({
      code: 'http_request_failed',
      message: expect.stringContaining('timed out'),
    })
    expect(Date.now() - started).toBeLessThan(2500)
  })

  it('refuse a registration whose auth names an III_* secret: nothing is sent, callers get function_not_found', async () => {
    await expect(caller.trigger({ function_id: 'hooks::steal', payload: {} })).rejects.toMatchObject({ code: 'function_not_found' })
    expect(seenAt('/steal')).toEqual([])
    expect(seen.some((s) => JSON.stringify(s.headers).includes(ENGINE_TOKEN))).toBe(false)
  })

  it('deliver a void trigger without anyone waiting', async () => {
    const sent = caller.trigger({ function_id: 'hooks::void', payload: { fire: 'and forget' }, action: TriggerAction.Void() })
    await expect(sent).resolves.toBeUndefined()
    await until('the void request', () => seenAt('/void').length === 1, 5000)
    expect(JSON.parse(seenAt('/void')[0]!.body)).toEqual({ fire: 'and forget' })
  })

  it('serve an HTTP trigger: the function\'s JSON result is the response', async () => {
    const res = await fetch(`${dev.baseUrl}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sku: 'x' }) })
    expect(res.status).toBe(201)
    expect(res.headers.get('x-from')).toBe('http-function')
    expect(await res.json()).toEqual({ created: true })
    const req = seenAt('/web').at(-1)!
    expect(JSON.parse(req.body)).toMatchObject({ method: 'POST', body: { sku: 'x' } })
  })

  it('are listed like any function, without their URL or auth', async () => {
    const rows = (await listFunctions(caller)).filter((f) => String(f.function_id).startsWith('hooks::'))
    expect(rows.map((f) => f.function_id).sort()).toEqual(['hooks::coded', 'hooks::fail', 'hooks::last', 'hooks::order', 'hooks::signed', 'hooks::slow', 'hooks::void', 'hooks::web'])
    expect(rows.find((f) => f.function_id === 'hooks::order')).toMatchObject({ worker_name: 'hook-owner' })
    const text = JSON.stringify(rows)
    for (const secretish of ['127.0.0.1', 'in-query', 'HOOK_TOKEN', 'bearer', 'url']) expect(text).not.toContain(secretish)
  })

  it('stop on unregister: later calls get function_not_found and reach no server', async () => {
    const fn = owner.registerFunction('hooks::temp', { url: `${base}/temp` })
    await waitForFunctions(caller, ['hooks::temp'])
    await caller.trigger({ function_id: 'hooks::temp', payload: {} })
    expect(seenAt('/temp')).toHaveLength(1)
    fn.unregister()
    let code: string | undefined
    for (let i = 0; i < 50 && code !== 'function_not_found'; i++) {
      code = await caller.trigger({ function_id: 'hooks::temp', payload: {} }).then(
        () => 'answered',
        (err: { code?: string }) => err.code,
      )
    }
    expect(code).toBe('function_not_found')
    expect(seenAt('/temp').length).toBeLessThanOrEqual(2) // at most one call raced the unregister
  })
})

describe('secrets of a namespace', () => {
  const billing = (iii: Iii, path: string) => iii.registerFunction('billing::charge', { url: `${base}${path}`, auth: { type: 'bearer', token_key: 'BILLING_TOKEN' } })

  it('a namespace may not have a secret it was not granted sent: team-a\'s registration is refused, nothing is sent', async () => {
    billing(teamA, '/billing/team-a')
    // Registered after the refused one by the same worker: once it is listed, the refusal happened.
    teamA.registerFunction('team::own', { url: `${base}/billing/team-a-own`, auth: { type: 'bearer', token_key: 'TEAM_A_TOKEN' } })
    await waitForFunctions(teamA, ['team::own'])
    await expect(teamA.trigger({ function_id: 'billing::charge', payload: { amount: 1 } })).rejects.toMatchObject({ code: 'function_not_found' })
    expect(seenAt('/billing/team-a')).toEqual([])
    // The secret granted to team-a is sent as usual.
    expect(await teamA.trigger({ function_id: 'team::own', payload: { amount: 4 } })).toEqual({ got: { amount: 4 }, method: 'POST' })
    expect(seenAt('/billing/team-a-own').map((s) => s.headers.authorization)).toEqual([`Bearer ${TEAM_A_TOKEN}`])
  })

  it('a grant in III_NAMESPACE_SECRETS lets team-b use it, and the default namespace uses it as before', async () => {
    billing(teamB, '/billing/team-b')
    billing(owner, '/billing/default')
    await waitForFunctions(teamB, ['billing::charge'])
    await waitForFunctions(caller, ['billing::charge'])
    expect(await teamB.trigger({ function_id: 'billing::charge', payload: { amount: 2 } })).toEqual({ got: { amount: 2 }, method: 'POST' })
    expect(await caller.trigger({ function_id: 'billing::charge', payload: { amount: 3 } })).toEqual({ got: { amount: 3 }, method: 'POST' })
    expect(seen.filter((s) => s.headers.authorization === `Bearer ${BILLING_TOKEN}`).map((s) => s.path).sort()).toEqual(['/billing/default', '/billing/team-b'])
  })
})
