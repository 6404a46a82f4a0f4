// A function's result as the HTTP response, serialized as the iii engine serializes it
// (`HttpResponse::into_axum_response`, v0.22.1). What a result means is in
// protocol/http-control.ts; here only how its body becomes bytes.

import { type ResultResponse, resultAsResponse } from '../protocol/http-control'

/** Statuses whose responses have no body (a Response with one cannot be built). */
const NULL_BODY_STATUS = new Set([204, 205, 304])

/**
 * The body's bytes and the content type to add when the function set none, by the engine's rules:
 * with a content type of its own, a string body goes as it is, null as nothing, and anything else
 * as its JSON text unless that type is JSON; otherwise (no content type, or a JSON one and a body
 * that is not a string) the body is JSON and, without a type of its own, `application/json`.
 */
function serializeBody({ headers, body }: ResultResponse): { text: string | null; contentType: string | null } {
  const own = headers.find(([name]) => name.toLowerCase() === 'content-type')?.[1]
  if (own !== undefined) {
    if (typeof body === 'string') return { text: body, contentType: null }
    if (body === null) return { text: null, contentType: null }
    if (!own.toLowerCase().includes('application/json')) return { text: JSON.stringify(body), contentType: null }
  }
  return { text: JSON.stringify(body), contentType: own === undefined ? 'application/json' : null }
}

/** The Response for a function's (non-void) result: `{status_code?, headers?, body?}` as the engine maps it. */
export function resultResponse(result: unknown): Response {
  const mapped = resultAsResponse(result)
  const headers = new Headers()
  for (const [name, value] of mapped.headers) headers.append(name, value)
  const { text, contentType } = serializeBody(mapped)
  if (contentType) headers.set('content-type', contentType)
  return new Response(NULL_BODY_STATUS.has(mapped.status) ? null : text, { status: mapped.status, headers })
}
