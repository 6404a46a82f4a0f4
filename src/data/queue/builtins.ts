// The queue worker's functions, served by the built-in provider (docs/queues.md): durable
// publish, dead-letter redrive and discard, and the lists the engine's console reads. Names,
// inputs and answers are the queue worker's (engine/src/workers/queue/queue.rs at iii/v0.22.1).
//
// When a connected worker registered `engine::queue::enqueue` (the standalone queue worker), it is
// the provider, and each of these goes to its function of the same name when it serves one.

import { EngineError } from '../../protocol/outcome'
import { asObject } from '../../protocol/json'
import type { DataContext } from '../engine-port'
import { NAME_MAX_BYTES, badInput } from '../state'
import { durableSubscribersOf, durableTopics } from '../triggers'
import { queueConfigs } from './config'
import type { Job } from './job'
import { countQueue, sendJobs, tooLarge } from './provider'
import { PROVIDER_FUNCTION } from './names'
import { queueStub } from './stubs'

type Builtin = (data: unknown) => Promise<unknown>


/** A required, non-empty name (`queue`, or `topic` for which the engine takes either). */
function nameOf(fn: string, input: Record<string, unknown>, fields: string[], code: string, message: string): string {
  const field = fields.find((f) => input[f] !== undefined && input[f] !== null)
  if (!field) throw badInput(fn, `missing field \`${fields[0]}\``)
  const value = input[field]
  if (typeof value !== 'string') throw badInput(fn, `invalid type for field \`${field}\`: expected a string`)
  if (value === '') throw new EngineError(code, message)
  // A queue or topic names an object: bounded as state names are.
  if (new TextEncoder().encode(value).byteLength > NAME_MAX_BYTES) throw badInput(fn, `\`${field}\` is longer than ${NAME_MAX_BYTES} bytes`)
  return value
}

function messageIdOf(fn: string, input: Record<string, unknown>): string {
  if (input.message_id === undefined || input.message_id === null) throw badInput(fn, 'missing field `message_id`')
  if (typeof input.message_id !== 'string') throw badInput(fn, 'invalid type for field `message_id`: expected a string')
  if (input.message_id === '') throw new EngineError('message_id_not_set', 'Message ID is required')
  return input.message_id
}

/** At most this many dead letters per page: each may hold a 127 KB payload. */
const DLQ_PAGE_MAX = 100

const count = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : fallback)

/** A function on one dead letter: `{queue, message_id}` in, `{queue, message_id, redriven}` out. */
function oneMessage(fn: string, act: (queue: string, messageId: string) => Promise<number>): Builtin {
  return async (data) => {
    const input = asObject(data)
    const queue = nameOf(fn, input, ['queue', 'topic'], 'queue_not_set', 'Queue name is required')
    const message_id = messageIdOf(fn, input)
    return { queue, message_id, redriven: await act(queue, message_id) }
  }
}

