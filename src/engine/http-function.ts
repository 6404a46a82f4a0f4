// HTTP-invoked functions (`registerFunction(id, { url, ... })` in the SDK), free of Workers APIs:
// what a registration may say, the request each call makes, and how its response becomes the
// invocation's outcome, as the iii engine v0.22 does them (docs/http-functions.md). The session that
// received the registration owns the function and makes the calls (session.ts); this file only
// decides. Differences from the engine are deliberate and listed in the doc.

import { parseJsonOrUndefined } from '../protocol/json'
import type { ErrorBody } from '../protocol/messages'
import type { Outcome } from '../protocol/outcome'
import { hostKind } from './ip-address'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** Names (never values) of Worker secrets or vars: values are read from the env at each call. */
export type HttpAuth =
  | { type: 'hmac'; secret_key: string }
  | { type: 'bearer'; token_key: string }
  | { type: 'api_key'; header: string; value_key: string }

/** A validated registration, as the owning session keeps it (durably: no secret values in it). */
export interface HttpFunction {
  id: string
  url: string
  method: HttpMethod
  timeout_ms: number
  headers: Record<string, string>
  auth: HttpAuth | null
}

/** Reads a Worker env entry (secret or var) by name. */
export type EnvLookup = (name: string) => unknown

/**
 * The env entry an auth names, or why this function may not name it: the env as its namespace may
 * see it (namespace-secrets.ts). Read at registration and at each call.
 */
export type SecretLookup = (name: string) => { value: unknown } | { refused: string }

/** The engine's default when a registration gives no timeout. */
export const DEFAULT_TIMEOUT_MS = 30_000
/** Longer timeouts are cut to this: a call holds its session (and its caller's link) while it waits. */
export const MAX_TIMEOUT_MS = 300_000

const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']
/** RFC 9110 token: what a header name may be (a bad one would only fail later, at each call). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** Header values may not hold line breaks or NUL (header injection). */
const HEADER_VALUE = /^[^\r\n\0]*$/

export type Parsed = { ok: true; fn: HttpFunction; notes: string[] } | { ok: false; error: ErrorBody }

const invalid = (message: string): Parsed => ({ ok: false, error: { code: 'invalid_config', message } })
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Validates a registration's `invocation` and resolves its secret once, so a registration that
 * could never be called is refused now (the engine does the same, and tells the worker nothing).
 */
export function parseHttpInvocation(id: string, invocation: unknown, secrets: SecretLookup): Parsed {
  if (!isObject(invocation)) return invalid('invocation must be an object with a url')
  const notes: string[] = []
  const urlProblem = checkUrl(invocation.url)
  if (urlProblem) return { ok: false, error: { code: 'url_validation_failed', message: urlProblem } }

  const method = invocation.method ?? 'POST'
  if (!METHODS.includes(method as HttpMethod)) return invalid(`method must be one of ${METHODS.join(', ')} (uppercase), not ${JSON.stringify(method)}`)

  const given: unknown = invocation.timeout_ms ?? DEFAULT_TIMEOUT_MS
  if (typeof given !== 'number' || !Number.isFinite(given) || given <= 0) return invalid('timeout_ms must be a positive number of milliseconds')
  let timeout = given
  if (timeout > MAX_TIMEOUT_MS) {
    notes.push(`timeout_ms ${timeout} cut to ${MAX_TIMEOUT_MS}`)
    timeout = MAX_TIMEOUT_MS
  }

  // `null` is refused, as the engine refuses it; absent means none.
  const headers = invocation.headers === undefined ? {} : invocation.headers
  if (!isObject(headers)) return invalid('headers must be an object of header name to string value')
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) return invalid(`header name ${JSON.stringify(name)} is not a valid HTTP header name`)
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) return invalid(`header ${name} must have a string value without line breaks`)
  }

  const auth = parseAuth(invocation.auth)
  if (typeof auth === 'string') return invalid(auth)
  if (auth) {
    const secret = resolveSecret(auth, secrets)
    if (!secret.ok) return secret
  }
  return {
    ok: true,
    fn: { id, url: invocation.url as string, method: method as HttpMethod, timeout_ms: Math.ceil(timeout), headers: { ...(headers as Record<string, string>) }, auth },
    notes,
  }
}

