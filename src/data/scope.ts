// One state scope (or one stream group): keyed JSON values in insertion order, free of Workers
// APIs. StateObject adapts SQLite to ScopeStore; the unit tests use MemoryScopeStore, and the same
// cases run against both (test/unit/scope.test.ts, test/workers/state.test.ts).
//
// Every write is checked before anything is stored: a value past VALUE_MAX_BYTES (also one an
// update would make) is refused and the stored value stays as it was.

import { type UpdateOp, type UpdateOpError, applyUpdateOps } from './update-ops'
import { VALUE_MAX_BYTES, tooLarge, utf8Bytes } from './state'

/** Values kept as JSON text, in the order their keys were first written (as the engine lists them). */
export interface ScopeStore {
  get(key: string): string | null
  /** Inserts at the end, or replaces in place (the key keeps its position). */
  put(key: string, text: string): void
  remove(key: string): void
  values(): string[]
  count(): number
}

export interface ErrorBody {
  code: string
  message: string
}

/** A write's outcome; `existed` tells a stored null from nothing (created vs updated). */
export type Written = { existed: boolean; old_value: unknown; new_value: unknown; errors?: UpdateOpError[] } | { error: ErrorBody }

const parse = (text: string | null): unknown => (text === null ? null : JSON.parse(text))

export class ScopeCore {
  constructor(private readonly store: ScopeStore) {}

  get(key: string): unknown {
    const text = this.store.get(key)
    return text === null ? undefined : JSON.parse(text)
  }

  /** `text` is the value's JSON, already checked by the caller (it measured it anyway). */
  set(key: string, text: string): Written {
    const size = utf8Bytes(text)
    if (size > VALUE_MAX_BYTES) return { error: tooLarge(size) }
    const old = this.store.get(key)
    this.store.put(key, text)
    return { existed: old !== null, old_value: parse(old), new_value: JSON.parse(text) }
  }

  update(key: string, ops: readonly UpdateOp[]): Written {
    const old = this.store.get(key)
    const oldValue = old === null ? undefined : JSON.parse(old)
    const { value, errors } = applyUpdateOps(oldValue, ops)
    const text = JSON.stringify(value ?? null)
    const size = utf8Bytes(text)
    if (size > VALUE_MAX_BYTES) return { error: tooLarge(size) }
    this.store.put(key, text)
    return { existed: old !== null, old_value: oldValue ?? null, new_value: value, ...(errors.length ? { errors } : {}) }
  }

  delete(key: string): { existed: boolean; old_value: unknown } {
    const old = this.store.get(key)
    if (old !== null) this.store.remove(key)
    return { existed: old !== null, old_value: parse(old) }
  }

  list(): unknown[] {
    return this.store.values().map((t) => JSON.parse(t))
  }

  get size(): number {
    return this.store.count()
  }
}

/** ScopeStore over a Map (a Map keeps insertion order and replaces in place, as the SQLite one does). */
export class MemoryScopeStore implements ScopeStore {
  readonly rows = new Map<string, string>()
  get = (key: string) => this.rows.get(key) ?? null
  put = (key: string, text: string) => void this.rows.set(key, text)
  remove = (key: string) => void this.rows.delete(key)
  values = () => [...this.rows.values()]
  count = () => this.rows.size
}
