// Queues with the real iii-sdk against `wrangler dev` (Cloudflare Queues run locally by miniflare):
// TriggerAction.Enqueue answers a receipt before the job runs; failures are retried with backoff and
// then dead-lettered, where the queue worker's functions redrive or discard them; a job waits for a
// function that is not registered yet without spending attempts; durable topics fan out to each
// subscribed function once; FIFO groups keep their order through an inline retry; a connected
// worker registering `engine::queue::enqueue` becomes the provider (docs/queues.md).
import { TriggerAction } from 'iii-sdk'
import { describe, expect, it } from 'vitest'
import { sdkSuite } from './support/sdk'
import { sleep, unique, until } from './support/wait'

const QUEUES = {
  fast: { max_retries: 3, backoff_ms: 100 },
  ordered: { type: 'fifo', message_group_field: 'account', max_retries: 2, backoff_ms: 100 },
  broken: { type: 'fifo' },
}
const suite = sdkSuite({ vars: { III_QUEUES: JSON.stringify(QUEUES) } })
const { worker } = suite

type Iii = ReturnType<typeof worker>
const call = <T = unknown>(iii: Iii, function_id: string, payload: unknown = {}) => iii.trigger<unknown, T>({ function_id, payload })
const enqueue = (iii: Iii, function_id: string, payload: unknown, queue: string) =>
  iii.trigger<unknown, { messageReceiptId: string }>({ function_id, payload, action: TriggerAction.Enqueue({ queue }) })

