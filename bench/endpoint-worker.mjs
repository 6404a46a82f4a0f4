// One SDK worker in a process of its own for the A rows (worker endpoints, III_WORKER_ENDPOINTS).
// `server` connects to the plain engine socket (trusted) and serves bench::echo (the no-op every
// caller invokes), bench::auth (the endpoints' auth function: it prints `AUTH <conn>` for each
// connection it admits, `<conn>` from the upgrade's query, so the bench counts its runs) and
// bench::mw (the middleware of the second endpoint: it invokes the target with the trusted SDK).
// `caller` connects to the address given (the plain socket or an endpoint), waits for bench::echo,
// runs the latency loop and prints its result as one JSON line.
//   node bench/endpoint-worker.mjs <engine ws url> server
//   node bench/endpoint-worker.mjs <engine ws url or endpoint url?conn=…> caller <samples> <warmup>
import { registerWorker } from 'iii-sdk'
import { echoLatency } from './lib/echo-loop.mjs'

const [url, role, samples = '1000', warmup = '200'] = process.argv.slice(2)
console.debug = () => {}
/** The token every caller sends (the plain socket ignores it): the auth function admits it alone. */
const TOKEN = 't'
const iii = registerWorker(url, { workerName: `bench-endpoint-${role}`, headers: { 'x-token': TOKEN }, otel: { enabled: false }, enableMetricsReporting: false })

if (role === 'server') {
  iii.registerFunction('bench::echo', async (input) => input)
  iii.registerFunction('bench::auth', async ({ headers, query_params }) => {
    if (headers?.['x-token'] !== TOKEN) throw new Error('invalid token')
    process.stdout.write(`AUTH ${query_params?.conn?.[0] ?? '-'}\n`)
    return { context: { user_id: 'u' } }
  })
  iii.registerFunction('bench::mw', async ({ function_id, payload }) => iii.trigger({ function_id, payload }))
  // READY once the engine lists all three (registrations are sent on open, not acknowledged).
  const deadline = Date.now() + 30_000
  for (;;) {
    const listed = await iii.trigger({ function_id: 'engine::functions::list', payload: {}, timeoutMs: 2000 }).catch(() => null)
    const ids = new Set((listed?.functions ?? []).map((f) => f.function_id))
    if (['bench::echo', 'bench::auth', 'bench::mw'].every((id) => ids.has(id))) break
    if (Date.now() > deadline) throw new Error(`functions not listed within 30 s: ${[...ids].join(', ')}`)
    await new Promise((r) => setTimeout(r, 200))
  }
  process.stdout.write('READY\n')
  process.on('SIGTERM', async () => {
    await iii.shutdown()
    process.exit(0)
  })
} else {
  const { p50, p99, calls } = await echoLatency(iii, 'bench::echo', Number(samples), Number(warmup))
  process.stdout.write(`${JSON.stringify({ p50, p99, calls })}\n`)
  await iii.shutdown()
  process.exit(0)
}
