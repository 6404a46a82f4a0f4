// The queue rules, pure (docs/queues.md): named queues read from III_QUEUES as the engine reads its
// queue_configs, what one attempt's outcome leads to (ack, retry after backoff, wait without
// spending, dead letter), FIFO groups, durable subscribers' configs and fan-out.
import { describe, expect, it } from 'vitest'
import { DEFAULTS, parseQueueConfig, parseQueueConfigs } from '../../src/data/queue/config'
import { type Job, MAX_WAIT_MS, WAIT_MAX_S, backoffMs, decide, delaySeconds, groupOf, parseJob, retryOf } from '../../src/data/queue/job'
import { type DataTrigger, dataTriggerProblem, durableSubscribersOf, durableSubscription, durableTopics } from '../../src/data/triggers'
import { isQueueProviderFunction } from '../../src/data/queue/names'

const job = (more: Partial<Job> = {}): Job => ({ namespace: '', kind: 'queue', queue: 'default', function_id: 'f', data: {}, id: 'r1', attempts: 0, enqueued_at: 1_000, ...more })
const failed = { error: { code: 'invocation_failed', message: 'boom' } }

describe('III_QUEUES', () => {
  it('always has `default` (standard, 3 attempts, 1 s backoff, concurrency 10), as the engine provisions it', () => {
    for (const raw of [undefined, '', '{}', {}]) {
      expect(parseQueueConfigs(raw).queues.get('default')).toEqual({ name: 'default', ...DEFAULTS })
    }
    expect(DEFAULTS).toEqual({ type: 'standard', concurrency: 10, max_retries: 3, backoff_ms: 1000 })
  })

  it('reads the engine shape from a TOML table or JSON text; an explicit `default` is kept as written', () => {
    const configs = parseQueueConfigs('{"default":{"max_retries":5},"payment":{"type":"fifo","message_group_field":"tx","concurrency":4,"max_retries":10,"backoff_ms":50,"timeout_ms":2000,"poll_interval_ms":100}}')
    expect(configs.queues.get('default')).toMatchObject({ max_retries: 5, backoff_ms: 1000, concurrency: 10 })
    // FIFO runs one job of a group at a time, whatever concurrency says (prefetch 1 in the engine); unknown fields are ignored.
    expect(configs.queues.get('payment')).toEqual({ name: 'payment', type: 'fifo', message_group_field: 'tx', concurrency: 1, max_retries: 10, backoff_ms: 50, timeout_ms: 2000 })
    expect(parseQueueConfigs({ jobs: { concurrency: 2 } }).queues.get('jobs')).toMatchObject({ type: 'standard', concurrency: 2 })
  })

  it('leaves out an entry that does not parse and says why; a bad whole value is reported, `default` stays', () => {
    const configs = parseQueueConfigs({ a: { type: 'lifo' }, b: { type: 'fifo' }, c: { concurrency: 0 }, d: { max_retries: -1 }, e: { backoff_ms: 1.5 }, f: 'x', g: { message_group_field: '' } })
    expect([...configs.queues.keys()]).toEqual(['default'])
    expect(configs.problems.get('a')).toContain('standard')
    expect(configs.problems.get('b')).toBe("FIFO queue 'b' requires 'message_group_field' to be configured")
    expect(configs.problems.get('c')).toContain('concurrency')
    expect(configs.problems.get('d')).toContain('max_retries')
    expect(configs.problems.get('e')).toContain('backoff_ms')
    expect(configs.problems.get('f')).toContain('object')
    expect(configs.problems.get('g')).toContain('message_group_field')
    expect(parseQueueConfigs('not json').problem).toBe('III_QUEUES is not JSON')
    expect(parseQueueConfigs('[1]').problem).toContain('object')
    expect(parseQueueConfigs('[1]').queues.has('default')).toBe(true)
    expect(typeof parseQueueConfig('x', null)).toBe('string')
  })
})

