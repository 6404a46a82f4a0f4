// The Cloudflare Queues consumer (the Worker's `queue` handler): runs each job of a batch through
// the session serving its function and acknowledges or retries it from the outcome (job.ts
// `decide`). At least once: a job is acknowledged only after its function answered, so a consumer
// that dies mid-batch has its unacknowledged jobs delivered again by the platform.
//
// Attempts are counted as the platform delivered them (`message.attempts`) on top of the job's own
// count, so a delivery cut short by a crash counts too. Retries use the platform's delayed retry;
// waiting for a missing function sends the job again with its count unchanged (no attempt spent).
// Messages the platform gave up on (the consumer failed on them PLATFORM_MAX_RETRIES times) reach
// the dead-letter queue's consumer, which files them with the others.

import type { DataEngine } from '../engine-port'
import { type Job, PLATFORM_MAX_RETRIES, delaySeconds, parseJob } from './job'
import { attempt, settingsOf } from './consume'
import { countQueue, sendJobs } from './provider'
import { queueStub } from './stubs'

/** The platform queues (wrangler.toml): jobs, and what the platform itself gave up on. */
export const JOBS_QUEUE = 'iii-jobs'
export const DEAD_JOBS_QUEUE = 'iii-jobs-dead'

type Log = (message: string) => void
type WaitUntil = (p: Promise<unknown>) => void

export async function consumeBatch(env: Env, engine: DataEngine, batch: MessageBatch<unknown>, log: Log, waitUntil: WaitUntil): Promise<void> {
  // The dead-letter queue by its name in wrangler.toml (or any queue named `…-dead`, should it be renamed so).
  if (batch.queue === DEAD_JOBS_QUEUE || batch.queue.endsWith('-dead')) return fileDead(env, batch, log)
  // Jobs of one queue run at most `concurrency` at a time; its counts go out with the isolate's next report.
  const byQueue = new Map<string, { job: Job; message: Message<unknown> }[]>()
  for (const message of batch.messages) {
    const job = parseJob(message.body)
    if (!job) {
      log(`queue consumer: dropped a message that is not a job (${JSON.stringify(message.body)?.slice(0, 200)})`)
      message.ack()
      continue
    }
    const key = JSON.stringify([job.namespace, job.queue])
    byQueue.set(key, [...(byQueue.get(key) ?? []), { job, message }])
  }
  await Promise.all([...byQueue.values()].map((jobs) => consumeQueue(env, engine, jobs, log, waitUntil)))
}

async function consumeQueue(env: Env, engine: DataEngine, jobs: { job: Job; message: Message<unknown> }[], log: Log, waitUntil: WaitUntil): Promise<void> {
  const { namespace, queue } = jobs[0]!.job
  countQueue(env, namespace, queue, { started: jobs.length }, waitUntil)
  let finished = 0
  const concurrency = settingsOf(env, jobs[0]!.job).config?.concurrency ?? 10
  await pool(jobs, concurrency, async ({ job, message }) => {
    try {
      const spentBefore = job.attempts + message.attempts - 1
      const { decision, spent } = await attempt(env, engine, job, spentBefore)
      switch (decision.do) {
        case 'ack':
          finished++
          return message.ack()
        case 'dead':
          log(`queue ${queue}: job ${job.id} (${job.function_id}) moved to the dead letters after ${spent} attempt(s): ${decision.error}`)
          return message.ack()
        case 'retry':
          // Past the platform's own retry bound, the job goes on as a new message with its count.
          if (message.attempts >= PLATFORM_MAX_RETRIES) {
            await sendJobs(env, [{ ...job, attempts: spent }], delaySeconds(decision.delayMs))
            return message.ack()
          }
          return message.retry({ delaySeconds: delaySeconds(decision.delayMs) })
        case 'wait':
          await sendJobs(env, [{ ...job, attempts: spentBefore, waits: (job.waits ?? 0) + 1 }], delaySeconds(decision.delayMs))
          return message.ack()
      }
    } catch (err) {
      // Our own failure (an object unreachable): the platform delivers it again.
      log(`queue ${queue}: job ${job.id} not settled, the platform retries it: ${err}`)
      message.retry({ delaySeconds: 1 })
    }
  })
  countQueue(env, namespace, queue, { settled: jobs.length, finished }, waitUntil)
}

/** Messages the platform stopped retrying: filed as dead letters of their queue. */
async function fileDead(env: Env, batch: MessageBatch<unknown>, log: Log): Promise<void> {
  for (const message of batch.messages) {
    const job = parseJob(message.body)
    if (!job) {
      message.ack()
      continue
    }
    try {
      await queueStub(env, job.namespace, job.queue).bury([{ job, error: `the queue consumer failed on this job ${PLATFORM_MAX_RETRIES + 1} times`, retries: job.attempts }])
      message.ack()
    } catch (err) {
      log(`queue ${job.queue}: dead job ${job.id} not filed yet: ${err}`)
      message.retry({ delaySeconds: 5 })
    }
  }
}

/** Runs `work` on every item, at most `limit` at once. */
async function pool<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!)
  })
  await Promise.all(lanes)
}
