// A function's `{status_code, headers, body}` result as the HTTP response (the rules of what a
// function can say about its response are in protocol/http-control.ts).

import { asObject } from '../protocol/json'
import { headerPairs, isResponseResult, validStatus } from '../protocol/http-control'

/**
 * The Response for a function result `{status_code, headers, body}`, or null when the result is
 * empty (the function answered through the response channel instead). Non-string bodies are JSON.
 */
export function resultResponse(result: unknown): Response | null {
  if (!isResponseResult(result)) return null
  const r = asObject(result)
  const status = validStatus(r.status_code) ? r.status_code : 200
  const headers = new Headers(headerPairs(r.headers))
  if (r.body === undefined || r.body === null || status === 204 || status === 205 || status === 304) {
    return new Response(null, { status, headers })
  }
  if (typeof r.body === 'string') return new Response(r.body, { status, headers })
  if (!headers.has('content-type')) headers.set('content-type', 'application/json')
  return new Response(JSON.stringify(r.body), { status, headers })
}
