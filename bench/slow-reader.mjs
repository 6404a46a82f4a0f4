#!/usr/bin/env node
// Slow-reader memory benchmark: what happens to workerd's RSS when a channel's reader is slower
// than its writer (or absent). Starts its own `wrangler dev` (fresh --persist-to dir, one per
// scenario so every baseline is clean), finds the workerd process(es) under it and samples their
// VmRSS every 200 ms while a Node `ws` writer and reader move data through one channel.
//
// Usage (Node 22: PATH=node_modules/.bin:$PATH):
//   node bench/slow-reader.mjs [--mib 256] [--scenarios fast,absent,slow,mid,absent-slow] [--slow-factor 10]
//                              [--slow-rate-mib <MiB/s>] [--mid-at 0.5] [--port 8850-8899]
//                              [--repeat N] [--gc-probe] [--json out.json]
//                              [--config other/wrangler.toml] [--var NAME:value ...]
//
// Scenarios:
//   fast    reader connected from the start, reading at full speed (reference for writer speed)
//   absent  writer writes everything and closes 1000; then the reader connects and reads at full speed
//   slow    reader connected from the start, paced (ws.pause/resume) to ~1/slow-factor of the
//           writer's rate measured in `fast` (or --slow-rate-mib); writer at full speed
//   mid     reader connects once --mid-at of the bytes are written, then reads at full speed
//   absent-slow, mid-slow   as absent / mid, with the reader paced like `slow`
//
// The writer respects only its own socket's bufferedAmount (keeps <= 4 MiB queued in Node), so a
// writer slowdown means workerd stopped reading the writer's TCP connection.

import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const MiB = 1 << 20
const FRAME = 64 * 1024
const SAMPLE_MS = 200

// ---------- args ----------
const argv = process.argv.slice(2)
const arg = (name, dflt) => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 ? argv[i + 1] : dflt
}
const TOTAL = Math.round(Number(arg('mib', '256')) * MiB / FRAME) * FRAME
const SCENARIOS = arg('scenarios', 'fast,absent,slow,mid,absent-slow').split(',')
const SLOW_FACTOR = Number(arg('slow-factor', '10'))
const SLOW_RATE_MIB = arg('slow-rate-mib', null)
const MID_AT = Number(arg('mid-at', '0.5'))
const PORT_ARG = arg('port', null)
const JSON_OUT = arg('json', null)
/** Another wrangler config (e.g. an experimental copy under scratch/) and extra `--var NAME:value`s. */
const CONFIG = arg('config', null)
const VARS = argv.flatMap((a, i) => (a === '--var' ? ['--var', argv[i + 1]] : []))
/** After the writer closes: ask V8 (through wrangler's inspector) for its heap usage, force a GC, sample again. */
const REPEAT = Number(arg('repeat', '1'))
const GC_PROBE = argv.includes('--gc-probe')
const WRITER_HIGH_WATER = 4 * MiB
/** Hard limit per scenario, so nothing runs away. */
const SCENARIO_TIMEOUT_MS = Number(arg('timeout-s', '900')) * 1000

