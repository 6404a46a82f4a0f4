// S1–S5: the engine spread across objects (README "Architecture"). The real iii-sdk against ours and,
// for S4, against the single-engine design this project had before (BASELINE_COMMIT, run from a
// `git archive` of that commit under the same workerd).
import { execSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { registerWorker } from 'iii-sdk'
import { createChannel } from 'iii-sdk/helpers'
import { within } from './clients.mjs'
import { ROOT, log, sleep } from './procs.mjs'

/** The last commit with one EngineObject per deployment (before sessions, registry and links). */
export const BASELINE_COMMIT = '0311755'

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[s.length >> 1] : NaN
}
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const quiet = (name) => ({ workerName: name, otel: { enabled: false }, enableMetricsReporting: false })

/** The single-engine design's sources, from git, with node_modules linked (its wrangler.toml included). */
export function baselineSource() {
  const dir = mkdtempSync(join(tmpdir(), 'iii-bench-baseline-'))
  execSync(`git archive ${BASELINE_COMMIT} src public wrangler.toml package.json tsconfig.json | tar -x -C ${dir}`, { cwd: ROOT })
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  // The page bundle is built, not committed: the baseline serves ours (only invocations are measured).
  if (existsSync(join(ROOT, 'public/_iii/client.js'))) cpSync(join(ROOT, 'public/_iii/client.js'), join(dir, 'public/_iii/client.js'))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function until(check, what, ms = 30_000) {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(100)
  }
}

/**
 * Registry events between two counter readings. A registry that was evicted in between (it is
 * evicted after some idle seconds: nothing called it) restarted its count: all it counted is new.
 */
const registryEvents = (before, after) => (after.registryInstance === before.registryInstance ? after.registry - before.registry : after.registry)

const counters = async (proc) => {
  const res = await fetch(`${proc.baseUrl}/api/counters`)
  if (!res.ok) throw new Error(`/api/counters: ${res.status}`)
  return res.json()
}

/**
 * S1: K workers invoke each other at random while HTTP requests hit 8 http-triggered functions;
 * every object counts the messages and requests it handled (channels too: III_COUNTERS).
 */
export async function busiestShare(proc, { K = 16, invocations = 4000, requests = 800, concurrency = 32 } = {}) {
  const workers = Array.from({ length: K }, (_, i) => {
    const iii = registerWorker(proc.wsUrl, quiet(`s1-${i}`))
    iii.registerFunction(`s1::fn-${i}`, async (x) => x)
    if (i < 8) {
      iii.registerFunction(`s1::http-${i}`, async () => ({ status_code: 200, body: `ok ${i}` }))
      iii.registerTrigger({ type: 'http', function_id: `s1::http-${i}`, config: { api_path: `s1/${i}`, http_method: 'GET' } })
    }
    return iii
  })
  try {
    for (let i = 0; i < K; i++) await until(() => workers[(i + 1) % K].trigger({ function_id: `s1::fn-${i}`, payload: {}, timeoutMs: 2000 }).then(() => true), `s1::fn-${i}`)
    for (let i = 0; i < 8; i++) await until(async () => (await fetch(`${proc.baseUrl}/s1/${i}`)).status === 200, `GET /s1/${i}`)
    const before = await counters(proc)
    let nextInv = 0
    let nextReq = 0
    let errors = 0
    const t0 = performance.now()
    const invLane = async () => {
      while (nextInv < invocations) {
        nextInv++
        const from = Math.floor(Math.random() * K)
        let to = Math.floor(Math.random() * (K - 1))
        if (to >= from) to++
        const r = await workers[from].trigger({ function_id: `s1::fn-${to}`, payload: { from }, timeoutMs: 30_000 }).catch(() => null)
        if (r?.from !== from) errors++
      }
    }
    const reqLane = async () => {
      while (nextReq < requests) {
        const i = nextReq++ % 8
        const res = await fetch(`${proc.baseUrl}/s1/${i}`).catch(() => null)
        if ((await res?.text()) !== `ok ${i}`) errors++
      }
    }
    await Promise.all([...Array.from({ length: concurrency }, invLane), ...Array.from({ length: concurrency / 4 }, reqLane)])
    const seconds = (performance.now() - t0) / 1000
    await sleep(500) // the last channels' counts are on their way
    const after = await counters(proc)
    const perObject = []
    for (const [id, events] of Object.entries(after.sessions)) perObject.push({ object: `session ${id.slice(0, 8)}`, events: events - (before.sessions[id] ?? 0) })
    perObject.push({ object: 'registry', events: registryEvents(before, after) })
    perObject.push({ object: 'status', events: after.status.events - before.status.events })
    // Each channel object counts its own events (HTTP requests make two channels each).
    for (const [id, events] of Object.entries(after.status.channels)) {
      const delta = events - (before.status.channels[id] ?? 0)
      if (delta > 0) perObject.push({ object: `channel ${id.slice(0, 8)}`, events: delta })
    }
    const total = perObject.reduce((n, o) => n + o.events, 0)
    const sorted = perObject.map((o) => o.events).sort((a, b) => a - b)
    const busiest = perObject.reduce((a, b) => (b.events > a.events ? b : a))
    const channels = perObject.filter((o) => o.object.startsWith('channel')).length
    // What an HTTP-trigger request costs in storage: the rows its two channels wrote (cost table).
    const channelRows = Object.entries(after.status.storage ?? {})
      .filter(([id]) => !(id in (before.status.storage ?? {})))
      .map(([, s]) => s.rows_written)
    return {
      rowsPerChannel: median(channelRows),
      rowsPerChannelMax: Math.max(...channelRows),
      K,
      invocations,
      requests,
      seconds,
      errors,
      objects: perObject.length,
      channels,
      total,
      busiest: busiest.object,
      busiestEvents: busiest.events,
      busiestShare: busiest.events / total,
      medianEvents: sorted[sorted.length >> 1],
      sessionsMedian: median(perObject.filter((o) => o.object.startsWith('session')).map((o) => o.events)),
      goal: 2 / K,
    }
  } finally {
    await Promise.allSettled(workers.map((w) => w.shutdown()))
  }
}

