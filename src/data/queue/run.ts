// One attempt of a job: its subscriber's condition first (durable topics), then the function,
// invoked through the session serving it as any call the engine makes (data/engine-port.ts).

import type { ErrorBody } from '../../protocol/messages'
import type { DataEngine } from '../engine-port'
import type { Job } from './job'

export type Attempt = { ok: true } | { ok: false; error: ErrorBody }

export async function runJob(engine: DataEngine, job: Job, timeoutMs: number | undefined): Promise<Attempt> {
  // The enqueuer's trace goes on with the job (the worker's `execute` span is its child).
  const trace = { ...(job.traceparent ? { traceparent: job.traceparent } : {}), ...(job.baggage ? { baggage: job.baggage } : {}) }
  const call = (function_id: string) => engine.invoke(job.namespace, { function_id, data: job.data, ...trace, ...(timeoutMs ? { timeout_ms: timeoutMs } : {}) })
  try {
    if (job.condition_function_id) {
      const condition = await call(job.condition_function_id)
      // A condition that fails fails the attempt (retried), as the queue worker's; `false` skips the job.
      if ('error' in condition) return { ok: false, error: { code: condition.error.code, message: `Condition function error: ${condition.error.message}` } }
      if ('result' in condition && condition.result === false) return { ok: true }
    }
    const outcome = await call(job.function_id)
    return 'error' in outcome ? { ok: false, error: outcome.error } : { ok: true }
  } catch (err) {
    return { ok: false, error: { code: 'invocation_failed', message: err instanceof Error ? err.message : String(err) } }
  }
}
