// The configuration object in workerd: entries (schema included) survive an eviction, the SQLite
// store answers as the memory one under any sequence of writes and evictions, errors cross RPC
// with the engine's codes, and the builtins expand the real Worker env under the secret rule and
// fire `configuration` triggers after each write, in order.
import { env } from 'cloudflare:workers'
import { evictDurableObject, runInDurableObject } from 'cloudflare:test'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { dataBuiltins } from '../../src/data/builtins'
import { ConfigurationCore, MemoryConfigurationStore, type RegisterInput } from '../../src/data/configuration'
import { configurationEnv } from '../../src/data/configuration-env'
import type { DataEngine } from '../../src/data/engine-port'
import type { DataTrigger } from '../../src/data/triggers'
import type { EngineCall } from '../../src/protocol/outcome'
import { EngineError } from '../../src/protocol/outcome'

const PORT_SCHEMA = { type: 'object', required: ['port'], properties: { port: { type: 'integer' } } }
const objectOf = (namespace: string) => env.CONFIGURATION.get(env.CONFIGURATION.idFromName(`configuration:${namespace}`))
const input = (id: string, more: Partial<RegisterInput> = {}): RegisterInput => ({ id, name: `${id} display`, description: 'test', schema: PORT_SCHEMA, ...more })

async function evict(stub: DurableObjectStub) {
  await evictDurableObject(stub).catch((err: unknown) => {
    if (!String(err).includes('not currently running')) throw err
  })
}

describe('a configuration object', () => {
  it('keeps entries, their schema and raw values across an eviction, and lists them by id without values', async () => {
    const stub = objectOf('persist')
    await stub.register('persist', input('zebra', { initial_value: { port: 1 }, metadata: { owner: 'z' } }))
    await stub.register('persist', input('alpha', { initial_value: { port: '${PERSIST_PORT:3111}' } }))
    await evict(stub)
    expect(await stub.list()).toEqual({
      configurations: [
        { id: 'alpha', name: 'alpha display', description: 'test', schema: PORT_SCHEMA },
        { id: 'zebra', name: 'zebra display', description: 'test', schema: PORT_SCHEMA, metadata: { owner: 'z' } },
      ],
    })
    expect(await stub.get('persist', 'alpha', true)).toEqual({ ok: { id: 'alpha', value: { port: '${PERSIST_PORT:3111}' } } })
    expect(await stub.get('persist', 'alpha', false)).toEqual({ ok: { id: 'alpha', value: { port: 3111 } } })
    // The schema came back too (the engine's fs adapter forgets it): set checks against it at once.
    expect(await stub.set('persist', 'zebra', { port: 'x' })).toEqual({ error: expect.objectContaining({ code: 'SCHEMA_INVALID' }) })
    expect(await stub.set('persist', 'zebra', { port: 2 })).toMatchObject({ ok: { old_value: { port: 1 }, new_value: { port: 2 } } })
    await evict(stub)
    expect(await stub.get('persist', 'zebra', true)).toEqual({ ok: { id: 'zebra', value: { port: 2 } } })
    expect(await stub.schema('zebra')).toEqual({ ok: { id: 'zebra', name: 'zebra display', description: 'test', schema: PORT_SCHEMA, metadata: { owner: 'z' } } })
  })

  it("answers errors across RPC with the engine's codes and messages", async () => {
    const stub = objectOf('errors')
    expect(await stub.set('errors', 'missing', 1)).toEqual({
      error: { code: 'NOT_REGISTERED', message: "configuration 'missing' is not registered; call configuration::register first" },
    })
    expect(await stub.get('errors', 'missing', false)).toEqual({ error: { code: 'NOT_FOUND', message: "configuration 'missing' not found" } })
    expect(await stub.register('errors', input('Bad.Id'))).toEqual({ error: expect.objectContaining({ code: 'INVALID_ID' }) })
    expect(await stub.register('errors', input('big', { initial_value: { port: 1, pad: 'x'.repeat(2_000_000) }, schema: { type: 'object' } }))).toEqual({
      error: expect.objectContaining({ code: 'VALUE_TOO_LARGE' }),
    })
    expect(await stub.schema('big')).toEqual({ error: expect.objectContaining({ code: 'NOT_FOUND' }) })
  })

  it('stores nothing for reads of a namespace that registered nothing (the object is not kept)', async () => {
    const stub = objectOf('untouched')
    expect(await stub.list()).toEqual({ configurations: [] })
    expect(await stub.get('untouched', 'a', true)).toEqual({ error: expect.objectContaining({ code: 'NOT_FOUND' }) })
    const tables = await runInDurableObject(stub, (_i, state) => state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'").toArray())
    expect(tables.filter((t) => !String(t.name).startsWith('_cf'))).toEqual([])
  })

  it('answers as the memory core under any sequence of registers, sets and evictions (property)', async () => {
    let run = 0
    const id = fc.constantFrom('a', 'b', 'c')
    const value = fc.oneof(fc.constant({ port: 1 }), fc.constant({ port: 'x' }), fc.constant({ port: '${MODEL_PORT:7}' }), fc.constant(null), fc.jsonValue({ maxDepth: 2 }))
    const step = fc.oneof(
      fc.record({ op: fc.constant('register' as const), id, value: fc.option(value, { nil: undefined }), schema: fc.constantFrom(PORT_SCHEMA, { type: 'object' }, null) }),
      fc.record({ op: fc.constant('set' as const), id, value }),
      fc.record({ op: fc.constant('evict' as const) }),
    )
    const answer = (run: () => unknown) => {
      try {
        return { ok: run() }
      } catch (err) {
        if (!(err instanceof EngineError)) throw err
        return { error: { code: err.code, message: err.message } }
      }
    }
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 20 }), async (steps) => {
        const namespace = `model-${run++}`
        const stub = objectOf(namespace)
        const model = new ConfigurationCore(new MemoryConfigurationStore())
        const read = configurationEnv(namespace, (name) => (env as unknown as Record<string, unknown>)[name])
        for (const s of steps) {
          if (s.op === 'evict') await evict(stub)
          else if (s.op === 'register') {
            const i = input(s.id, { schema: s.schema, ...(s.value !== undefined && s.value !== null ? { initial_value: s.value } : {}) })
            expect(await stub.register(namespace, i)).toEqual(answer(() => model.register(i, read)))
          } else expect(await stub.set(namespace, s.id, s.value)).toEqual(answer(() => model.set(s.id, s.value, read)))
        }
        expect(await stub.list()).toEqual(model.list())
        for (const id of ['a', 'b', 'c']) expect(await stub.get(namespace, id, false)).toEqual(answer(() => model.get(id, false, read)))
      }),
      { numRuns: 20 },
    )
  })
})

