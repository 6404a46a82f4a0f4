// A deploy closes every socket and resets every object. 50 unmodified iii-sdk workers reconnect at
// once: all must be registered again, and every invocation that was in flight must end with an
// error result, none left to hang, however young it was when the deploy came (finding 8 of the
// security review: calls younger than the persist delay used to wait for the SDK's own timeout).
// (How fast they come back is a figure of `npm run bench`, S5.)
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

  it('ends invocations of any age, even a few ms old, within 5 s of their worker reconnecting', async () => {
    const [caller, callee] = [workers[0]!, workers[1]!]
    // The callee notes each call it got: those reached the engine for sure. (A call sent in the
    // moment of the reset may never arrive; nobody but the SDK's own timeout can end that one.)
    const reached = new Set<number>()
    callee.registerFunction('young::slow', async ({ seq }: { seq: number }) => {
      reached.add(seq)
      await released
      return 'too late'
    })
    for (;;) {
      const probe = await caller.trigger({ function_id: 'young::slow', payload: { seq: -1 }, timeoutMs: 500 }).catch((e: { code?: string }) => e.code)
      if (probe !== 'function_not_found') break
      await new Promise((r) => setTimeout(r, 50))
    }
    const state = () => (caller as unknown as { connectionState: string }).connectionState
    type Sent = { seq: number; sentAt: number; settledAt?: number; code?: string; ok?: boolean }
    const sent: Sent[] = []
    let droppedAt = 0
    // A new call every 20 ms on the caller's socket until the deploy closes it: the last ones are
    // far younger than the 250 ms after which a callee writes what it serves.
    const firing = (async () => {
      while (state() === 'connected') {
        const s: Sent = { seq: sent.length, sentAt: Date.now() }
        sent.push(s)
        void caller.trigger({ function_id: 'young::slow', payload: { seq: s.seq }, timeoutMs: 120_000 }).then(
          () => Object.assign(s, { ok: true, settledAt: Date.now() }),
          (err: { code?: string }) => Object.assign(s, { ok: false, code: err.code, settledAt: Date.now() }),
        )
        await new Promise((r) => setTimeout(r, 20))
      }
      droppedAt = Date.now()
    })()
    await new Promise((r) => setTimeout(r, 500))
    dev.redeploy()
    await firing
    while (state() !== 'connected') await new Promise((r) => setTimeout(r, 10))
    const backAt = Date.now()
    // Every call that reached the engine ends soon after the caller is back, not at its 120 s.
    const arrived = () => sent.filter((s) => reached.has(s.seq))
    const deadline = backAt + 5_000
    while (arrived().some((s) => s.settledAt === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    const young = arrived().filter((s) => droppedAt - s.sentAt < 250)
    const lost = sent.filter((s) => !reached.has(s.seq) && s.settledAt === undefined)
    console.log(
      `e2e young calls across a deploy: ${sent.length} sent, ${arrived().length} reached the callee, ${young.length} of them younger than 250 ms ` +
        `when the socket dropped; they ended ≤ ${Math.max(...arrived().map((s) => (s.settledAt ?? Infinity) - backAt))} ms after the caller reconnected ` +
        `(${[...new Set(arrived().map((s) => s.code))].join(', ')}); ${lost.length} sent in the moment of the reset never arrived`,
    )
    expect(young.length).toBeGreaterThan(0)
    expect(arrived().filter((s) => s.settledAt === undefined)).toEqual([])
    for (const s of arrived()) expect(s).toMatchObject({ ok: false, code: 'invocation_stopped' })
    // What never arrived was sent last, in the moment the socket went.
    for (const s of lost) expect(droppedAt - s.sentAt).toBeLessThan(250)
  }, 120_000)
})
