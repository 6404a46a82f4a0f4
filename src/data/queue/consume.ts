// Applying one attempt's decision (job.ts) wherever the job waits: the shared part of the
// Cloudflare Queues consumer (consumer.ts) and a FIFO group's object (group-object.ts).

import type { DataEngine } from '../engine-port'
import { type Decision, type Job, type Retry, decide, retryOf } from './job'
import { type QueueConfig, queueConfigs } from './config'
import { runJob } from './run'
import { queueStub } from './stubs'

/** The retry settings and timeout of a job: its queue's (read from this deploy's config), or its topic subscriber's. */
export function settingsOf(env: Env, job: Job): { retry: Retry; timeoutMs?: number; config?: QueueConfig } {
  const config = job.kind === 'queue' ? queueConfigs(env).queues.get(job.queue) : undefined
  return { retry: retryOf(job, config), ...(config?.timeout_ms ? { timeoutMs: config.timeout_ms } : {}), ...(config ? { config } : {}) }
}

/** Runs one attempt and decides; `spentBefore`: attempts already spent on this job. */
export async function attempt(env: Env, engine: DataEngine, job: Job, spentBefore: number): Promise<{ decision: Decision; spent: number }> {
  const { retry, timeoutMs } = settingsOf(env, job)
  const outcome = await runJob(engine, job, timeoutMs)
  const spent = spentBefore + 1
  const decision = decide(job, outcome.ok ? {} : { error: outcome.error }, spent, retry, Date.now())
  if (decision.do === 'dead') await queueStub(env, job.namespace, job.queue).bury([{ job, error: decision.error, retries: spent }])
  return { decision, spent }
}
