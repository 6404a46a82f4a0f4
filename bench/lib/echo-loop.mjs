// The caller side of the rows that time an SDK invocation from a process of its own (O1, A1, A2):
// wait until the function answers, then time sequential calls after a warm-up.

export const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

/**
 * Calls `functionId` (an echo: it answers its input) until it answers (30 s at most), then
 * `warmup` + `samples` sequential calls; p50 and p99 of the last `samples` (ms), and every call made.
 */
export async function echoLatency(iii, functionId, samples, warmup) {
  const deadline = Date.now() + 30_000
  let tries = 0
  for (;;) {
    try {
      tries++
      await iii.trigger({ function_id: functionId, payload: { i: -1 }, timeoutMs: 2000 })
      break
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  const out = []
  for (let i = 0; i < warmup + samples; i++) {
    const t = performance.now()
    const r = await iii.trigger({ function_id: functionId, payload: { i } })
    if (r?.i !== i) throw new Error(`echo returned ${JSON.stringify(r)}`)
    if (i >= warmup) out.push(performance.now() - t)
  }
  out.sort((a, b) => a - b)
  return { p50: pct(out, 50), p99: pct(out, 99), calls: tries + warmup + samples }
}
