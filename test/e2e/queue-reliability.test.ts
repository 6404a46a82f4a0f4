// An acknowledged Enqueue is never lost, with the real iii-sdk against `wrangler dev` (Cloudflare
// Queues run locally by miniflare): 1,000 jobs are enqueued with TriggerAction.Enqueue while the
// worker serving their function drops off the network and the SDK reconnects by itself, and later
// shuts down and a new worker registers the same function. Every acknowledged job runs at least
// once and at most max_retries + 1 times; the dead letters (engine::queue::dlq_messages, paged)
// hold exactly the jobs that always fail, and the queue's counts come back to zero.
//
// Object resets are test/workers/queue-reliability.test.ts's part: miniflare's queue broker keeps
// its messages in memory, and a reload of `wrangler dev` (dev.redeploy()) drops them, which a deploy
// on Cloudflare does not.
import { TriggerAction, registerWorker } from 'iii-sdk'
import { describe, expect, it } from 'vitest'
import { Allowance } from '../cases/allowance'
import { type DeadLetter, alwaysFails, expectDeadLetters } from '../cases/dead-letters'
import { type Iii, sdkSuite } from './support/sdk'
import { tcpProxy } from './support/proxy'
import { sleep, until } from './support/wait'

const QUEUE = 'reliable-e2e'
const MAX_RETRIES = 3
const JOBS = 1000
const FN = 'reliable::e2e'
/** Enqueues in flight at once. */
const PIPELINE = 20

const suite = sdkSuite({ vars: { III_QUEUES: JSON.stringify({ [QUEUE]: { max_retries: MAX_RETRIES, backoff_ms: 100 } }) } })

interface Tally {
  runs: Map<number, number>
  succeeded: Set<number>
  /** Runs started and not returned yet. */
  running: number
}

/** Serves FN on `iii`: each job takes a few ms; the failing ones throw. */
function serve(iii: Iii, tally: Tally): void {
  iii.registerFunction(FN, async (data: { n: number }) => {
    const { n } = data
    tally.runs.set(n, (tally.runs.get(n) ?? 0) + 1)
    tally.running++
    try {
      await sleep(5 + Math.floor(Math.random() * 20))
      if (alwaysFails(n)) throw new Error(`job ${n} always fails`)
      tally.succeeded.add(n)
      return { n }
    } finally {
      tally.running--
    }
  })
}

