// The rules of a worker that connected through a worker endpoint (worker-endpoints.ts): what it may
// invoke, what it sees in lists, what its registrations become. Pure, as the iii engine v0.22
// decides them (its worker port's `rbac`); docs/rbac.md says it in words, with the differences.

import type { ErrorBody } from '../protocol/messages'
import { asObject } from '../protocol/json'

/**
 * Always callable by a worker of an endpoint unless its auth answer forbids them: what the SDK
 * itself calls on every connection (`engine::workers::register`), logging, channels and baggage.
 * Discovery (`engine::functions::list`…) is not in it: an endpoint exposes that or not.
 */
export const INFRASTRUCTURE_FUNCTIONS: ReadonlySet<string> = new Set([
  'engine::channels::create',
  'engine::workers::register',
  'engine::log::info',
  'engine::log::warn',
  'engine::log::error',
  'engine::log::debug',
  'engine::log::trace',
  'engine::baggage::get',
  'engine::baggage::set',
  'engine::baggage::get_all',
])

/** One entry of `rbac.expose_functions`: an id pattern, or metadata every listed key of which must match. */
export type ExposeFilter = { match: string } | { metadata: Record<string, unknown> }

/** An endpoint's `rbac`, with the engine's field names. */
export interface RbacConfig {
  auth_function_id?: string
  expose_functions: ExposeFilter[]
  on_function_registration_function_id?: string
  on_trigger_registration_function_id?: string
  on_trigger_type_registration_function_id?: string
}

/** What the auth function answered for one connection (the engine's names); fixed for its life. */
export interface WorkerRights {
  allowed_functions: string[]
  forbidden_functions: string[]
  /** null: every trigger type; [] none. */
  allowed_trigger_types: string[] | null
  allow_trigger_type_registration: boolean
  allow_function_registration: boolean
  function_registration_prefix: string | null
  /** Handed to the middleware and the registration hooks. */
  context: unknown
}

/** An endpoint without an auth function: the engine's defaults when nobody is asked. */
export const UNAUTHENTICATED_RIGHTS: WorkerRights = {
  allowed_functions: [],
  forbidden_functions: [],
  allowed_trigger_types: null,
  allow_trigger_type_registration: true,
  allow_function_registration: true,
  function_registration_prefix: null,
  context: {},
}

/** A worker's rules: its endpoint's (`rbac` absent: every call allowed) and its own rights. */
export interface WorkerRules {
  /** The endpoint's path, as configured (which endpoint this worker came through). */
  endpoint: string
  rbac: RbacConfig | null
  middleware_function_id: string | null
  rights: WorkerRights
}

/** `*` matches any run of characters (none too); nothing else is special. */
export function wildcardMatch(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value
  const pieces = pattern.split('*')
  const first = pieces[0]!
  const last = pieces[pieces.length - 1]!
  if (!value.startsWith(first)) return false
  let at = first.length
  for (const piece of pieces.slice(1, -1)) {
    if (piece === '') continue
    const found = value.indexOf(piece, at)
    if (found < 0) return false
    at = found + piece.length
  }
  // The last piece must end the value, after everything matched before it.
  return value.length - last.length >= at && value.endsWith(last)
}