describe('TriggerAction.Enqueue', () => {
  it('answers {messageReceiptId} before the job runs; the function gets the payload later', async () => {
    const iii = worker('q-basic')
    const fn = unique('q::basic')
    const events: string[] = []
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    iii.registerFunction(fn, async (data: { n: number }) => {
      events.push(`start ${data.n}`)
      await gate
      events.push(`end ${data.n}`)
      return { done: data.n }
    })
    await sleep(300)
    const receipt = await enqueue(iii, fn, { n: 1 }, 'default')
    events.push('receipt')
    expect(receipt.messageReceiptId).toMatch(/^[0-9a-f-]{36}$/)
    // The job cannot have finished: its function waits for a gate opened only now.
    release()
    await until('the job to run', () => events.includes('end 1'))
    expect(events.indexOf('receipt')).toBeLessThan(events.indexOf('end 1'))
  })

  it("answers enqueue_error for a queue that is not configured or a FIFO job without its group field, and runs nothing", async () => {
    const iii = worker('q-errors')
    const fn = unique('q::errors')
    let runs = 0
    iii.registerFunction(fn, async () => void runs++)
    await sleep(300)
    await expect(enqueue(iii, fn, {}, 'nope')).rejects.toMatchObject({ code: 'enqueue_error', message: expect.stringContaining("Queue 'nope' not found") })
    await expect(enqueue(iii, fn, { other: 1 }, 'ordered')).rejects.toMatchObject({ message: expect.stringContaining("requires field 'account' in data") })
    await expect(enqueue(iii, fn, { account: null }, 'ordered')).rejects.toMatchObject({ message: expect.stringContaining('must not be null') })
    await expect(enqueue(iii, fn, {}, 'broken')).rejects.toMatchObject({ message: expect.stringContaining("requires 'message_group_field'") })
    await sleep(1500)
    expect(runs).toBe(0)
  })

  it('retries a failing job max_retries times with backoff, then dead-letters it; redrive runs it again, discard forgets it', async () => {
    const iii = worker('q-retries')
    const fn = unique('q::fails')
    const runs: { n: number; at: number }[] = []
    iii.registerFunction(fn, async (data: { n: number }) => {
      runs.push({ n: data.n, at: Date.now() })
      throw new Error(`job ${data.n} always fails`)
    })
    await sleep(300)
    const { messageReceiptId } = await enqueue(iii, fn, { n: 7 }, 'fast')
    type Dead = { id: string; payload: unknown; error: string; retries: number; failed_at: number }
    const dead = () => call<Dead[]>(iii, 'engine::queue::dlq_messages', { topic: 'fast' })
    const letter = await until('the dead letter', async () => (await dead()).find((d) => d.id === messageReceiptId), 20_000, 200)
    expect(runs.filter((r) => r.n === 7)).toHaveLength(3)
    expect(letter).toMatchObject({ payload: { n: 7 }, retries: 3, error: expect.stringContaining('job 7 always fails') })
    // Each retry waited longer than the one before it (100 ms, then 200 ms: whole seconds on Queues).
    expect(runs[1]!.at - runs[0]!.at).toBeGreaterThan(0)
    await sleep(1500)
    expect(runs).toHaveLength(3) // nothing more once dead
    // The page shows it: the queue's dead letters, nothing in flight any more.
    const status = (await (await fetch(`${suite.dev.baseUrl}/api/status`)).json()) as { data: { queues: { name: string; dead_letters: number; in_flight: number }[] } }
    expect(status.data.queues.find((q) => q.name === 'fast')).toMatchObject({ dead_letters: 1, in_flight: 0 })

    expect(await call(iii, 'iii::queue::redrive_message', { queue: 'fast', message_id: messageReceiptId })).toEqual({ queue: 'fast', message_id: messageReceiptId, redriven: 1 })
    await until('the redriven job to die again', async () => runs.length === 6 && (await dead()).some((d) => d.id === messageReceiptId), 20_000, 200)
    expect(await call(iii, 'iii::queue::discard_message', { queue: 'fast', message_id: messageReceiptId })).toEqual({ queue: 'fast', message_id: messageReceiptId, redriven: 1 })
    expect((await dead()).some((d) => d.id === messageReceiptId)).toBe(false)
    expect(await call(iii, 'iii::queue::discard_message', { queue: 'fast', message_id: messageReceiptId })).toMatchObject({ redriven: 0 })
    await expect(call(iii, 'iii::queue::redrive', { queue: '' })).rejects.toMatchObject({ code: 'queue_not_set' })
  })

  it('waits for a function that is not registered yet without spending attempts', async () => {
    const caller = worker('q-waits')
    const fn = unique('q::late')
    const { messageReceiptId } = await enqueue(caller, fn, { n: 1 }, 'fast') // three attempts, 100 ms apart, if it spent them
    await sleep(2500)
    const late = worker('q-late')
    let runs = 0
    late.registerFunction(fn, async () => void runs++)
    await until('the waiting job to run', () => runs === 1, 20_000)
    const dead = await call<{ id: string }[]>(caller, 'engine::queue::dlq_messages', { topic: 'fast' })
    expect(dead.some((d) => d.id === messageReceiptId)).toBe(false)
    await sleep(1000)
    expect(runs).toBe(1)
  })
})

describe('as an attacker would try it', () => {
  it("a job runs only in its caller's namespace; an oversized payload, a missing or huge name are refused before anything is stored", async () => {
    const fn = unique('q::other-ns')
    let runs = 0
    const b = worker('q-ns-b', '/q-ns-b')
    b.registerFunction(fn, async () => void runs++)
    const a = worker('q-ns-a', '/q-ns-a')
    await sleep(300)
    await enqueue(a, fn, { n: 1 }, 'default') // nobody serves it in q-ns-a: it waits there
    await expect(enqueue(a, fn, { blob: 'x'.repeat(200_000) }, 'default')).rejects.toMatchObject({ code: 'enqueue_error', message: expect.stringContaining('128 KB') })
    await expect(a.trigger({ function_id: fn, payload: {}, action: { type: 'enqueue' } as never })).rejects.toMatchObject({ code: 'enqueue_error' })
    await expect(call(a, 'iii::durable::publish', { topic: 't'.repeat(600), data: 1 })).rejects.toMatchObject({ code: 'deserialization_error' })
    await expect(call(a, 'engine::queue::dlq_messages', { topic: 'q'.repeat(600) })).rejects.toMatchObject({ code: 'deserialization_error' })
    await sleep(2500)
    expect(runs).toBe(0)
  })
})