const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 23)}]`, ...a)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const mib = (b) => b / MiB

// ---------- deterministic data: frame i = base pattern with i stamped in its first 8 bytes ----------
const base = Buffer.alloc(FRAME)
for (let i = 0; i < FRAME; i++) base[i] = (i * 7 + (i >> 9)) & 255
function frameAt(i) {
  const f = Buffer.from(base)
  f.writeBigUInt64BE(BigInt(i), 0)
  return f
}
let expectedSha = null
function expected() {
  if (expectedSha) return expectedSha
  const h = createHash('sha256')
  for (let i = 0; i < TOTAL / FRAME; i++) h.update(frameAt(i))
  return (expectedSha = h.digest('hex'))
}

// ---------- ports / process tree ----------
function portFree(port) {
  return new Promise((res) => {
    const s = net.createServer()
    s.once('error', () => res(false))
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)))
  })
}
async function freePorts(n) {
  const out = []
  const lo = PORT_ARG ? Number(PORT_ARG) : 8850
  for (let p = lo; p <= 8899 && out.length < n; p++) if (await portFree(p)) out.push(p)
  if (out.length < n) throw new Error('no free port in 8850-8899')
  return out
}
function children(pid) {
  const kids = new Set()
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c) kids.add(Number(c))
      } catch {}
    }
  } catch {}
  return [...kids]
}
function descendants(pid, depth = 0) {
  if (depth > 10) return []
  return children(pid).flatMap((c) => [c, ...descendants(c, depth + 1)])
}
const comm = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return ''
  }
}
/** VmRSS and its parts (RssAnon, RssFile, RssShmem) of one process, in KiB. */
function memKiB(pid) {
  const out = { rss: 0, anon: 0, file: 0, shmem: 0 }
  try {
    const st = readFileSync(`/proc/${pid}/status`, 'utf8')
    const get = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(st)?.[1] ?? 0)
    Object.assign(out, { rss: get('VmRSS'), anon: get('RssAnon'), file: get('RssFile'), shmem: get('RssShmem') })
  } catch {}
  return out
}
const rssKiB = (pid) => memKiB(pid).rss

// ---------- wrangler dev ----------
async function startWrangler() {
  const [port, inspector] = await freePorts(2)
  const persist = mkdtempSync(join(tmpdir(), 'slow-reader-'))
  const bin = join(ROOT, 'node_modules/.bin/wrangler')
  const child = spawn(
    bin,
    ['dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector), '--persist-to', persist,
      '--log-level', arg('wrangler-log-level', 'warn'), '--show-interactive-dev-session=false', ...(CONFIG ? ['--config', CONFIG] : []), ...VARS],
    { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: '1', WRANGLER_SEND_METRICS: 'false' } },
  )
  let out = ''
  const keep = (d) => {
    out += d
    if (out.length > 1_000_000) out = out.slice(-500_000)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const url = `http://127.0.0.1:${port}`
  const t0 = Date.now()
  const giveUp = (msg) => {
    try {
      process.kill(-child.pid, 'SIGKILL')
    } catch {}
    rmSync(persist, { recursive: true, force: true })
    throw new Error(msg)
  }
  for (;;) {
    if (Date.now() - t0 > 60_000) giveUp(`wrangler did not start in 60 s:\n${out}`)
    if (child.exitCode !== null) giveUp(`wrangler exited ${child.exitCode}:\n${out}`)
    try {
      await fetch(url + '/') // any HTTP answer means it is up (the root may be an asset or a 404)
      break
    } catch {}
    await sleep(250)
  }
  const workerd = descendants(child.pid).filter((p) => comm(p).startsWith('workerd'))
  if (workerd.length === 0) giveUp('no workerd process found under wrangler')
  const stop = async () => {
    try {
      process.kill(-child.pid, 'SIGTERM')
    } catch {}
    for (let i = 0; i < 50 && child.exitCode === null; i++) await sleep(100)
    try {
      process.kill(-child.pid, 'SIGKILL')
    } catch {}
    rmSync(persist, { recursive: true, force: true })
  }
  /** wrangler's output since start (capped), and whether each workerd is still alive. */
  const outputTail = () => out.slice(-4000)
  const alive = () => workerd.map((p) => ({ pid: p, alive: comm(p).startsWith('workerd') }))
  const markOut = () => out.length
  const outputSince = (mark) => out.slice(mark).slice(-4000)
  return { port, inspector, url, workerd, stop, pid: child.pid, outputTail, alive, markOut, outputSince }
}

