// `TriggerAction.Enqueue` as the engine routes it (engine/src/engine/mod.rs at iii/v0.22.1): the
// caller gets `{messageReceiptId}` once the provider accepted the job, or `enqueue_error`. The
// provider is a connected worker's `engine::queue::enqueue` when one registered it (the standalone
// queue worker, given `{queue, function_id, data, messageReceiptId, traceparent, baggage}`), else
// the built-in one (provider.ts).

import type { Outcome } from '../../protocol/outcome'
import type { DataContext } from '../engine-port'
import { NO_PROVIDER_MESSAGE, enqueueJob } from './provider'
import { PROVIDER_FUNCTION } from './names'

export interface EnqueueAction {
  queue: unknown
  function_id: string
  data: unknown
  traceparent?: string
  baggage?: string
}

const refused = (message: string): Outcome => ({ error: { code: 'enqueue_error', message } })

export async function routeEnqueue(ctx: DataContext, action: EnqueueAction): Promise<Outcome> {
  if (typeof action.queue !== 'string' || action.queue === '') return refused('an enqueue action needs a `queue`: a non-empty string')
  const messageReceiptId = crypto.randomUUID()
  const request = {
    queue: action.queue,
    function_id: action.function_id,
    data: action.data,
    messageReceiptId,
    ...(action.traceparent ? { traceparent: action.traceparent } : {}),
    ...(action.baggage ? { baggage: action.baggage } : {}),
  }
  if ((await ctx.view()).functions.has(PROVIDER_FUNCTION)) {
    const outcome = await ctx.engine.invoke(ctx.namespace(), { function_id: PROVIDER_FUNCTION, data: request })
    if (!('error' in outcome)) return { result: { messageReceiptId } }
    // The provider left between the view and the call: the engine's message for "none installed".
    if (outcome.error.code === 'function_not_found') return refused(NO_PROVIDER_MESSAGE)
    return refused(`${outcome.error.code}: ${outcome.error.message}`)
  }
  let problem: string | null
  try {
    problem = await enqueueJob(ctx.env, { namespace: ctx.namespace(), ...request }, ctx.waitUntil)
  } catch (err) {
    problem = `the queue did not accept the job: ${err instanceof Error ? err.message : String(err)}`
  }
  return problem ? refused(problem) : { result: { messageReceiptId } }
}
