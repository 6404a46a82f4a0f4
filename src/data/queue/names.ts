// The queue worker's function names (engine/src/workers/queue/queue.rs at iii/v0.22.1). Pure: the
// registry and the engine's lists read them.

/** The function a connected queue worker registers; when one did, it is the provider (as in the engine). */
export const PROVIDER_FUNCTION = 'engine::queue::enqueue'

/** The queue worker's functions, which the built-in provider serves (builtins.ts). */
export const QUEUE_FUNCTIONS: readonly { id: string; description: string }[] = [
  { id: 'iii::durable::publish', description: 'Enqueue a message' },
  { id: 'iii::queue::redrive', description: 'Redrive all DLQ messages back to the main queue' },
  { id: 'iii::queue::redrive_message', description: 'Redrive a single DLQ message by ID back to the main queue' },
  { id: 'iii::queue::discard_message', description: 'Discard (purge) a single DLQ message by ID' },
  { id: 'engine::queue::list_topics', description: 'List all queue topics' },
  { id: 'engine::queue::topic_stats', description: 'Get stats for a queue topic' },
  { id: 'engine::queue::dlq_topics', description: 'List DLQ topics with counts' },
  { id: 'engine::queue::dlq_messages', description: 'Browse DLQ messages' },
]

const QUEUE_FUNCTION_IDS = new Set([PROVIDER_FUNCTION, ...QUEUE_FUNCTIONS.map((f) => f.id)])

/**
 * The provider and the functions it takes over from the built-in one when a worker registers them:
 * the registry announces their changes, so a session's next Enqueue sees the new provider.
 */
export const isQueueProviderFunction = (id: string) => QUEUE_FUNCTION_IDS.has(id)
