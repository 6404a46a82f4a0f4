// R7: one worker's flood of registrations must not stall the others (issue 21, item 6). A canary
// SDK worker serves an echo that a second SDK worker calls every ~20 ms, open loop, while a raw
// socket (a third worker, no SDK) sends thousands of `registerfunction` (and http routes) in one
// burst. Measured: the canary's latency and timeouts during the flood, and how long until the
// flood's last accepted function is callable by yet another worker.
import { registerWorker } from 'iii-sdk'
import WebSocket from 'ws'
import { within } from './clients.mjs'
import { sleep } from './procs.mjs'

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const quiet = (name) => ({ workerName: name, otel: { enabled: false }, enableMetricsReporting: false })
const PREFIX = 'r7flood::f'
/** The flood ends with a trigger every registry refuses (no api_path): its error comes back after everything before it was applied. */
const MARKER = 'r7-flood-done'

/**
 * One flood on `proc` (a fresh `wrangler dev`): `functions` registerfunction and `routes` http
 * triggers from one raw socket. `bound` is the documented default of functions per worker: the
 * last accepted function is the flood's last one, or the bound's last one when refusals began.
 * `noop` sends as many `{"type":"pong"}` instead (the engine does nothing with them): what any
 * burst of that many messages costs the others, whatever the engine does with each.
 */
export async function floodRun(proc, { functions, routes = 0, noop = false, bound = 1000, everyMs = 20, timeoutMs = 10_000, warmMs = 1000, settleMs = 120_000 }) {
  const canary = registerWorker(proc.wsUrl, quiet('r7-canary'))
  const caller = registerWorker(proc.wsUrl, quiet('r7-caller'))
  const probe = registerWorker(proc.wsUrl, quiet('r7-probe'))
  canary.registerFunction('r7::echo', async (x) => x)
  let ws = null
  let ticker = null
  try {
    const deadline = Date.now() + 30_000
    while (!(await caller.trigger({ function_id: 'r7::echo', payload: { warm: 1 }, timeoutMs: 2000 }).catch(() => null))) {
      if (Date.now() > deadline) throw new Error('the canary echo did not answer within 30 s')
      await sleep(100)
    }
    // The canary: one call every `everyMs`, whatever the previous ones are doing (open loop).
    const calls = []
    let seq = 0
    ticker = setInterval(() => {
      const i = seq++
      const call = { startedAt: performance.now(), ms: null, error: null }
      calls.push(call)
      call.done = caller.trigger({ function_id: 'r7::echo', payload: { i }, timeoutMs }).then(
        (r) => {
          if (r?.i !== i) call.error = `wrong echo ${JSON.stringify(r)}`
          else call.ms = performance.now() - call.startedAt
        },
        (err) => (call.error = err?.code ?? String(err?.message ?? err)),
      )
    }, everyMs)
    await sleep(warmMs)

    // The flood: a raw worker socket, answering the invocations of its functions itself.
    ws = new WebSocket(proc.wsUrl)
    const refused = new Map() // trigger error code → count
    let markerAt = null
    let pongAt = null
    const registered = new Promise((resolve, reject) => {
      ws.once('error', reject)
      ws.on('message', (raw) => {
        const m = JSON.parse(String(raw))
        if (m.type === 'workerregistered') resolve()
        else if (m.type === 'invokefunction' && m.invocation_id) ws.send(JSON.stringify({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: m.function_id, result: { from: 'flood' } }))
        else if (m.type === 'pong') pongAt ??= performance.now()
        else if (m.type === 'triggerregistrationresult' && m.error) {
          if (m.id === MARKER) markerAt ??= performance.now()
          else refused.set(m.error.code, (refused.get(m.error.code) ?? 0) + 1)
        }
      })
    })
    await within(registered, 10_000, 'the flooding socket to be registered')
    const t0 = performance.now()
    for (let i = 0; i < functions; i++) ws.send(noop ? '{"type":"pong"}' : JSON.stringify({ type: 'registerfunction', id: `${PREFIX}${i}` }))
    for (let i = 0; i < routes; i++) {
      ws.send(JSON.stringify({ type: 'registertrigger', id: `r7-route-${i}`, trigger_type: 'http', function_id: `${PREFIX}${i}`, config: { api_path: `r7flood/${i}`, http_method: 'GET' } }))
    }
    ws.send(JSON.stringify({ type: 'registertrigger', id: MARKER, trigger_type: 'http', function_id: `${PREFIX}0`, config: {} }))
    ws.send('{"type":"ping"}')
    const sentMs = performance.now() - t0

    // Probe the two candidates for "last accepted" until the flood settled and the last one answers.
    const candidates = [...new Set([functions - 1, Math.min(bound, functions) - 1])]
    const callableAt = new Map()
    const calls0 = (id) => probe.trigger({ function_id: `${PREFIX}${id}`, payload: {}, timeoutMs: 5000 }).then((r) => r?.from === 'flood', () => false)
    let accepted = null
    const settleBy = performance.now() + settleMs
    for (;;) {
      if (performance.now() > settleBy) throw new Error(`the flood did not settle within ${settleMs / 1000} s`)
      await Promise.all(candidates.filter((c) => !callableAt.has(c)).map(async (c) => (await calls0(c)) && callableAt.set(c, performance.now())))
      if (markerAt !== null && accepted === null) {
        // Every accepted registration reached the registry before the marker's refusal: count them.
        const list = await probe.trigger({ function_id: 'engine::functions::list', payload: {}, timeoutMs: 30_000 })
        accepted = list.functions.filter((f) => f.function_id.startsWith(PREFIX)).length
        if (!candidates.includes(accepted - 1)) candidates.push(accepted - 1)
      }
      if (accepted !== null && (accepted === 0 || callableAt.has(accepted - 1))) break
      await sleep(100)
    }
    const settledAt = Math.max(markerAt, accepted > 0 ? callableAt.get(accepted - 1) : markerAt)
    // Calls started during the flood (from the burst until it settled), each to its answer or timeout.
    clearInterval(ticker)
    ticker = null
    await Promise.all(calls.map((c) => c.done))
    const before = calls.filter((c) => c.startedAt < t0 && c.ms !== null).map((c) => c.ms).sort((a, b) => a - b)
    const during = calls.filter((c) => c.startedAt >= t0 && c.startedAt <= settledAt)
    const ms = during.filter((c) => c.ms !== null).map((c) => c.ms).sort((a, b) => a - b)
    const errors = during.filter((c) => c.error !== null)
    return {
      functions,
      routes,
      sentMs,
      calls: during.length,
      timeouts: errors.filter((c) => c.error === 'TIMEOUT').length,
      otherErrors: errors.filter((c) => c.error !== 'TIMEOUT').map((c) => c.error).slice(0, 5),
      p50: pct(ms, 50),
      p99: errors.length ? Infinity : pct(ms, 99),
      p99Answered: pct(ms, 99),
      max: ms.at(-1),
      beforeP50: pct(before, 50),
      accepted,
      refusedTriggers: Object.fromEntries(refused),
      lastCallableMs: accepted > 0 ? callableAt.get(accepted - 1) - t0 : null,
      settledMs: settledAt - t0,
      pongMs: pongAt === null ? null : pongAt - t0,
    }
  } finally {
    if (ticker) clearInterval(ticker)
    ws?.close()
    await Promise.allSettled([canary.shutdown(), caller.shutdown(), probe.shutdown()])
  }
}
