// State scopes in workerd: values and their order survive eviction, an eviction in the middle of
// a burst of updates loses no acknowledged one, the SQLite store behaves as the memory one (same
// model test), and the directory follows scopes becoming non-empty and empty.
import { env } from 'cloudflare:workers'
import { evictDurableObject, runInDurableObject } from 'cloudflare:test'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MemoryScopeStore, ScopeCore } from '../../src/data/scope'
import { NAME_MAX_BYTES, VALUE_MAX_BYTES } from '../../src/data/state'
import { scopeMatchesModel } from '../cases/scope-model.cases'
import { STATE_SCHEMA, SqliteScopeStore, type Where } from '../../src/data/state-object'

const scopeOf = (namespace: string, scope: string) => ({
  stub: env.STATE.get(env.STATE.idFromName(`state:${namespace}:${scope}`)),
  where: { namespace, kind: 'state', parent: '', name: scope } satisfies Where,
})
const directory = (namespace: string) => env.DIRECTORY.get(env.DIRECTORY.idFromName(`directory:${namespace}`))

async function evict(stub: DurableObjectStub) {
  await evictDurableObject(stub).catch((err: unknown) => {
    if (!String(err).includes('not currently running')) throw err
  })
}

describe('a state scope object', () => {
  it('keeps values and their order across an eviction', async () => {
    const { stub, where } = scopeOf('persist', 's')
    await stub.set(where, 'b', '{"v":1}')
    await stub.set(where, 'a', '"two"')
    await stub.set(where, 'b', '{"v":3}')
    await evict(stub)
    expect(await stub.get('b')).toEqual({ v: 3 })
    expect(await stub.get('none')).toBeUndefined()
    expect(await stub.list()).toEqual([{ v: 3 }, 'two'])
    expect(await stub.set(where, 'a', 'null')).toEqual({ existed: true, old_value: 'two', new_value: null })
  })

  it('loses no acknowledged update when evicted in the middle of a burst', async () => {
    const { stub, where } = scopeOf('evict', 'counter')
    let acknowledged = 0
    let sent = 0
    for (let round = 0; round < 5; round++) {
      const burst = Array.from({ length: 40 }, () => {
        sent++
        return stub.update(where, 'n', [{ type: 'increment', path: 'hits', by: 1 }]).then(
          () => void acknowledged++,
          () => {}, // broken by the eviction: may or may not have been applied
        )
      })
      await new Promise((r) => setTimeout(r, round))
      await evict(stub)
      await Promise.all(burst)
    }
    const { hits } = (await stub.get('n')) as { hits: number }
    console.log(`eviction mid-update: ${sent} sent, ${acknowledged} acknowledged, ${hits} applied`)
    expect(hits).toBeGreaterThanOrEqual(acknowledged)
    expect(hits).toBeLessThanOrEqual(sent)
    // After the evictions the object still counts on from where it is.
    await stub.update(where, 'n', [{ type: 'increment', path: 'hits', by: 1 }])
    expect(((await stub.get('n')) as { hits: number }).hits).toBe(hits + 1)
  })

  it('stores a value of exactly the limit under a key of the longest name (the limit is below the platform\'s)', async () => {
    const { stub, where } = scopeOf('limit', 's')
    const key = 'k'.repeat(NAME_MAX_BYTES)
    const text = JSON.stringify('x'.repeat(VALUE_MAX_BYTES - 2))
    expect(text.length).toBe(VALUE_MAX_BYTES)
    expect(await stub.set(where, key, text)).toMatchObject({ existed: false })
    await evict(stub)
    expect(((await stub.get(key)) as string).length).toBe(VALUE_MAX_BYTES - 2)
  })

  it('stores nothing for a refused value (too large), also after an eviction', async () => {
    const { stub, where } = scopeOf('refuse', 's')
    const answer = await stub.set(where, 'k', JSON.stringify('x'.repeat(2_000_000)))
    expect(answer).toEqual({ error: expect.objectContaining({ code: 'VALUE_TOO_LARGE' }) })
    await evict(stub)
    expect(await stub.list()).toEqual([])
    expect(await directory('refuse').names('state', '')).toEqual([])
  })

  it('stores nothing for reads and deletes of a scope nobody wrote (the object is not kept)', async () => {
    const { stub, where } = scopeOf('untouched', 's')
    expect(await stub.get('k')).toBeUndefined()
    expect(await stub.list()).toEqual([])
    expect(await stub.delete(where, 'k')).toEqual({ existed: false, old_value: null })
    const tables = await runInDurableObject(stub, (_i, state) => state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table'").toArray())
    expect(tables.filter((t) => !String(t.name).startsWith('_cf'))).toEqual([])
  })

  it('lists the scope in the directory while it holds something', async () => {
    const { stub, where } = scopeOf('dir', 'orders')
    await stub.set(where, 'k1', '1')
    await stub.set(where, 'k2', '2')
    expect(await directory('dir').names('state', '')).toEqual(['orders'])
    await stub.delete(where, 'k1')
    expect(await directory('dir').names('state', '')).toEqual(['orders'])
    await stub.delete(where, 'k2')
    expect(await directory('dir').names('state', '')).toEqual([])
    // Another namespace's directory never saw it.
    expect(await directory('dir-other').names('state', '')).toEqual([])
  })

  it('answers as the memory model under any sequence of writes and evictions (property)', async () => {
    let run = 0
    const step = fc.oneof(
      fc.record({ op: fc.constant('set' as const), key: fc.constantFrom('a', 'b', 'c'), value: fc.jsonValue({ maxDepth: 2 }) }),
      fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ op: fc.constant('increment' as const), key: fc.constantFrom('a', 'b', 'c'), by: fc.integer({ min: -5, max: 5 }) }),
      fc.record({ op: fc.constant('evict' as const) }),
    )
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 25 }), async (steps) => {
        const { stub, where } = scopeOf('model-evict', `run-${run++}`)
        const model = new ScopeCore(new MemoryScopeStore())
        for (const s of steps) {
          if (s.op === 'evict') await evict(stub)
          else if (s.op === 'set') expect(await stub.set(where, s.key, JSON.stringify(s.value))).toEqual(model.set(s.key, JSON.stringify(s.value)))
          else if (s.op === 'delete') expect(await stub.delete(where, s.key)).toEqual(model.delete(s.key))
          else {
            const ops = [{ type: 'increment' as const, path: 'n', by: s.by }]
            expect(await stub.update(where, s.key, ops)).toEqual(model.update(s.key, ops))
          }
        }
        expect(await stub.list()).toEqual(model.list())
        expect((await directory('model-evict').names('state', '')).includes(where.name)).toBe(model.size > 0)
      }),
      { numRuns: 25 },
    )
  })

  it('runs the same model test over SQLite as over memory (test/cases/scope-model.cases.ts)', async () => {
    const { stub } = scopeOf('model', 'm')
    await runInDurableObject(stub, (_instance, state) => {
      scopeMatchesModel(() => {
        state.storage.sql.exec(STATE_SCHEMA)
        state.storage.sql.exec('DELETE FROM item')
        return new ScopeCore(new SqliteScopeStore(state.storage.sql))
      }, 50)
    })
  })
})
