// Custom stream implementations (src/data/custom-stream.ts): which functions take a stream over,
// and how their answers are read, in the engine's words.
import { describe, expect, it } from 'vitest'
import { customDeleteResult, customReadResult, customStreamFunction, customWriteResult, isCustomStreamFunction } from '../../src/data/custom-stream'

const failure = { error: { code: 'E', message: 'disk "full"' } }

describe('custom streams', () => {
  it('name one function per operation and stream, as the SDK registers them', () => {
    expect(customStreamFunction('list_groups', 'orders')).toBe('stream::list_groups(orders)')
    expect(['stream::get(orders)', 'stream::update(a(b))', 'stream::set()'].map(isCustomStreamFunction)).toEqual([true, true, true])
    expect(['stream::get', 'stream::send(orders)', 'stream::list_all(x)', 'my::stream::get(x)', 'stream::get(x)y'].map(isCustomStreamFunction)).toEqual([false, false, false, false, false])
  })

  it('read a set or update answer: new_value required, old_value null when missing, errors only for update', () => {
    expect(customWriteResult('set', { result: { new_value: 1 } })).toEqual({ old_value: null, new_value: 1 })
    expect(customWriteResult('set', { result: { old_value: 0, new_value: null, errors: [{ op_index: 0 }] } })).toEqual({ old_value: 0, new_value: null })
    expect(customWriteResult('update', { result: { old_value: 0, new_value: 2, errors: [{ op_index: 0 }] } })).toEqual({ old_value: 0, new_value: 2, errors: [{ op_index: 0 }] })
    expect(customWriteResult('update', { result: { new_value: 2, errors: [] } })).toEqual({ old_value: null, new_value: 2 })
  })

  it('answer a failed write with the engine codes and messages', () => {
    expect(() => customWriteResult('set', failure)).toThrow(
      expect.objectContaining({ code: 'STREAM_SET_ERROR', message: 'Failed to set value: Failed to invoke function: ErrorBody { code: "E", message: "disk \\"full\\"", stacktrace: None }' }),
    )
    expect(() => customWriteResult('update', {})).toThrow(expect.objectContaining({ code: 'STREAM_UPDATE_ERROR', message: 'Failed to update value: Function returned no result' }))
    expect(() => customDeleteResult(failure)).toThrow(expect.objectContaining({ code: 'STREAM_DELETE_ERROR' }))
    expect(() => customWriteResult('set', { result: { old_value: 1 } })).toThrow(
      expect.objectContaining({ code: 'JSON_ERROR', message: 'Failed to convert result to value: missing field `new_value`' }),
    )
    expect(() => customWriteResult('set', { result: null })).toThrow(expect.objectContaining({ code: 'JSON_ERROR', message: expect.stringContaining('invalid type: null, expected struct StreamSetResult') }))
    expect(() => customDeleteResult({ result: [1] })).toThrow(expect.objectContaining({ code: 'JSON_ERROR', message: expect.stringContaining('sequence') }))
  })

  it('read a delete answer (old_value, null when nothing was there) and pass reads on as they are, errors unwrapped', () => {
    expect(customDeleteResult({ result: {} })).toEqual({ old_value: null })
    expect(customDeleteResult({ result: { old_value: { a: 1 } } })).toEqual({ old_value: { a: 1 } })
    expect(customReadResult({ result: [1, 2] })).toEqual([1, 2])
    expect(customReadResult({})).toBeUndefined()
    expect(() => customReadResult(failure)).toThrow(expect.objectContaining({ code: 'E', message: 'disk "full"' }))
  })
})
