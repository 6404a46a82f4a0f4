// One SDK worker in a process of its own for the O rows (the SDK's OpenTelemetry state is one per
// process): `server` serves bench::otel-echo (writing one Logger record per call, as apps log);
// `caller` waits for it, runs the latency loop and prints its result as one JSON line.
//   node bench/otel-worker.mjs <engine ws url> server|caller on|off [samples] [warmup]
import { registerWorker } from 'iii-sdk'
import { Logger } from '@iii-dev/helpers/observability'

const [url, role, otel, samples = '1000', warmup = '200'] = process.argv.slice(2)
console.debug = () => {}
const iii = registerWorker(url, { workerName: `bench-otel-${role}`, otel: { enabled: otel === 'on', serviceName: `bench-otel-${role}` }, enableMetricsReporting: false })
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

if (role === 'server') {
  const logger = new Logger()
  iii.registerFunction('bench::otel-echo', async (input) => {
    logger.info('echo', { i: input.i })
    return input
  })
  process.stdout.write('READY\n')
  process.on('SIGTERM', async () => {
    await iii.shutdown()
    process.exit(0)
  })
} else {
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      await iii.trigger({ function_id: 'bench::otel-echo', payload: { i: -1 }, timeoutMs: 2000 })
      break
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  const out = []
  for (let i = 0; i < Number(warmup) + Number(samples); i++) {
    const t = performance.now()
    const r = await iii.trigger({ function_id: 'bench::otel-echo', payload: { i } })
    if (r?.i !== i) throw new Error(`echo returned ${JSON.stringify(r)}`)
    if (i >= Number(warmup)) out.push(performance.now() - t)
  }
  out.sort((a, b) => a - b)
  process.stdout.write(`${JSON.stringify({ p50: pct(out, 50), p99: pct(out, 99) })}\n`)
  await iii.shutdown()
  process.exit(0)
}
