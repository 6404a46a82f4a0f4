// The engine's update ops (`state::update`, `stream::update`), in Node: each op as iii v0.22.1
// applies it, errors per op with the others still applied, and inputs refused before anything.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type UpdateOp, applyUpdateOps, parseOps } from '../../src/data/update-ops'

const run = (old: unknown, ops: UpdateOp[]) => {
  const { value, errors } = applyUpdateOps(old, ops)
  expect(errors).toEqual([])
  return value
}

describe('update ops', () => {
  it('set writes a first-level field, or replaces the root with an empty path (null when no value)', () => {
    expect(run({ count: 0, name: 'initial' }, [{ type: 'set', path: 'count', value: 5 }])).toEqual({ count: 5, name: 'initial' })
    expect(run({ keep: true }, [{ type: 'set', path: '', value: null }])).toBe(null)
    expect(run(undefined, [{ type: 'set', path: 'a', value: 1 }])).toEqual({ a: 1 })
  })

  it('merge copies top-level keys, at the root or at a nested path it creates', () => {
    expect(run({ a: 1, b: 1 }, [{ type: 'merge', value: { b: 2, c: 3 } }])).toEqual({ a: 1, b: 2, c: 3 })
    expect(run({ a: 1 }, [{ type: 'merge', path: ['x', 'y'], value: { z: 1 } }])).toEqual({ a: 1, x: { y: { z: 1 } } })
    expect(run({}, [{ type: 'merge', path: 'a.b', value: { z: 1 } }])).toEqual({ 'a.b': { z: 1 } })
  })

  it('increment and decrement numbers, starting a missing field or a missing root from zero', () => {
    expect(run({ n: 1 }, [{ type: 'increment', path: 'n', by: 2 }, { type: 'decrement', path: 'm', by: 3 }])).toEqual({ n: 3, m: -3 })
    expect(run(undefined, [{ type: 'increment', path: '', by: 5 }])).toBe(5)
    expect(run(1.5, [{ type: 'increment', path: '', by: 1 }])).toBe(2.5)
  })

  it('append pushes to arrays, concatenates strings, and starts a missing field by the value kind', () => {
    expect(run({ events: [], transcript: 'hello' }, [{ type: 'append', path: 'events', value: { kind: 'chunk' } }, { type: 'append', path: 'transcript', value: ' world' }])).toEqual({
      events: [{ kind: 'chunk' }],
      transcript: 'hello world',
    })
    expect(run({}, [{ type: 'append', path: 'transcript', value: 'hi' }, { type: 'append', path: 'events', value: 1 }])).toEqual({ transcript: 'hi', events: [1] })
    expect(run(undefined, [{ type: 'append', value: 'hello' }])).toBe('hello')
    expect(run(undefined, [{ type: 'append', value: { kind: 'chunk' } }])).toEqual([{ kind: 'chunk' }])
    expect(run({}, [{ type: 'append', path: ['a', 'b'], value: 'x' }])).toEqual({ a: { b: ['x'] } })
  })

  it('remove deletes a field, or the root (null)', () => {
    expect(run({ a: 1, b: 2 }, [{ type: 'remove', path: 'a' }])).toEqual({ b: 2 })
    expect(run({ a: 1 }, [{ type: 'remove', path: '' }])).toBe(null)
  })

  it('reports an op that cannot apply with its index and code, and still applies the others', () => {
    const { value, errors } = applyUpdateOps({ transcript: 'hello', n: 'x' }, [
      { type: 'append', path: 'transcript', value: { not: 'string' } },
      { type: 'increment', path: 'n', by: 1 },
      { type: 'set', path: 'ok', value: true },
      { type: 'merge', value: [1] },
      { type: 'merge', path: ['__proto__'], value: { polluted: true } },
    ])
    expect(value).toEqual({ transcript: 'hello', n: 'x', ok: true })
    expect(errors.map((e) => [e.op_index, e.code])).toEqual([
      [0, 'append.type_mismatch'],
      [1, 'increment.not_number'],
      [3, 'merge.value.not_an_object'],
      [4, 'merge.path.proto_polluted'],
    ])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })

  it('refuses a field op on a value that is not an object, naming the target', () => {
    const { value, errors } = applyUpdateOps(7, [{ type: 'set', path: 'a', value: 1 }, { type: 'remove', path: 'a' }])
    expect(value).toBe(7)
    expect(errors).toEqual([
      expect.objectContaining({ op_index: 0, code: 'set.target_not_object', message: "Cannot set at path 'a': target is number, expected object." }),
      expect.objectContaining({ op_index: 1, code: 'remove.target_not_object' }),
    ])
  })

  it('never changes the value it was given (a refused result leaves the stored one as it was)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.array(fc.record({ type: fc.constantFrom('set', 'append', 'increment', 'merge', 'remove'), path: fc.constantFrom('', 'a', 'b'), value: fc.jsonValue(), by: fc.integer() })), (old, raw) => {
        const ops = parseOps(raw)
        if (typeof ops === 'string') return
        const before = JSON.stringify(old)
        applyUpdateOps(old, ops)
        expect(JSON.stringify(old)).toBe(before)
      }),
    )
  })

  it('parses ops as the engine does: a wrong shape refuses the whole call', () => {
    expect(parseOps([{ type: 'set', path: 'a' }])).toEqual([{ type: 'set', path: 'a', value: null }])
    expect(parseOps('x')).toMatch(/sequence/)
    expect(parseOps([{ type: 'explode', path: 'a' }])).toMatch(/unknown variant `explode`/)
    expect(parseOps([{ type: 'increment', path: 'a', by: 1.5 }])).toMatch(/integer/)
    expect(parseOps([{ type: 'merge', path: 'a' }])).toMatch(/missing field `value`/)
    expect(parseOps([{ type: 'remove' }])).toMatch(/missing field `path`/)
  })
})
