// Processes the bench starts: `wrangler dev` (ours and the bare DO, through the e2e tests' launcher),
// the Node ws relay; and workerd memory (VmRSS via /proc).
import { spawn } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, sourceCopy, startWrangler as start } from '../../test/e2e/support/wrangler.ts'

export { ROOT }
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const t0 = Date.now()
export const log = (...a) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s]`, ...a)

/** VmRSS in bytes of the given pids, summed. */
export function rssBytes(pids) {
  let kib = 0
  for (const p of pids) {
    try {
      kib += Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0)
    } catch {}
  }
  return kib * 1024
}

/** Samples the summed RSS of `pids` every `ms`; peak() since start or the last reset(). */
export function rssSampler(pids, ms = 100) {
  let peak = rssBytes(pids)
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes(pids))), ms)
  return {
    now: () => rssBytes(pids),
    peak: () => Math.max(peak, rssBytes(pids)),
    reset: () => (peak = rssBytes(pids)),
    stop: () => clearInterval(timer),
  }
}

/**
 * A copy of the Worker's sources taken once per bench run. wrangler dev reloads the Worker when a
 * watched file changes, which resets every Durable Object (sockets drop with 1006, SDK workers
 * reconnect): with people editing src/ during a run, ours runs from this frozen copy instead.
 */
let snapshotDir = null
export function sourceSnapshot() {
  if (snapshotDir) return snapshotDir
  snapshotDir = sourceCopy()
  process.once('exit', () => rmSync(snapshotDir, { recursive: true, force: true }))
  return snapshotDir
}

const live = new Set()
/** Stops everything still running (also on exit/SIGINT), each by its own process group id. */
export async function stopAll() {
  await Promise.allSettled([...live].map((p) => p.stop()))
}
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => void stopAll().then(() => process.exit(130)))

/**
 * `wrangler dev` through the launcher the end-to-end tests use (test/e2e/support/wrangler.ts), quiet,
 * with the workerd pids taken once it answers and a label for the log.
 */
export async function startWrangler({ label = 'wrangler', logLevel = 'error', ...opts } = {}) {
  const dev = await start({ logLevel, ...opts })
  const proc = {
    ...dev,
    label,
    pids: dev.workerdPids(),
    async stop() {
      live.delete(proc)
      await dev.stop()
    },
  }
  live.add(proc)
  return proc
}

/**
 * A bench SDK worker script (bench/*-worker.mjs) in a Node process of its own: the SDK's
 * OpenTelemetry state is one per process, and a caller that shares no thread with its callee is
 * what an app runs. `done` resolves with the first stdout line `until` accepts; the process is
 * killed when the bench exits, so a failed run leaves no worker reconnecting forever.
 */
export function spawnWorker(script, args, until) {
  const child = spawn(join(ROOT, 'node_modules/.bin/node'), [join(ROOT, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const kill = () => child.kill('SIGKILL')
  process.once('exit', kill)
  child.once('exit', () => process.off('exit', kill))
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => (err = (err + d.toString()).slice(-2000)))
  const done = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d.toString()
      const line = out.split('\n').find(until)
      if (line) resolve(line)
    })
    child.once('exit', (code) => reject(new Error(`${script} ${args[1]} exited (${code}) before it said so: ${(out + err).slice(-300)}`)))
  })
  return { child, done }
}

/** bench/node-relay.mjs on a free port. */
export async function startNodeRelay() {
  const child = spawn(process.execPath, [join(ROOT, 'bench/node-relay.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'], detached: true })
  const port = await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error('node relay did not start')), 10_000)
    child.stdout.on('data', (d) => {
      const m = /listening (\d+)/.exec(String(d))
      if (m) {
        clearTimeout(t)
        res(Number(m[1]))
      }
    })
  })
  const exit = new Promise((r) => child.once('exit', r))
  const proc = {
    label: 'node-relay',
    port,
    wsUrl: `ws://127.0.0.1:${port}`,
    pids: [child.pid],
    async stop() {
      live.delete(proc)
      try {
        process.kill(child.pid, 'SIGTERM')
      } catch {}
      await Promise.race([exit, sleep(3000)])
    },
  }
  live.add(proc)
  return proc
}
