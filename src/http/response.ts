// What a function can say about its HTTP response: control frames on the response channel
// (written by the SDK's `http()` helper) or a `{status_code, headers, body}` result.

import { asObject, parseJsonOrUndefined } from '../protocol/json'

export type ControlFrame =
  | { type: 'set_status'; status_code: number }
  | { type: 'set_headers'; headers: [string, string][] }

/** Header values may come as a string, a number or a list of them (repeated headers). */
function headerPairs(value: unknown): [string, string][] {
  const pairs: [string, string][] = []
  for (const [name, v] of Object.entries(asObject(value))) {
    for (const item of Array.isArray(v) ? v : [v]) {
      if (typeof item === 'string' || typeof item === 'number') pairs.push([name, String(item)])
    }
  }
  return pairs.filter(([name, v]) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) && !/[\r\n\0]/.test(v))
}

const validStatus = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 200 && n <= 599

/** A text frame on the response channel, or null for text we don't understand (ignored). */
export function parseControlFrame(text: string): ControlFrame | null {
  const frame = asObject(parseJsonOrUndefined(text))
  if (frame.type === 'set_status' && validStatus(frame.status_code)) return { type: 'set_status', status_code: frame.status_code }
  if (frame.type === 'set_headers') return { type: 'set_headers', headers: headerPairs(frame.headers) }
  return null
}

/**
 * The Response for a function result `{status_code, headers, body}`, or null when the result is
 * empty (the function answered through the response channel instead). Non-string bodies are JSON.
 */
export function resultResponse(result: unknown): Response | null {
  const r = asObject(result)
  if (!('status_code' in r) && !('body' in r)) return null
  const status = validStatus(r.status_code) ? r.status_code : 200
  const headers = new Headers(headerPairs(r.headers))
  if (r.body === undefined || r.body === null || status === 204 || status === 205 || status === 304) {
    return new Response(null, { status, headers })
  }
  if (typeof r.body === 'string') return new Response(r.body, { status, headers })
  if (!headers.has('content-type')) headers.set('content-type', 'application/json')
  return new Response(JSON.stringify(r.body), { status, headers })
}