// ---------- V8 probe through the devtools inspector ----------
async function v8Probe(inspectorPort, rssNow) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()
  const target = targets.find((t) => t.webSocketDebuggerUrl)
  if (!target) return { error: 'no inspector target' }
  const ws = new WebSocket(target.webSocketDebuggerUrl)
  await new Promise((res, rej) => {
    ws.once('open', res)
    ws.once('error', rej)
  })
  let id = 0
  const call = (method, params = {}) =>
    new Promise((res) => {
      const my = ++id
      const t = setTimeout(() => res({ timeout: true }), 10_000)
      const on = (d) => {
        const m = JSON.parse(d)
        if (m.id === my) {
          clearTimeout(t)
          ws.off('message', on)
          res(m.result ?? m.error)
        }
      }
      ws.on('message', on)
      ws.send(JSON.stringify({ id: my, method, params }))
    })
  const before = await call('Runtime.getHeapUsage')
  const rssBefore = rssNow()
  await call('HeapProfiler.collectGarbage')
  await sleep(1000)
  const after = await call('Runtime.getHeapUsage')
  const rssAfter = rssNow()
  ws.close()
  const m = (x) => (x?.usedSize !== undefined ? Math.round(mib(x.usedSize)) : null)
  const e = (x) => (x?.embedderHeapUsedSize !== undefined ? Math.round(mib(x.embedderHeapUsedSize)) : null)
  return {
    v8UsedBeforeGcMiB: m(before),
    v8UsedAfterGcMiB: m(after),
    backingBeforeMiB: before?.backingStorageSize !== undefined ? Math.round(mib(before.backingStorageSize)) : null,
    backingAfterMiB: after?.backingStorageSize !== undefined ? Math.round(mib(after.backingStorageSize)) : null,
    embedderBeforeMiB: e(before),
    rssBeforeGcMiB: Math.round(rssBefore / 1024),
    rssAfterGcMiB: Math.round(rssAfter / 1024),
    raw: before,
  }
}

// ---------- RSS sampler ----------
function sampler(pids) {
  const t0 = Date.now()
  const samples = [] // {t, kib, phase}
  let phase = 'idle'
  const take = () => {
    const per = pids.map(memKiB)
    samples.push({ t: Date.now() - t0, kib: per.reduce((s, m) => s + m.rss, 0), per, phase })
  }
  take()
  const timer = setInterval(take, SAMPLE_MS)
  return {
    samples,
    setPhase(p) {
      take()
      phase = p
    },
    stop() {
      take()
      clearInterval(timer)
    },
    peak(p) {
      const s = samples.filter((x) => !p || x.phase === p)
      return s.length ? Math.max(...s.map((x) => x.kib)) : 0
    },
    last: () => samples.at(-1).kib,
    /** Per process: baseline (first sample) and peak of rss/anon/file, MiB. */
    perProcess() {
      return pids.map((pid, i) => {
        const first = samples[0].per[i]
        const peakOf = (k) => Math.max(...samples.map((x) => x.per[i][k]))
        return {
          pid,
          baseRss: Math.round(first.rss / 1024),
          peakRss: Math.round(peakOf('rss') / 1024),
          baseAnon: Math.round(first.anon / 1024),
          peakAnon: Math.round(peakOf('anon') / 1024),
          baseFile: Math.round(first.file / 1024),
          peakFile: Math.round(peakOf('file') / 1024),
        }
      })
    },
  }
}

// ---------- clients ----------
const wsUrl = (port, r) =>
  `ws://127.0.0.1:${port}/ws/channels/${r.channel_id}?key=${encodeURIComponent(r.access_key)}&dir=${r.direction}`

/**
 * Reader. rateBps = null: full speed. Otherwise paced with ws.pause()/resume(): every 50 ms tick
 * a budget of rateBps*0.05 bytes; once spent the socket is paused until the next tick (TCP
 * backpressure then builds up towards workerd).
 */
