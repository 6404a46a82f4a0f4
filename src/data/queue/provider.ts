// The built-in queue provider: where `TriggerAction.Enqueue` and `iii::durable::publish` put jobs
// (docs/queues.md). Standard queues and durable topics go to Cloudflare Queues (the `JOBS`
// binding): the platform keeps them, retries and scales the consumer. A FIFO queue's job goes to
// its message group's object, which runs the group's jobs one at a time in order.
//
// "Accepted" means stored: `send` resolves once the platform persisted the message, a group's
// object answers once its row is committed. Only then does the caller get its receipt.

import { type Job, MAX_JOB_BYTES, type QueueReport, groupOf, jobBytes } from './job'
import { type QueueConfig, queueConfigs } from './config'
import { queueGroupStub, queueStub } from './stubs'

/** The engine's answer when no provider is installed (engine/src/engine/mod.rs), for a deploy without the JOBS binding. */
export const NO_PROVIDER_MESSAGE =
  'No queue provider is installed. `TriggerAction::Enqueue` routes through the `engine::queue::enqueue` provider, which the standalone queue worker registers. Add it with `iii worker add queue`. (underlying: Function engine::queue::enqueue not found)'


export interface EnqueueRequest {
  namespace: string
  queue: string
  function_id: string
  data: unknown
  messageReceiptId: string
  traceparent?: string
  baggage?: string
}

/** The queue a name resolves to, or why there is none (the queue worker's messages where it has them). */
export function resolveQueue(env: Env, name: string): QueueConfig | string {
  const configs = queueConfigs(env)
  const config = configs.queues.get(name)
  if (config) return config
  const problem = configs.problems.get(name) ?? configs.problem
  return problem ? `Queue '${name}' is misconfigured: ${problem}` : `Queue '${name}' not found`
}

/** Puts one named-queue job in its queue; an error message when it cannot. */
export async function enqueueJob(env: Env, req: EnqueueRequest, waitUntil: (p: Promise<unknown>) => void): Promise<string | null> {
  if (!env.JOBS) return NO_PROVIDER_MESSAGE
  const config = resolveQueue(env, req.queue)
  if (typeof config === 'string') return config
  const job: Job = {
    namespace: req.namespace,
    kind: 'queue',
    queue: req.queue,
    function_id: req.function_id,
    data: req.data,
    id: req.messageReceiptId,
    attempts: 0,
    enqueued_at: Date.now(),
    ...(req.traceparent ? { traceparent: req.traceparent } : {}),
    ...(req.baggage ? { baggage: req.baggage } : {}),
  }
  if (config.type === 'fifo') {
    const group = groupOf(config, req.data)
    if ('problem' in group) return group.problem
    job.group = group.group
  }
  const problem = tooLarge(job)
  if (problem) return problem
  await sendJobs(env, [job])
  countQueue(env, req.namespace, req.queue, { enqueued: 1 }, waitUntil)
  return null
}

/** Why a job cannot travel as one message, or null. */
export function tooLarge(job: Job): string | null {
  const bytes = jobBytes(job)
  return bytes > MAX_JOB_BYTES ? `the job is ${bytes} bytes; a queued job holds at most ${MAX_JOB_BYTES} bytes with its payload (Cloudflare Queues messages are at most 128 KB)` : null
}

/**
 * Sends jobs where they wait: FIFO ones to their group's object, the others to Cloudflare Queues
 * (batches of at most 100 messages and 256 KB, the platform's limits). Throws when any was not stored.
 */
export async function sendJobs(env: Env, jobs: Job[], delaySeconds = 0): Promise<void> {
  const platform: Job[] = []
  const groups: Promise<unknown>[] = []
  for (const job of jobs) {
    if (job.kind === 'queue' && job.group !== undefined) groups.push(queueGroupStub(env, job.namespace, job.queue, job.group).enqueue(job))
    else platform.push(job)
  }
  let batch: MessageSendRequest<Job>[] = []
  let bytes = 0
  const sends: Promise<unknown>[] = []
  const flush = () => {
    if (batch.length) sends.push(env.JOBS.sendBatch(batch))
    batch = []
    bytes = 0
  }
  for (const job of platform) {
    const size = jobBytes(job) + 100
    if (batch.length >= 100 || bytes + size > 250_000) flush()
    batch.push({ body: job, contentType: 'json', ...(delaySeconds ? { delaySeconds } : {}) })
    bytes += size
  }
  flush()
  await Promise.all([...sends, ...groups])
}

// Counts (jobs enqueued, attempts started and settled, jobs done), summed per isolate and sent to
// each queue's object at most once a second: the object would otherwise be on every job's path,
// and each report is an object request and a row written (docs/queues.md, "What the page shows").
const pending = new Map<string, { env: Env; namespace: string; queue: string; delta: Required<QueueReport> }>()
let flushing = false

/** Adds to a queue's counts, for its depth and jobs in flight (approximate: counts lost with an isolate are not made up). */
export function countQueue(env: Env, namespace: string, queue: string, delta: QueueReport, waitUntil: (p: Promise<unknown>) => void): void {
  const key = JSON.stringify([namespace, queue])
  const entry = pending.get(key) ?? { env, namespace, queue, delta: { enqueued: 0, started: 0, settled: 0, finished: 0 } }
  for (const k of Object.keys(entry.delta) as (keyof QueueReport)[]) entry.delta[k] += delta[k] ?? 0
  pending.set(key, entry)
  if (flushing) return
  flushing = true
  waitUntil(
    new Promise((r) => setTimeout(r, 1000)).then(async () => {
      flushing = false
      const all = [...pending.values()]
      pending.clear()
      await Promise.all(all.map((e) => queueStub(e.env, e.namespace, e.queue).report(e.delta).catch(() => undefined)))
    }),
  )
}
