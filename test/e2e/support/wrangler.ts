// Runs a Worker under `wrangler dev` on free loopback ports: the one launcher of the end-to-end tests
// and of the bench (bench/lib/procs.mjs imports this file; Node runs it by stripping the types).
// Every process is started in its own group and stopped by its pid.

import { spawn } from 'node:child_process'
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export interface WranglerDev {
  baseUrl: string
  wsUrl: string
  port: number
  /** The V8 inspector of the Worker (heap usage for memory measurements). */
  inspectorPort: number
  /** Pid of the wrangler process (also its process group id). */
  pid: number
  /** Where this run keeps its Durable Objects' storage (fresh per run). */
  persist: string
  /** Pids of the workerd processes wrangler started (for memory measurements). */
  workerdPids: () => number[]
  /** The last lines wrangler printed. */
  output: () => string
  /**
   * A deploy, as far as the objects can tell: the served copy of the source changes, wrangler
   * reloads, every object is reset and every socket closed (only with `{ copy: true }`).
   */
  redeploy: () => void
  stop: () => Promise<void>
}

export interface StartOptions {
  /** `--var NAME:value` for each entry. */
  vars?: Record<string, string>
  /** Environment of the wrangler process (its own switches, e.g. `X_LOCAL_OBSERVABILITY`). */
  env?: Record<string, string>
  /** Serve a fresh copy of the source, so `redeploy()` can change it without touching the repository. */
  copy?: boolean
  /** Serve the sources in this directory (e.g. a copy taken once for a whole bench run). */
  cwd?: string
  /** Another wrangler configuration (e.g. the bench's bare Durable Object). */
  config?: string
  logLevel?: 'error' | 'warn' | 'info' | 'log' | 'debug'
}

export const ROOT = resolve(import.meta.dirname, '../../..')
const BIN = join(ROOT, 'node_modules/.bin')
const START_TIMEOUT_MS = 90_000

/** A port the kernel just handed out on 127.0.0.1; free unless someone grabs it in between. */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.once('error', rej)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => res(port))
    })
  })
}

/** Descendants of `pid` (via /proc, Linux only) whose command name is workerd. */
function workerdDescendants(pid: number): number[] {
  const parent = new Map<number, number>()
  const name = new Map<number, string>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // "pid (comm) state ppid ...": comm may hold spaces, so split at the last ')'.
      const close = stat.lastIndexOf(')')
      name.set(Number(entry), stat.slice(stat.indexOf('(') + 1, close))
      parent.set(Number(entry), Number(stat.slice(close + 2).split(' ')[1]))
    } catch {
      // the process exited while we looked
    }
  }
  const isDescendant = (p: number): boolean => {
    for (let q = parent.get(p); q !== undefined && q > 1; q = parent.get(q)) if (q === pid) return true
    return false
  }
  return [...name].filter(([p, n]) => n.startsWith('workerd') && isDescendant(p)).map(([p]) => p)
}

/** Is `pid` still running (a zombie waiting to be reaped counts as gone)? */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z'
  } catch {
    return false
  }
}

/** A copy of what wrangler builds from, with node_modules linked; the caller removes it. */
export function sourceCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'iii-src-'))
  for (const entry of ['src', 'public', 'wrangler.toml', 'package.json', 'tsconfig.json', 'worker-configuration.d.ts', '.dev.vars']) {
    if (existsSync(join(ROOT, entry))) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true })
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  return dir
}

/**
 * Starts `wrangler dev`. A port found free can be taken by another process before wrangler binds
 * it (other test runs on the machine): that one failure is retried on new ports.
 */
export async function startWrangler(opts: StartOptions = {}): Promise<WranglerDev> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startWranglerOnce(opts)
    } catch (err) {
      if (attempt >= 3 || !/in use/i.test(String(err))) throw err
    }
  }
}

async function startWranglerOnce(opts: StartOptions): Promise<WranglerDev> {
  const [port, inspectorPort] = [await freePort(), await freePort()]
  const ownCopy = opts.copy ? sourceCopy() : null
  const cwd = ownCopy ?? opts.cwd ?? ROOT
  // A fresh storage dir per run so channels of earlier runs never leak into this one.
  const persist = mkdtempSync(join(tmpdir(), 'iii-persist-'))
  const args = ['dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort), '--persist-to', persist]
  args.push('--log-level', opts.logLevel ?? 'warn', '--show-interactive-dev-session=false')
  if (opts.config) args.push('--config', opts.config)
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push('--var', `${k}:${v}`)

  // wrangler needs Node >= 22.12: the `node` devDependency puts one in node_modules/.bin.
  const child = spawn(join(BIN, 'wrangler'), args, {
    cwd,
    env: { ...process.env, PATH: `${BIN}:${process.env.PATH}`, WRANGLER_SEND_METRICS: 'false', CI: 'true', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group, so stop() also ends workerd
  })
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-64_000)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  // 'error' alone (e.g. spawn failed) may come without 'exit'; either means the process is gone.
  const exited = new Promise<void>((res) => {
    child.once('exit', () => res())
    child.once('error', (err) => {
      keep(Buffer.from(String(err)))
      res()
    })
  })
  let hasExited = false
  void exited.then(() => (hasExited = true))

  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal)
    } catch {
      // group already gone
    }
  }
  // workerd outlives wrangler by a moment after SIGTERM: wait for it too, so its port and memory are free.
  const stop = async () => {
    const workerd = workerdDescendants(child.pid!)
    killGroup('SIGTERM')
    const timer = setTimeout(() => killGroup('SIGKILL'), 5_000)
    await exited
    for (let i = 0; i < 100 && workerd.some(alive); i++) await new Promise((r) => setTimeout(r, 100))
    clearTimeout(timer)
    rmSync(persist, { recursive: true, force: true })
    if (ownCopy) rmSync(ownCopy, { recursive: true, force: true })
  }
  let deploys = 0
  const redeploy = () => {
    if (!ownCopy) throw new Error('redeploy() needs startWrangler({ copy: true })')
    appendFileSync(join(ownCopy, 'src/index.ts'), `\n// redeploy ${++deploys}\n`)
  }

  const baseUrl = `http://127.0.0.1:${port}`
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (hasExited) break
    try {
      // Any HTTP answer to GET / (whatever its status) means the Worker is up.
      await fetch(`${baseUrl}/`, { signal: AbortSignal.timeout(2_000) })
      return {
        baseUrl,
        wsUrl: `ws://127.0.0.1:${port}`,
        port,
        inspectorPort,
        pid: child.pid!,
        persist,
        workerdPids: () => workerdDescendants(child.pid!),
        output: () => output,
        redeploy,
        stop,
      }
    } catch {
      if (Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, 250))
    }
  }
  await stop()
  const tail = output.trim().split('\n').slice(-30).join('\n')
  throw new Error(`wrangler dev did not start on port ${port} (${hasExited ? 'exited' : 'timed out'}):\n${tail}`)
}
