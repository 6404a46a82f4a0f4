// O1: an invocation's round trip with the SDK's OpenTelemetry on (as apps run it: spans, and a
// Logger record per call on the callee) against off, each worker in a process of its own; O1c the
// same with III_OTLP_ENDPOINT set (the edge's own spans, and everything forwarded to a collector:
// a local sink that answers 200). Interleaved rounds, fresh worker processes each.
import { createServer } from 'node:http'
import { log, spawnWorker } from './procs.mjs'

const run = (args, until) => spawnWorker('bench/otel-worker.mjs', args, until)

/** One round: a server and a caller process with OpenTelemetry `on` or `off`; the caller's p50/p99. */
export async function otelRound(proc, otel, samples, warmup) {
  const server = run([proc.wsUrl, 'server', otel], (l) => l === 'READY')
  try {
    await server.done
    const caller = run([proc.wsUrl, 'caller', otel, String(samples), String(warmup)], (l) => l.startsWith('{'))
    const line = await Promise.race([caller.done, new Promise((_, rej) => setTimeout(() => rej(new Error('caller took over 120 s')), 120_000))])
    caller.child.kill('SIGKILL')
    return JSON.parse(line)
  } finally {
    server.child.kill('SIGTERM')
  }
}

/** A collector that takes everything (O1c): counts requests by path. */
export async function sinkCollector() {
  const counts = {}
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      counts[req.url] = (counts[req.url] ?? 0) + 1
      res.writeHead(200).end('{}')
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  log(`  collector sink on port ${server.address().port}`)
  return { url: `http://127.0.0.1:${server.address().port}`, counts, stop: () => new Promise((r) => server.close(r)) }
}
