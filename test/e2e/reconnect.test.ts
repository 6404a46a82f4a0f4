// A deploy closes every socket and resets every object. 50 unmodified iii-sdk workers reconnect at
// once: all must be registered again, and every invocation that was in flight must end with an
// error result, none left to hang. (How fast they come back is a figure of `npm run bench`, S5.)
import { registerWorker } from 'iii-sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type WranglerDev, startWrangler } from './support/wrangler'

const WORKERS = 50
let dev: WranglerDev
let workers: ReturnType<typeof registerWorker>[] = []
/** Lets the slow functions return once the test is over. */
let release: () => void = () => {}
const released = new Promise<void>((r) => (release = r))

beforeAll(async () => {
  dev = await startWrangler({ copy: true })
  workers = Array.from({ length: WORKERS }, (_, i) => {
    const iii = registerWorker(dev.wsUrl, { workerName: `storm-${i}`, otel: { enabled: false } })
    iii.registerFunction(`storm::echo-${i}`, async (x: unknown) => x)
    iii.registerFunction(`storm::slow-${i}`, async () => {
      await released
      return 'too late'
    })
    return iii
  })
  await allAnswer(30_000)
}, 60_000)

afterAll(async () => {
  release()
  await Promise.allSettled(workers.map((w) => w.shutdown()))
  await dev?.stop()
})

/** Resolves once every worker's echo function answers (through another worker's session). */
async function allAnswer(withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs
  const pending = new Set(workers.map((_, i) => i))
  while (pending.size > 0) {
    if (Date.now() > deadline) throw new Error(`${pending.size} workers not registered after ${withinMs} ms: ${[...pending].slice(0, 5)}`)
    await Promise.all(
      [...pending].map(async (i) => {
        const caller = workers[(i + 1) % WORKERS]!
        const echoed = await caller.trigger({ function_id: `storm::echo-${i}`, payload: { i }, timeoutMs: 2_000 }).catch(() => null)
        if ((echoed as { i?: number } | null)?.i === i) pending.delete(i)
      }),
    )
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 100))
  }
}

describe('reconnect storm', () => {
  it(`brings ${WORKERS} workers back after a deploy, and ends every invocation that was in flight with an error`, async () => {
    // Each worker waits on another worker's slow function (long enough to be written: > 250 ms).
    const inFlight = workers.map((w, i) =>
      w.trigger({ function_id: `storm::slow-${(i + 1) % WORKERS}`, payload: {}, timeoutMs: 120_000 }).then(
        (result) => ({ ok: true as const, result }),
        (err: { code?: string; message?: string }) => ({ ok: false as const, code: err.code, message: err.message, at: Date.now() }),
      ),
    )
    await new Promise((r) => setTimeout(r, 1000))
    const deployedAt = Date.now()
    dev.redeploy()
    const outcomes = await Promise.all(inFlight)
    await allAnswer(60_000)
    const back = Date.now() - deployedAt
    const ended = outcomes.map((o) => (o.ok ? null : o.at - deployedAt)).filter((t): t is number => t !== null)
    console.log(
      `e2e reconnect storm: ${WORKERS} workers answering again ${back} ms after the deploy; in-flight invocations ended with an error in ${Math.min(...ended)}–${Math.max(...ended)} ms (${[...new Set(outcomes.map((o) => (o.ok ? 'ok' : o.code)))].join(', ')})`,
    )
    expect(outcomes.filter((o) => o.ok)).toEqual([])
    for (const o of outcomes) expect(o).toMatchObject({ ok: false, code: 'invocation_stopped' })
  }, 180_000)
})
