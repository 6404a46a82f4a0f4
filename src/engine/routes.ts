// HTTP trigger routes: `api_path` patterns such as `files/:filename` matched against request paths.
// Pure; registry views (engine/view.ts) keep the compiled table, rebuilt when the registry changes.

import { isOwnPath } from '../paths'
import { asObject } from '../protocol/json'

export interface HttpRoute {
  triggerId: string
  functionId: string
  /** Upper-case method; GET when the trigger gave none (as in the iii engine). */
  method: string
  apiPath: string
  segments: string[]
  metadata?: unknown
  /** The session serving the function (set in registry views). */
  worker?: string
  /** `config.middleware_function_ids`: run in order before the function (docs/engine-compat.md). */
  middleware: string[]
  /** `config.condition_function_id`: a `false` result answers 422 instead of running the function. */
  condition?: string
}

export interface RouteMatch {
  trigger_id: string
  function_id: string
  /** The registered path with a leading slash, e.g. `/files/:filename` (what the function sees as `path`). */
  api_path: string
  metadata?: unknown
  path_params: Record<string, string>
  worker?: string
  middleware: string[]
  condition?: string
}

const splitPath = (path: string) => path.replace(/^\/+|\/+$/g, '').split('/').filter((s) => s !== '')

/** Why an http trigger config cannot be served, or null when it can. */
export function httpTriggerProblem(config: unknown): string | null {
  const c = asObject(config)
  if (typeof c.api_path !== 'string' || c.api_path.trim() === '') return 'http trigger config needs a non-empty api_path'
  if (c.http_method !== undefined && (typeof c.http_method !== 'string' || !/^[A-Za-z]+$/.test(c.http_method))) {
    return 'http_method must be a method name like "GET"'
  }
  const path = splitPath(c.api_path).join('/')
  // Paths this project serves itself (API, sockets, the page and its assets): a trigger there is refused.
  if (isOwnPath(path)) return `api_path "${c.api_path}" is reserved by the engine`
  return null
}

export function compileRoute(trigger: { id: string; function_id: string; config: unknown; metadata?: unknown }): HttpRoute {
  const c = asObject(trigger.config)
  const apiPath = String(c.api_path)
  return {
    triggerId: trigger.id,
    functionId: trigger.function_id,
    method: typeof c.http_method === 'string' ? c.http_method.toUpperCase() : 'GET',
    apiPath: `/${splitPath(apiPath).join('/')}`,
    segments: splitPath(apiPath),
    metadata: trigger.metadata,
    middleware: Array.isArray(c.middleware_function_ids) ? c.middleware_function_ids.filter((id): id is string => typeof id === 'string') : [],
    ...(typeof c.condition_function_id === 'string' ? { condition: c.condition_function_id } : {}),
  }
}

/**
 * As in the iii engine: a route with the same method and the same shape as another but other
 * parameter names (`a/:x/:y` vs `a/:y/:x`) is refused; the same path again is not (the last
 * registration serves it).
 */
export function httpRouteConflict(config: unknown, others: readonly unknown[]): string | null {
  const route = compileRoute({ id: '', function_id: '', config })
  for (const other of others) {
    const existing = compileRoute({ id: '', function_id: '', config: other })
    if (routeShape(existing) !== routeShape(route) || existing.apiPath === route.apiPath) continue
    return routeConflictMessage(route.method, config, other)
  }
  return null
}

/** Method and path with every parameter name erased (`GET a/:/b`): two routes of one shape match the same requests. */
export const routeShape = (r: HttpRoute) => `${r.method} ${r.segments.map((s) => (s.startsWith(':') ? ':' : s)).join('/')}`

/** The engine's words for a route refused by httpRouteConflict (`other` is the registered one's config). */
export function routeConflictMessage(method: string, config: unknown, other: unknown): string {
  const raw = (c: unknown) => String(asObject(c).api_path)
  return (
    `Route '${method} ${raw(config)}' conflicts with already-registered route '${method} ${raw(other)}': ` +
    'routes with identical structure but different path-parameter names are not supported'
  )
}

/**
 * The route for `method` and `path`, preferring literal segments over `:params` from left to right
 * (`files/latest` beats `files/:name`). HEAD falls back to a GET route.
 */
export function matchRoute(routes: readonly HttpRoute[], method: string, path: string): RouteMatch | null {
  const parts = splitPath(path).map(safeDecode)
  if (parts.some((p) => p === null)) return null
  const want = method.toUpperCase()
  let best: { route: HttpRoute; score: string; params: Record<string, string> } | null = null
  for (const route of routes) {
    const methodScore = route.method === want ? '1' : want === 'HEAD' && route.method === 'GET' ? '0' : null
    if (methodScore === null || route.segments.length !== parts.length) continue
    const params: Record<string, string> = {}
    let score = ''
    let ok = true
    route.segments.forEach((segment, i) => {
      if (segment.startsWith(':')) {
        params[segment.slice(1)] = parts[i]!
        score += '0'
      } else if (segment === parts[i]) score += '1'
      else ok = false
    })
    score += methodScore
    // On a tie the later registration serves the route (as in the iii engine).
    if (ok && (!best || score >= best.score)) best = { route, score, params }
  }
  if (!best) return null
  const { triggerId, functionId, apiPath, metadata, worker, middleware, condition } = best.route
  return { trigger_id: triggerId, function_id: functionId, api_path: apiPath, path_params: best.params, metadata, worker, middleware, condition }
}

function safeDecode(segment: string): string | null {
  try {
    return decodeURIComponent(segment)
  } catch {
    return null
  }
}
