// The trigger types of the data modules (`state`, `subscribe`, the stream ones, `configuration`),
// and the engine's `log` type, which the engine serves itself from the registry view of whoever
// makes the event: what a config must look like, and which triggers an event reaches. Pure; the
// registry refuses bad configs with these, the caller's session (or the `/otel` socket) matches events.

import { LOG_TRIGGER, logTriggerProblem } from '../observability/log-trigger'
import { asObject } from '../protocol/json'

export const STATE_TRIGGER = 'state'
export const SUBSCRIBE_TRIGGER = 'subscribe'
export const STREAM_TRIGGER = 'stream'
export const STREAM_JOIN_TRIGGER = 'stream:join'
export const STREAM_LEAVE_TRIGGER = 'stream:leave'
export const CONFIGURATION_TRIGGER = 'configuration'
export const DURABLE_SUBSCRIBER_TRIGGER = 'durable:subscriber'

/** Trigger types fired by whoever makes the event: registry views carry these triggers. */
export const DATA_TRIGGER_TYPES: ReadonlySet<string> = new Set([
  STATE_TRIGGER,
  SUBSCRIBE_TRIGGER,
  STREAM_TRIGGER,
  STREAM_JOIN_TRIGGER,
  STREAM_LEAVE_TRIGGER,
  CONFIGURATION_TRIGGER,
  LOG_TRIGGER,
  DURABLE_SUBSCRIBER_TRIGGER,
])

/** A data trigger as a session's view holds it. */
export interface DataTrigger {
  id: string
  trigger_type: string
  function_id: string
  config: unknown
  metadata?: unknown
}

/** Why the engine would refuse a data trigger's config, or null. Every field is optional; a wrong type refuses it. */
export function dataTriggerProblem(type: string, config: unknown): string | null {
  if (type === LOG_TRIGGER) return logTriggerProblem(config)
  if (type === CONFIGURATION_TRIGGER) return configurationTriggerProblem(config)
  if (type === DURABLE_SUBSCRIBER_TRIGGER) return durableSubscriberProblem(config)
  const fields: Record<string, string[]> = {
    [STATE_TRIGGER]: ['scope', 'key', 'condition_function_id'],
    [STREAM_TRIGGER]: ['stream_name', 'group_id', 'item_id', 'condition_function_id'],
    [STREAM_JOIN_TRIGGER]: ['stream_name', 'condition_function_id'],
    [STREAM_LEAVE_TRIGGER]: ['stream_name', 'condition_function_id'],
    // The engine keeps a subscribe trigger without a topic; it never fires.
    [SUBSCRIBE_TRIGGER]: [],
  }
  const c = asObject(config)
  // The engine indexes stream triggers by stream name and cannot take one without it.
  if (type === STREAM_TRIGGER && (typeof c.stream_name !== 'string' || c.stream_name === '')) return 'a stream trigger needs a non-empty `stream_name` in its config'
  for (const field of fields[type] ?? []) {
    if (c[field] !== undefined && c[field] !== null && typeof c[field] !== 'string') {
      return `Failed to parse trigger config: invalid type for \`${field}\`, expected a string`
    }
  }
  return null
}

/** Does a config field (absent: any) accept this value? */
const accepts = (config: Record<string, unknown>, field: string, value: string) => typeof config[field] !== 'string' || config[field] === value

/** The `state` triggers an event on scope/key reaches. */
export const stateTriggersFor = (triggers: readonly DataTrigger[], scope: string, key: string) =>
  triggers.filter((t) => t.trigger_type === STATE_TRIGGER && accepts(asObject(t.config), 'scope', scope) && accepts(asObject(t.config), 'key', key))

/** The `subscribe` triggers of a topic: exact match, never an empty topic (as in the engine). */
export const subscribersOf = (triggers: readonly DataTrigger[], topic: string) =>
  triggers.filter((t) => t.trigger_type === SUBSCRIBE_TRIGGER && topic !== '' && asObject(t.config).topic === topic)

/** The condition function a trigger names, if any. */
export function conditionOf(trigger: DataTrigger): string | undefined {
  const id = asObject(trigger.config).condition_function_id
  return typeof id === 'string' && id !== '' ? id : undefined
}

/** The `stream` triggers a change reaches: same stream; group and item when given and non-empty. */
export function streamTriggersFor(triggers: readonly DataTrigger[], streamName: string, groupId: string, itemId: string | null): DataTrigger[] {
  const wildcardOr = (value: unknown, actual: string) => typeof value !== 'string' || value === '' || value === actual
  return triggers.filter((t) => {
    if (t.trigger_type !== STREAM_TRIGGER) return false
    const c = asObject(t.config)
    return c.stream_name === streamName && wildcardOr(c.group_id, groupId) && wildcardOr(c.item_id, itemId ?? '')
  })
}

/** Every `stream:join` or `stream:leave` trigger: they take no filter (the function decides). */
export const joinLeaveTriggers = (triggers: readonly DataTrigger[], type: typeof STREAM_JOIN_TRIGGER | typeof STREAM_LEAVE_TRIGGER) =>
  triggers.filter((t) => t.trigger_type === type)

