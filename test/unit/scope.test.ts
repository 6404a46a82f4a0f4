// One state scope's rules (ScopeCore) over the memory store, in Node: answers as the engine's
// (old/new value, null for none), insertion order, and size limits that store nothing on error.
import { describe, expect, it } from 'vitest'
import { MemoryScopeStore, ScopeCore } from '../../src/data/scope'
import { VALUE_MAX_BYTES, storedText } from '../../src/data/state'
import { stateTriggersFor, subscribersOf, dataTriggerProblem } from '../../src/data/triggers'
import { scopeMatchesModel } from '../cases/scope-model.cases'

const scope = () => {
  const store = new MemoryScopeStore()
  return { store, core: new ScopeCore(store) }
}

describe('a state scope', () => {
  it('answers set with the old value (null for none) and the new one; get is undefined for none', () => {
    const { core } = scope()
    expect(core.get('k')).toBeUndefined()
    expect(core.set('k', '{"v":1}')).toEqual({ existed: false, old_value: null, new_value: { v: 1 } })
    expect(core.set('k', '{"v":2}')).toEqual({ existed: true, old_value: { v: 1 }, new_value: { v: 2 } })
    expect(core.get('k')).toEqual({ v: 2 })
    // A stored null is a value: it exists (the next write is an update).
    core.set('n', 'null')
    expect(core.get('n')).toBe(null)
    expect(core.set('n', '1')).toMatchObject({ existed: true, old_value: null })
  })

  it('deletes, answering what was there', () => {
    const { core } = scope()
    expect(core.delete('k')).toEqual({ existed: false, old_value: null })
    core.set('k', '"x"')
    expect(core.delete('k')).toEqual({ existed: true, old_value: 'x' })
    expect(core.size).toBe(0)
  })

  it('lists values in the order keys were first written; an overwrite keeps its place', () => {
    const { core } = scope()
    core.set('b', '1')
    core.set('a', '2')
    core.set('c', '3')
    core.set('b', '4')
    core.delete('a')
    expect(core.list()).toEqual([4, 3])
  })

  it('updates with ops from nothing (a created value) and reports per-op errors', () => {
    const { core } = scope()
    expect(core.update('k', [{ type: 'increment', path: 'n', by: 2 }])).toEqual({ existed: false, old_value: null, new_value: { n: 2 } })
    expect(core.update('k', [{ type: 'append', path: 'n', value: 1 }])).toMatchObject({ existed: true, new_value: { n: 2 }, errors: [{ op_index: 0, code: 'append.type_mismatch' }] })
  })

  it('refuses a value past the limit with VALUE_TOO_LARGE, and stores nothing, also when an update would grow past it', () => {
    const { core, store } = scope()
    const big = JSON.stringify('x'.repeat(VALUE_MAX_BYTES))
    expect(core.set('k', big)).toEqual({ error: expect.objectContaining({ code: 'VALUE_TOO_LARGE' }) })
    expect(store.rows.size).toBe(0)
    core.set('k', JSON.stringify({ s: 'x'.repeat(VALUE_MAX_BYTES - 100) }))
    expect(core.update('k', [{ type: 'append', path: 's', value: 'y'.repeat(200) }])).toEqual({ error: expect.objectContaining({ code: 'VALUE_TOO_LARGE' }) })
    expect((core.get('k') as { s: string }).s.endsWith('x')).toBe(true)
    expect(() => storedText('é'.repeat(VALUE_MAX_BYTES / 2))).toThrow(/exceeds the max_value_bytes limit of 1990000/)
  })

  it('keeps what it was given: any sequence of writes reads back as a plain map would', () => {
    scopeMatchesModel(() => scope().core)
  })
})

describe('data triggers', () => {
  const t = (id: string, trigger_type: string, config: unknown) => ({ id, trigger_type, function_id: `f::${id}`, config })
  const all = [t('any', 'state', {}), t('scope', 'state', { scope: 's' }), t('key', 'state', { scope: 's', key: 'k' }), t('other', 'state', { key: 'x' }), t('sub', 'subscribe', { topic: 's' })]

  it('a state event reaches triggers whose scope and key (when given) match', () => {
    expect(stateTriggersFor(all, 's', 'k').map((x) => x.id)).toEqual(['any', 'scope', 'key'])
    expect(stateTriggersFor(all, 'z', 'x').map((x) => x.id)).toEqual(['any', 'other'])
  })

  it('a topic reaches its exact subscribers only, and an empty topic none', () => {
    const subs = [...all, t('s2', 'subscribe', { topic: 's.x' }), t('empty', 'subscribe', { topic: '' })]
    expect(subscribersOf(subs, 's').map((x) => x.id)).toEqual(['sub'])
    expect(subscribersOf(subs, '').map((x) => x.id)).toEqual([])
  })

  it('refuses a config field of the wrong type, as the engine fails to parse it', () => {
    expect(dataTriggerProblem('state', { scope: 123 })).toMatch(/Failed to parse trigger config/)
    expect(dataTriggerProblem('state', { scope: 's', key: null })).toBeNull()
  })
})
