// The rules of the engine's state module (`state::*`), free of Workers APIs: input parsing with
// the engine's errors, the size limits (shared with streams), the event a `state` trigger receives.
// StateObject (state-object.ts) keeps the values; triggers.ts says which triggers an event reaches.

import { EngineError } from '../protocol/outcome'
import { asObject } from '../protocol/json'

/**
 * Largest stored value, as JSON text in UTF-8. SQLite in a Durable Object refuses a string or row
 * past 2 MB (2,000,000 bytes); the rest is room for the key and the row's other columns.
 */
export const VALUE_MAX_BYTES = 1_990_000

/** Longest scope, key, stream name, group id, item id or topic (UTF-8 bytes): they name objects and rows. */
export const NAME_MAX_BYTES = 512

export const utf8Bytes = (text: string): number => new TextEncoder().encode(text).length

/** The engine's answer to input its serde refuses. */
export const badInput = (functionId: string, why: string) =>
  new EngineError('deserialization_error', `Failed to deserialize input for ${functionId}: ${why}`)

/** A required string field (scope, key, stream_name…), within NAME_MAX_BYTES. */
export function nameField(functionId: string, input: Record<string, unknown>, field: string): string {
  const value = input[field]
  if (value === undefined || value === null) throw badInput(functionId, `missing field \`${field}\``)
  if (typeof value !== 'string') throw badInput(functionId, `invalid type for field \`${field}\`: expected a string`)
  if (utf8Bytes(value) > NAME_MAX_BYTES) {
    throw new EngineError('INVALID_ARGUMENTS', `${functionId}: \`${field}\` is ${utf8Bytes(value)} bytes; the limit is ${NAME_MAX_BYTES}`)
  }
  return value
}

/** JSON text of a value to store, refused past VALUE_MAX_BYTES with the engine's code for it. */
export function storedText(value: unknown): string {
  const text = JSON.stringify(value ?? null)
  const size = utf8Bytes(text)
  if (size > VALUE_MAX_BYTES) {
    const { code, message } = tooLarge(size)
    throw new EngineError(code, message)
  }
  return text
}

/** The engine's code for a value past its limit; the message names ours and why. */
export const tooLarge = (size: number) => ({
  code: 'VALUE_TOO_LARGE',
  message: `value of ${size} bytes exceeds the max_value_bytes limit of ${VALUE_MAX_BYTES} (a Durable Object SQLite row holds at most 2 MB)`,
})

export interface StateTarget {
  scope: string
  key: string
}

export function parseTarget(functionId: string, data: unknown): StateTarget {
  const input = asObject(data)
  return { scope: nameField(functionId, input, 'scope'), key: nameField(functionId, input, 'key') }
}

/** `state::set` takes the value as `value` or, as the engine also accepts, `data`. */
export function parseSetValue(data: unknown): unknown {
  const input = asObject(data)
  if ('value' in input) return input.value
  if ('data' in input) return input.data
  throw badInput('state::set', 'missing field `value`')
}

export type StateEventType = 'state:created' | 'state:updated' | 'state:deleted'

/** The payload a `state` trigger's function receives, as the engine sends it. */
export interface StateEvent {
  type: 'state'
  event_type: StateEventType
  scope: string
  key: string
  old_value: unknown
  new_value: unknown
}

export function stateEvent(target: StateTarget, event_type: StateEventType, old_value: unknown, new_value: unknown): StateEvent {
  return { type: 'state', event_type, scope: target.scope, key: target.key, old_value, new_value }
}
