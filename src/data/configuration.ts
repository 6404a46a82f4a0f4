// The rules of the engine's configuration worker (`configuration::*`), free of Workers APIs: the id
// rule, the inputs with the engine's errors, what register and set store and check, what get
// expands, the event a `configuration` trigger receives. ConfigurationObject keeps the entries
// (configuration-object.ts); the unit tests run the same core over MemoryConfigurationStore.

import { asObject } from '../protocol/json'
import { EngineError } from '../protocol/outcome'
import { type EnvRead, expandValue } from './configuration-env'
import { schemaErrors } from './configuration-schema'
import { VALUE_MAX_BYTES, badInput, utf8Bytes } from './state'

/** One configuration: `value` is stored raw, `${VAR}` templates kept, and expanded on read. */
export interface ConfigurationEntry {
  id: string
  name: string
  description: string
  schema: unknown
  value: unknown
  /** Left out when absent, as the engine leaves it out. */
  metadata?: unknown
}

/** What `list` and `schema` show of an entry: never its value. */
export type SchemaView = Omit<ConfigurationEntry, 'value'>

export interface ConfigurationStore {
  get(id: string): ConfigurationEntry | null
  put(entry: ConfigurationEntry): void
  /** Every entry's view, sorted by id (byte-wise). */
  views(): SchemaView[]
}

export type ConfigurationEventType = 'configuration:registered' | 'configuration:updated' | 'configuration:deleted'

/** The payload a `configuration` trigger's function receives, values expanded. */
export interface ConfigurationEvent extends SchemaView {
  type: 'configuration'
  event_type: ConfigurationEventType
  old_value: unknown
  new_value: unknown
}

// ── inputs, parsed at the edge (the builtin) ──────────────────────────────────────────────────

export interface RegisterInput {
  id: string
  name: string
  description: string
  schema: unknown
  /** Undefined when omitted or null: a literal null cannot be seeded (as in the engine). */
  initial_value?: unknown
  metadata?: unknown
}

const text = (fn: string, input: Record<string, unknown>, field: string): string => {
  const v = input[field]
  if (v === undefined || v === null) throw badInput(fn, `missing field \`${field}\``)
  if (typeof v !== 'string') throw badInput(fn, `invalid type for field \`${field}\`: expected a string`)
  return v
}
/** A field that must be present, whatever it holds (null too). */
const present = (fn: string, input: Record<string, unknown>, field: string): unknown => {
  if (!(field in input)) throw badInput(fn, `missing field \`${field}\``)
  return input[field]
}
const optional = (v: unknown) => (v === null ? undefined : v)

export function parseRegister(data: unknown): RegisterInput {
  const fn = 'configuration::register'
  const input = asObject(data)
  const parsed: RegisterInput = {
    id: text(fn, input, 'id'),
    name: text(fn, input, 'name'),
    description: text(fn, input, 'description'),
    schema: present(fn, input, 'schema'),
  }
  if (optional(input.initial_value) !== undefined) parsed.initial_value = input.initial_value
  if (optional(input.metadata) !== undefined) parsed.metadata = input.metadata
  return parsed
}

export function parseSet(data: unknown): { id: string; value: unknown } {
  const input = asObject(data)
  return { id: text('configuration::set', input, 'id'), value: present('configuration::set', input, 'value') }
}

export function parseGet(data: unknown): { id: string; raw: boolean } {
  const input = asObject(data)
  const raw = input.raw
  if (raw !== undefined && typeof raw !== 'boolean') throw badInput('configuration::get', 'invalid type for field `raw`: expected a boolean')
  return { id: text('configuration::get', input, 'id'), raw: raw ?? false }
}

export const parseSchemaId = (data: unknown): string => text('configuration::schema', asObject(data), 'id')

// ── the engine's errors ────────────────────────────────────────────────────────────────────────

/** 1–64 bytes of `[a-z0-9_-]`: the engine's fs adapter names a file after it. */
const ID = /^[a-z0-9_-]{1,64}$/
export const isValidId = (id: string): boolean => ID.test(id)

export const notFound = (id: string) => new EngineError('NOT_FOUND', `configuration '${id}' not found`)
export const invalidId = (id: string) => new EngineError('INVALID_ID', `invalid configuration id '${id}': must match [a-z0-9_-]{1,64}`)
const notRegistered = (id: string) => new EngineError('NOT_REGISTERED', `configuration '${id}' is not registered; call configuration::register first`)
const schemaUnavailable = (id: string) =>
  new EngineError('SCHEMA_UNAVAILABLE', `configuration '${id}' has no schema available yet; the owning worker must register before values can be set`)
const schemaInvalid = (errors: string[]) => new EngineError('SCHEMA_INVALID', `schema validation failed: ${errors.join('; ')}`)

/**
 * A value is checked as it will be read: expanded and coerced (`${PORT:3111}` is the integer
 * 3111). One that cannot be expanded yet (a var with neither value nor default) is not checked
 * now; `get` checks it once it can.
 */
