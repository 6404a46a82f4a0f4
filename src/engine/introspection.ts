// The engine's introspection builtins (`engine::*::list`, `engine::*::info`) over one namespace's
// registry, shaped, filtered and sorted as the iii engine v0.22 does (docs/engine-compat.md).
// Pure: RegistryObject answers with these, the unit tests call them directly.

import { QUEUE_FUNCTIONS } from '../data/queue/names'
import { CONFIGURATION_TRIGGER, DURABLE_SUBSCRIBER_TRIGGER, STATE_TRIGGER, STREAM_JOIN_TRIGGER, STREAM_LEAVE_TRIGGER, STREAM_TRIGGER, SUBSCRIBE_TRIGGER } from '../data/triggers'
import { asObject } from '../protocol/json'
import { LOG_TRIGGER } from '../observability/log-trigger'
import { EngineError } from '../protocol/outcome'
import { parseCron, rfc3339 } from './cron'
import { CRON, FUNCTIONS_AVAILABLE, type RegistryCore, WORKERS_AVAILABLE } from './registry'
import type { FunctionEntry, TriggerEntry } from './registry-entries'

/** The introspection builtins a registry answers (`engine::<name>`). */
export type Query =
  | 'functions::list'
  | 'functions::info'
  | 'workers::list'
  | 'workers::info'
  | 'triggers::list'
  | 'triggers::info'
  | 'registered-triggers::list'
  | 'registered-triggers::info'

/** A builtin's answer across RPC (an Error's own fields do not cross it). */
export type QueryAnswer = { ok: true; value: unknown } | { ok: false; error: { code: string; message: string } }

/**
 * Functions the engine serves itself (builtins.ts and data/builtins.ts implement them; a workers
 * test keeps the lists equal). `worker` is the engine's name for the module serving one, when it
 * is not `engine` itself (the data modules are workers of their own in the engine).
 */
export const ENGINE_FUNCTIONS: readonly { id: string; description: string; worker?: string }[] = [
  { id: 'engine::channels::create', description: 'Create a streaming channel pair' },
  { id: 'engine::functions::list', description: 'List registered functions' },
  { id: 'engine::functions::info', description: 'Describe one function (or up to 32) with its triggers' },
  { id: 'engine::workers::list', description: 'List connected workers' },
  { id: 'engine::workers::info', description: 'Describe one worker by name' },
  { id: 'engine::workers::register', description: 'Register worker metadata' },
  { id: 'engine::triggers::list', description: 'List trigger types' },
  { id: 'engine::triggers::info', description: 'Describe one trigger type' },
  { id: 'engine::registered-triggers::list', description: 'List registered triggers' },
  { id: 'engine::registered-triggers::info', description: 'Describe one registered trigger' },
  { id: 'engine::log::trace', description: 'Write a log entry (trace)' },
  { id: 'engine::log::debug', description: 'Write a log entry (debug)' },
  { id: 'engine::log::info', description: 'Write a log entry (info)' },
  { id: 'engine::log::warn', description: 'Write a log entry (warn)' },
  { id: 'engine::log::error', description: 'Write a log entry (error)' },
  { id: 'engine::logs::list', description: 'List stored OTEL logs filtered by trace/span id, severity, and time range, with pagination and a total count' },
  { id: 'engine::logs::clear', description: 'Drop every stored OTEL log, returning { success: true }' },
  { id: 'state::set', description: 'Set a value in state', worker: 'iii-state' },
  { id: 'state::get', description: 'Get a value from state', worker: 'iii-state' },
  { id: 'state::delete', description: 'Delete a value from state', worker: 'iii-state' },
  { id: 'state::update', description: 'Update a value in state', worker: 'iii-state' },
  { id: 'state::list', description: 'Get a group from state', worker: 'iii-state' },
  { id: 'state::list_groups', description: 'List all state groups', worker: 'iii-state' },
  { id: 'stream::set', description: 'Set a value in a stream', worker: 'iii-stream' },
  { id: 'stream::get', description: 'Get a value from a stream', worker: 'iii-stream' },
  { id: 'stream::delete', description: 'Delete a value from a stream', worker: 'iii-stream' },
  { id: 'stream::update', description: 'Atomically update a stream value with multiple operations', worker: 'iii-stream' },
  { id: 'stream::list', description: 'List all items in a stream group', worker: 'iii-stream' },
  { id: 'stream::list_groups', description: 'List all groups in a stream', worker: 'iii-stream' },
  { id: 'stream::list_all', description: 'List all available stream with metadata', worker: 'iii-stream' },
  { id: 'stream::send', description: 'Send a custom event to stream subscribers', worker: 'iii-stream' },
  { id: 'publish', description: 'Publishes an event', worker: 'iii-pubsub' },
  {
    id: 'configuration::register',
    description:
      'Register a configuration id with a name, description, and JSON Schema. Idempotent — re-registering replaces metadata and (when initial_value is provided) the value. Validates initial_value against the schema.',
    worker: 'iii-configuration',
  },
  {
    id: 'configuration::set',
    description: 'Replace the value of an already-registered configuration. Validates the value against the registered JSON Schema and emits a configuration:updated event.',
    worker: 'iii-configuration',
  },
  {
    id: 'configuration::get',
    description: 'Read a configuration by id. Expands ${VAR:default} placeholders against the live process env unless raw=true is passed.',
    worker: 'iii-configuration',
  },
  {
    id: 'configuration::list',
    description: 'List every registered configuration with id, name, description, and schema. Sorted by id; never returns the stored value.',
    worker: 'iii-configuration',
  },
  {
    id: 'configuration::schema',
    description: 'Retrieve the schema, name, and description for a configuration id. Mirrors a single entry from configuration::list.',
    worker: 'iii-configuration',
  },
  ...QUEUE_FUNCTIONS.map((f) => ({ ...f, worker: 'iii-queue' })),
]

