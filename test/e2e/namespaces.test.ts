// Namespaces with the unmodified iii-sdk: the path of the engine address selects one; functions,
// workers and HTTP routes of one are invisible to another; channels work under its prefix; a
// default-namespace route always wins over a namespace's at the same path.
import { registerWorker } from 'iii-sdk'
import type { ChannelReader } from 'iii-sdk/channel'
import { createChannel } from 'iii-sdk/helpers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { digestChannel, refusals } from './support/sdk'
import { unique, until } from './support/wait'
import { type WranglerDev, startWrangler } from './support/wrangler'

type Iii = ReturnType<typeof registerWorker>

let dev: WranglerDev
let teamA: Iii
let teamB: Iii
let outside: Iii

beforeAll(async () => {
  dev = await startWrangler()
  teamA = registerWorker(`${dev.wsUrl}/team-a`, { workerName: 'team-a', otel: { enabled: false } })
  teamB = registerWorker(`${dev.wsUrl}/team-b`, { workerName: 'team-b', otel: { enabled: false } })
  outside = registerWorker(dev.wsUrl, { workerName: 'default', otel: { enabled: false } })
  teamA.registerFunction('shared::name', async () => 'a')
  teamB.registerFunction('shared::name', async () => 'b')
  teamA.registerFunction('a::digest', (input: { reader: ChannelReader }) => digestChannel(input.reader))
  teamA.registerFunction('a::hello', async () => ({ status_code: 200, headers: { 'content-type': 'text/plain' }, body: 'hello from team-a' }))
  teamA.registerTrigger({ type: 'http', function_id: 'a::hello', config: { api_path: 'hello', http_method: 'GET' } })
  await until('team-a', () => teamA.trigger({ function_id: 'shared::name', payload: {} }).then((name) => name === 'a', () => false), 10_000, 100)
  await until('team-b', () => teamB.trigger({ function_id: 'shared::name', payload: {} }).then((name) => name === 'b', () => false), 10_000, 100)
})

afterAll(async () => {
  await Promise.allSettled([teamA?.shutdown(), teamB?.shutdown(), outside?.shutdown()])
  await dev?.stop()
})

describe('namespaces', () => {
  it('keeps functions apart: the same id serves each namespace its own, and is unknown outside', async () => {
    expect(await teamA.trigger({ function_id: 'shared::name', payload: {} })).toBe('a')
    expect(await teamB.trigger({ function_id: 'shared::name', payload: {} })).toBe('b')
    await expect(outside.trigger({ function_id: 'shared::name', payload: {} })).rejects.toMatchObject({ code: 'function_not_found' })
    await expect(teamB.trigger({ function_id: 'a::digest', payload: {} })).rejects.toMatchObject({ code: 'function_not_found' })
  })

  it('lists only its own workers and functions', async () => {
    const { functions } = (await teamB.trigger({ function_id: 'engine::functions::list', payload: {} })) as { functions: { function_id: string; worker_name: string }[] }
    // The data modules' builtins (workers iii-state, iii-stream, iii-pubsub, iii-configuration) are listed everywhere, as in the engine.
    expect(functions.filter((f) => !f.worker_name.startsWith('iii-')).map((f) => f.function_id)).toEqual(['shared::name'])
    const { workers } = (await teamA.trigger({ function_id: 'engine::workers::list', payload: {} })) as { workers: { name: string }[] }
    expect(workers.map((w) => w.name)).toEqual(['team-a'])
  })

  it('moves channel data under the namespace prefix (the SDK keeps the path of its engine address)', async () => {
    const channel = await createChannel(teamA)
    const digest = teamA.trigger({ function_id: 'a::digest', payload: { reader: channel.readerRef } })
    channel.writer.stream.end(Buffer.alloc(200_000, 3))
    expect(await digest).toMatchObject({ bytes: 200_000 })
  })

  it('serves its HTTP triggers under /<namespace>/', async () => {
    await until('the team-a route', () => fetch(`${dev.baseUrl}/team-a/hello`).then((r) => r.status === 200, () => false), 10_000, 100)
    expect(await (await fetch(`${dev.baseUrl}/team-a/hello`)).text()).toBe('hello from team-a')
    expect((await fetch(`${dev.baseUrl}/hello`)).status).toBe(404)
    expect((await fetch(`${dev.baseUrl}/team-b/hello`)).status).toBe(404)
  })

  it('shows one namespace at a time in the status API', async () => {
    const status = await (await fetch(`${dev.baseUrl}/api/status?namespace=team-b`)).json()
    expect(status.functions.map((f: { function_id: string }) => f.function_id)).toEqual(['shared::name'])
    expect(status.namespaces).toEqual(expect.arrayContaining(['team-a', 'team-b']))
  })
})