describe('an acknowledged Enqueue is never lost (real SDK)', () => {
  it('1,000 jobs while the serving worker drops off and reconnects, then leaves and another takes over: each ran, none too often, the dead letters are exactly the failing ones', async () => {
    const started = Date.now()
    const tally: Tally = { runs: new Map(), succeeded: new Set(), running: 0 }
    const proxy = await tcpProxy(suite.dev.port)
    // The first serving worker reaches the engine through the proxy (its own, shut down below).
    const first = registerWorker(proxy.url, { workerName: 'reliable-first', otel: { enabled: false } })
    let second: Iii | undefined
    try {
      serve(first, tally)
      const caller = suite.worker('reliable-caller')
      const dead = async (): Promise<DeadLetter[]> => {
        const all: DeadLetter[] = []
        for (let offset = 0; ; offset += 7) {
          const page = await caller.trigger<unknown, DeadLetter[]>({ function_id: 'engine::queue::dlq_messages', payload: { topic: QUEUE, offset, limit: 7 } })
          all.push(...page)
          if (page.length < 7) return all
        }
      }
      await until('the function to be served', async () => {
        const { functions } = await caller.trigger<unknown, { functions: { function_id: string }[] }>({ function_id: 'engine::functions::list', payload: {} })
        return functions.some((f) => f.function_id === FN)
      }, 15_000, 100)

      // Enqueues go on in the background, PIPELINE at a time, up to the gate's mark (moved on phase by phase).
      const receipts = new Map<number, string>()
      const refused: { n: number; error: string }[] = []
      let next = 0
      const gate = new Allowance()
      const allow = (upTo: number) => gate.allow(upTo)
      const enqueuing = Promise.all(
        Array.from({ length: PIPELINE }, async () => {
          while (next < JOBS) {
            if (!gate.allows(next)) {
              await gate.moved()
              continue
            }
            const n = next++
            try {
              const { messageReceiptId } = await caller.trigger<unknown, { messageReceiptId: string }>({ function_id: FN, payload: { n }, action: TriggerAction.Enqueue({ queue: QUEUE }) })
              receipts.set(n, messageReceiptId)
            } catch (err) {
              refused.push({ n, error: String((err as { message?: string }).message ?? err) })
            }
          }
        }),
      )
      const answered = (count: number) => () => receipts.size + refused.length >= count
      const events: string[] = []

      // 1. Jobs flow; the first worker's connection drops while it runs some of them. Its SDK
      //    reconnects by itself once the network is back, and registers its function again.
      allow(300)
      await until('300 receipts', answered(300), 30_000)
      await until('jobs to run', () => tally.succeeded.size >= 100, 30_000)
      await until('the worker to be running a job', () => tally.running > 0, 30_000, 1)
      const runningAtCut = tally.running
      proxy.cut({ refuse: true })
      events.push('network dropped')
      allow(450)
      await until('450 receipts', answered(450), 30_000)
      await sleep(1500) // jobs reach the consumer while nobody serves their function
      proxy.accept()
      events.push('network back')
      await until('the reconnected worker to run a job enqueued while it was away', () => [...tally.runs.keys()].some((n) => n >= 300 && n < 450), 45_000, 50)
      events.push('reconnected worker serving')

      // 2. The first worker shuts down while it runs some jobs; its function is gone for a while,
      //    then a new worker serves it.
      allow(650)
      await until('650 receipts', answered(650), 30_000)
      await until('the worker to be running a job', () => tally.running > 0, 30_000, 1)
      const runningAtShutdown = tally.running
      await first.shutdown()
      events.push('worker shut down')
      allow(800)
      await until('800 receipts', answered(800), 30_000)
      await sleep(1500)
      second = registerWorker(suite.dev.wsUrl, { workerName: 'reliable-second', otel: { enabled: false } })
      serve(second, tally)
      events.push('new worker')
      allow(JOBS)
      await enqueuing

      // Every acknowledged job runs; the failing ones end in the dead letters; the queue is empty.
      const failing = [...receipts.keys()].filter(alwaysFails)
      const passing = [...receipts.keys()].filter((n) => !alwaysFails(n))
      type Stats = { depth: number; in_flight: number; dlq_depth: number }
      const stats = () => caller.trigger<unknown, Stats>({ function_id: 'engine::queue::topic_stats', payload: { topic: QUEUE } })
      await until(
        'every acknowledged job to succeed or be dead-lettered',
        async () => {
          if (!passing.every((n) => tally.succeeded.has(n))) return false
          const s = await stats()
          return s.depth === 0 && s.in_flight === 0 && s.dlq_depth >= failing.length
        },
        60_000,
        250,
      )
      // Then nothing more comes: no job runs again, no other letter is filed.
      const totalRuns = () => [...tally.runs.values()].reduce((a, b) => a + b, 0)
      const settledRuns = totalRuns()
      await sleep(2500)
      const letters = await dead()
      const finalStats = await stats()

      console.log(
        `e2e queue reliability: ${receipts.size} acknowledged, ${refused.length} refused; ${totalRuns()} runs (max ${Math.max(...tally.runs.values())} of one job); ` +
          `${runningAtCut} running at the network drop, ${runningAtShutdown} at the shutdown; ${letters.length} dead letters; ` +
          `stats ${JSON.stringify(finalStats)}; ${Date.now() - started} ms; ${events.join(' → ')}`,
      )
      expect(events).toEqual(['network dropped', 'network back', 'reconnected worker serving', 'worker shut down', 'new worker'])
      expect(refused).toEqual([])
      expect(receipts.size).toBe(JOBS)
      expect(new Set(receipts.values()).size).toBe(JOBS)
      for (let n = 0; n < JOBS; n++) {
        expect(tally.runs.get(n) ?? 0, `runs of job ${n}`).toBeGreaterThanOrEqual(1)
        expect(tally.runs.get(n) ?? 0, `runs of job ${n}`).toBeLessThanOrEqual(MAX_RETRIES + 1)
      }
      expect(totalRuns()).toBe(settledRuns)

      expectDeadLetters(letters, failing, receipts, MAX_RETRIES)
      expect(finalStats).toMatchObject({ depth: 0, in_flight: 0, dlq_depth: failing.length })
    } finally {
      await Promise.allSettled([first.shutdown(), second?.shutdown()])
      await proxy.close()
    }
  }, 115_000)
})