/** The auth shape, or a problem's description. */
function parseAuth(auth: unknown): HttpAuth | null | string {
  if (auth === undefined || auth === null) return null
  if (!isObject(auth)) return 'auth must be an object with a type'
  const name = (v: unknown) => typeof v === 'string' && v.length > 0
  switch (auth.type) {
    case 'hmac':
      return name(auth.secret_key) ? { type: 'hmac', secret_key: auth.secret_key as string } : 'auth hmac needs secret_key: the name of a Worker secret'
    case 'bearer':
      return name(auth.token_key) ? { type: 'bearer', token_key: auth.token_key as string } : 'auth bearer needs token_key: the name of a Worker secret'
    case 'api_key':
      if (typeof auth.header !== 'string' || !HEADER_NAME.test(auth.header)) return 'auth api_key needs header: a valid HTTP header name'
      return name(auth.value_key) ? { type: 'api_key', header: auth.header, value_key: auth.value_key as string } : 'auth api_key needs value_key: the name of a Worker secret'
    default:
      return `auth type must be hmac, bearer or api_key, not ${JSON.stringify(auth.type)}`
  }
}

/**
 * The auth's secret value, read from the Worker's env by name (at registration and again at each
 * call, so a rotated secret, or a grant taken back, counts at once). Names starting with III_ are
 * refused: they are this engine's own secrets (III_ENGINE_TOKEN, III_SIGNING_SECRET), which a worker
 * must not be able to have sent to a URL of its choosing. So is a name the function's namespace was
 * not granted (`secrets` says why). Codes and texts are the engine's.
 */
export function resolveSecret(auth: HttpAuth, secrets: SecretLookup): { ok: true; value: string } | { ok: false; error: ErrorBody } {
  const [key, code, what] =
    auth.type === 'hmac'
      ? [auth.secret_key, 'secret_not_found', 'Secret']
      : auth.type === 'bearer'
        ? [auth.token_key, 'token_not_found', 'Token']
        : [auth.value_key, 'api_key_not_found', 'API key']
  const fail = (why: string) => ({ ok: false as const, error: { code, message: `${what} not found: ${key}${why}` } })
  if (key.toUpperCase().startsWith('III_')) return fail(' (names starting with III_ are the engine\'s own secrets and are never sent)')
  const found = secrets(key)
  if ('refused' in found) return fail(` (${found.refused})`)
  const { value } = found
  if (value === undefined || value === null) return fail('')
  if (typeof value !== 'string') return fail(' (it is a binding, not a secret or a text var)')
  return { ok: true, value }
}

/** Null when the URL may be called; otherwise the reason (code url_validation_failed). */
export function checkUrl(raw: unknown): string | null {
  if (typeof raw !== 'string') return 'Invalid URL: url must be a string'
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return 'Invalid URL'
  }
  // `URL` has normalised the host (lowercase, IPv4 in dotted decimal, IPv6 compressed hex).
  const host = url.protocol === 'http:' || url.protocol === 'https:' ? hostKind(url.hostname) : null
  if (url.protocol !== 'https:' && host?.kind !== 'loopback') return 'HTTPS is required (plain http only for localhost, 127.0.0.0/8 and [::1])'
  if (!url.hostname) return 'Invalid URL'
  if (host?.kind === 'refused') return `Private IP blocked: ${url.hostname} is ${host.why}; an HTTP function may call only public addresses`
  return null
}

/** One call's request, in the engine's header order (a test compares it as a list). */
export interface HttpRequest {
  url: string
  method: HttpMethod
  headers: [string, string][]
  /** Absent for GET: Workers' fetch refuses a GET with a body (the engine sends one). */
  body?: string
  timeoutMs: number
}

/**
 * Builds one call: the payload as JSON, the engine's x-iii-* headers, the registration's headers
 * (added, not replacing: a duplicate name is sent twice, as the engine does), then auth.
 */
export async function buildRequest(
  fn: HttpFunction,
  data: unknown,
  call: { invocationId: string; nowMs: number; secrets: SecretLookup },
): Promise<{ ok: true; request: HttpRequest } | { ok: false; error: ErrorBody }> {
  let json: string
  try {
    json = JSON.stringify(data === undefined ? null : data)
  } catch (err) {
    return { ok: false, error: { code: 'serialization_error', message: err instanceof Error ? err.message : String(err) } }
  }
  const body = fn.method === 'GET' ? undefined : json
  const timestamp = String(Math.floor(call.nowMs / 1000))
  const headers: [string, string][] = [
    ['content-type', 'application/json'],
    ['x-iii-function-path', fn.id],
    ['x-iii-invocation-id', call.invocationId],
    ['x-iii-timestamp', timestamp],
    ...Object.entries(fn.headers),
  ]
  if (fn.auth) {
    const secret = resolveSecret(fn.auth, call.secrets)
    if (!secret.ok) return secret
    if (fn.auth.type === 'bearer') headers.push(['authorization', `Bearer ${secret.value}`])
    else if (fn.auth.type === 'api_key') headers.push([fn.auth.header, secret.value])
    else headers.push(['x-iii-signature', `sha256=${await hmacHex(secret.value, `${timestamp}:${base64(body ?? '')}`)}`])
  }
  return { ok: true, request: { url: fn.url, method: fn.method, headers, ...(body !== undefined ? { body } : {}), timeoutMs: fn.timeout_ms } }
}

