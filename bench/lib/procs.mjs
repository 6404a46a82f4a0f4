// Processes the bench starts: `wrangler dev` (ours and the bare DO), the Node ws relay; and
// workerd memory (VmRSS via /proc). Every process is started in its own group and stopped by pid.
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..')
const BIN = join(ROOT, 'node_modules/.bin')
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const t0 = Date.now()
export const log = (...a) => console.error(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s]`, ...a)

export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.once('error', rej)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => res(port))
    })
  })
}

function procTable() {
  const parent = new Map()
  const name = new Map()
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const st = readFileSync(`/proc/${e}/stat`, 'utf8')
      const c = st.lastIndexOf(')')
      name.set(Number(e), st.slice(st.indexOf('(') + 1, c))
      parent.set(Number(e), Number(st.slice(c + 2).split(' ')[1]))
    } catch {}
  }
  return { parent, name }
}
function workerdUnder(pid) {
  const { parent, name } = procTable()
  const under = (p) => {
    for (let q = parent.get(p), i = 0; q !== undefined && q > 1 && i < 20; q = parent.get(q), i++) if (q === pid) return true
    return false
  }
  return [...name].filter(([p, n]) => n.startsWith('workerd') && under(p)).map(([p]) => p)
}
function alive(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return st.slice(st.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}
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
  snapshotDir = mkdtempSync(join(tmpdir(), 'iii-bench-src-'))
  for (const f of ['src', 'public', 'wrangler.toml', 'package.json', 'tsconfig.json', '.dev.vars']) {
    if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(snapshotDir, f), { recursive: true })
  }
  symlinkSync(join(ROOT, 'node_modules'), join(snapshotDir, 'node_modules'))
  process.once('exit', () => rmSync(snapshotDir, { recursive: true, force: true }))
  return snapshotDir
}

const live = new Set()
/** Stops everything still running (also on exit/SIGINT), each by its own process group id. */
export async function stopAll() {
  await Promise.allSettled([...live].map((p) => p.stop()))
}
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => void stopAll().then(() => process.exit(130)))

/** `wrangler dev` on a free loopback port with a fresh --persist-to dir. */
export async function startWrangler(opts = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startWranglerOnce(opts)
    } catch (e) {
      // a port picked here can be taken by someone else before wrangler binds it: try again
      if (attempt >= 3 || !/in use/i.test(String(e.message))) throw e
      log(`${opts.label ?? 'wrangler'}: port taken, retrying`)
    }
  }
}

async function startWranglerOnce({ config, vars = {}, label = 'wrangler', cwd = ROOT } = {}) {
  const port = await freePort()
  const inspector = await freePort()
  const persist = mkdtempSync(join(tmpdir(), 'iii-bench-'))
  const args = ['dev', '--ip', '127.0.0.1', '--port', String(port), '--persist-to', persist, '--inspector-port', String(inspector), '--log-level', 'error', '--show-interactive-dev-session=false']
  if (config) args.push('-c', config)
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`)
  const child = spawn(join(BIN, 'wrangler'), args, {
    cwd,
    env: { ...process.env, PATH: `${BIN}:${process.env.PATH}`, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let out = ''
  const keep = (d) => (out = (out + d).slice(-8000))
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  let exited = false
  const exit = new Promise((r) => child.once('exit', () => r((exited = true))))
  const proc = {
    label,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    persist,
    workerd: () => workerdUnder(child.pid),
    output: () => out,
    async stop() {
      live.delete(proc)
      const w = workerdUnder(child.pid)
      try {
        process.kill(-child.pid, 'SIGTERM')
      } catch {}
      const kill = setTimeout(() => {
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {}
      }, 5000)
      await Promise.race([exit, sleep(8000)])
      for (let i = 0; i < 80 && w.some(alive); i++) await sleep(100)
      clearTimeout(kill)
      rmSync(persist, { recursive: true, force: true })
    },
  }
  live.add(proc)
  const deadline = Date.now() + 90_000
  while (!exited && Date.now() < deadline) {
    try {
      await fetch(`${proc.baseUrl}/`, { signal: AbortSignal.timeout(2000) })
      proc.pids = proc.workerd()
      return proc
    } catch {
      await sleep(250)
    }
  }
  await proc.stop()
  throw new Error(`${label} did not start (${exited ? 'exited' : 'timed out'}):\n${out.split('\n').slice(-30).join('\n')}`)
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
