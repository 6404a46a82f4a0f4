// Runs the real Worker under `wrangler dev` on a free loopback port, for end-to-end tests and benches.

import { spawn } from 'node:child_process'
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export interface WranglerDev {
  baseUrl: string
  wsUrl: string
  /** Pid of the wrangler process (also its process group id). */
  pid: number
  /** Pids of the workerd processes wrangler started (for memory measurements). */
  workerdPids: () => number[]
  /**
   * A deploy, as far as the objects can tell: the served copy of the source changes, wrangler
   * reloads, every object is reset and every socket closed (only with `{ copy: true }`).
   */
  redeploy: () => void
  stop: () => Promise<void>
}

const ROOT = resolve(import.meta.dirname, '../../..')
const BIN = join(ROOT, 'node_modules/.bin')
const START_TIMEOUT_MS = 60_000

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
  return [...name].filter(([p, n]) => n === 'workerd' && isDescendant(p)).map(([p]) => p)
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

/**
 * Starts `wrangler dev`. A port found free can be taken by another process before wrangler binds
 * it (other test runs on the machine): that one failure is retried on a new port.
 */
export async function startWrangler(opts: StartOptions = {}): Promise<WranglerDev> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startWranglerOnce(opts)
    } catch (err) {
      if (attempt >= 3 || !String(err).includes('Address already in use')) throw err
    }
  }
}

interface StartOptions {
  vars?: Record<string, string>
  /** Serve a copy of the source, so `redeploy()` can change it without touching the repository. */
  copy?: boolean
}

/** A copy of what wrangler builds from, with node_modules linked. */
function sourceCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'iii-e2e-src-'))
  for (const entry of ['src', 'public', 'wrangler.toml', 'package.json', 'tsconfig.json', 'worker-configuration.d.ts']) {
    cpSync(join(ROOT, entry), join(dir, entry), { recursive: true })
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  return dir
}

async function startWranglerOnce(opts: StartOptions): Promise<WranglerDev> {
  const port = await freePort()
  const cwd = opts.copy ? sourceCopy() : ROOT
  // A fresh storage dir per run so channels of earlier runs never leak into this one.
  const persist = mkdtempSync(join(tmpdir(), 'iii-e2e-'))
  const args = ['dev', '--ip', '127.0.0.1', '--port', String(port), '--persist-to', persist, '--log-level', 'warn']
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push('--var', `${k}:${v}`)

  // wrangler needs Node >= 22.12: the `node` devDependency puts one in node_modules/.bin.
  const child = spawn(join(BIN, 'wrangler'), args, {
    cwd,
    env: { ...process.env, PATH: `${BIN}:${process.env.PATH}`, WRANGLER_SEND_METRICS: 'false', CI: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // own process group, so stop() also ends workerd
  })
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000)
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
    while (workerd.some(alive)) await new Promise((r) => setTimeout(r, 100))
    clearTimeout(timer)
    rmSync(persist, { recursive: true, force: true })
    if (cwd !== ROOT) rmSync(cwd, { recursive: true, force: true })
  }
  let deploys = 0
  const redeploy = () => {
    if (cwd === ROOT) throw new Error('redeploy() needs startWrangler({ copy: true })')
    appendFileSync(join(cwd, 'src/index.ts'), `\n// redeploy ${++deploys}\n`)
  }

  const baseUrl = `http://127.0.0.1:${port}`
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (hasExited) break
    try {
      // Any HTTP answer to GET / (whatever its status) means the Worker is up.
      await fetch(`${baseUrl}/`, { signal: AbortSignal.timeout(2_000) })
      return { baseUrl, wsUrl: `ws://127.0.0.1:${port}`, pid: child.pid!, workerdPids: () => workerdDescendants(child.pid!), redeploy, stop }
    } catch {
      if (Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, 250))
    }
  }
  await stop()
  const tail = output.trim().split('\n').slice(-30).join('\n')
  throw new Error(`wrangler dev did not start on port ${port} (${hasExited ? 'exited' : 'timed out'}):\n${tail}`)
}