/** The `log` triggers (their level filter is applied per record: observability/log-trigger.ts). */
export const logTriggers = (triggers: readonly DataTrigger[]) => triggers.filter((t) => t.trigger_type === LOG_TRIGGER)

/**
 * Why the engine's configuration worker would refuse a `configuration` trigger's config: every
 * field is optional, `configuration_id` and `condition_function_id` strings, `event_types` a list
 * of strings. A config that is not an object is refused too (no config at all reads as `{}`).
 */
function configurationTriggerProblem(config: unknown): string | null {
  const refuse = (why: string) => `Failed to parse configuration trigger config: ${why}`
  if (config === undefined || config === null) return null
  if (typeof config !== 'object' || Array.isArray(config)) return refuse('invalid type, expected an object with `configuration_id`, `event_types`, `condition_function_id`')
  const c = config as Record<string, unknown>
  for (const field of ['configuration_id', 'condition_function_id']) {
    if (c[field] !== undefined && c[field] !== null && typeof c[field] !== 'string') return refuse(`invalid type for \`${field}\`, expected a string`)
  }
  const types = c.event_types
  if (types !== undefined && types !== null && !(Array.isArray(types) && types.every((t) => typeof t === 'string'))) {
    return refuse('invalid type for `event_types`, expected a sequence of strings')
  }
  return null
}

/**
 * The `configuration` triggers an event reaches: those on its id or on none, whose `event_types`
 * (when given) name its type. An empty id or list matches nothing, as in the engine.
 */
export function configurationTriggersFor(triggers: readonly DataTrigger[], id: string, eventType: string): DataTrigger[] {
  return triggers.filter((t) => {
    if (t.trigger_type !== CONFIGURATION_TRIGGER) return false
    const c = asObject(t.config)
    const onId = typeof c.configuration_id !== 'string' || c.configuration_id === id
    return onId && (!Array.isArray(c.event_types) || c.event_types.includes(eventType))
  })
}

/** A durable subscriber's settings: its topic and what overrides its retries (docs/queues.md). */
export interface DurableSubscription {
  topic: string
  condition_function_id?: string
  max_retries?: number
  backoff_ms?: number
}

const countField = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined)

/**
 * A `durable:subscriber` trigger's config: `topic` (or `queue`), `condition_function_id`, and
 * retries as flat `max_retries` / `backoff_ms` or as the engine's `queue_config.maxRetries` /
 * `backoffDelayMs`. Null when it names no topic (the engine keeps such a trigger; it never fires).
 */
export function durableSubscription(config: unknown): DurableSubscription | null {
  const c = asObject(config)
  const topic = typeof c.topic === 'string' && c.topic !== '' ? c.topic : typeof c.queue === 'string' && c.queue !== '' ? c.queue : null
  if (topic === null) return null
  const q = asObject(c.queue_config)
  const max_retries = countField(c.max_retries) ?? countField(q.maxRetries)
  const backoff_ms = countField(c.backoff_ms) ?? countField(q.backoffDelayMs)
  return {
    topic,
    ...(typeof c.condition_function_id === 'string' && c.condition_function_id !== '' ? { condition_function_id: c.condition_function_id } : {}),
    ...(max_retries !== undefined ? { max_retries } : {}),
    ...(backoff_ms !== undefined ? { backoff_ms } : {}),
  }
}

function durableSubscriberProblem(config: unknown): string | null {
  const refuse = (why: string) => `Failed to parse durable:subscriber trigger config: ${why}`
  if (config === undefined || config === null) return null
  if (typeof config !== 'object' || Array.isArray(config)) return refuse('expected an object with `topic`')
  const c = config as Record<string, unknown>
  for (const field of ['topic', 'queue', 'condition_function_id']) {
    if (c[field] !== undefined && c[field] !== null && typeof c[field] !== 'string') return refuse(`invalid type for \`${field}\`, expected a string`)
  }
  for (const field of ['max_retries', 'backoff_ms']) {
    if (c[field] !== undefined && c[field] !== null && countField(c[field]) === undefined) return refuse(`\`${field}\` must be an integer ≥ 0`)
  }
  if (c.queue_config !== undefined && c.queue_config !== null && (typeof c.queue_config !== 'object' || Array.isArray(c.queue_config))) return refuse('`queue_config` must be an object')
  return null
}

/**
 * The functions a durable topic's message goes to: each distinct function subscribed to it once
 * (the first of its triggers gives the settings), as the queue worker fans out.
 */
export function durableSubscribersOf(triggers: readonly DataTrigger[], topic: string): { function_id: string; subscription: DurableSubscription }[] {
  const seen = new Map<string, DurableSubscription>()
  for (const t of triggers) {
    if (t.trigger_type !== DURABLE_SUBSCRIBER_TRIGGER || seen.has(t.function_id)) continue
    const sub = durableSubscription(t.config)
    if (sub && sub.topic === topic) seen.set(t.function_id, sub)
  }
  return [...seen].map(([function_id, subscription]) => ({ function_id, subscription }))
}

/** Every durable topic someone subscribes to. */
export const durableTopics = (triggers: readonly DataTrigger[]) =>
  [...new Set(triggers.flatMap((t) => (t.trigger_type === DURABLE_SUBSCRIBER_TRIGGER ? [durableSubscription(t.config)?.topic ?? []].flat() : [])))]
