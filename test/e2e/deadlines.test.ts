// Finding 7 of the security review: nothing timed out on our side. A function that never answers
// now ends for its caller with `timeout` at the invocation's deadline (`timeout_ms`, or
// III_INVOCATION_TIMEOUT_MS when absent), and the callee's session lets go of it: a hung callee
// holds nothing once its callers stopped waiting. Real SDK workers and a raw caller.
import { describe, expect, it } from 'vitest'
import { RawWorker } from './support/engine'
import { sdkSuite } from './support/sdk'
import { until, unique } from './support/wait'

// A short default so the test need not wait the SDK's 30 s; a raw caller names its own.
const suite = sdkSuite({ vars: { III_INVOCATION_TIMEOUT_MS: '2000' } })

describe('an invocation nobody answers', () => {
  it('ends with `timeout` for every caller, and the callee keeps none of them', async () => {
    const fn = unique('hang::forever')
    const name = unique('hung')
    const callee = suite.worker(name)
    let started = 0
    callee.registerFunction(fn, () => {
      started++
      return new Promise(() => {}) // never answers
    })
    const raw = await RawWorker.open(suite.dev.wsUrl)
    await until('the hanging function', async () => {
      const m = await raw.call(fn, {}, { timeout_ms: 300 })
      return m.error?.code !== 'function_not_found'
    })

    // A raw caller's own timeout_ms, for many calls at once: every one is answered `timeout`.
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => raw.call(fn, { i }, { timeout_ms: 1_000 })))
    for (const a of answers) expect(a.error).toMatchObject({ code: 'timeout', message: expect.stringContaining('1000 ms') })
    expect(started).toBeGreaterThanOrEqual(200) // each reached the worker: the callee held them all

    // An SDK caller sends no timeout: the deployment's default (here 2 s) ends its call before its own 20 s.
    const sdkCaller = suite.worker('patient')
    const err = await sdkCaller.trigger({ function_id: fn, payload: {}, timeoutMs: 20_000 }).then(
      () => null,
      (e: { code?: string }) => e,
    )
    expect(err).toMatchObject({ code: 'timeout' })

    // The callee's session let go of every one of them (the SDK's worker is still running them).
    const busy = async () => {
      const m = await raw.call('engine::workers::list', {})
      return (m.result.workers as { name?: string; active_invocations: number }[]).find((w) => w.name === name)
    }
    const listed = await until('the callee to hold nothing', async () => {
      const w = await busy()
      return w && w.active_invocations === 0 ? w : null
    })
    expect(listed.active_invocations).toBe(0)
    raw.close()
  })
})
