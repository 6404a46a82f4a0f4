// A1–A2: worker endpoints (III_WORKER_ENDPOINTS, src/engine/worker-endpoints.ts). One wrangler dev
// with two endpoints whose auth function is bench::auth (served on the plain socket by a trusted
// worker, bench/endpoint-worker.mjs `server`), `/ew` without and `/ew-mw` with a middleware
// (bench::mw, which invokes the target itself: two invocations per call, by design). A caller per
// round and setting, each in a process of its own (one connection each), invokes bench::echo: on
// the plain socket, through `/ew`, through `/ew-mw`. The server prints a line per auth call, tagged
// with the connection's `?conn=`, so the bench can tell the auth function ran once per connection.
import { log, spawnWorker } from './procs.mjs'

const SCRIPT = 'bench/endpoint-worker.mjs'
const RBAC = { auth_function_id: 'bench::auth', expose_functions: ['match("bench::*")'] }
/** III_WORKER_ENDPOINTS for the section's wrangler dev. */
export const ENDPOINTS = [
  { path: '/ew', rbac: RBAC },
  { path: '/ew-mw', middleware_function_id: 'bench::mw', rbac: RBAC },
]
/** Where each setting's caller connects (the plain socket: the engine's own address). */
export const SETTINGS = { plain: '', endpoint: '/ew', middleware: '/ew-mw' }

/** The server process until `stop()`; `auths` counts its bench::auth calls by connection tag. */
export async function endpointServer(proc) {
  const server = spawnWorker(SCRIPT, [proc.wsUrl, 'server'], (l) => l === 'READY')
  const auths = new Map()
  let rest = ''
  server.child.stdout.on('data', (d) => {
    const lines = (rest + d.toString()).split('\n')
    rest = lines.pop() ?? ''
    for (const l of lines) if (l.startsWith('AUTH ')) auths.set(l.slice(5), (auths.get(l.slice(5)) ?? 0) + 1)
  })
  await server.done
  log(`  endpoint server ready (bench::echo, bench::auth, bench::mw on the plain socket)`)
  return {
    /** bench::auth calls for connection `conn` so far. */
    authCalls: (conn) => auths.get(conn) ?? 0,
    /** bench::auth calls in all so far. */
    authTotal: () => [...auths.values()].reduce((t, n) => t + n, 0),
    stop: () => server.child.kill('SIGTERM'),
  }
}

/** One caller process for `setting` (a key of SETTINGS), tagged `conn`: its p50/p99 and the calls it made. */
export async function endpointRound(proc, setting, conn, samples, warmup) {
  const url = `${proc.wsUrl}${SETTINGS[setting]}?conn=${encodeURIComponent(conn)}`
  const caller = spawnWorker(SCRIPT, [url, 'caller', String(samples), String(warmup)], (l) => l.startsWith('{'))
  try {
    const line = await Promise.race([caller.done, new Promise((_, rej) => setTimeout(() => rej(new Error(`${setting} caller took over 120 s`)), 120_000))])
    return JSON.parse(line)
  } finally {
    caller.child.kill('SIGKILL')
  }
}
