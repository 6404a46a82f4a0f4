// P7 and P8: the real iii-sdk (two registerWorker in this process) against our engine.
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { http } from '@iii-dev/helpers/http'
import { registerWorker } from 'iii-sdk'
import { frameAt, within } from './clients.mjs'
import { sleep } from './procs.mjs'

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

/** Registers the bench's functions on two SDK workers; returns { caller, server, stop }. */
export async function sdkWorkers(proc, downloadBytes) {
  // OpenTelemetry is off for both: it is process-global in the SDK and not what we measure.
  const server = registerWorker(proc.wsUrl, { workerName: 'bench-server', otel: { enabled: false }, enableMetricsReporting: false })
  const caller = registerWorker(proc.wsUrl, { workerName: 'bench-caller', otel: { enabled: false }, enableMetricsReporting: false })
  server.registerFunction('bench::echo', async (input) => input)
  const chunk = frameAt(0)
  server.registerFunction(
    'bench::download',
    http(async (_req, res) => {
      res.status(200)
      res.headers({ 'content-type': 'application/octet-stream' })
      const n = Math.ceil(downloadBytes / chunk.length)
      await pipeline(Readable.from((function* () { for (let i = 0; i < n; i++) yield chunk })()), res.stream)
    }),
  )
  server.registerTrigger({ type: 'http', function_id: 'bench::download', config: { api_path: 'bench/download', http_method: 'GET' } })
  // A small answer, for requests counted one by one (S2).
  server.registerFunction('bench::hello', async () => ({ status_code: 200, body: 'hello' }))
  server.registerTrigger({ type: 'http', function_id: 'bench::hello', config: { api_path: 'bench/hello', http_method: 'GET' } })
  // registration is sent on open: wait until both the function and the route answer
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      await caller.trigger({ function_id: 'bench::echo', payload: { ping: 1 } })
      // a full GET doubles as the warm-up download
      const r = await fetch(`${proc.baseUrl}/bench/download`).catch(() => null)
      if (r?.status === 200) {
        await r.arrayBuffer()
        break
      }
      await r?.body?.cancel()
    } catch {}
    if (Date.now() > deadline) throw new Error('SDK functions did not register within 30 s')
    await sleep(200)
  }
  return {
    caller,
    server,
    stop: () => Promise.allSettled([caller.shutdown(), server.shutdown()]),
  }
}

/** P7: GET the http() download, reading the body as it streams; MB/s. */
export async function httpDownload(proc, bytes) {
  const t0 = performance.now()
  const res = await within(fetch(`${proc.baseUrl}/bench/download`), 60_000, 'download headers')
  if (res.status !== 200) throw new Error(`download: ${res.status}`)
  let got = 0
  const reader = res.body.getReader()
  await within(
    (async () => {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        got += value.length
      }
    })(),
    120_000,
    'download body',
  )
  const s = (performance.now() - t0) / 1000
  const expected = Math.ceil(bytes / 65536) * 65536
  if (got !== expected) throw new Error(`download: ${got}/${expected} bytes`)
  return { MBps: got / 1e6 / s, seconds: s }
}

/** P8 latency: `n` sequential invocations of the echo function; ms p50/p99. */
export async function invokeLatency(caller, n, warmup = 200) {
  const out = []
  for (let i = 0; i < warmup + n; i++) {
    const t = performance.now()
    const r = await within(caller.trigger({ function_id: 'bench::echo', payload: { i } }), 10_000, 'invocation')
    if (r?.i !== i) throw new Error(`echo returned ${JSON.stringify(r)}`)
    if (i >= warmup) out.push(performance.now() - t)
  }
  out.sort((a, b) => a - b)
  return { p50: pct(out, 50), p99: pct(out, 99) }
}

/** P8 throughput: `n` invocations, `concurrency` in flight; invocations/s. */
export async function invokeRate(caller, n, concurrency) {
  let next = 0
  let bad = 0
  const t0 = performance.now()
  const lane = async () => {
    while (next < n) {
      const i = next++
      const r = await within(caller.trigger({ function_id: 'bench::echo', payload: { i } }), 30_000, 'invocation')
      if (r?.i !== i) bad++
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  if (bad) throw new Error(`${bad} wrong echo results`)
  return { perSecond: n / ((performance.now() - t0) / 1000) }
}
