// Q1–Q3: queues (`TriggerAction.Enqueue` on the built-in provider: Cloudflare Queues, run locally by
// miniflare under `wrangler dev`). Q1 and Q2 run SDK workers in processes of their own
// (bench/queue-worker.mjs): one server serving the functions for the whole section, a caller per
// round. Q3 is arithmetic, not a measurement: what one job costs on Cloudflare's price list, from
// the counts per job read off the code (below) and the batches and pace Q2 measured.
import { randomUUID } from 'node:crypto'
import { spawnWorker } from './procs.mjs'

const SCRIPT = 'bench/queue-worker.mjs'

/** The server process (bench::q-echo, bench::q-job, bench::q-stats) until `stop()`. */
export async function queueServer(proc) {
  const server = spawnWorker(SCRIPT, [proc.wsUrl, 'server'], (l) => l === 'READY')
  await server.done
  return { stop: () => server.child.kill('SIGTERM') }
}

/** One caller process: Q1 (`q1`, samples, warmup) or Q2 (`q2`, jobs, in flight); its JSON line. */
export async function queueRound(proc, mode, a, b) {
  const caller = spawnWorker(SCRIPT, [proc.wsUrl, 'caller', mode, String(a), String(b)], (l) => l.startsWith('{'))
  try {
    const line = await Promise.race([caller.done, new Promise((_, rej) => setTimeout(() => rej(new Error(`${mode} caller took over 150 s`)), 150_000))])
    return JSON.parse(line)
  } finally {
    caller.child.kill('SIGKILL')
  }
}

/**
 * The consumer's batches from now on, as `wrangler dev --log-level info` prints them (miniflare:
 * `QUEUE iii-jobs <acked>/<size> (<ms>ms)`, one line per consumer invocation). A request to a
 * path named once marks where "now" is in wrangler's output (it keeps the last 64 KB): `since()`
 * counts the lines after it, null when the mark scrolled out.
 */
