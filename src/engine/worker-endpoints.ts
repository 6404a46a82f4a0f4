// Worker endpoints (`III_WORKER_ENDPOINTS`): more doors to the engine socket, each with rules of its
// own, as the iii engine's extra worker ports with `rbac` (docs/rbac.md). Pure: the configuration,
// which door an upgrade's path names, the auth function's input and the reading of its answer.

import { asObject } from '../protocol/json'
import { DEFAULT_NAMESPACE, parseNamespace } from '../protocol/namespace'
import { isOwnPath } from '../paths'
import { base64 } from './http-function'
import { type RbacConfig, type WorkerRights, type WorkerRules, parseExposeFilter } from './rbac'

export interface WorkerEndpoint {
  /** As configured (`/app`); served at `/<namespace>/app` when it names a namespace. */
  path: string
  namespace: string
  middleware_function_id: string | null
  rbac: RbacConfig | null
}

/** The path an endpoint is served at. */
export const servedPath = (e: WorkerEndpoint): string => (e.namespace === DEFAULT_NAMESPACE ? e.path : `/${e.namespace}${e.path}`)

const PATH = /^(\/[A-Za-z0-9._~-]+)+$/
const optionalId = (v: unknown, field: string, problems: string[]): string | undefined => {
  if (v === undefined || v === null) return undefined
  if (typeof v === 'string' && v !== '') return v
  problems.push(`${field} must be a function id`)
  return undefined
}

/**
 * `III_WORKER_ENDPOINTS`: a JSON list (a string, or the list itself from `wrangler.toml`). An entry
 * with a problem is left out (the door stays shut) and the problem is reported, never half-served.
 */
export function parseWorkerEndpoints(raw: unknown): { endpoints: WorkerEndpoint[]; problems: string[] } {
  if (raw === undefined || raw === null || raw === '') return { endpoints: [], problems: [] }
  let list = raw
  if (typeof raw === 'string') {
    try {
      list = JSON.parse(raw)
    } catch {
      return { endpoints: [], problems: ['III_WORKER_ENDPOINTS is not JSON: expected a list of {path, namespace?, middleware_function_id?, rbac?}'] }
    }
  }
  if (!Array.isArray(list)) return { endpoints: [], problems: ['III_WORKER_ENDPOINTS must be a list of {path, namespace?, middleware_function_id?, rbac?}'] }
  const endpoints: WorkerEndpoint[] = []
  const problems: string[] = []
  const seen = new Set<string>()
  list.forEach((item, i) => {
    const entryProblems: string[] = []
    const entry = asObject(item)
    const path = typeof entry.path === 'string' ? entry.path.replace(/\/+$/, '') : ''
    if (!PATH.test(path)) entryProblems.push('path must be like "/app" (letters, digits, ".", "_", "~", "-" per segment)')
    else if (isOwnPath(path) || path.endsWith('/otel') || path.includes('/ws/channels')) entryProblems.push(`path ${path} is one of the engine's own`)
    const ns = parseNamespace(typeof entry.namespace === 'string' ? entry.namespace : DEFAULT_NAMESPACE)
    if (!ns.ok) entryProblems.push(`namespace: ${ns.message}`)
    const middleware = optionalId(entry.middleware_function_id, 'middleware_function_id', entryProblems)
    const rbac = entry.rbac === undefined || entry.rbac === null ? null : parseRbac(entry.rbac, entryProblems)
    const endpoint: WorkerEndpoint = { path, namespace: ns.ok ? ns.value : '', middleware_function_id: middleware ?? null, rbac }
    if (entryProblems.length === 0 && seen.has(servedPath(endpoint))) entryProblems.push(`path ${servedPath(endpoint)} is served by an earlier entry`)
    if (entryProblems.length > 0) return void problems.push(`III_WORKER_ENDPOINTS[${i}] left out: ${entryProblems.join('; ')}`)
    seen.add(servedPath(endpoint))
    endpoints.push(endpoint)
  })
  return { endpoints, problems }
}

function parseRbac(value: unknown, problems: string[]): RbacConfig {
  const r = asObject(value)
  const expose = r.expose_functions ?? []
  const rbac: RbacConfig = { expose_functions: [] }
  if (!Array.isArray(expose)) problems.push('rbac.expose_functions must be a list')
  else {
    for (const item of expose) {
      const filter = parseExposeFilter(item)
      if ('problem' in filter) problems.push(`rbac.expose_functions: ${filter.problem}`)
      else rbac.expose_functions.push(filter)
    }
  }
  const ids = ['auth_function_id', 'on_function_registration_function_id', 'on_trigger_registration_function_id', 'on_trigger_type_registration_function_id'] as const
  for (const field of ids) {
    const id = optionalId(r[field], `rbac.${field}`, problems)
    if (id) rbac[field] = id
  }
  return rbac
}

/** The endpoint an upgrade's path names (`<endpoint>` or `<endpoint>/otel`), or null. */
export function endpointOf(endpoints: readonly WorkerEndpoint[], pathname: string): { endpoint: WorkerEndpoint; otel: boolean } | null {
  const path = pathname.replace(/\/+$/, '')
  for (const endpoint of endpoints) {
    const served = servedPath(endpoint)
    if (path === served) return { endpoint, otel: false }
    if (path === `${served}/otel`) return { endpoint, otel: true }
  }
  return null
}