/** Standard base64 (with padding) of a string's UTF-8 bytes: the signed form of the body. */
export function base64(text: string): string {
  let binary = ''
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte)
  return btoa(binary)
}

/** HMAC-SHA256, lowercase hex. */
export async function hmacHex(secret: string, message: string): Promise<string> {
  const enc = new TextEncoder()
  const key = await crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, enc.encode(message)))
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** What the response's status and body mean, as the engine reads them. `result: undefined` is "no result". */
export function outcomeOf(status: number, body: string): Outcome {
  if (status >= 200 && status < 300) {
    if (body === '') return { result: undefined }
    try {
      return { result: JSON.parse(body) }
    } catch (err) {
      return { error: { code: 'invalid_response', message: `the response body is not JSON: ${err instanceof Error ? err.message : String(err)}` } }
    }
  }
  if (status < 400) {
    // 1xx/3xx count as success (redirects are not followed): JSON if the body is JSON, else nothing.
    try {
      return { result: body === '' ? undefined : JSON.parse(body) }
    } catch {
      return { result: undefined }
    }
  }
  const parsed = parseJsonOrUndefined(body) // not JSON: the status says it all
  if (isObject(parsed) && 'error' in parsed) {
    const e = isObject(parsed.error) ? parsed.error : {}
    return { error: { code: typeof e.code === 'string' ? e.code : 'http_error', message: typeof e.message === 'string' ? e.message : 'HTTP request failed' } }
  }
  const reason = REASONS[status]
  return { error: { code: 'http_error', message: `HTTP ${status}${reason ? ` ${reason}` : ''}` } }
}

/** What a call needs from its host: fetch (the Workers one, or a test's), its secrets, ids and the clock. */
export interface HttpCaller {
  fetch: (url: string, init: { method: string; headers: [string, string][]; body?: string; redirect: 'manual'; signal: AbortSignal }) => Promise<{ status: number; text(): Promise<string> }>
  secrets: SecretLookup
  newId: () => string
  now: () => number
}

/** Makes one call and maps its response (or its failure) to the outcome. Never throws. */
export async function callHttpFunction(fn: HttpFunction, data: unknown, host: HttpCaller): Promise<Outcome> {
  const built = await buildRequest(fn, data, { invocationId: host.newId(), nowMs: host.now(), secrets: host.secrets })
  if (!built.ok) return { error: built.error }
  const { url, method, headers, body, timeoutMs } = built.request
  const signal = AbortSignal.timeout(timeoutMs)
  // The origin only: a URL's path or query may hold a token, and this text goes to the caller.
  const target = new URL(url).origin
  const why = (err: unknown) =>
    signal.aborted ? `operation timed out after ${timeoutMs} ms` : err instanceof Error ? err.message : String(err)
  let response: { status: number; text(): Promise<string> }
  try {
    response = await host.fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), redirect: 'manual', signal })
  } catch (err) {
    return { error: { code: 'http_request_failed', message: `error sending request to ${target} for ${fn.id}: ${why(err)}` } }
  }
  let text: string
  try {
    text = await response.text()
  } catch (err) {
    return { error: { code: 'http_response_failed', message: `error reading the response from ${target} for ${fn.id}: ${why(err)}` } }
  }
  return outcomeOf(response.status, text)
}

/** Canonical reason phrases (the engine prints status code and reason, e.g. "HTTP 500 Internal Server Error"). */
const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  418: "I'm a teapot",
  421: 'Misdirected Request',
  422: 'Unprocessable Entity',
  423: 'Locked',
  424: 'Failed Dependency',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  506: 'Variant Also Negotiates',
  507: 'Insufficient Storage',
  508: 'Loop Detected',
  510: 'Not Extended',
  511: 'Network Authentication Required',
}
