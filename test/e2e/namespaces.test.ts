// Namespaces with the unmodified iii-sdk: the path of the engine address selects one; functions,
// workers and HTTP routes of one are invisible to another; channels work under its prefix.
import { registerWorker } from 'iii-sdk'
import type { ChannelReader } from 'iii-sdk/channel'
import { createChannel } from 'iii-sdk/helpers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { digestChannel } from './support/sdk'
import { until } from './support/wait'
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
  teamA.registerFunction('a::hello', async () => ({ status_code: 200, body: 'hello from team-a' }))
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
    // The data modules' builtins (workers iii-state, iii-stream, iii-pubsub) are listed everywhere, as in the engine.
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