export function queueBuiltins(ctx: DataContext): Record<string, Builtin> {
  const stub = (name: string) => queueStub(ctx.env, ctx.namespace(), name)
  const builtins: Record<string, Builtin> = {
    'iii::durable::publish': async (data) => {
      const fn = 'iii::durable::publish'
      const input = asObject(data)
      if (input.topic === undefined || input.topic === null) throw badInput(fn, 'missing field `topic`')
      if (typeof input.topic !== 'string') throw badInput(fn, 'invalid type for field `topic`: expected a string')
      if (!('data' in input)) throw badInput(fn, 'missing field `data`')
      if (input.topic === '') throw new EngineError('topic_not_set', 'Topic is not set')
      if (new TextEncoder().encode(input.topic).byteLength > NAME_MAX_BYTES) throw badInput(fn, `\`topic\` is longer than ${NAME_MAX_BYTES} bytes`)
      if (!ctx.env.JOBS) throw new EngineError('function_not_found', `Function ${fn} not found`)
      const topic = input.topic
      const now = Date.now()
      const jobs: Job[] = durableSubscribersOf((await ctx.view()).dataTriggers, topic).map(({ function_id, subscription }) => ({
        namespace: ctx.namespace(),
        kind: 'topic',
        queue: topic,
        function_id,
        data: input.data,
        id: crypto.randomUUID(),
        attempts: 0,
        enqueued_at: now,
        ...(subscription.max_retries !== undefined ? { max_retries: subscription.max_retries } : {}),
        ...(subscription.backoff_ms !== undefined ? { backoff_ms: subscription.backoff_ms } : {}),
        ...(subscription.condition_function_id ? { condition_function_id: subscription.condition_function_id } : {}),
      }))
      const problem = jobs.length ? tooLarge(jobs[0]!) : null
      if (problem) throw new EngineError('enqueue_error', problem)
      // Accepted once every copy is stored. A topic nobody subscribes to keeps nothing (docs/queues.md).
      await sendJobs(ctx.env, jobs)
      if (jobs.length) countQueue(ctx.env, ctx.namespace(), topic, { enqueued: jobs.length }, ctx.waitUntil)
      return undefined
    },
    'iii::queue::redrive': async (data) => {
      const queue = nameOf('iii::queue::redrive', asObject(data), ['queue', 'topic'], 'queue_not_set', 'Queue name is required')
      return { queue, redriven: await stub(queue).redrive() }
    },
    // The engine answers both with `redriven`: the number of messages moved, or discarded.
    'iii::queue::redrive_message': oneMessage('iii::queue::redrive_message', (queue, id) => stub(queue).redriveOne(id)),
    'iii::queue::discard_message': oneMessage('iii::queue::discard_message', (queue, id) => stub(queue).discard(id)),
    'engine::queue::list_topics': async () => (await topics()).map((t) => ({ name: t.name, broker_type: t.broker_type, subscriber_count: t.subscriber_count })),
    'engine::queue::topic_stats': async (data) => {
      const topic = nameOf('engine::queue::topic_stats', asObject(data), ['topic', 'queue'], 'topic_required', 'topic is required')
      const config = queueConfigs(ctx.env).queues.get(topic)
      const counts = await stub(topic).counts()
      const subscribers = durableSubscribersOf((await ctx.view()).dataTriggers, topic).length
      return { depth: counts.depth, consumer_count: config ? config.concurrency : subscribers, dlq_depth: counts.dlq_depth, config: config ?? null, in_flight: counts.in_flight }
    },
    'engine::queue::dlq_topics': async () =>
      Promise.all((await topics()).map(async (t) => ({ topic: t.name, broker_type: t.broker_type, message_count: (await stub(t.name).counts()).dlq_depth }))),
    'engine::queue::dlq_messages': async (data) => {
      const input = asObject(data)
      const topic = nameOf('engine::queue::dlq_messages', input, ['topic', 'queue'], 'topic_required', 'topic is required')
      return stub(topic).deadLetters(count(input.offset, 0), Math.min(count(input.limit, 50), DLQ_PAGE_MAX))
    },
  }
  /** Named queues of the deploy (function queues, as the engine lists them) and the topics someone subscribes to. */
  const topics = async () => {
    const triggers = (await ctx.view()).dataTriggers
    const named = [...queueConfigs(ctx.env).queues.values()].map((q) => ({ name: q.name, broker_type: 'function_queue', subscriber_count: q.concurrency }))
    const subscribed = durableTopics(triggers)
      .filter((t) => !named.some((n) => n.name === t))
      .map((t) => ({ name: t, broker_type: 'builtin', subscriber_count: durableSubscribersOf(triggers, t).length }))
    return [...named, ...subscribed]
  }
  // A connected queue worker takes over each function it serves.
  return Object.fromEntries(
    Object.entries(builtins).map(([id, builtin]) => [
      id,
      async (data: unknown) => {
        const functions = (await ctx.view()).functions
        if (!functions.has(PROVIDER_FUNCTION) || !functions.has(id)) return builtin(data)
        const outcome = await ctx.engine.invoke(ctx.namespace(), { function_id: id, data })
        if ('error' in outcome) throw new EngineError(outcome.error.code, outcome.error.message)
        return 'result' in outcome ? outcome.result : undefined
      },
    ]),
  )
}
