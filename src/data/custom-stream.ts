// Custom stream implementations, as the iii engine has them (docs/data-modules.md, "Custom
// streams"): a worker that registers `stream::get(<stream>)` (the SDK's `createStream` registers
// get, set, delete, list and list_groups) takes that stream's items over. `stream::get` and the
// others then call its function instead of the group's object; after a set, update or delete the
// subscribers and `stream` triggers still get the change, from the group's object, which stores
// nothing. What a function answers is read as the engine reads it. Pure.

import { EngineError } from '../protocol/outcome'
import type { ErrorBody } from '../protocol/messages'

export type StreamOp = 'get' | 'set' | 'delete' | 'list' | 'list_groups' | 'update'

/** The function that takes `op` over for one stream. */
export const customStreamFunction = (op: StreamOp, streamName: string) => `stream::${op}(${streamName})`

/** Is this function id one that takes a stream over? (Its registration changes how stream::* behave.) */
export const isCustomStreamFunction = (id: string) => /^stream::(get|set|delete|list|list_groups|update)\(.*\)$/s.test(id)

/** What a write (set, update, delete) answers when its function fails, in the engine's words. */
const FAILED: Record<'set' | 'update' | 'delete', { code: string; verb: string }> = {
  set: { code: 'STREAM_SET_ERROR', verb: 'set' },
  update: { code: 'STREAM_UPDATE_ERROR', verb: 'update' },
  delete: { code: 'STREAM_DELETE_ERROR', verb: 'delete' },
}

/** The engine prints the function's error with Rust's debug format; strings are quoted like JSON. */
const debugError = (e: ErrorBody) => `ErrorBody { code: ${JSON.stringify(e.code)}, message: ${JSON.stringify(e.message)}, stacktrace: None }`

export type CustomOutcome = { result?: unknown } | { error: ErrorBody }

export interface CustomWrite {
  old_value: unknown
  new_value: unknown
  errors?: unknown[]
}

/**
 * A custom set's or update's answer as the engine takes it: an object with `new_value` (and
 * `old_value`, null when there was none); a failure or no result is that write's error, an answer
 * of another shape is JSON_ERROR.
 */
export function customWriteResult(op: 'set' | 'update', outcome: CustomOutcome): CustomWrite {
  const result = answered(op, outcome)
  const shape = op === 'set' ? 'StreamSetResult' : 'StreamUpdateResult'
  const fields = objectResult(result, shape)
  if (!('new_value' in fields)) throw convertError('missing field `new_value`')
  if (fields.errors !== undefined && !Array.isArray(fields.errors)) throw convertError('invalid type for field `errors`: expected a sequence')
  const errors = op === 'update' && Array.isArray(fields.errors) && fields.errors.length ? { errors: fields.errors } : {}
  return { old_value: fields.old_value ?? null, new_value: fields.new_value, ...errors }
}

/** A custom delete's answer: an object whose `old_value` (null or missing: nothing was there) is broadcast. */
export function customDeleteResult(outcome: CustomOutcome): { old_value: unknown } {
  const fields = objectResult(answered('delete', outcome), 'StreamDeleteResult')
  return { old_value: fields.old_value ?? null }
}

/**
 * A custom get's, list's or list_groups' answer is passed on as it is; its error too (the engine
 * does not wrap it).
 */
export function customReadResult(outcome: CustomOutcome): unknown {
  if ('error' in outcome) throw new EngineError(outcome.error.code, outcome.error.message)
  return outcome.result
}

function answered(op: 'set' | 'update' | 'delete', outcome: CustomOutcome): unknown {
  const { code, verb } = FAILED[op]
  if ('error' in outcome) throw new EngineError(code, `Failed to ${verb} value: Failed to invoke function: ${debugError(outcome.error)}`)
  if (outcome.result === undefined) throw new EngineError(code, `Failed to ${verb} value: Function returned no result`)
  return outcome.result
}

function objectResult(result: unknown, shape: string): Record<string, unknown> {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    const kind = result === null ? 'null' : Array.isArray(result) ? 'sequence' : typeof result
    throw convertError(`invalid type: ${kind}, expected struct ${shape}`)
  }
  return result as Record<string, unknown>
}

const convertError = (why: string) => new EngineError('JSON_ERROR', `Failed to convert result to value: ${why}`)