export async function batchLog(proc) {
  const mark = `/api/bench-mark-${randomUUID()}`
  await (await fetch(`${proc.baseUrl}${mark}`)).body?.cancel()
  const read = () => {
    const out = proc.output()
    const at = out.indexOf(mark)
    if (at < 0) return null
    const text = out.slice(at).replace(/\x1b\[[0-9;]*m/g, '')
    const sizes = [...text.matchAll(/QUEUE iii-jobs \d+\/(\d+)/g)].map((m) => Number(m[1]))
    const jobs = sizes.reduce((t, x) => t + x, 0)
    return { batches: sizes.length, jobs, perBatch: sizes.length ? jobs / sizes.length : NaN, largest: Math.max(0, ...sizes) }
  }
  return {
    /** Waits up to 2 s for `jobs` to show: a batch's line comes after its last function answered. */
    async since(jobs) {
      for (let i = 0; i < 20 && (read()?.jobs ?? Infinity) < jobs; i++) await new Promise((r) => setTimeout(r, 100))
      return read()
    },
  }
}

// Cloudflare's list prices past the Workers Paid plan's included amounts, as the pricing pages
// gave them in 2026: https://developers.cloudflare.com/queues/platform/pricing/,
// https://developers.cloudflare.com/workers/platform/pricing/,
// https://developers.cloudflare.com/durable-objects/platform/pricing/ (README "What it costs").
const PER_M = 1e-6
export const PRICE = {
  /** Queues: an operation is 64 KB written, read or deleted. */
  queueOperation: 0.4 * PER_M,
  /** Workers Standard: a request, or a queue consumer invocation (one per batch). */
  workerRequest: 0.3 * PER_M,
  workerCpuMs: 0.02 * PER_M,
  /** Durable Objects: a request (an RPC call; an incoming WebSocket message counts 1/20). */
  objectRequest: 0.15 * PER_M,
  /** Durable Objects: duration of a 128 MB object while awake. */
  objectGbSecond: 12.5 * PER_M,
  /** SQLite-backed objects: a row written. */
  rowWritten: 1.0 * PER_M,
}
const OBJECT_GB = 0.128
/** Not measured (wrangler dev reports no CPU time): read a message, one RPC, ack it. An assumption, generous. */
const CONSUMER_CPU_MS_PER_JOB = 0.5

// The self-hosted comparison: the iii engine with its queue worker (builtin adapter, file-based
// store) on one small VM. The price is README's "$5–7 a month for 2 vCPU and 2–4 GB at the cheaper
// hosts"; the rate is an ASSUMPTION, not measured here: no-op jobs enqueued over one SDK socket
// and run by one worker, bound by the engine's per-message work. README quotes the engine's own
// benchmark at 289 µs per HTTP route; a job is about three such messages (the enqueue, the
// invocation, its result): ≈ 0.9 ms of one core, about 1,000 a second with a core left over.
export const VM = { dollarsPerMonth: 6, jobsPerSecond: 1000 }
const SECONDS_PER_MONTH = 30 * 24 * 3600

/**
 * Dollars per million jobs of the `default` queue, past the included amounts, by item. One job
 * (a standard queue, payload under 64 KB, the function answers first time within 250 ms) costs:
 * - Queues: 3 operations (the write when the session sends it, the read when it is delivered, the
 *   delete when the consumer acknowledges it).
 * - Worker requests: 1/`perBatch` (the consumer's invocation). The enqueue itself is none: it is a
 *   message on the SDK's open WebSocket, whose upgrade was the one request.
 * - Object requests: 1/20 (the enqueue message at the caller's session) + 1 (the consumer's RPC
 *   to the callee's session) + 1/20 (the worker's result there) + the counts the queue object
 *   hears: sent at most once a second per isolate, by the enqueuer's and by the consumer's (two
 *   isolates on Cloudflare): 2/`enqueuesPerSecond`, and 2 per job below one a second.
 *   Not counted: the registry calls that refresh an isolate's cached view now and then.
 * - Rows written: none for the job itself (an enqueue is answered before the caller's session would
 *   write a caller record, src/engine/session.ts; the callee's record is written only past 250 ms);
 *   one per queue-object report: the counts' share, as above.
 * - Duration: the caller's and the callee's sessions awake for `awakeSecondsPerJob` each (Q2: the
 *   run's wall time over its jobs, an upper bound at that pace); the queue object's calls are short.
 * - Consumer CPU: CONSUMER_CPU_MS_PER_JOB (assumed).
 */
export function jobCost({ perBatch, enqueuesPerSecond, awakeSecondsPerJob }) {
  const counts = 2 * Math.min(1, 1 / enqueuesPerSecond)
  const n = {
    queueOperations: 3,
    workerRequests: 1 / perBatch,
    objectRequests: 1 / 20 + 1 + 1 / 20 + counts,
    rowsWritten: counts,
    objectGbSeconds: 2 * OBJECT_GB * awakeSecondsPerJob,
    cpuMs: CONSUMER_CPU_MS_PER_JOB,
  }
  const perMillion = (count, price) => count * price * 1e6
  const dollars = {
    queues: perMillion(n.queueOperations, PRICE.queueOperation),
    workerRequests: perMillion(n.workerRequests, PRICE.workerRequest),
    cpu: perMillion(n.cpuMs, PRICE.workerCpuMs),
    objectRequests: perMillion(n.objectRequests, PRICE.objectRequest),
    rowsWritten: perMillion(n.rowsWritten, PRICE.rowWritten),
    duration: perMillion(n.objectGbSeconds, PRICE.objectGbSecond),
  }
  return { perJob: n, perMillion: dollars, total: Object.values(dollars).reduce((t, x) => t + x, 0) }
}

/** The VM's dollars per million jobs when it runs flat out, and the jobs a month at which it costs what the edge does (loaded, slow). */
export function vmComparison(edgePerMillion, edgeSlowPerMillion) {
  const fullMillions = (VM.jobsPerSecond * SECONDS_PER_MONTH) / 1e6
  return {
    ...VM,
    perMillionFull: VM.dollarsPerMonth / fullMillions,
    breakEvenMillionsPerMonth: VM.dollarsPerMonth / edgePerMillion,
    breakEvenSlowMillionsPerMonth: VM.dollarsPerMonth / edgeSlowPerMillion,
  }
}
