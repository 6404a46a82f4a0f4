// H0–H4: HTTP triggers served by a real iii-sdk worker in this process, against a GET that touches no
// object (`/api/info`, H0) and the bare Worker's GET (bench/bare-do/: the platform's floor). Every
// request goes through one undici Agent (keep-alive) to 127.0.0.1; the clock is read here only.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { http } from '@iii-dev/helpers/http'
import { registerWorker } from 'iii-sdk'
import { Agent, fetch } from 'undici'
import WebSocket from 'ws'
import { sleep } from './procs.mjs'

const MiB = 1024 * 1024
/** H4 (c): the upload a function reads whole. */
export const UPLOAD_BYTES = MiB
/** H3: requests in flight. */
export const CONCURRENCY = 20
/** A request that takes this long is a failure, not a sample. */
const REQUEST_TIMEOUT_MS = 10_000

// One pool for every request: connections stay open between requests, so no sample pays a TCP
// handshake (undici's defaults: keep-alive, no limit per origin, so CONCURRENCY sockets at most).
const agent = new Agent()

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const upload = Buffer.alloc(UPLOAD_BYTES, 7)

/**
 * What the bench asks: each target is one request and the answer it must get. `ours` serves the
 * triggers (registered by httpWorker), `bare` is the bare-DO Worker (optional).
 */
export function httpTargets(ours, bare) {
  return {
    info: { name: 'GET /api/info', url: `${ours.baseUrl}/api/info`, ok: (body) => body.includes('"engine"') },
    json: { name: 'GET JSON trigger', url: `${ours.baseUrl}/bench/h/json`, ok: (body) => body === '{"ok":true}' },
    stream: { name: 'GET http() trigger', url: `${ours.baseUrl}/bench/h/stream`, ok: (body) => body === 'hello' },
    upload: {
      name: `POST ${UPLOAD_BYTES} B to an http() trigger`,
      url: `${ours.baseUrl}/bench/h/upload`,
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: () => upload,
      ok: (body) => body === String(UPLOAD_BYTES),
    },
    ...(bare
      ? {
          bare: { name: 'GET bare Worker', url: `${bare.baseUrl}/`, ok: (body) => body === 'bare relay' },
          hop: { name: 'bare hop (Worker, object, Node client on its socket, back)', url: `${bare.baseUrl}/hop`, ok: (body) => body === 'hop' },
          hopSocket: { name: 'bare hop answered on a new socket', url: `${bare.baseUrl}/hop-socket`, ok: (body) => body === 'hop' },
        }
      : {}),
  }
}

/**
 * The Node client of the bare floor (bench/bare-do/worker.js, BareHop): answers each frame on its
 * socket, or on a new socket to the Worker when asked (as the SDK's `http()` helper opens one).
 */
export async function bareHopClient(bare) {
  const ws = new WebSocket(`${bare.wsUrl}/ws-client`)
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  ws.on('message', (data) => {
    const { id, socket } = JSON.parse(String(data))
    if (!socket) return ws.send(JSON.stringify({ id, body: 'hop' }))
    const answer = new WebSocket(`${bare.wsUrl}/ws-answer/${id}`)
    answer.on('open', () => answer.send('hop'))
    answer.on('error', () => {})
  })
  return { stop: () => ws.close() }
}

