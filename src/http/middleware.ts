// What runs before an http trigger's function, as in the iii engine (docs/engine-compat.md,
// "HTTP middleware"): the trigger's `condition_function_id` (a `false` result answers 422), then
// its `middleware_function_ids` in order. A middleware answers `{action: "continue"}` to let the
// next one run or `{action: "respond", response: {status_code, body, headers}}` to answer the
// request itself (the function never runs); any other answer counts as continue. It sees the
// request's method, headers, path and query parameters, never its body, and cannot change what
// the function gets. Each is invoked like any function (engine/invoke.ts), one after the other. Pure.

import { asObject } from '../protocol/json'
import { orAfter } from '../timeout'
import type { Outcome } from '../protocol/outcome'
import { httpError } from '../protocol/http-errors'
import type { RouteMatch } from '../engine/routes'

/** How long one middleware or condition may take before the request answers 504 (the engine's default). */
export const MIDDLEWARE_TIMEOUT_MS = 30_000

export interface GateRequest {
  method: string
  headers: Record<string, string>
  query_params: Record<string, string>
  path_params: Record<string, string>
}

/** Invokes a function of the route's namespace (engine/invoke.ts in the Worker; a fake in tests). */
export type Invoke = (call: { function_id: string; data: unknown }) => Promise<Outcome | { accepted: true }>

/**
 * Runs the route's condition and middleware. Returns the response that ends the request early
 * (422, a middleware's own answer, 500 on an error, 504 on a timeout), or null: call the function.
 * `conditionInput` is what the condition gets: the function's own input without its channels.
 */
export async function runGates(match: RouteMatch, request: GateRequest, conditionInput: unknown, invoke: Invoke): Promise<Response | null> {
  if (match.condition) {
    const outcome = await orAfter(invoke({ function_id: match.condition, data: conditionInput }), MIDDLEWARE_TIMEOUT_MS, 'timeout' as const)
    if (outcome === 'timeout') return timeoutResponse(match.condition)
    if ('error' in outcome) return httpError(500, outcome.error.code, outcome.error.message, { condition_function_id: match.condition })
    if ('result' in outcome && outcome.result === false) {
      return Response.json({ error: { code: 'CONDITION_NOT_MET', message: 'Request condition not met' }, skipped: true }, { status: 422 })
    }
  }
  for (const id of match.middleware) {
    const input = { phase: 'preHandler', request, context: {} }
    const outcome = await orAfter(invoke({ function_id: id, data: input }), MIDDLEWARE_TIMEOUT_MS, 'timeout' as const)
    if (outcome === 'timeout') return timeoutResponse(id)
    if ('error' in outcome) return httpError(500, outcome.error.code, outcome.error.message, { middleware_function_id: id })
    const answer = 'result' in outcome ? outcome.result : undefined
    const respond = middlewareResponse(answer)
    if (respond) return respond
  }
  return null
}

/** A middleware's `respond` answer as a Response, or null for anything else (continue). */
export function middlewareResponse(answer: unknown): Response | null {
  if (asObject(answer).action !== 'respond') return null
  const r = asObject(asObject(answer).response)
  const code = typeof r.status_code === 'number' && Number.isInteger(r.status_code) && r.status_code >= 200 && r.status_code <= 599 ? r.status_code : 200
  const res = Response.json(r.body ?? null, { status: code })
  const headers = r.headers
  // As in the engine: headers that are not a name → string map are dropped as a whole.
  if (typeof headers === 'object' && headers !== null && Object.values(headers).every((v) => typeof v === 'string')) {
    for (const [name, value] of Object.entries(headers as Record<string, string>)) {
      try {
        res.headers.set(name, value)
      } catch {
        // an invalid name or value is skipped
      }
    }
  }
  return res
}

const timeoutResponse = (function_id: string) => httpError(504, 'MIDDLEWARE_TIMEOUT', 'Middleware timeout', { function_id })

