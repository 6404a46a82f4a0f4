// CORS for HTTP triggers (docs/engine-compat.md, "CORS on HTTP triggers"), with the iii engine's
// semantics: its tower-http `CorsLayer`, permissive when nothing is configured. The engine's own
// paths (the sockets, /channels, /api, the page) never get CORS: they have their own origin guard.
//
//   neither var set   any origin (`*`), any method, any request headers, every response header
//                     exposed; never credentials (tower-http's `CorsLayer::permissive()`)
//   III_HTTP_CORS_ORIGINS = "https://app.example, http://localhost:5173"   only those origins (the
//                     matching one echoed); empty or "*": any origin
//   III_HTTP_CORS_METHODS = "GET, POST"   only those methods; empty or "*": any method
//
// A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered here for
// every path a trigger could serve, before any route is looked up or any object wakes, as the
// engine's layer answers it for every path of its router. Pure rules, then one Hono middleware.

import { createMiddleware } from 'hono/factory'
import { isOwnPath } from '../paths'
import { httpError } from '../protocol/http-errors'

const ORIGINS_VAR = 'III_HTTP_CORS_ORIGINS'
const METHODS_VAR = 'III_HTTP_CORS_METHODS'

export interface CorsVars {
  III_HTTP_CORS_ORIGINS?: unknown
  III_HTTP_CORS_METHODS?: unknown
}

export interface CorsPolicy {
  /** Origins that may read responses, as browsers send them in `Origin`; null: any (`*`). */
  origins: ReadonlySet<string> | null
  /** Methods a page may use, upper case; null: any. */
  methods: readonly string[] | null
  /** Nothing configured: tower-http's permissive layer, which also exposes every response header. */
  permissive: boolean
}

export const PERMISSIVE: CorsPolicy = { origins: null, methods: null, permissive: true }

/**
 * tower-http 0.6.10 (the engine's) sends this on every response, preflight or not, whatever the
 * policy: a cache must not serve one origin's answer to another.
 */
export const VARY = 'origin, access-control-request-method, access-control-request-headers'

/** The headers this policy decides on a trigger's response; a function's own values never pass. */
const OWNED = ['access-control-allow-origin', 'access-control-allow-credentials'] as const

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** The var's comma-separated entries; null when it lists none (unset, empty: the engine's empty list). */
function entries(raw: unknown, name: string, problems: string[]): string[] | null {
  if (raw === undefined || raw === null) return null
  if (typeof raw !== 'string') {
    problems.push(`${name} must be a comma-separated text var: nothing is allowed until it is fixed`)
    return []
  }
  const list = raw.split(',').map((s) => s.trim()).filter((s) => s !== '')
  return list.length === 0 ? null : list
}

/**
 * An origin as a browser serializes it in `Origin` (`https://app.example`, `http://localhost:5173`;
 * http(s) hosts lower-cased, default ports dropped, one trailing `/` forgiven), or null.
 */
export function parseOrigin(entry: string): string | null {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#@\s]+)\/?$/i.exec(entry)
  if (!m) return null
  const scheme = m[1]!.toLowerCase()
  if (scheme !== 'http' && scheme !== 'https') return `${scheme}://${m[2]}` // an app's own scheme (tauri://localhost)
  try {
    return new URL(entry).origin
  } catch {
    return null
  }
}

/**
 * The policy the two vars describe, and what was wrong with them. An entry that cannot be an origin
 * or a method is dropped, never read as "any": a var whose every entry was dropped allows nothing.
 * `null` is never an origin to allow: sandboxed frames and `file:` pages send it, so any page can.
 */
export function parseCorsPolicy(vars: CorsVars): { policy: CorsPolicy; problems: string[] } {
  const problems: string[] = []
  const originList = entries(vars.III_HTTP_CORS_ORIGINS, ORIGINS_VAR, problems)
  const methodList = entries(vars.III_HTTP_CORS_METHODS, METHODS_VAR, problems)
  if (originList === null && methodList === null && problems.length === 0) return { policy: PERMISSIVE, problems }

  let origins: Set<string> | null = null
  if (originList?.includes('*')) {
    if (originList.length > 1) problems.push(`${ORIGINS_VAR} lists "*" with other origins: every origin is allowed`)
  } else if (originList) {
    origins = new Set()
    for (const entry of originList) {
      const origin = entry.toLowerCase() === 'null' ? null : parseOrigin(entry)
      if (origin) origins.add(origin)
      else problems.push(`${ORIGINS_VAR}: ${JSON.stringify(entry).slice(0, 80)} is not an origin (scheme://host[:port], not "null"): ignored`)
    }
  }

  let methods: string[] | null = null
  if (methodList && !methodList.includes('*')) {
    methods = []
    for (const entry of methodList) {
      if (TOKEN.test(entry)) methods.push(entry.toUpperCase())
      else problems.push(`${METHODS_VAR}: ${JSON.stringify(entry).slice(0, 80)} is not a method name: ignored`)
    }
  }
  return { policy: { origins, methods, permissive: false }, problems }
}