function startReader(port, ref, { rateBps = null, onBytes } = {}) {
  const ws = new WebSocket(wsUrl(port, ref), { maxPayload: 0, perMessageDeflate: false })
  const h = createHash('sha256')
  let n = 0
  let nextFrame = 0
  let orderOk = true
  let tOpen = null
  let tFirst = null
  let budget = Infinity
  let pacer = null
  if (rateBps) {
    const tick = 50
    budget = (rateBps * tick) / 1000
    pacer = setInterval(() => {
      budget = (rateBps * tick) / 1000
      if (ws.isPaused) ws.resume()
    }, tick)
  }
  const done = new Promise((resolve, reject) => {
    ws.on('open', () => (tOpen = Date.now()))
    ws.on('message', (d, bin) => {
      if (!bin) return
      if (tFirst === null) tFirst = Date.now()
      if (d.length === FRAME && d.readBigUInt64BE(0) !== BigInt(nextFrame)) orderOk = false
      nextFrame++
      h.update(d)
      n += d.length
      onBytes?.(n)
      if (rateBps) {
        budget -= d.length
        if (budget <= 0 && !ws.isPaused) ws.pause()
      }
    })
    ws.on('close', (code, reason) => {
      if (pacer) clearInterval(pacer)
      resolve({ code, reason: reason.toString(), bytes: n, sha: h.digest('hex'), orderOk, tOpen, tFirst, tEnd: Date.now() })
    })
    ws.on('error', (e) => {
      if (pacer) clearInterval(pacer)
      reject(e)
    })
  })
  return { ws, done, bytes: () => n }
}

/** Waits for the writer's socket to drain (bounded: re-checks at least every 100 ms). */
function drained(ws) {
  return new Promise((res) => {
    const t = setTimeout(done, 100)
    function done() {
      clearTimeout(t)
      ws._socket.off('drain', done)
      res()
    }
    ws._socket.once('drain', done)
  })
}

/** Writer at full speed, keeping at most WRITER_HIGH_WATER queued in Node; closes with 1000. */
async function runWriter(port, ref, { onProgress } = {}) {
  const ws = new WebSocket(wsUrl(port, ref), { perMessageDeflate: false })
  await new Promise((res, rej) => {
    ws.once('open', res)
    ws.once('error', rej)
  })
  let closeInfo = null
  const closed = new Promise((res) => ws.on('close', (code, reason) => res((closeInfo = { code, reason: reason.toString() }))))
  const t0 = Date.now()
  const frames = TOTAL / FRAME
  let stalledMs = 0
  let maxStallMs = 0
  // throughput per 1-s window, to see whether the writer ever slows down
  const windows = []
  let wStart = t0
  let wBytes = 0
  for (let i = 0; i < frames; i++) {
    if (closeInfo) break
    if (ws.bufferedAmount > WRITER_HIGH_WATER) {
      const s = Date.now()
      await drained(ws)
      const d = Date.now() - s
      stalledMs += d
      maxStallMs = Math.max(maxStallMs, d)
    }
    ws.send(frameAt(i))
    wBytes += FRAME
    onProgress?.((i + 1) * FRAME)
    const now = Date.now()
    if (now - wStart >= 1000) {
      windows.push(mib(wBytes) / ((now - wStart) / 1000))
      wStart = now
      wBytes = 0
    }
  }
  // everything handed to the kernel
  while (ws.bufferedAmount > 0 && !closeInfo) await drained(ws)
  const tSent = Date.now()
  ws.close(1000, 'stream_complete')
  await Promise.race([closed, sleep(30_000)])
  const tClosed = Date.now()
  return {
    sentMs: tSent - t0,
    closedMs: tClosed - t0,
    t0,
    tSent,
    stalledMs,
    maxStallMs,
    minWindowMiBps: windows.length ? Math.min(...windows) : null,
    maxWindowMiBps: windows.length ? Math.max(...windows) : null,
    close: closeInfo,
  }
}

