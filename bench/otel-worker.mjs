// One SDK worker in a process of its own for the O rows (the SDK's OpenTelemetry state is one per
// process): `server` serves bench::otel-echo (writing one Logger record per call, as apps log);
// `caller` waits for it, runs the latency loop and prints its result as one JSON line.
//   node bench/otel-worker.mjs <engine ws url> server|caller on|off [samples] [warmup]
import { registerWorker } from 'iii-sdk'
import { echoLatency } from './lib/echo-loop.mjs'
import { Logger } from '@iii-dev/helpers/observability'

const [url, role, otel, samples = '1000', warmup = '200'] = process.argv.slice(2)
console.debug = () => {}
const iii = registerWorker(url, { workerName: `bench-otel-${role}`, otel: { enabled: otel === 'on', serviceName: `bench-otel-${role}` }, enableMetricsReporting: false })

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
  const { p50, p99 } = await echoLatency(iii, 'bench::otel-echo', Number(samples), Number(warmup))
  process.stdout.write(`${JSON.stringify({ p50, p99 })}\n`)
  await iii.shutdown()
  process.exit(0)
}