function check(value: unknown, schema: unknown, env: EnvRead): void {
  const { value: applied, missing } = expandValue(value, env)
  if (missing.length > 0) return
  const errors = schemaErrors(applied, schema)
  if (errors.length > 0) throw schemaInvalid(errors)
}

/** Largest entry (every column's text): a Durable Object SQLite row holds at most 2 MB. */
export const ENTRY_MAX_BYTES = VALUE_MAX_BYTES

function sized(entry: ConfigurationEntry): ConfigurationEntry {
  const size = utf8Bytes(entry.id) + utf8Bytes(entry.name) + utf8Bytes(entry.description) + utf8Bytes(JSON.stringify([entry.schema, entry.value, entry.metadata ?? null]))
  if (size > ENTRY_MAX_BYTES) {
    throw new EngineError('VALUE_TOO_LARGE', `configuration '${entry.id}' is ${size} bytes; the limit is ${ENTRY_MAX_BYTES} (a Durable Object SQLite row holds at most 2 MB)`)
  }
  return entry
}

export const schemaView = ({ value: _, ...view }: ConfigurationEntry): SchemaView => view

/** The event for a change, old and new values expanded (a name left unexpanded stays literal, no error). */
export function configurationEvent(entry: ConfigurationEntry, event_type: ConfigurationEventType, old_value: unknown, new_value: unknown, env: EnvRead): ConfigurationEvent {
  const { metadata, ...view } = schemaView(entry)
  return {
    type: 'configuration',
    event_type,
    ...view,
    old_value: expandValue(old_value, env).value,
    new_value: expandValue(new_value, env).value,
    ...(metadata !== undefined ? { metadata } : {}),
  }
}

/** One namespace's registry of configurations (the engine has one per engine). */
export class ConfigurationCore {
  constructor(private readonly store: ConfigurationStore) {}

  /**
   * Creates or replaces an entry: name, description, schema and metadata always; the value only
   * when `initial_value` is given (then checked). Without it an entry keeps its value unchecked, so
   * a tightened schema always replaces the old one (`set` enforces it on the next write).
   */
  register(input: RegisterInput, env: EnvRead): { entry: ConfigurationEntry; event: ConfigurationEvent } {
    if (!isValidId(input.id)) throw invalidId(input.id)
    const prior = this.store.get(input.id)
    const given = input.initial_value !== undefined
    if (given) check(input.initial_value, input.schema, env)
    const entry = sized({
      id: input.id,
      name: input.name,
      description: input.description,
      schema: input.schema,
      value: given ? input.initial_value : (prior?.value ?? null),
      ...(input.metadata !== undefined ? { metadata: input.metadata } : {}),
    })
    this.store.put(entry)
    // Fires even when nothing changed, as the engine's does.
    const event = prior
      ? configurationEvent(entry, 'configuration:updated', prior.value, entry.value, env)
      : configurationEvent(entry, 'configuration:registered', null, entry.value, env)
    return { entry, event }
  }

  /** Replaces the whole value of a registered entry, checked against its schema. */
  set(id: string, value: unknown, env: EnvRead): { old_value: unknown; new_value: unknown; event: ConfigurationEvent } {
    if (!isValidId(id)) throw invalidId(id)
    const prior = this.store.get(id)
    if (!prior) throw notRegistered(id)
    // An entry without a schema (registered with `schema: null`) takes no value until its owner registers one.
    if (prior.schema === null) throw schemaUnavailable(id)
    check(value, prior.schema, env)
    const entry = sized({ ...prior, value })
    this.store.put(entry)
    return { old_value: prior.value, new_value: value, event: configurationEvent(entry, 'configuration:updated', prior.value, value, env) }
  }

  /**
   * The value, expanded and checked (a value that cannot be expanded or fails its schema is an
   * error, not a value the caller would misread); `raw` gives it as stored.
   */
  get(id: string, raw: boolean, env: EnvRead): { id: string; value: unknown } {
    const entry = isValidId(id) ? this.store.get(id) : null
    if (!entry) throw notFound(id)
    if (raw) return { id, value: entry.value }
    const { value, missing } = expandValue(entry.value, env)
    if (missing.length > 0) {
      throw new EngineError('EXPAND_FAILED', `configuration '${id}' references unset environment variable(s) with no default: ${missing.join(', ')}`)
    }
    if (entry.schema !== null) {
      const errors = schemaErrors(value, entry.schema)
      if (errors.length > 0) throw schemaInvalid(errors)
    }
    return { id, value }
  }

  list(): { configurations: SchemaView[] } {
    return { configurations: this.store.views() }
  }

  schema(id: string): SchemaView {
    const entry = isValidId(id) ? this.store.get(id) : null
    if (!entry) throw notFound(id)
    return schemaView(entry)
  }
}

/** ConfigurationStore over a Map, for the unit tests. */
export class MemoryConfigurationStore implements ConfigurationStore {
  readonly rows = new Map<string, ConfigurationEntry>()
  get = (id: string) => structuredClone(this.rows.get(id) ?? null)
  put = (entry: ConfigurationEntry) => void this.rows.set(entry.id, structuredClone(entry))
  views = () => [...this.rows.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((e) => structuredClone(schemaView(e)))
}