describe('the configuration builtins, as a session runs them', () => {
  /** Builtins of `namespace` whose engine records every call (a condition answers by its name). */
  function session(namespace: string, triggers: DataTrigger[] = []) {
    const calls: EngineCall[] = []
    const pending: Promise<unknown>[] = []
    const engine: DataEngine = {
      invoke: async (_ns, call) => {
        calls.push(call)
        if (call.function_id === 'cond::no') return { result: false }
        if (call.function_id === 'cond::null') return { result: null }
        if (call.function_id === 'cond::fails') return { error: { code: 'boom', message: 'condition failed' } }
        return call.void ? { accepted: true } : { result: true }
      },
      recentView: async () => ({ dataTriggers: triggers, functions: new Set<string>() }),
    }
    const builtins = dataBuiltins({ env, engine, namespace: () => namespace, view: async () => ({ dataTriggers: triggers, functions: new Set<string>() }), waitUntil: (p) => void pending.push(p) })
    const call = (fn: string, data: unknown) => builtins[`configuration::${fn}`]!(data)
    const settled = () => Promise.all(pending)
    return { call, calls, settled }
  }
  const trigger = (id: string, config: unknown): DataTrigger => ({ id, trigger_type: 'configuration', function_id: `on::${id}`, config })

  it('expands the Worker env for the default namespace, but never an III_ secret', async () => {
    const { call } = session('')
    const value = { ttl: '${CHANNEL_TTL_SECONDS}', secret: '${III_SIGNING_SECRET:hidden}', token: '${III_ENGINE_TOKEN:none}' }
    await call('register', { id: 'env-default', name: 'n', description: 'd', schema: { type: 'object' }, initial_value: value })
    // CHANNEL_TTL_SECONDS is a [vars] entry ("300"), read back as the integer; the signing secret is set in this pool.
    expect(await call('get', { id: 'env-default' })).toEqual({ id: 'env-default', value: { ttl: 300, secret: 'hidden', token: 'none' } })
    await call('set', { id: 'env-default', value: { s: '${III_SIGNING_SECRET}' } })
    await expect(call('get', { id: 'env-default' })).rejects.toMatchObject({ code: 'EXPAND_FAILED', message: expect.stringContaining('III_SIGNING_SECRET') })
  })

  it('expands nothing ungranted in another namespace, and keeps its entries apart', async () => {
    const mine = session('')
    const other = session('team-config')
    await mine.call('register', { id: 'shared', name: 'n', description: 'd', schema: { type: 'object' }, initial_value: { who: 'default' } })
    await mine.call('register', { id: 'default-only', name: 'n', description: 'd', schema: null })
    await other.call('register', { id: 'shared', name: 'n', description: 'd', schema: { type: 'object' }, initial_value: { who: 'team', ttl: '${CHANNEL_TTL_SECONDS:refused}' } })
    expect(await other.call('get', { id: 'shared' })).toEqual({ id: 'shared', value: { who: 'team', ttl: 'refused' } })
    expect(await mine.call('get', { id: 'shared' })).toEqual({ id: 'shared', value: { who: 'default' } })
    await expect(other.call('get', { id: 'default-only' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect(((await other.call('list', {})) as { configurations: { id: string }[] }).configurations.map((c) => c.id)).toEqual(['shared'])
  })

  it('refuses bad input at the edge with the engine codes', async () => {
    const { call } = session('edge')
    const bad: [string, unknown, string][] = [
      ['register', { id: 'a', name: 'n', description: 'd' }, 'deserialization_error'],
      ['register', { id: 'x'.repeat(100_000), name: 'n', description: 'd', schema: {} }, 'INVALID_ID'],
      ['set', { id: 'a' }, 'deserialization_error'],
      ['set', { id: 'a', value: 1 }, 'NOT_REGISTERED'],
      ['get', { id: 7 }, 'deserialization_error'],
      ['get', { id: '../other' }, 'NOT_FOUND'],
      ['schema', { id: 'nope' }, 'NOT_FOUND'],
    ]
    for (const [fn, data, code] of bad) await expect(call(fn, data), `${fn} ${JSON.stringify(data).slice(0, 60)}`).rejects.toMatchObject({ code })
    expect(await call('list', 'anything')).toEqual({ configurations: [] })
  })

  it('fires registered, then updated, to the triggers whose id and event types match, with expanded values, after each answer', async () => {
    const triggers = [
      trigger('all', {}),
      trigger('on-id', { configuration_id: 'watched' }),
      trigger('other-id', { configuration_id: 'other' }),
      trigger('updates', { configuration_id: 'watched', event_types: ['configuration:updated'] }),
      trigger('cond-no', { condition_function_id: 'cond::no' }),
      trigger('cond-null', { condition_function_id: 'cond::null' }),
      trigger('cond-fails', { condition_function_id: 'cond::fails' }),
    ]
    // The default namespace: it may expand the [vars] entry CHANNEL_TTL_SECONDS.
    const { call, calls, settled } = session('', triggers)
    const answer = await call('register', { id: 'watched', name: 'n', description: 'd', schema: { type: 'object' }, initial_value: { ttl: '${CHANNEL_TTL_SECONDS}' } })
    expect(answer).toEqual({ id: 'watched', name: 'n', description: 'd', schema: { type: 'object' }, value: { ttl: '${CHANNEL_TTL_SECONDS}' } })
    await settled()
    await call('set', { id: 'watched', value: { ttl: 1 } })
    await settled()
    const handled = calls.filter((c) => c.void)
    // Each handler was invoked one way, in trigger order within an event, registered before updated.
    expect(handled.map((c) => `${c.function_id} ${(c.data as { event_type: string }).event_type}`)).toEqual([
      'on::all configuration:registered',
      'on::on-id configuration:registered',
      'on::cond-null configuration:registered',
      'on::all configuration:updated',
      'on::on-id configuration:updated',
      'on::updates configuration:updated',
      'on::cond-null configuration:updated',
    ])
    expect(handled[0]!.data).toEqual({
      type: 'configuration',
      event_type: 'configuration:registered',
      id: 'watched',
      name: 'n',
      description: 'd',
      schema: { type: 'object' },
      old_value: null,
      new_value: { ttl: 300 },
    })
    expect(handled[3]!.data).toMatchObject({ old_value: { ttl: 300 }, new_value: { ttl: 1 } })
    // Reads and refused writes fire nothing.
    const before = calls.length
    await call('get', { id: 'watched' })
    await call('list', {})
    await expect(call('set', { id: 'watched', value: 5 })).rejects.toMatchObject({ code: 'SCHEMA_INVALID' })
    await settled()
    expect(calls.length).toBe(before)
  })
})