describe('durable topics', () => {
  it('iii::durable::publish gives each subscribed function every message once; a condition that answers false skips', async () => {
    const iii = worker('q-topic')
    const topic = unique('orders.created')
    const got: Record<string, unknown[]> = { a: [], b: [], c: [] }
    const [a, b, c, cond] = ['a', 'b', 'c', 'cond'].map((k) => unique(`q::sub-${k}`))
    iii.registerFunction(a!, async (d: unknown) => void got.a!.push(d))
    iii.registerFunction(b!, async (d: unknown) => void got.b!.push(d))
    iii.registerFunction(c!, async (d: unknown) => void got.c!.push(d))
    iii.registerFunction(cond!, async (d: { n: number }) => d.n % 2 === 0)
    iii.registerTrigger({ type: 'durable:subscriber', function_id: a!, config: { topic } })
    iii.registerTrigger({ type: 'durable:subscriber', function_id: a!, config: { topic } }) // the same function twice: still once
    iii.registerTrigger({ type: 'durable:subscriber', function_id: b!, config: { topic, max_retries: 1 } })
    iii.registerTrigger({ type: 'durable:subscriber', function_id: c!, config: { topic, condition_function_id: cond } })
    await sleep(500)
    for (const n of [1, 2, 3, 4]) expect(await call(iii, 'iii::durable::publish', { topic, data: { n } })).toBeUndefined()
    await until('every copy', () => got.a!.length === 4 && got.b!.length === 4 && got.c!.length === 2, 15_000)
    await sleep(1000)
    expect(got.a).toHaveLength(4)
    expect((got.c as { n: number }[]).map((d) => d.n).sort()).toEqual([2, 4])
    await expect(call(iii, 'iii::durable::publish', { topic: '', data: 1 })).rejects.toMatchObject({ code: 'topic_not_set' })
    const topics = await call<{ name: string; broker_type: string; subscriber_count: number }[]>(iii, 'engine::queue::list_topics')
    expect(topics).toContainEqual({ name: topic, broker_type: 'builtin', subscriber_count: 3 })
    expect(topics).toContainEqual({ name: 'default', broker_type: 'function_queue', subscriber_count: 10 })
  })
})

describe('FIFO queues', () => {
  it('runs each message group in order, one at a time, holding a group back while its head is retried', async () => {
    const iii = worker('q-fifo')
    const fn = unique('q::ledger')
    const seen: string[] = []
    let failedOnce = false
    let running = 0
    let overlapped = false
    iii.registerFunction(fn, async (d: { account: string; n: number }) => {
      running++
      if (running > 2) overlapped = true
      await sleep(20)
      running--
      if (d.account === 'A' && d.n === 2 && !failedOnce) {
        failedOnce = true
        throw new Error('A2 fails once')
      }
      seen.push(`${d.account}${d.n}`)
    })
    await sleep(300)
    for (let n = 1; n <= 5; n++) for (const account of ['A', 'B']) await enqueue(iii, fn, { account, n }, 'ordered')
    await until('every job', () => seen.length === 10, 20_000)
    expect(seen.filter((s) => s.startsWith('A'))).toEqual(['A1', 'A2', 'A3', 'A4', 'A5'])
    expect(seen.filter((s) => s.startsWith('B'))).toEqual(['B1', 'B2', 'B3', 'B4', 'B5'])
    expect(failedOnce).toBe(true)
    expect(overlapped).toBe(false)
  })
})

describe('a connected queue worker', () => {
  it('registering engine::queue::enqueue makes it the provider, given the engine payload', async () => {
    const provider = worker('queue', '/q-ext')
    const got: Record<string, unknown>[] = []
    provider.registerFunction('engine::queue::enqueue', async (d: Record<string, unknown>) => {
      got.push(d)
      return null
    })
    await sleep(500)
    const iii = worker('q-external', '/q-ext')
    const receipt = await enqueue(iii, 'some::fn', { x: 1 }, 'anything')
    expect(got).toHaveLength(1)
    expect(got[0]).toMatchObject({ queue: 'anything', function_id: 'some::fn', data: { x: 1 }, messageReceiptId: receipt.messageReceiptId })
  })
})