/** The same by id: a listing names the owner of each of (up to thousands of) functions. */
const ENGINE_FUNCTION_BY_ID = new Map(ENGINE_FUNCTIONS.map((f) => [f.id, f]))

/** Trigger types the engine itself provides here, with the name the engine lists as their owner. */
export const ENGINE_TRIGGER_TYPE_LIST: readonly { id: string; worker_name: string; description: string }[] = [
  { id: 'http', worker_name: 'iii-http', description: 'HTTP requests on this origin' },
  { id: CRON, worker_name: 'iii-cron', description: 'Cron-based scheduled triggers' },
  { id: FUNCTIONS_AVAILABLE, worker_name: 'engine', description: 'Triggered when functions are registered/unregistered' },
  { id: WORKERS_AVAILABLE, worker_name: 'engine', description: 'Triggered when workers connect/disconnect' },
  { id: STATE_TRIGGER, worker_name: 'iii-state', description: 'State trigger' },
  { id: SUBSCRIBE_TRIGGER, worker_name: 'iii-pubsub', description: 'Subscribe to a topic' },
  { id: STREAM_TRIGGER, worker_name: 'iii-stream', description: 'Stream trigger' },
  { id: STREAM_JOIN_TRIGGER, worker_name: 'iii-stream', description: 'Stream join trigger' },
  { id: STREAM_LEAVE_TRIGGER, worker_name: 'iii-stream', description: 'Stream leave trigger' },
  { id: CONFIGURATION_TRIGGER, worker_name: 'iii-configuration', description: 'Configuration trigger — fires on register/update/delete events' },
  { id: LOG_TRIGGER, worker_name: 'iii-observability', description: 'Log event trigger' },
  { id: DURABLE_SUBSCRIBER_TRIGGER, worker_name: 'iii-queue', description: 'Durable queue subscriber: each subscribed function gets every message of its topic, with retries and dead letters' },
]

type Input = Record<string, unknown>

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
const has = (text: string | undefined, needle: string) => (text ?? '').toLowerCase().includes(needle.toLowerCase())
const byId = <T extends { id: string }>(a: T, b: T) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** The engine's `engine::*` functions are internal, except the queue ones; so are functions marked internal. */
const isInternalFunction = (id: string, metadata?: unknown) =>
  (id.startsWith('engine::') && !id.startsWith('engine::queue::')) || asObject(metadata).internal === true