/** One request, its body read whole; throws unless it got 200 and the expected answer. */
async function request(t) {
  const res = await fetch(t.url, {
    method: t.method ?? 'GET',
    headers: t.headers,
    body: t.body?.(),
    dispatcher: agent,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  const body = await res.text()
  if (res.status !== 200 || !t.ok(body)) throw new Error(`${t.name}: ${res.status} ${body.slice(0, 160)}`)
}

/**
 * One SDK worker (`registerWorker(ws://127.0.0.1:PORT/)`) serving the three triggers: a plain
 * result (H1), the `http()` helper writing a few bytes (H2), and an `http()` upload it reads whole
 * and answers its length (H4 c). Resolves once every route answers right.
 */
export async function httpWorker(proc) {
  const iii = registerWorker(`${proc.wsUrl}/`, { workerName: 'bench-http', otel: { enabled: false }, enableMetricsReporting: false })
  iii.registerFunction('bench::h-json', async () => ({ status_code: 200, body: { ok: true } }))
  iii.registerTrigger({ type: 'http', function_id: 'bench::h-json', config: { api_path: 'bench/h/json', http_method: 'GET' } })
  iii.registerFunction(
    'bench::h-stream',
    http(async (_req, res) => {
      res.status(200)
      res.headers({ 'content-type': 'text/plain' })
      res.stream.end('hello')
      res.close()
    }),
  )
  iii.registerTrigger({ type: 'http', function_id: 'bench::h-stream', config: { api_path: 'bench/h/stream', http_method: 'GET' } })
  iii.registerFunction(
    'bench::h-upload',
    http(async (req, res) => {
      let bytes = 0
      for await (const chunk of req.request_body.stream) bytes += chunk.length
      res.status(200)
      res.headers({ 'content-type': 'text/plain' })
      res.stream.end(String(bytes))
      res.close()
    }),
  )
  iii.registerTrigger({ type: 'http', function_id: 'bench::h-upload', config: { api_path: 'bench/h/upload', http_method: 'POST' } })
  const targets = httpTargets(proc)
  const deadline = Date.now() + 30_000
  for (const t of [targets.json, targets.stream, targets.upload]) {
    for (;;) {
      const failed = await request(t).then(() => null, (e) => e)
      if (!failed) break
      if (Date.now() > deadline) throw new Error(`the bench's http triggers did not answer within 30 s: ${failed.message}`)
      await sleep(200)
    }
  }
  return { stop: () => iii.shutdown().catch(() => {}) }
}

/**
 * H0–H2 latency: `n` rounds of one request to each target in turn (each round starts one target
 * later, so none always goes first), after `warmup` rounds; ms p50/p99 per target, by key.
 */
export async function httpLatency(targets, n, warmup) {
  const entries = Object.entries(targets)
  const samples = entries.map(() => [])
  for (let i = 0; i < warmup + n; i++) {
    for (let k = 0; k < entries.length; k++) {
      const j = (i + k) % entries.length
      const t0 = performance.now()
      await request(entries[j][1])
      if (i >= warmup) samples[j].push(performance.now() - t0)
    }
  }
  return Object.fromEntries(
    entries.map(([key], j) => {
      const s = samples[j].sort((a, b) => a - b)
      return [key, { p50: pct(s, 50), p99: pct(s, 99), n: s.length }]
    }),
  )
}

/** H0/H3 throughput: `n` requests, `concurrency` in flight (after one uncounted request per lane); req/s. */
export async function httpRate(t, n, concurrency = CONCURRENCY) {
  await Promise.all(Array.from({ length: concurrency }, () => request(t)))
  let next = 0
  const t0 = performance.now()
  const lane = async () => {
    while (next < n) {
      next++
      await request(t)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  return { perSecond: n / ((performance.now() - t0) / 1000) }
}

/**
 * Objects per Durable Object class: the SQLite files under `wrangler dev`'s persist directory
 * (`v3/do/<script>-<Class>/<64 hex>.sqlite`). An object that never touches its storage leaves no
 * file, so it is not counted here.
 */
function objectFiles(proc) {
  const root = join(proc.persist, 'v3/do')
  if (!existsSync(root)) return {}
  const out = {}
  for (const dir of readdirSync(root)) {
    const cls = dir.slice(dir.lastIndexOf('-') + 1) // class names have no '-'; the script's name may
    out[cls] = readdirSync(join(root, dir)).filter((f) => /^[0-9a-f]{64}\.sqlite$/.test(f)).length
  }
  return out
}

/**
 * Storage rows written so far, from `/api/counters` (needs III_COUNTERS): each channel reports its
 * own (`status.storage`); sessions report theirs in `session_rows` (rows since each woke) where the
 * running code has it, else null.
 */
async function rowsWritten(proc) {
  const res = await fetch(`${proc.baseUrl}/api/counters`, { dispatcher: agent, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  if (!res.ok) throw new Error(`/api/counters: ${res.status}`)
  const c = await res.json()
  const storage = c.status?.storage ?? {}
  return {
    channels: Object.values(storage).reduce((n, s) => n + (s.rows_written ?? 0), 0),
    channelIds: Object.keys(storage).length,
    sessions: c.session_rows && typeof c.session_rows === 'object' ? c.session_rows : null,
  }
}

/** The same reading twice, 300 ms apart: the last channels' reports and files have landed (at most 5 s). */
async function settled(proc) {
  let last = null
  for (let i = 0; i < 17; i++) {
    const now = { files: objectFiles(proc), rows: await rowsWritten(proc) }
    if (last && JSON.stringify(now) === JSON.stringify(last)) return now
    last = now
    await sleep(300)
  }
  return last
}

/** Rows sessions wrote between two readings; a session that slept and woke again restarted its count. */
function sessionRows(before, after) {
  if (!before || !after) return null
  let n = 0
  for (const [id, rows] of Object.entries(after)) n += rows >= (before[id] ?? 0) ? rows - (before[id] ?? 0) : rows
  return n
}

/**
 * H4: `n` sequential requests to `t` (after 3 uncounted); per request, the Durable Objects created
 * (new SQLite files, by class) and the storage rows written by channels and by sessions (null when
 * the running code does not report session rows). Needs a `wrangler dev` with III_COUNTERS.
 */
export async function httpCosts(proc, t, n) {
  for (let i = 0; i < 3; i++) await request(t)
  const before = await settled(proc)
  for (let i = 0; i < n; i++) await request(t)
  const after = await settled(proc)
  const objects = {}
  for (const cls of new Set([...Object.keys(before.files), ...Object.keys(after.files)])) {
    const made = (after.files[cls] ?? 0) - (before.files[cls] ?? 0)
    if (made !== 0) objects[cls] = made / n
  }
  const sessions = sessionRows(before.rows.sessions, after.rows.sessions)
  return {
    n,
    objectsPerRequest: objects,
    objectsTotalPerRequest: Object.values(objects).reduce((a, b) => a + b, 0),
    channelRowsPerRequest: (after.rows.channels - before.rows.channels) / n,
    channelsReportingPerRequest: (after.rows.channelIds - before.rows.channelIds) / n,
    sessionRowsPerRequest: sessions === null ? null : sessions / n,
  }
}