const MATCH = /^match\((["'])(.*)\1\)$/s

/** An `expose_functions` item, or why it is not one (the engine's wording). */
export function parseExposeFilter(item: unknown): ExposeFilter | { problem: string } {
  if (typeof item === 'string') {
    const pattern = MATCH.exec(item.trim())?.[2]
    return pattern === undefined ? { problem: `expected match("pattern"), got: ${item}` } : { match: pattern }
  }
  const metadata = asObject(asObject(item).metadata)
  if (Object.keys(metadata).length === 0) return { problem: "expected a 'metadata' key with filter conditions" }
  return { metadata }
}

/** A metadata condition: `match("…")` on a string value, else equal as JSON. */
function conditionHolds(condition: unknown, value: unknown): boolean {
  if (typeof condition === 'string') {
    const pattern = MATCH.exec(condition.trim())?.[2]
    if (pattern !== undefined) return typeof value === 'string' && wildcardMatch(pattern, value)
  }
  return jsonEqual(condition, value)
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

/** Does `filter` expose the function `id` with this registered metadata (undefined: not registered)? */
export function exposes(filter: ExposeFilter, id: string, metadata: unknown): boolean {
  if ('match' in filter) return wildcardMatch(filter.match, id)
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return false
  return Object.entries(filter.metadata).every(([key, condition]) => Object.hasOwn(metadata, key) && conditionHolds(condition, (metadata as Record<string, unknown>)[key]))
}

/** Whether a decision needs the function's metadata: only a metadata filter can tell, and only after the lists. */
export function needsMetadata(rules: WorkerRules, id: string): boolean {
  const { rights, rbac } = rules
  if (rights.forbidden_functions.includes(id) || rights.allowed_functions.includes(id) || INFRASTRUCTURE_FUNCTIONS.has(id) || !rbac) return false
  return !rbac.expose_functions.some((f) => 'match' in f && wildcardMatch(f.match, id)) && rbac.expose_functions.some((f) => 'metadata' in f)
}

/**
 * May this worker invoke `id`? null when it may, else the engine's FORBIDDEN error. First match
 * wins: forbidden, allowed, the infrastructure set, no `rbac` at all, an expose filter.
 */
export function invocationRefusal(rules: WorkerRules, id: string, metadata?: unknown): ErrorBody | null {
  const { rights, rbac } = rules
  if (rights.forbidden_functions.includes(id)) return forbidden(id, 'remove from rbac.forbidden_functions')
  if (rights.allowed_functions.includes(id) || INFRASTRUCTURE_FUNCTIONS.has(id) || !rbac) return null
  if (rbac.expose_functions.some((f) => exposes(f, id, metadata))) return null
  return forbidden(id, 'add to rbac.expose_functions')
}

const forbidden = (id: string, remedy: string): ErrorBody => ({ code: 'FORBIDDEN', message: `function '${id}' not allowed (${remedy})` })

/** `engine::*` calls never pass the middleware (the SDK's own calls, logging, lists). */
export const passesMiddleware = (rules: WorkerRules, id: string): string | null => (rules.middleware_function_id && !id.startsWith('engine::') ? rules.middleware_function_id : null)

/** May this worker register a trigger of `type`? */
export const triggerTypeAllowed = (rights: WorkerRights, type: string): boolean => rights.allowed_trigger_types === null || rights.allowed_trigger_types.includes(type)

/** The id a registration is stored under: `<prefix>::<id>` when the auth answer gave a prefix. */
export const withPrefix = (rights: WorkerRights, id: string): string => (rights.function_registration_prefix ? `${rights.function_registration_prefix}::${id}` : id)

/** The id the worker itself knows: one leading `<prefix>::` removed (an id without it is left as it is). */
export function stripPrefix(rights: WorkerRights, id: string): string {
  const prefix = rights.function_registration_prefix
  return prefix && id.startsWith(`${prefix}::`) ? id.slice(prefix.length + 2) : id
}

/** `engine::functions::list`'s answer, keeping only what this worker may invoke. */
export function visibleFunctionList(rules: WorkerRules, answer: unknown): unknown {
  const functions = asObject(answer).functions
  if (!Array.isArray(functions)) return answer
  return { ...asObject(answer), functions: functions.filter((f) => invocationRefusal(rules, String(asObject(f).function_id), asObject(f).metadata) === null) }
}

/**
 * `engine::functions::info`'s answer for this worker: one hidden function is FORBIDDEN (thrown by
 * the caller), in a batch each hidden one becomes `{function_id, error: 'forbidden'}`.
 */
export function visibleFunctionInfo(rules: WorkerRules, input: unknown, answer: unknown): { answer: unknown } | { error: ErrorBody } {
  const single = asObject(input).function_id
  const visible = (id: string, metadata: unknown) => invocationRefusal(rules, id, metadata) === null
  if (typeof single === 'string') {
    const a = asObject(answer)
    if (visible(single, a.metadata ?? asObject(a.function).metadata)) return { answer }
    return { error: { code: 'FORBIDDEN', message: `Function '${single}' is not visible to this session.` } }
  }
  const entries = asObject(answer).functions
  if (!Array.isArray(entries)) return { answer }
  return {
    answer: {
      ...asObject(answer),
      functions: entries.map((e) => {
        const id = String(asObject(e).function_id)
        return visible(id, asObject(e).metadata) ? e : { function_id: id, error: 'forbidden' }
      }),
    },
  }
}