/** Who serves a function, as the engine names it: the worker's name, else the id's first segment. */
export function ownerName(core: RegistryCore, functionId: string): string {
  const builtin = ENGINE_FUNCTION_BY_ID.get(functionId)
  if (builtin) return builtin.worker ?? 'engine'
  const fn = core.functions.get(functionId)
  return (fn && core.workerName(fn.workerId)) ?? functionId.split('::')[0]!
}

export interface FunctionSummary {
  function_id: string
  worker_name: string
  description?: string
  metadata?: unknown
  /** Not in the engine's entry: which worker (session) serves it, for the page. */
  worker_id?: string
}

/** Every function, the engine's own first (what `engine::functions-available` sends; unfiltered). */
export function functionSummaries(core: RegistryCore): FunctionSummary[] {
  const engine = ENGINE_FUNCTIONS.map((f) => ({ function_id: f.id, worker_name: f.worker ?? 'engine', description: f.description }))
  return [...engine, ...[...core.functions.values()].map((f) => summary(core, f))]
}

function summary(core: RegistryCore, f: FunctionEntry): FunctionSummary {
  return {
    function_id: f.id,
    worker_name: ownerName(core, f.id),
    ...(f.description != null ? { description: f.description } : {}),
    ...(f.metadata != null ? { metadata: f.metadata } : {}),
    worker_id: f.workerId,
  }
}

