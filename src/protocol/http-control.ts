// What a function can say about its HTTP response, as the SDK's `http()` helper says it: control
// frames on the response channel (`set_status`, `set_headers`), or a `{status_code, headers, body}`
// result. Pure: the session reads the frames (engine/exchange.ts), the front door the results
// (http/response.ts).

import { asObject, parseJsonOrUndefined } from './json'

export type ControlFrame =
  | { type: 'set_status'; status_code: number }
  | { type: 'set_headers'; headers: [string, string][] }

/** Header values may come as a string, a number or a list of them (repeated headers); names and values that cannot go into a Response are dropped. */
export function headerPairs(value: unknown): [string, string][] {
  const pairs: [string, string][] = []
  for (const [name, v] of Object.entries(asObject(value))) {
    for (const item of Array.isArray(v) ? v : [v]) {
      if (typeof item === 'string' || typeof item === 'number') pairs.push([name, String(item)])
    }
  }
  return pairs.filter(validHeader)
}

/** A header a Response (or a request) can carry: a token for a name, no line breaks or NUL in the value. */
export const validHeader = ([name, value]: [string, string]) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) && !/[\r\n\0]/.test(value)

export const validStatus = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 200 && n <= 599

/** A text frame on the response channel, or null for text we don't understand (ignored). */
export function parseControlFrame(text: string): ControlFrame | null {
  const frame = asObject(parseJsonOrUndefined(text))
  if (frame.type === 'set_status' && validStatus(frame.status_code)) return { type: 'set_status', status_code: frame.status_code }
  if (frame.type === 'set_headers') return { type: 'set_headers', headers: headerPairs(frame.headers) }
  return null
}

/**
 * A result that says nothing about the response: the function returned nothing (or null, which the
 * engine reads as nothing), so its response channel decides. Any other result is the response.
 */
export const isVoidResult = (result: unknown): boolean => result === undefined || result === null

/** A function's result as the HTTP response it stands for, before it is serialized. */
export interface ResultResponse {
  status: number
  headers: [string, string][]
  body: unknown
}

/** `Name: value` lines, as the engine takes a `headers` array: split at the first colon, both trimmed. */
function headerLine(line: unknown): [string, string] | null {
  if (typeof line !== 'string') return null
  const at = line.indexOf(':')
  if (at < 0) return null
  const name = line.slice(0, at).trim()
  return name === '' ? null : [name, line.slice(at + 1).trim()]
}

/**
 * The engine's mapping of a result to a response (`HttpResponse::from_function_return`, iii
 * v0.22.1): `status_code` a non-negative integer, else 200; `headers` an array of `Name: value`
 * lines or an object of string values (anything else is dropped); `body` as given, `{}` when
 * absent. A status a Worker cannot send (outside 200–599) is 200; headers a Response cannot carry
 * are dropped, as the engine skips them (docs/engine-compat.md, "HTTP results").
 */
export function resultAsResponse(result: unknown): ResultResponse {
  const r = asObject(result)
  const status = validStatus(r.status_code) ? r.status_code : 200
  let headers: [string, string][] = []
  if (Array.isArray(r.headers)) headers = r.headers.map(headerLine).filter((h): h is [string, string] => h !== null)
  else if (r.headers && typeof r.headers === 'object') {
    headers = Object.entries(r.headers as Record<string, unknown>).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v] as [string, string]] : []))
  }
  return { status, headers: headers.filter(validHeader), body: 'body' in r ? r.body : {} }
}