/** The auth function's input, the engine's: every header (lower-case names), the raw query as lists, the client's address. */
export interface AuthInput {
  headers: Record<string, string>
  query_params: Record<string, string[]>
  ip_address: string
}

export function authInput(headers: Headers, search: string, ip: string): AuthInput {
  // Headers iterates lower-case names; a repeated one is joined by the platform (the engine keeps one
  // value). Own properties even for a name like `__proto__`: a client chooses these names.
  const entries: [string, string][] = []
  headers.forEach((value, name) => void entries.push([name, value]))
  return { headers: Object.fromEntries(entries), query_params: queryParams(search), ip_address: ip }
}

/** `?a=1&a=2&b` → `{a: ['1','2'], b: ['']}`: split on `&` and the first `=`, nothing decoded (as the engine). */
export function queryParams(search: string): Record<string, string[]> {
  // A Map, then own properties: a key such as `__proto__` is the client's, and stays a key.
  const params = new Map<string, string[]>()
  for (const piece of search.replace(/^\?/, '').split('&')) {
    if (piece === '') continue
    const eq = piece.indexOf('=')
    const key = eq < 0 ? piece : piece.slice(0, eq)
    if (key === '') continue
    const values = params.get(key) ?? []
    values.push(eq < 0 ? '' : piece.slice(eq + 1))
    params.set(key, values)
  }
  return Object.fromEntries(params)
}

/** An auth answer's largest accepted size (JSON bytes): it lives with the session, and is sent to every middleware call. */
export const AUTH_ANSWER_MAX_BYTES = 16 * 1024

/**
 * The auth function's answer as rights, or why the connection is refused. Absent fields take the
 * engine's defaults (no trigger type registration, function registration allowed, context `{}`);
 * a field of the wrong type refuses, as the engine's strict reading does.
 */
export function parseAuthAnswer(value: unknown): { ok: true; rights: WorkerRights } | { ok: false; message: string } {
  if (value === undefined || value === null) return { ok: false, message: 'auth function returned no result' }
  if (typeof value !== 'object' || Array.isArray(value)) return { ok: false, message: `auth function answered ${Array.isArray(value) ? 'a list' : typeof value}, expected an object` }
  const size = new TextEncoder().encode(JSON.stringify(value)).length
  if (size > AUTH_ANSWER_MAX_BYTES) return { ok: false, message: `auth answer is ${size} bytes of JSON, at most ${AUTH_ANSWER_MAX_BYTES}` }
  const a = value as Record<string, unknown>
  const problems: string[] = []
  const list = (field: string): string[] => {
    const v = a[field]
    if (v === undefined) return []
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[]
    problems.push(`${field} must be a list of strings`)
    return []
  }
  const flag = (field: string, fallback: boolean): boolean => {
    const v = a[field]
    if (v === undefined) return fallback
    if (typeof v === 'boolean') return v
    problems.push(`${field} must be true or false`)
    return false
  }
  const types = a.allowed_trigger_types
  const prefix = a.function_registration_prefix
  const rights: WorkerRights = {
    allowed_functions: list('allowed_functions'),
    forbidden_functions: list('forbidden_functions'),
    allowed_trigger_types: types === undefined || types === null ? null : list('allowed_trigger_types'),
    allow_trigger_type_registration: flag('allow_trigger_type_registration', false),
    allow_function_registration: flag('allow_function_registration', true),
    function_registration_prefix: null,
    context: a.context === undefined ? {} : a.context,
  }
  if (typeof prefix === 'string' && prefix !== '') rights.function_registration_prefix = prefix
  else if (prefix !== undefined && prefix !== null && prefix !== '') problems.push('function_registration_prefix must be a string')
  if (problems.length > 0) return { ok: false, message: `auth answer refused: ${problems.join('; ')}` }
  return { ok: true, rights }
}

const parsedOnce = new Map<unknown, WorkerEndpoint[]>()

/** This deployment's endpoints, parsed once per isolate; problems are logged at the first parse. */
export function workerEndpoints(raw: unknown, log: (message: string) => void): WorkerEndpoint[] {
  let endpoints = parsedOnce.get(raw)
  if (!endpoints) {
    const parsed = parseWorkerEndpoints(raw)
    for (const problem of parsed.problems) log(problem)
    parsedOnce.set(raw, (endpoints = parsed.endpoints))
  }
  return endpoints
}

/**
 * The rules of a worker that came through the endpoint served at `served`. An endpoint no longer
 * configured (a deploy removed it while the session slept) fails closed: nothing but the
 * infrastructure set may be invoked.
 */
export function rulesFor(endpoints: readonly WorkerEndpoint[], served: string, rights: WorkerRights): WorkerRules {
  const endpoint = endpoints.find((e) => servedPath(e) === served)
  if (!endpoint) return { endpoint: served, rbac: { expose_functions: [] }, middleware_function_id: null, rights }
  return { endpoint: served, rbac: endpoint.rbac, middleware_function_id: endpoint.middleware_function_id, rights }
}

/** Headers the front door sets on an endpoint's upgrade for the new session (and removes from any other). */
export const ENDPOINT_HEADER = 'x-iii-endpoint'
export const RIGHTS_HEADER = 'x-iii-rights'

/** Rights as a header value: base64 of their UTF-8 JSON (a header carries Latin-1 only). */
export const encodeRights = (rights: WorkerRights): string => base64(JSON.stringify(rights))

export function decodeRights(value: string): WorkerRights {
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)))) as WorkerRights
}