describe('one attempt decides', () => {
  const retry = { max_retries: 3, backoff_ms: 1000 }

  it('success acknowledges', () => {
    expect(decide(job(), {}, 1, retry, 2_000)).toEqual({ do: 'ack' })
  })

  it('a failure is retried after backoff_ms × 2^(n−1) until max_retries attempts were spent, then dead (the engine counts attempts)', () => {
    expect(decide(job(), failed, 1, retry, 2_000)).toEqual({ do: 'retry', delayMs: 1000 })
    expect(decide(job(), failed, 2, retry, 2_000)).toEqual({ do: 'retry', delayMs: 2000 })
    expect(decide(job(), failed, 3, retry, 2_000)).toEqual({ do: 'dead', error: 'invocation_failed: boom' })
    // max_retries 0 still runs once.
    expect(decide(job(), failed, 1, { max_retries: 0, backoff_ms: 1 }, 2_000)).toMatchObject({ do: 'dead' })
    expect([1, 2, 3, 4].map((n) => backoffMs(100, n))).toEqual([100, 200, 400, 800])
  })

  it('a function nobody serves (or whose worker refuses more calls) is waited for without spending an attempt, pauses doubling to 30 s', () => {
    const missing = { error: { code: 'function_not_found', message: 'Function f not found' } }
    expect(decide(job(), missing, 99, retry, 2_000)).toEqual({ do: 'wait', delayMs: 1000 })
    expect(decide(job({ waits: 3 }), missing, 1, retry, 2_000)).toEqual({ do: 'wait', delayMs: 8000 })
    expect(decide(job({ waits: 20 }), missing, 1, retry, 2_000)).toEqual({ do: 'wait', delayMs: WAIT_MAX_S * 1000 })
    expect(decide(job(), { error: { code: 'too_many_invocations', message: '' } }, 5, retry, 2_000)).toMatchObject({ do: 'wait' })
    // …within the platform's retention only: then it is dead, saying why.
    expect(decide(job(), missing, 1, retry, 1_000 + MAX_WAIT_MS)).toMatchObject({ do: 'dead', error: expect.stringContaining('waited 96 h') })
  })

  it("a timeout or a worker gone mid-attempt spends the attempt (the function may have run: at least once)", () => {
    expect(decide(job(), { error: { code: 'timeout', message: '' } }, 1, retry, 2_000)).toMatchObject({ do: 'retry' })
    expect(decide(job(), { error: { code: 'invocation_stopped', message: '' } }, 1, retry, 2_000)).toMatchObject({ do: 'retry' })
  })

  it('delays are whole seconds for Queues, rounded up, at most 12 h', () => {
    expect([0, 1, 999, 1000, 1001, 100 * 3600_000].map(delaySeconds)).toEqual([0, 1, 1, 1, 2, 43_200])
  })

  it("a topic copy's own settings win over its queue's", () => {
    expect(retryOf(job({ kind: 'topic', max_retries: 7 }), { max_retries: 3, backoff_ms: 5 })).toEqual({ max_retries: 7, backoff_ms: 5 })
    expect(retryOf(job(), undefined)).toEqual({ max_retries: 3, backoff_ms: 1000 })
  })
})

describe('FIFO groups', () => {
  const fifo = parseQueueConfig('payment', { type: 'fifo', message_group_field: 'account' })
  it('a job belongs to the group its field names (JSON for a non-string); missing or null is refused with the engine message', () => {
    if (typeof fifo === 'string') throw new Error(fifo)
    expect(groupOf(fifo, { account: 'A' })).toEqual({ group: 'A' })
    expect(groupOf(fifo, { account: 7 })).toEqual({ group: '7' })
    expect(groupOf(fifo, {})).toEqual({ problem: "FIFO queue 'payment' requires field 'account' in data, but it was not found" })
    expect(groupOf(fifo, [1])).toMatchObject({ problem: expect.stringContaining('not found') })
    expect(groupOf(fifo, { account: null })).toEqual({ problem: "FIFO queue 'payment': field 'account' must not be null" })
  })
})

describe('a message read back', () => {
  it('is a job only with its fields; anything else is refused, never run', () => {
    expect(parseJob(job())).toEqual(job())
    for (const bad of [null, 1, 'x', {}, { ...job(), kind: 'other' }, { ...job(), function_id: '' }, { ...job(), namespace: 1 }, { ...job(), attempts: '0' }]) expect(parseJob(bad)).toBeNull()
  })
})

describe('durable:subscriber', () => {
  const t = (function_id: string, config: unknown): DataTrigger => ({ id: `${function_id}-${JSON.stringify(config)}`, trigger_type: 'durable:subscriber', function_id, config })

  it('takes `topic` (or `queue`), the condition, and retries flat or as the engine’s queue_config', () => {
    expect(durableSubscription({ topic: 'o', condition_function_id: 'c', max_retries: 2, backoff_ms: 10 })).toEqual({ topic: 'o', condition_function_id: 'c', max_retries: 2, backoff_ms: 10 })
    expect(durableSubscription({ queue: 'o', queue_config: { maxRetries: 4, backoffDelayMs: 20 } })).toEqual({ topic: 'o', max_retries: 4, backoff_ms: 20 })
    expect(durableSubscription({})).toBeNull()
    expect(durableSubscription({ topic: '' })).toBeNull()
  })

  it('refuses configs of the wrong shape at registration', () => {
    expect(dataTriggerProblem('durable:subscriber', { topic: 'o' })).toBeNull()
    expect(dataTriggerProblem('durable:subscriber', undefined)).toBeNull()
    for (const bad of [[], 'x', { topic: 1 }, { condition_function_id: {} }, { max_retries: -1 }, { backoff_ms: 'x' }, { queue_config: 3 }]) {
      expect(dataTriggerProblem('durable:subscriber', bad)).toMatch(/durable:subscriber/)
    }
  })

  it('fans out to each distinct function of the topic once (its first trigger gives the settings)', () => {
    const triggers = [t('a', { topic: 'o', max_retries: 1 }), t('a', { topic: 'o', max_retries: 9 }), t('b', { topic: 'o' }), t('c', { topic: 'other' }), { ...t('d', { topic: 'o' }), trigger_type: 'subscribe' }]
    expect(durableSubscribersOf(triggers, 'o')).toEqual([
      { function_id: 'a', subscription: { topic: 'o', max_retries: 1 } },
      { function_id: 'b', subscription: { topic: 'o' } },
    ])
    expect(durableTopics(triggers).sort()).toEqual(['o', 'other'])
  })

  it("the registry announces the provider's functions, so a session sees a queue worker arrive", () => {
    expect(['engine::queue::enqueue', 'iii::durable::publish', 'iii::queue::redrive', 'engine::queue::dlq_messages'].every(isQueueProviderFunction)).toBe(true)
    expect(['engine::queue::other', 'publish', 'state::set'].some(isQueueProviderFunction)).toBe(false)
  })
})