/** `engine::functions::list`: `{search?, prefix?, worker?, workers?, include_internal?}`. */
export function listFunctions(core: RegistryCore, input: Input = {}) {
  const search = str(input.search)
  const prefix = str(input.prefix)
  const worker = str(input.worker)
  const workers = Array.isArray(input.workers) ? input.workers.filter((w) => typeof w === 'string') : []
  let rows = functionSummaries(core)
  if (input.include_internal !== true) rows = rows.filter((f) => !isInternalFunction(f.function_id, f.metadata))
  if (prefix) rows = rows.filter((f) => f.function_id.startsWith(prefix))
  if (worker || workers.length) rows = rows.filter((f) => f.worker_name === worker || workers.includes(f.worker_name))
  if (search) {
    const rank = (f: FunctionSummary) =>
      f.function_id.toLowerCase().startsWith(search.toLowerCase()) || f.function_id.split('::').some((s) => s.toLowerCase() === search.toLowerCase())
        ? 0
        : has(f.function_id, search)
          ? 1
          : 2
    rows = rows.filter((f) => has(f.function_id, search) || has(f.description, search))
    return { functions: rows.sort((a, b) => rank(a) - rank(b) || cmp(a.function_id, b.function_id)) }
  }
  return { functions: rows.sort((a, b) => cmp(a.function_id, b.function_id)) }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** Trigger types: the engine's own and the workers'. */
function triggerTypeSummaries(core: RegistryCore) {
  const custom = [...core.triggerTypes.values()].map((t) => ({
    id: t.id,
    worker_name: core.workerName(t.workerId) ?? t.id.split('::')[0]!,
    description: t.description ?? '',
  }))
  return [...ENGINE_TRIGGER_TYPE_LIST.map((t) => ({ ...t })), ...custom]
}

/** `engine::triggers::list`: `{search?, prefix?, worker?, include_internal?}`. */
export function listTriggerTypes(core: RegistryCore, input: Input = {}) {
  let rows = triggerTypeSummaries(core)
  if (input.include_internal !== true) rows = rows.filter((t) => !t.id.startsWith('engine::'))
  const prefix = str(input.prefix)
  const worker = str(input.worker)
  const search = str(input.search)
  if (prefix) rows = rows.filter((t) => t.id.startsWith(prefix))
  if (worker) rows = rows.filter((t) => t.worker_name === worker)
  if (search) rows = rows.filter((t) => has(t.id, search) || has(t.description, search))
  return { triggers: rows.sort(byId) }
}

/** A compact one-line config, cut at 80 characters (as the engine's `config_summary`). */
export function configSummary(config: unknown): string {
  const text = JSON.stringify(config ?? null)
  const chars = [...text]
  return chars.length > 80 ? `${chars.slice(0, 80).join('')}…` : text
}

function triggerSummary(core: RegistryCore, t: TriggerEntry, now: number) {
  const next = t.trigger_type === CRON ? nextCronRun(t.config, now) : undefined
  return {
    id: t.id,
    trigger_type: t.trigger_type,
    function_id: t.function_id,
    worker_name: ownerName(core, t.function_id),
    config: t.config,
    config_summary: configSummary(t.config),
    /** Not in the engine's entry: the worker that registered it, and a cron trigger's next run. */
    worker_id: t.workerId,
    ...(next !== undefined ? { next_run: next } : {}),
  }
}

/** A cron trigger's next run (RFC 3339), or null when its schedule has none left. */
export function nextCronRun(config: unknown, now: number): string | null {
  const parsed = parseCron(asObject(config).expression)
  const next = parsed.ok ? parsed.schedule.next(new Date(now)) : null
  return next ? rfc3339(next) : null
}

/** `engine::registered-triggers::list`: `{search?, trigger_type?, function_id?, worker?, include_internal?}`. */
export function listTriggers(core: RegistryCore, input: Input = {}, now = Date.now()) {
  let rows = [...core.triggers.values()].map((t) => triggerSummary(core, t, now))
  if (input.include_internal !== true) rows = rows.filter((t) => !t.function_id.startsWith('engine::'))
  const type = str(input.trigger_type)
  const fn = str(input.function_id)
  const worker = str(input.worker)
  const search = str(input.search)
  if (type) rows = rows.filter((t) => t.trigger_type === type)
  if (fn) rows = rows.filter((t) => t.function_id === fn)
  if (worker) rows = rows.filter((t) => t.worker_name === worker)
  if (search) rows = rows.filter((t) => has(t.id, search) || has(t.trigger_type, search) || has(t.function_id, search))
  return { registered_triggers: rows.sort(byId) }
}

/** One worker as `engine::workers::list` shows it (every key present; null when unknown). */
export function workerSummary(core: RegistryCore, id: string, active: number) {
  const w = core.workers.get(id)!
  const m = (w.metadata ?? {}) as Record<string, unknown>
  const text = (v: unknown) => (typeof v === 'string' ? v : null)
  const functions = [...core.functions.values()].filter((f) => f.workerId === id).map((f) => f.id)
  return {
    name: text(m.name),
    description: text(m.description),
    version: text(m.version),
    id,
    runtime: text(m.runtime),
    os: text(m.os),
    status: active > 0 ? 'busy' : 'connected',
    function_count: functions.length,
    connected_at_ms: w.connectedAt,
    active_invocations: active,
    isolation: text(m.isolation),
    ip_address: text(m.ip_address),
    ...(typeof m.pid === 'number' ? { pid: m.pid } : {}),
    /** Not in the engine's entry: the ids, for the page. */
    functions,
  }
}

/** `engine::workers::list`: `{search?, runtime?, status?}`, sorted by name (or id). */
export function listWorkers(core: RegistryCore, active: (id: string) => number, input: Input = {}) {
  let rows = [...core.workers.keys()].map((id) => workerSummary(core, id, active(id)))
  rows.sort((a, b) => cmp(a.name ?? a.id, b.name ?? b.id) || cmp(a.id, b.id))
  const runtime = str(input.runtime)
  const status = str(input.status)
  const search = str(input.search)
  if (runtime) rows = rows.filter((w) => w.runtime === runtime)
  if (status) rows = rows.filter((w) => w.status === status)
  if (search) rows = rows.filter((w) => has(w.name ?? undefined, search))
  return { workers: rows }
}

function functionDetail(core: RegistryCore, id: string) {
  const f = core.functions.get(id)
  const engine = ENGINE_FUNCTIONS.find((e) => e.id === id)
  if (!f && !engine) return null
  return {
    function_id: id,
    worker_name: ownerName(core, id),
    ...(engine ? { description: engine.description } : {}),
    ...(f?.description != null ? { description: f.description } : {}),
    ...(f?.request_format != null ? { request_schema: f.request_format } : {}),
    ...(f?.response_format != null ? { response_schema: f.response_format } : {}),
    ...(f?.metadata != null ? { metadata: f.metadata } : {}),
    registered_triggers: [...core.triggers.values()].filter((t) => t.function_id === id).map(({ id, trigger_type, config }) => ({ id, trigger_type, config })),
  }
}

/** `engine::functions::info`: `{function_id}` or `{function_ids}` (≤ 32). */
export function functionInfo(core: RegistryCore, input: Input) {
  const one = input.function_id
  const many = input.function_ids
  if (one !== undefined && many !== undefined) throw new EngineError('INVALID_ARGUMENTS', 'pass either `function_id` or `function_ids`, not both')
  if (one === undefined && many === undefined) throw new EngineError('INVALID_ARGUMENTS', 'missing field `function_id` (or `function_ids` for a batch)')
  if (one !== undefined) {
    if (typeof one !== 'string') throw deserialization('engine::functions::info', 'function_id must be a string')
    const detail = functionDetail(core, one)
    if (!detail) throw new EngineError('NOT_FOUND', `Function '${one}' is not registered.`)
    return detail
  }
  if (!Array.isArray(many) || many.some((id) => typeof id !== 'string')) throw deserialization('engine::functions::info', 'function_ids must be an array of strings')
  const ids = [...new Set(many as string[])]
  if (ids.length === 0) throw new EngineError('INVALID_ARGUMENTS', '`function_ids` must be a non-empty array of function ids')
  if (ids.length > 32) throw new EngineError('INVALID_ARGUMENTS', 'too many function_ids (max 32)')
  return { functions: ids.map((id) => functionDetail(core, id) ?? { function_id: id, error: 'not_found' }) }
}

function triggerTypeDetail(core: RegistryCore, id: string) {
  const type = triggerTypeSummaries(core).find((t) => t.id === id)
  if (!type) return null
  return { ...type, instance_count: [...core.triggers.values()].filter((t) => t.trigger_type === id).length }
}

/** `engine::triggers::info`: `{id}`. */
export function triggerTypeInfo(core: RegistryCore, input: Input) {
  const id = requiredString(input, 'id', 'engine::triggers::info')
  const detail = triggerTypeDetail(core, id)
  if (!detail) throw new EngineError('NOT_FOUND', `Trigger type '${id}' is not registered.`)
  return detail
}

/** `engine::registered-triggers::info`: `{id}`. */
export function triggerInfo(core: RegistryCore, input: Input, now = Date.now()) {
  const id = requiredString(input, 'id', 'engine::registered-triggers::info')
  const t = core.triggers.get(id)
  if (!t) throw new EngineError('NOT_FOUND', `Registered trigger '${id}' was not found.`)
  const { config_summary: _, worker_id: _w, ...entry } = triggerSummary(core, t, now)
  return {
    ...entry,
    ...(t.metadata != null ? { metadata: t.metadata } : {}),
    trigger: triggerTypeDetail(core, t.trigger_type),
    function: functionDetail(core, t.function_id),
  }
}

/** `engine::workers::info`: `{name}` (by name, as in the engine). */
export function workerInfo(core: RegistryCore, input: Input, active: (id: string) => number, now = Date.now()) {
  const name = requiredString(input, 'name', 'engine::workers::info')
  const id = [...core.workers.keys()].find((w) => core.workerName(w) === name)
  if (!id) throw new EngineError('NOT_FOUND', `Worker '${name}' is not connected.`)
  const { functions: ids, ...worker } = workerSummary(core, id, active(id))
  const functions = ids.map((f) => summary(core, core.functions.get(f)!)).sort((a, b) => cmp(a.function_id, b.function_id))
  return {
    worker: { ...worker, internal: false },
    functions,
    trigger_types: triggerTypeSummaries(core).filter((t) => t.worker_name === name).sort(byId),
    registered_triggers: [...core.triggers.values()]
      .filter((t) => ids.includes(t.function_id))
      .map((t) => triggerSummary(core, t, now))
      .sort(byId),
  }
}

function requiredString(input: Input, field: string, fn: string): string {
  const v = input[field]
  if (typeof v !== 'string') throw deserialization(fn, v === undefined ? `missing field \`${field}\`` : `\`${field}\` must be a string`)
  return v
}

const deserialization = (fn: string, why: string) => new EngineError('deserialization_error', `Failed to deserialize input for ${fn}: ${why}`)
