// Invocations the engine makes itself, with no worker waiting on a socket: HTTP middleware and
// condition functions (front door), cron firings (cron objects), `engine::functions-available` and
// `engine::workers-available` (registries). Each goes straight to the session serving the
// function, as a worker's own invocation does (one hop, docs/architecture.md); the answer comes
// back on the same call. There is no one-way delivery for these: if the call breaks (an object
// reset), the outcome is an error here and nothing is retried.

import { sessionStub } from './stubs'
import { lookupFunction, viewCacheFor } from './cache'
import type { EngineCall, Outcome } from '../protocol/outcome'
import { type CallAnswer, type IncomingCall, engineError } from './session'

/** The caller named in calls the engine makes (not a session id, so nothing is delivered one way). */
export const ENGINE_CALLER = 'engine'

/** Calls `session` (a worker id) directly; `gone`/`not_here` come back as they are. */
export async function callSession(env: Env, session: string, call: EngineCall): Promise<CallAnswer> {
  const stub = sessionStub(env, session)
  if (!stub) return { status: 'gone' }
  const id = crypto.randomUUID()
  const incoming: IncomingCall = {
    from: ENGINE_CALLER,
    ...(call.void ? {} : { id, invocation_id: id }),
    function_id: call.function_id,
    data: call.data,
    ...(call.metadata !== undefined ? { metadata: call.metadata } : {}),
    ...(call.timeout_ms !== undefined ? { timeout_ms: call.timeout_ms } : {}),
    ...(call.traceparent ? { traceparent: call.traceparent } : {}),
    ...(call.baggage ? { baggage: call.baggage } : {}),
  }
  return (await stub.invoke(incoming)) as CallAnswer
}

/** Invokes a function of `namespace` wherever it is served; a void call resolves once it was handed over. */
export async function invokeFunction(env: Env, namespace: string, call: EngineCall): Promise<Outcome | { accepted: true }> {
  const views = viewCacheFor(env, namespace)
  let target = await lookupFunction(views, call.function_id, false)
  for (let attempt = 0; ; attempt++) {
    if (!target) return { error: engineError.notFound(call.function_id) }
    let answer: CallAnswer
    try {
      answer = await callSession(env, target.worker, call)
    } catch (err) {
      return { error: engineError.unreachable(call.function_id, err) }
    }
    if (answer.status === 'done') {
      const { traceparent: _t, baggage: _b, ...outcome } = answer.outcome
      return outcome
    }
    if (answer.status === 'accepted') return { accepted: true }
    // The function moved or its worker left: look again, once.
    const fresh = await lookupFunction(views, call.function_id, true)
    if (attempt >= 1 || fresh?.worker === target.worker) return { error: engineError.notFound(call.function_id) }
    target = fresh
  }
}