/** S2: registry calls per warm invocation and per warm HTTP-trigger request (from the registry's own count). */
export async function registryCalls(proc, caller, n = 500) {
  await caller.trigger({ function_id: 'bench::echo', payload: { warm: true } })
  const a = await counters(proc)
  for (let i = 0; i < n; i++) await caller.trigger({ function_id: 'bench::echo', payload: { i } })
  const b = await counters(proc)
  await (await fetch(`${proc.baseUrl}/bench/hello`)).text()
  const c = await counters(proc)
  for (let i = 0; i < n; i++) await (await fetch(`${proc.baseUrl}/bench/hello`)).text()
  const d = await counters(proc)
  return { perInvocation: registryEvents(a, b) / n, perRequest: registryEvents(c, d) / n, n, registryEvicted: a.registryInstance !== d.registryInstance }
}

/**
 * S3: `createChannel(iii)` p50 at the SDK against a GET that touches no object (`/api/info`), in
 * turns; then channels made and never used: how many objects (SQLite files) they left.
 */
export async function createChannelCost(proc, caller, n = 1000, { countObjects = true } = {}) {
  const sdk = []
  const get = []
  for (let i = 0; i < n + 100; i++) {
    let t = performance.now()
    await within(createChannel(caller), 10_000, 'createChannel')
    if (i >= 100) sdk.push(performance.now() - t)
    t = performance.now()
    await (await fetch(`${proc.baseUrl}/api/info`)).text()
    if (i >= 100) get.push(performance.now() - t)
  }
  sdk.sort((a, b) => a - b)
  get.sort((a, b) => a - b)
  if (!countObjects) return { sdkP50: pct(sdk, 50), sdkP99: pct(sdk, 99), getP50: pct(get, 50), ratio: pct(sdk, 50) / pct(get, 50) }
  const dir = join(proc.persist, 'v3/do/iii-channels-edge-ChannelObject')
  const objects = () => (existsSync(dir) ? readdirSync(dir).filter((f) => /^[0-9a-f]{64}\.sqlite$/.test(f)).length : 0)
  const before = objects()
  for (let i = 0; i < 200; i++) {
    await createChannel(caller)
    await fetch(`${proc.baseUrl}/channels`, { method: 'POST' })
  }
  await sleep(1000)
  return { sdkP50: pct(sdk, 50), sdkP99: pct(sdk, 99), getP50: pct(get, 50), ratio: pct(sdk, 50) / pct(get, 50), unusedObjects: objects() - before, unusedChannels: 400 }
}

/** S5: 50 workers, a redeploy (every object reset, every socket closed): time until all answer again. */
export async function reconnectStorm(proc, redeploy, { workers: N = 50 } = {}) {
  const workers = Array.from({ length: N }, (_, i) => {
    const iii = registerWorker(proc.wsUrl, quiet(`s5-${i}`))
    iii.registerFunction(`s5::echo-${i}`, async (x) => x)
    return iii
  })
  const allAnswer = async (ms) => {
    const pending = new Set(workers.map((_, i) => i))
    const deadline = Date.now() + ms
    while (pending.size) {
      if (Date.now() > deadline) throw new Error(`${pending.size} of ${N} workers not back`)
      await Promise.all(
        [...pending].map(async (i) => {
          const r = await workers[(i + 1) % N].trigger({ function_id: `s5::echo-${i}`, payload: { i }, timeoutMs: 2000 }).catch(() => null)
          if (r?.i === i) pending.delete(i)
        }),
      )
      if (pending.size) await sleep(50)
    }
  }
  try {
    await allAnswer(60_000)
    const t0 = Date.now()
    redeploy()
    // The reload takes a moment to begin (a rebuild): wait until the sockets drop.
    await until(async () => workers.some((w) => w.connectionState !== 'connected'), 'the redeploy to close sockets', 20_000)
    await allAnswer(60_000)
    return { workers: N, backMs: Date.now() - t0 }
  } finally {
    await Promise.allSettled(workers.map((w) => w.shutdown()))
  }
}

export { log }