// ---------- scenarios ----------
/** One scenario on a fresh wrangler; with --repeat N the same channel round runs N times on it. */
async function scenario(name, opts = {}) {
  const wr = await startWrangler()
  const out = []
  const kill = setTimeout(() => {
    log(`${name}: TIMEOUT, killing wrangler`)
    void wr.stop().then(() => process.exit(2))
  }, SCENARIO_TIMEOUT_MS)
  try {
    for (let round = 1; round <= REPEAT; round++) {
      const res = await scenarioRound(wr, name, opts)
      res.round = round
      out.push(res)
    }
  } finally {
    clearTimeout(kill)
    await wr.stop()
  }
  return out
}

async function scenarioRound(wr, name, opts) {
  log(`${name}: wrangler on :${wr.port}, workerd pids ${wr.workerd.map((p) => `${p}(${Math.round(rssKiB(p) / 1024)} MiB)`).join(',')}`)
  const rss = sampler(wr.workerd)
  const mark = wr.markOut()
  try {
    const refs = await (await fetch(wr.url + '/channels', { method: 'POST' })).json()
    await sleep(1000)
    const baseline = rss.last()
    let reader = null
    let writerRes
    let midReaderAt = null
    const progressLog = []
    const kind = name.replace(/-slow$/, '') // absent | mid | fast | slow
    const rateBps = opts.rateBps ?? null
    if (kind === 'fast' || kind === 'slow') {
      reader = startReader(wr.port, refs.reader, { rateBps })
      await new Promise((res) => reader.ws.once('open', res))
    }
    rss.setPhase('writing')
    let wrote = 0
    const progressTimer = setInterval(
      () => progressLog.push({ t: Date.now(), written: wrote, read: reader?.bytes() ?? 0, rssMiB: rss.last() / 1024 }),
      1000,
    )
    writerRes = await runWriter(wr.port, refs.writer, {
      onProgress: (b) => {
        wrote = b
        if (kind === 'mid' && !reader && b >= TOTAL * MID_AT) {
          midReaderAt = b
          reader = startReader(wr.port, refs.reader, { rateBps })
        }
      },
    })
    const peakWriting = rss.peak('writing')
    let gcProbe = null
    if (GC_PROBE && kind === 'absent') {
      rss.setPhase('gc-probe')
      gcProbe = await v8Probe(wr.inspector, () => rss.last()).catch((e) => ({ error: String(e) }))
      log(name, 'gc probe', JSON.stringify(gcProbe))
    }
    rss.setPhase('reading')
    const tReadPhase = Date.now()
    if (kind === 'absent') reader = startReader(wr.port, refs.reader, { rateBps })
    const r = await reader.done
    clearInterval(progressTimer)
    await sleep(1000)
    rss.setPhase('after')
    await sleep(2000)
    rss.stop()
    const peakAll = rss.peak()
    const readerStart = kind === 'absent' ? tReadPhase : r.tOpen
    const res = {
      scenario: name,
      workerdAlive: wr.alive(),
      wranglerOutput: r.code !== 1000 || wr.alive().some((a) => !a.alive) ? wr.outputSince(mark) : undefined,
      totalMiB: mib(TOTAL),
      readerRateMiBps: opts.rateBps ? mib(opts.rateBps) : null,
      baselineMiB: baseline / 1024,
      peakWritingMiB: peakWriting / 1024,
      peakReadingMiB: rss.peak('reading') / 1024,
      peakMiB: peakAll / 1024,
      perProcess: rss.perProcess(),
      gcProbe,
      growthMiB: (peakAll - baseline) / 1024,
      growthWritingMiB: (peakWriting - baseline) / 1024,
      afterMiB: rss.last() / 1024,
      writerSentS: writerRes.sentMs / 1000,
      writerClosedS: writerRes.closedMs / 1000,
      writerMiBps: mib(TOTAL) / (writerRes.sentMs / 1000),
      writerStalledS: writerRes.stalledMs / 1000,
      writerMaxStallMs: writerRes.maxStallMs,
      writerWindowMiBps: [writerRes.minWindowMiBps, writerRes.maxWindowMiBps],
      writerClose: writerRes.close,
      readerS: (r.tEnd - readerStart) / 1000,
      readerMiBps: mib(r.bytes) / ((r.tEnd - readerStart) / 1000),
      readerDoneAfterWriterS: (r.tEnd - writerRes.tSent) / 1000,
      midReaderAtMiB: midReaderAt === null ? null : mib(midReaderAt),
      bytesReceived: r.bytes,
      bytesLost: TOTAL - r.bytes,
      shaOk: r.sha === expected(),
      orderOk: r.orderOk,
      readerClose: { code: r.code, reason: r.reason },
      progress: progressLog.map((p) => ({
        s: (p.t - writerRes.t0) / 1000,
        writtenMiB: mib(p.written),
        readMiB: mib(p.read),
        rssMiB: Math.round(p.rssMiB),
      })),
      rssSeries: rss.samples.map((s) => [s.t, Math.round(s.kib / 1024), s.phase, ...s.per.map((m) => Math.round(m.anon / 1024))]),
    }
    return res
  } finally {
    rss.stop()
  }
}

