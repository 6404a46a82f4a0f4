// A job: one function invocation waiting in a queue, as it travels in a Cloudflare Queues message
// (standard queues and durable topics) or a FIFO group's row. And the rules of its delivery:
// what an attempt's outcome means (done, retry after a backoff, wait for the function, dead
// letter). Pure; docs/queues.md has the why.

import type { ErrorBody } from '../../protocol/messages'
import type { QueueConfig } from './config'

export interface Job {
  /** The namespace whose function runs it. */
  namespace: string
  /** `queue`: a named queue (TriggerAction.Enqueue); `topic`: a durable topic's copy for one subscriber. */
  kind: 'queue' | 'topic'
  /** The named queue or the topic. */
  queue: string
  function_id: string
  data: unknown
  /** The caller's `messageReceiptId` (named queues) or the copy's own id (topics); dead letters are found by it. */
  id: string
  /** Attempts spent before this message was sent (a redrive starts again at 0; waiting for the function keeps the count). */
  attempts: number
  /** How many times it already waited for its function (the pause doubles). */
  waits?: number
  /** When it was first enqueued (unix ms): how long it may wait for its function. */
  enqueued_at: number
  /** Topics: the subscriber's settings, read from its trigger when published. Named queues read the deploy's config. */
  max_retries?: number
  backoff_ms?: number
  condition_function_id?: string
  /** FIFO: the value of the queue's message_group_field. */
  group?: string
  traceparent?: string
  baggage?: string
}

/** Cloudflare Queues takes messages of at most 128 KB (docs/platform.md). */
export const MAX_JOB_BYTES = 128 * 1024 - 1024
/** Queues delays at most 12 hours. */
export const MAX_DELAY_SECONDS = 43_200
/** Retries the platform itself makes of one message (wrangler.toml `max_retries` of the consumer, the platform's maximum). */
export const PLATFORM_MAX_RETRIES = 100
/** How long a job waits for a function that is not registered (Queues keeps a message 4 days by default). */
export const MAX_WAIT_MS = 4 * 24 * 3600 * 1000
/** First and longest pause between two looks for a missing function. */
export const WAIT_FIRST_S = 1
export const WAIT_MAX_S = 30

export interface Retry {
  max_retries: number
  backoff_ms: number
}

/** A topic copy's own retry settings, else its queue's. */
export const retryOf = (job: Job, queue: Retry | undefined): Retry => ({
  max_retries: job.max_retries ?? queue?.max_retries ?? 3,
  backoff_ms: job.backoff_ms ?? queue?.backoff_ms ?? 1000,
})

/** Delay before retry number `spent` (1 = the first retry): backoff_ms × 2^(spent−1), as the engine. */
export const backoffMs = (backoff: number, spent: number) => backoff * 2 ** Math.max(0, spent - 1)

/** A delay in the whole seconds Queues takes (rounded up, at most 12 h). */
export const delaySeconds = (ms: number) => Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil(ms / 1000)))

/**
 * An outcome that says the job never reached its function: nobody serves it (yet), or its worker
 * refused more calls. Waiting for these spends no attempt, as the queue worker waits.
 */
export function notDelivered(error: ErrorBody): boolean {
  return error.code === 'function_not_found' || error.code === 'too_many_invocations'
}

export type Decision =
  | { do: 'ack' }
  /** Spend an attempt: run it again after `delayMs`. */
  | { do: 'retry'; delayMs: number }
  /** No attempt spent: look for the function again after `delayMs`. */
  | { do: 'wait'; delayMs: number }
  | { do: 'dead'; error: string }

/**
 * What to do after one attempt. `spent`: attempts spent including this one (the job's count plus
 * the platform's deliveries of this message).
 */
export function decide(job: Job, outcome: { error?: ErrorBody }, spent: number, retry: Retry, now: number): Decision {
  if (!outcome.error) return { do: 'ack' }
  const error = outcome.error
  if (notDelivered(error)) {
    if (now - job.enqueued_at >= MAX_WAIT_MS) return { do: 'dead', error: `${error.code}: ${error.message} (waited ${Math.round(MAX_WAIT_MS / 3600_000)} h for it)` }
    return { do: 'wait', delayMs: Math.min(WAIT_MAX_S, WAIT_FIRST_S * 2 ** (job.waits ?? 0)) * 1000 }
  }
  if (spent >= Math.max(1, retry.max_retries)) return { do: 'dead', error: `${error.code}: ${error.message}` }
  return { do: 'retry', delayMs: backoffMs(retry.backoff_ms, spent) }
}

/** The FIFO group of a payload, or why it has none (the engine's messages). */
export function groupOf(config: QueueConfig, data: unknown): { group: string } | { problem: string } {
  const field = config.message_group_field
  if (!field) return { problem: `FIFO queue '${config.name}' requires 'message_group_field' to be configured` }
  const value = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>)[field] : undefined
  if (value === undefined) return { problem: `FIFO queue '${config.name}' requires field '${field}' in data, but it was not found` }
  if (value === null) return { problem: `FIFO queue '${config.name}': field '${field}' must not be null` }
  return { group: typeof value === 'string' ? value : JSON.stringify(value) }
}

/** Bytes of a job as it is sent. */
export const jobBytes = (job: Job) => new TextEncoder().encode(JSON.stringify(job)).byteLength

/** A message body read back from the platform: a job, or null for anything else (never trusted blindly). */
export function parseJob(body: unknown): Job | null {
  if (typeof body !== 'object' || body === null) return null
  const j = body as Record<string, unknown>
  const str = (v: unknown) => typeof v === 'string' && v !== ''
  // The default namespace is the empty string.
  if (typeof j.namespace !== 'string' || !str(j.queue) || !str(j.function_id) || !str(j.id)) return null
  if (j.kind !== 'queue' && j.kind !== 'topic') return null
  if (typeof j.attempts !== 'number' || typeof j.enqueued_at !== 'number') return null
  return body as Job
}

/** What a consumer or an enqueuer tells the queue's object, as deltas. */
export interface QueueReport {
  /** Jobs put in the queue. */
  enqueued?: number
  /** Attempts that started. */
  started?: number
  /** Attempts that ended, whatever came of them. */
  settled?: number
  /** Jobs done (acknowledged): they leave the queue. */
  finished?: number
}