describe("a default-namespace route always wins over a namespace's", () => {
  /** A function answering `who` that remembers the authorization header of every request it saw. */
  function recorder(w: Iii, functionId: string, who: string): string[] {
    const seen: string[] = []
    w.registerFunction(functionId, async (req: { headers: Record<string, string> }) => {
      seen.push(req.headers.authorization ?? '')
      return { status_code: 200, headers: { 'content-type': 'text/plain' }, body: who }
    })
    return seen
  }
  const get = async (path: string, token: string) => {
    const res = await fetch(`${dev.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } })
    return `${res.status} ${await res.text()}`
  }
  const join = (path: string, name: string) => registerWorker(`${dev.wsUrl}${path}`, { workerName: name, otel: { enabled: false } })

  it('refuses a namespace route at the path of a default one: its requests and their authorization reach only the default', async () => {
    const ns = unique('adm')
    const log = refusals()
    const owner = join('', 'owner')
    const intruder = join(`/${ns}`, 'intruder')
    try {
      const ownerSeen = recorder(owner, 'owner::users', 'default')
      owner.registerTrigger({ type: 'http', function_id: 'owner::users', config: { api_path: `${ns}/users` } })
      await until('the default route', async () => (await get(`/${ns}/users`, 'probe')) === '200 default', 10_000, 100)
      // The namespace is open and served here (so its name is in this front door's directory).
      const intruderSeen = recorder(intruder, 'intruder::users', 'namespace')
      intruder.registerTrigger({ type: 'http', function_id: 'intruder::users', config: { api_path: 'other' } })
      await until('the namespace route', async () => (await get(`/${ns}/other`, 'probe')) === '200 namespace', 10_000, 100)
      intruder.registerTrigger({ type: 'http', function_id: 'intruder::users', config: { api_path: 'users' } })
      const message = await until('the refusal', () => log.messages().find((m) => m.includes(`in namespace '${ns}'`)), 10_000, 50)
      expect(message).toContain(
        `Route 'GET users' in namespace '${ns}' would be served at '/${ns}/users', which the default namespace's route 'GET /${ns}/users' already serves ` +
          '(a default-namespace route always wins): choose another api_path, or another namespace',
      )
      const { registered_triggers } = await intruder.trigger<unknown, { registered_triggers: { trigger_type: string; config: { api_path: string } }[] }>({
        function_id: 'engine::registered-triggers::list',
        payload: {},
      })
      expect(registered_triggers.filter((t) => t.trigger_type === 'http').map((t) => t.config.api_path)).toEqual(['other'])
      const before = intruderSeen.length
      for (let i = 0; i < 5; i++) expect(await get(`/${ns}/users`, `secret-${i}`)).toBe('200 default')
      expect(ownerSeen.filter((h) => h.startsWith('Bearer secret-'))).toEqual(['Bearer secret-0', 'Bearer secret-1', 'Bearer secret-2', 'Bearer secret-3', 'Bearer secret-4'])
      expect(intruderSeen.length).toBe(before)
      expect(intruderSeen.filter((h) => h.includes('secret'))).toEqual([])
    } finally {
      log.restore()
      await Promise.allSettled([owner.shutdown(), intruder.shutdown()])
    }
  })

  it('hands the path of a namespace route to a default route registered after it, for good, and says so in the log', async () => {
    const ns = unique('adm')
    const log = refusals()
    const tenant = join(`/${ns}`, 'tenant')
    const owner = join('', 'owner')
    try {
      const tenantSeen = recorder(tenant, 'tenant::users', 'namespace')
      tenant.registerTrigger({ type: 'http', function_id: 'tenant::users', config: { api_path: 'users' } })
      await until('the namespace route', async () => (await get(`/${ns}/users`, 'before')) === '200 namespace', 10_000, 100)
      const ownerSeen = recorder(owner, 'owner::users', 'default')
      owner.registerTrigger({ type: 'http', function_id: 'owner::users', config: { api_path: `${ns}/users` } })
      // The namespace's sessions hear a new route version, so a front door's older default view is looked at again.
      await until('the default route serving the path', async () => (await get(`/${ns}/users`, 'switching')) === '200 default', 10_000, 50)
      const seenByTenant = tenantSeen.length
      for (let i = 0; i < 10; i++) expect(await get(`/${ns}/users`, `after-${i}`)).toBe('200 default')
      expect(tenantSeen.length).toBe(seenByTenant)
      expect(ownerSeen.filter((h) => h.startsWith('Bearer after-'))).toHaveLength(10)
      expect(log.messages().filter((m) => m.includes('Trigger registration failed'))).toEqual([])
      await until('the warning', () => dev.output().includes(`is shadowed by the default namespace's route 'GET /${ns}/users'`), 5_000, 100)
    } finally {
      log.restore()
      await Promise.allSettled([tenant.shutdown(), owner.shutdown()])
    }
  })
})
