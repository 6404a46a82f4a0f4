// Named queues as the iii engine's queue worker configures them (`queue_configs`), read from the var
// III_QUEUES (a TOML table in wrangler.toml or a JSON string: docs/queues.md). Pure.
//
// A queue named `default` exists without configuration, as in the engine (standard, 3 attempts,
// 1 s backoff). An entry that does not parse is left out and its problem kept, so an Enqueue to it
// is answered with what is wrong instead of "not found".

export type QueueType = 'standard' | 'fifo'

export interface QueueConfig {
  name: string
  type: QueueType
  /** FIFO only: the payload field whose value names the ordering group. */
  message_group_field?: string
  /** Jobs of this queue one consumer invocation runs at once (FIFO: one per group). */
  concurrency: number
  /** Delivery attempts before the job goes to the dead letters (the engine's meaning: attempts, not retries). */
  max_retries: number
  /** Delay before the n-th retry: backoff_ms × 2^(n−1). */
  backoff_ms: number
  /** How long one attempt may run before it counts as failed (ours; the engine has none). Absent: III_INVOCATION_TIMEOUT_MS. */
  timeout_ms?: number
}

export const DEFAULT_QUEUE = 'default'
export const DEFAULTS = { type: 'standard' as QueueType, concurrency: 10, max_retries: 3, backoff_ms: 1000 }

export interface QueueConfigs {
  queues: ReadonlyMap<string, QueueConfig>
  /** Queue name → why its entry was left out. */
  problems: ReadonlyMap<string, string>
  /** What is wrong with III_QUEUES as a whole (not JSON, not an object), if anything. */
  problem?: string
}

const isCount = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= Number.MAX_SAFE_INTEGER

/** One entry of `queue_configs`; unknown fields are ignored, as the engine ignores them. */
export function parseQueueConfig(name: string, raw: unknown): QueueConfig | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return `queue '${name}': expected an object`
  const c = raw as Record<string, unknown>
  const type = c.type ?? DEFAULTS.type
  if (type !== 'standard' && type !== 'fifo') return `queue '${name}': type must be "standard" or "fifo"`
  for (const [field, min] of [['concurrency', 1], ['max_retries', 0], ['backoff_ms', 0], ['timeout_ms', 1]] as const) {
    if (c[field] !== undefined && !isCount(c[field], min)) return `queue '${name}': ${field} must be an integer ≥ ${min}`
  }
  const group = c.message_group_field
  if (group !== undefined && (typeof group !== 'string' || group === '')) return `queue '${name}': message_group_field must be a non-empty string`
  if (type === 'fifo' && group === undefined) return `FIFO queue '${name}' requires 'message_group_field' to be configured`
  return {
    name,
    type,
    ...(typeof group === 'string' ? { message_group_field: group } : {}),
    concurrency: type === 'fifo' ? 1 : ((c.concurrency as number | undefined) ?? DEFAULTS.concurrency),
    max_retries: (c.max_retries as number | undefined) ?? DEFAULTS.max_retries,
    backoff_ms: (c.backoff_ms as number | undefined) ?? DEFAULTS.backoff_ms,
    ...(c.timeout_ms !== undefined ? { timeout_ms: c.timeout_ms as number } : {}),
  }
}

/** III_QUEUES: an object (a TOML table) or its JSON text; absent: only `default`. */
export function parseQueueConfigs(raw: unknown): QueueConfigs {
  const queues = new Map<string, QueueConfig>()
  const problems = new Map<string, string>()
  let problem: string | undefined
  let value = raw
  if (typeof raw === 'string') {
    try {
      value = raw.trim() === '' ? {} : JSON.parse(raw)
    } catch {
      value = {}
      problem = 'III_QUEUES is not JSON'
    }
  }
  if (value === undefined || value === null) value = {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    value = {}
    problem = 'III_QUEUES must be an object of queue name → config'
  }
  for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
    if (name === '' || name.length > 256) {
      problems.set(name, 'a queue name must be 1 to 256 characters')
      continue
    }
    const parsed = parseQueueConfig(name, entry)
    if (typeof parsed === 'string') problems.set(name, parsed)
    else queues.set(name, parsed)
  }
  // The engine provisions `default` when the config does not name it (ensure_default_queue).
  if (!queues.has(DEFAULT_QUEUE) && !problems.has(DEFAULT_QUEUE)) queues.set(DEFAULT_QUEUE, { name: DEFAULT_QUEUE, ...DEFAULTS })
  return { queues, problems, ...(problem ? { problem } : {}) }
}

const cache = new WeakMap<object, QueueConfigs>()
let cachedText: { text: string; configs: QueueConfigs } | undefined

/** The deploy's queues (parsed once per isolate and value). */
export function queueConfigs(env: { III_QUEUES?: unknown }): QueueConfigs {
  const raw = env.III_QUEUES
  if (typeof raw === 'object' && raw !== null) {
    let c = cache.get(raw)
    if (!c) cache.set(raw, (c = parseQueueConfigs(raw)))
    return c
  }
  const text = typeof raw === 'string' ? raw : ''
  if (cachedText?.text !== text) cachedText = { text, configs: parseQueueConfigs(text) }
  return cachedText.configs
}