let parsed: { origins: unknown; methods: unknown; policy: CorsPolicy } | null = null

/** The policy of this isolate's env, parsed once per value of the vars (problems logged then). */
export function corsPolicyOf(vars: CorsVars, log: (message: string) => void = console.warn): CorsPolicy {
  const origins = vars.III_HTTP_CORS_ORIGINS
  const methods = vars.III_HTTP_CORS_METHODS
  if (parsed && parsed.origins === origins && parsed.methods === methods) return parsed.policy
  const { policy, problems } = parseCorsPolicy(vars)
  for (const problem of problems) log(problem)
  parsed = { origins, methods, policy }
  return policy
}

/** `OPTIONS` with `Origin` and `Access-Control-Request-Method`: a browser asking, not a request to serve. */
export const isPreflight = (request: Request): boolean =>
  request.method === 'OPTIONS' && request.headers.has('origin') && request.headers.has('access-control-request-method')

/**
 * The `Access-Control-Allow-Origin` value for a page of `origin` using `method`, or why not. The
 * method list covers every method, GET, HEAD and POST included (a browser never preflights those),
 * so "only those methods" holds for simple requests too.
 */
export function allowOrigin(policy: CorsPolicy, origin: string | null, method: string): { allow: string } | { refused: string } {
  if (policy.origins && (origin === null || !policy.origins.has(origin))) return { refused: `this page's origin is not in ${ORIGINS_VAR}` }
  if (policy.methods && !policy.methods.includes(method)) return { refused: `this method is not in ${METHODS_VAR}` }
  return { allow: policy.origins ? origin! : '*' }
}

/**
 * The answer to a preflight: 200 with no body and the grant (the method list, or `*`; any request
 * header), or 403 in the one error shape saying which var refused it (a browser reads no body of a
 * preflight; a developer sees it in the network panel). No max-age, as the engine sends none.
 */
export function preflightResponse(policy: CorsPolicy, request: Request): Response {
  const decision = allowOrigin(policy, request.headers.get('origin'), request.headers.get('access-control-request-method') ?? '')
  if ('refused' in decision) {
    const refused = httpError(403, 'FORBIDDEN', `CORS preflight refused: ${decision.refused}`)
    refused.headers.set('vary', VARY)
    return refused
  }
  return new Response(null, {
    status: 200,
    headers: {
      'access-control-allow-origin': decision.allow,
      'access-control-allow-methods': policy.methods ? policy.methods.join(',') : '*',
      'access-control-allow-headers': '*',
      vary: VARY,
    },
  })
}

/**
 * `response` (a trigger's, or an error from the trigger path) with the CORS headers of `request`:
 * the grant when the origin and method are allowed, `expose-headers: *` in the permissive mode,
 * `vary` always. An `allow-origin` or `allow-credentials` the function set itself is dropped: the
 * deployment decides who reads its responses, and credentials are never allowed.
 */
export function withCors(policy: CorsPolicy, request: Request, response: Response): Response {
  const out = new Response(response.body, response)
  for (const name of OWNED) out.headers.delete(name)
  const decision = allowOrigin(policy, request.headers.get('origin'), request.method)
  if ('allow' in decision) out.headers.set('access-control-allow-origin', decision.allow)
  if (policy.permissive) out.headers.set('access-control-expose-headers', '*')
  out.headers.append('vary', VARY)
  return out
}

/**
 * The trigger path's CORS, as the middleware of the app's last route (src/index.ts): preflights are
 * answered before the handler, and every response it gives, error responses included, gets the
 * headers. Paths of the engine's own pass untouched.
 */
export const httpTriggerCors = () =>
  createMiddleware<{ Bindings: CorsVars }>(async (c, next) => {
    if (isOwnPath(c.req.path)) return next()
    const policy = corsPolicyOf(c.env)
    if (isPreflight(c.req.raw)) return preflightResponse(policy, c.req.raw)
    await next()
    const response = withCors(policy, c.req.raw, c.res)
    c.res = undefined // replace it whole: assigning over a response merges the old one's headers back in
    c.res = response
  })
