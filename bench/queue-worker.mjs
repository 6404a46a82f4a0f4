// One SDK worker in a process of its own for the Q rows. `server` serves bench::q-echo (the plain
// invocation Q1 compares with), bench::q-job (the queued no-op: it notes when each job started,
// against the enqueue time in its payload) and bench::q-stats (what it noted of one run); `caller`
// runs Q1's latency loop or Q2's burst, waits until the server saw every job run, and prints its
// result as one JSON line.
//   node bench/queue-worker.mjs <engine ws url> server
//   node bench/queue-worker.mjs <engine ws url> caller q1 <samples> <warmup>
//   node bench/queue-worker.mjs <engine ws url> caller q2 <jobs> <in flight>
import { TriggerAction, registerWorker } from 'iii-sdk'

const [url, role, mode, a, b] = process.argv.slice(2)
console.debug = () => {}
const iii = registerWorker(url, { workerName: `bench-queue-${role}`, otel: { enabled: false }, enableMetricsReporting: false })
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const summary = (xs) => (xs.sort((x, y) => x - y), { p50: pct(xs, 50), p99: pct(xs, 99) })
// Wall-clock ms at sub-ms resolution: the caller's and the server's clocks are the same machine's.
const now = () => performance.timeOrigin + performance.now()

if (role === 'server') {
  /** run → the jobs seen (a redelivery is counted once: Queues deliver at least once), their waits. */
  const runs = new Map()
  iii.registerFunction('bench::q-echo', async (input) => input)
  iii.registerFunction('bench::q-job', async ({ run, i, t }) => {
    const start = now()
    if (!runs.has(run)) runs.set(run, { ids: new Set(), waits: [], ran: 0, last: 0 })
    const r = runs.get(run)
    r.ran++
    if (!r.ids.has(i)) r.waits.push(start - t)
    r.ids.add(i)
    r.last = now()
    return null
  })
  iii.registerFunction('bench::q-stats', async ({ run }) => {
    const r = runs.get(run)
    return r ? { jobs: r.ids.size, ran: r.ran, last: r.last, wait: summary([...r.waits]) } : { jobs: 0, ran: 0 }
  })
  process.stdout.write('READY\n')
  process.on('SIGTERM', async () => {
    await iii.shutdown()
    process.exit(0)
  })
} else {
  const enqueue = (payload) => iii.trigger({ function_id: 'bench::q-job', payload, action: TriggerAction.Enqueue({ queue: 'default' }) })
  const deadline = Date.now() + 30_000
  for (;;) {
    try {
      await iii.trigger({ function_id: 'bench::q-echo', payload: { i: -1 }, timeoutMs: 2000 })
      break
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((r) => setTimeout(r, 200))
    }
  }
  /** Polls the server until it saw `n` jobs of `run` run (a plain invocation every 100 ms). */
  const drained = async (run, n, ms) => {
    const until = Date.now() + ms
    for (;;) {
      const s = await iii.trigger({ function_id: 'bench::q-stats', payload: { run } })
      if (s.jobs >= n) return s
      if (Date.now() > until) throw new Error(`${s.jobs} of ${n} jobs ran within ${ms / 1000} s`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  const run = `${mode}-${process.pid}`
  const receipt = (r) => {
    if (typeof r?.messageReceiptId !== 'string') throw new Error(`enqueue answered ${JSON.stringify(r)}`)
  }
  let result
  if (mode === 'q1') {
    const [samples, warmup] = [Number(a), Number(b)]
    const lat = { invoke: [], enqueue: [] }
    const t0 = now()
    // An invocation and an enqueue in turns, the order swapped each time, so both see the same
    // background: the jobs enqueued before, running on the server as the consumer delivers them.
    for (let i = 0; i < warmup + samples; i++) {
      for (const kind of i % 2 ? ['enqueue', 'invoke'] : ['invoke', 'enqueue']) {
        const t = now()
        if (kind === 'enqueue') receipt(await enqueue({ run: i < warmup ? `${run}:warmup` : run, i, t }))
        else if ((await iii.trigger({ function_id: 'bench::q-echo', payload: { i } }))?.i !== i) throw new Error('echo returned something else')
        if (i >= warmup) lat[kind].push(now() - t)
      }
    }
    const enqueuePerSecond = (warmup + samples) / ((now() - t0) / 1000)
    const s = await drained(run, samples, 30_000)
    result = { invoke: summary(lat.invoke), enqueue: summary(lat.enqueue), enqueuePerSecond, jobs: s.jobs, ran: s.ran, wait: s.wait }
  } else {
    const [jobs, inFlight] = [Number(a), Number(b)]
    let next = 0
    const t0 = now()
    const lane = async () => {
      while (next < jobs) {
        const i = next++
        receipt(await enqueue({ run, i, t: now() }))
      }
    }
    await Promise.all(Array.from({ length: inFlight }, lane))
    const enqueuedMs = now() - t0
    const s = await drained(run, jobs, 120_000)
    const wallMs = s.last - t0
    result = { jobs, ran: s.ran, perSecond: jobs / (wallMs / 1000), wallMs, enqueuePerSecond: jobs / (enqueuedMs / 1000), enqueuedMs, wait: s.wait }
  }
  process.stdout.write(`${JSON.stringify(result)}\n`)
  await iii.shutdown()
  process.exit(0)
}