// ---------- main ----------
const results = []
let fastWriterBps = null
log(`total ${mib(TOTAL)} MiB in ${TOTAL / FRAME} frames of 64 KiB; scenarios ${SCENARIOS.join(',')}`)
expected()
for (const name of SCENARIOS) {
  let opts = {}
  if (name === 'slow' || name.endsWith('-slow')) {
    const writerBps = fastWriterBps ?? 150 * MiB
    opts.rateBps = SLOW_RATE_MIB ? Number(SLOW_RATE_MIB) * MiB : writerBps / SLOW_FACTOR
  }
  for (const res of await scenario(name, opts)) {
    if (name === 'fast') fastWriterBps = TOTAL / res.writerSentS
    results.push(res)
    const { progress, rssSeries, wranglerOutput, ...summary } = res
    log(name, JSON.stringify(summary))
    if (wranglerOutput) log(name, 'reader did not get 1000 or workerd died; wrangler output:\n' + wranglerOutput)
    if (name !== 'fast' && name !== 'absent') log(name, 'progress', JSON.stringify(progress.filter((_, i) => i % 5 === 0)))
  }
}

const f = (x, d = 0) => (x === null || x === undefined ? '-' : Number(x).toFixed(d))
console.log(`\nTotal ${mib(TOTAL)} MiB, 64 KiB binary frames\n`)
console.log('| scenario | round | reader | baseline MiB | peak writing MiB | peak reading MiB | growth MiB | writer s (MiB/s) | writer stalled s | reader s (MiB/s) | lost bytes | sha256 |')
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|')
for (const r of results) {
  const kind = r.scenario.replace(/-slow$/, '')
  const when = kind === 'mid' ? `joins at ${f(r.midReaderAtMiB)} MiB` : kind === 'absent' ? 'joins after writer closed' : 'from start'
  const reader = `${when}, ${r.readerRateMiBps ? `paced ${f(r.readerRateMiBps, 1)} MiB/s` : 'full speed'}`
  console.log(
    `| ${r.scenario} | ${r.round} | ${reader}${r.readerClose.code !== 1000 ? ` (reader got ${r.readerClose.code})` : ''}${r.workerdAlive.some((a) => !a.alive) ? ' WORKERD DIED' : ''} | ${f(r.baselineMiB)} | ${f(r.peakWritingMiB)} | ${f(r.peakReadingMiB)} | ${f(r.growthMiB)} | ${f(r.writerSentS, 1)} (${f(r.writerMiBps)}) | ${f(r.writerStalledS, 1)} | ${f(r.readerS, 1)} (${f(r.readerMiBps)}) | ${r.bytesLost} | ${r.shaOk && r.orderOk ? 'match' : 'MISMATCH'} |`,
  )
}
if (JSON_OUT) (await import('node:fs')).writeFileSync(JSON_OUT, JSON.stringify(results, null, 1))
