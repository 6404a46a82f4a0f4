#!/usr/bin/env node
// `npm run bench`: starts `wrangler dev` (ours), the bare-DO baseline (bench/bare-do/) and the Node
// ws relay (bench/node-relay.mjs) on loopback, runs P1–P8, prints a Markdown table and writes
// bench/results.json and bench/results.svg. Progress goes to stderr. ~5 minutes on 2 cores.
//   node bench/run.mjs [--quick]   (--quick: small sizes, 1 run each: a smoke test of the bench itself)
// Needs Node >= 22.12 for wrangler (npm run puts node_modules/.bin first on PATH).
import { cpus, loadavg, totalmem } from 'node:os'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as c from './lib/clients.mjs'
import { manyChannels, slowReaderRun } from './lib/memory.mjs'
import { execSync } from 'node:child_process'
import { ROOT, log, rssBytes, sleep, sourceSnapshot, startNodeRelay, startWrangler, stopAll } from './lib/procs.mjs'
import { checkTarget, fmt, median, table, writeOutputs } from './lib/report.mjs'
import { httpDownload, invokeLatency, invokeRate, sdkWorkers } from './lib/sdk.mjs'

const MiB = c.MiB
const QUICK = process.argv.includes('--quick')
const CFG = QUICK
  ? { thrMiB: 32, thrRuns: 1, textFrames: 2000, textRuns: 1, latSamples: 300, latRuns: 1, p5AbsentMiB: 32, p5SlowMiB: 16, p5Runs: 1, p6N: 50, p6Runs: 1, p7MiB: 16, p7Runs: 1, p8Lat: 300, p8Rate: 500, p8Conc: 50, p8Runs: 1 }
  : { thrMiB: 256, thrRuns: 5, textFrames: 10_000, textRuns: 3, latSamples: 2000, latRuns: 3, p5AbsentMiB: 256, p5SlowMiB: 128, p5Runs: 3, p6N: 200, p6Runs: 3, p7MiB: 64, p7Runs: 3, p8Lat: 2000, p8Rate: 5000, p8Conc: 50, p8Runs: 3 }
const HARD_LIMIT_MS = 570_000 // stop whatever runs at 9.5 min and report what we have

const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(`wrangler needs Node >= 22.12 (this is ${process.version}): run it as \`npm run bench\`, or with PATH=node_modules/.bin:$PATH`)
  process.exit(1)
}

const started = Date.now()
const raw = {} // every run's numbers, by row
const errors = []
const push = (k, v) => (raw[k] ??= []).push(v)
/** Runs one measurement; a failure is recorded (and shown in the table) instead of ending the bench. */
async function step(key, fn) {
  try {
    const v = await fn()
    push(key, v)
    return v
  } catch (e) {
    errors.push({ key, error: String(e?.message ?? e) })
    log(`  ${key}: FAILED: ${e?.message ?? e}`)
    return null
  }
}
const hard = setTimeout(async () => {
  log('HARD TIME LIMIT reached: stopping everything, reporting what was measured')
  errors.push({ key: 'all', error: 'hard time limit (9.5 min) reached' })
  await stopAll()
  finish()
  process.exit(3)
}, HARD_LIMIT_MS)

const git = (cmd) => {
  try {
    return execSync(`git ${cmd}`, { cwd: ROOT, encoding: 'utf8' }).trim()
  } catch {
    return null
  }
}
const SOURCE = { commit: git('rev-parse --short HEAD'), dirty: (git('status --porcelain -- src wrangler.toml') ?? '').split('\n').filter(Boolean) }
const loadStart = loadavg()
log(`bench: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load ${loadStart.map((x) => x.toFixed(2)).join(' ')}${QUICK ? ' (QUICK)' : ''}`)
log(`ours runs from a copy of src/ taken now (commit ${SOURCE.commit}${SOURCE.dirty.length ? ` + ${SOURCE.dirty.length} uncommitted` : ''}): edits during the run don't reload it`)
log('starting wrangler dev (ours), wrangler dev (bare DO), node ws relay …')
const [ours, bare, node] = await Promise.all([
  startWrangler({ label: 'ours', cwd: sourceSnapshot() }),
  startWrangler({ config: 'bench/bare-do/wrangler.toml', label: 'bare DO' }),
  startNodeRelay(),
])
log(`  ours :${ours.port} (workerd ${ours.pids.join(',')}), bare DO :${bare.port}, node relay :${node.port}`)
const T = { ours: c.oursTarget(ours), bare: c.relayTarget('bare', bare), node: c.relayTarget('node', node) }

let sdk = null
try {
  // warm-up: one small transfer each (first DO instantiation, JIT)
  for (const t of Object.values(T)) await step(`warmup:${t.name}`, () => c.throughput(t, 8 * MiB))

  log(`P1/P2: ${CFG.thrMiB} MiB in 64 KiB frames, ${CFG.thrRuns} rounds (ours, bare DO, node ws, loopback TCP interleaved)`)
  for (let i = 1; i <= CFG.thrRuns; i++) {
    const got = {}
    for (const k of ['ours', 'bare', 'node']) got[k] = (await step(`P1:${k}`, () => c.throughput(T[k], CFG.thrMiB * MiB)))?.MBps
    got.tcp = (await step('P1:tcp', () => c.tcpThroughput(CFG.thrMiB * MiB)))?.MBps
    log(`  round ${i}/${CFG.thrRuns}: ` + Object.entries(got).map(([k, v]) => `${k} ${fmt(v, 0)} MB/s`).join(', '))
  }

  log(`P3: ${CFG.textFrames} text frames of 1 KiB, ${CFG.textRuns} rounds (ours, bare DO)`)
  for (let i = 1; i <= CFG.textRuns; i++) {
    const a = await step('P3:ours', () => c.textRate(T.ours, CFG.textFrames))
    const b = await step('P3:bare', () => c.textRate(T.bare, CFG.textFrames))
    log(`  round ${i}/${CFG.textRuns}: ours ${fmt(a?.fps, 0)} frames/s, bare ${fmt(b?.fps, 0)} frames/s`)
  }

  log(`P4: one 64-byte frame writer → reader, ${CFG.latSamples} sequential samples, ${CFG.latRuns} rounds`)
  for (let i = 1; i <= CFG.latRuns; i++) {
    const a = await step('P4:ours', () => c.latency(T.ours, CFG.latSamples))
    const b = await step('P4:bare', () => c.latency(T.bare, CFG.latSamples))
    log(`  round ${i}/${CFG.latRuns}: ours p50 ${fmt(a?.p50, 2)} p99 ${fmt(a?.p99, 2)} ms, bare p50 ${fmt(b?.p50, 2)} p99 ${fmt(b?.p99, 2)} ms`)
  }

  log('P6 reference: idle bare-DO pairs (memory per open idle channel of the platform alone)')
  await step('P6:bareIdle', () => bareIdle(bare, CFG.p6N)).then((v) => v && log(`  bare DO: ${fmt(v.perChannelKiB, 0)} KiB per idle pair`))

  log('P7/P8: two iii-sdk workers on our engine')
  sdk = await sdkWorkers(ours, CFG.p7MiB * MiB)
  for (let i = 1; i <= CFG.p7Runs; i++) {
    const h = await step('P7:http', () => httpDownload(ours, CFG.p7MiB * MiB))
    const r = await step('P7:raw', () => c.throughput(T.ours, CFG.p7MiB * MiB))
    log(`  P7 round ${i}/${CFG.p7Runs}: http() download ${fmt(h?.MBps, 0)} MB/s, raw channel ${fmt(r?.MBps, 0)} MB/s`)
  }
  for (let i = 1; i <= CFG.p8Runs; i++) {
    const l = await step('P8:lat', () => invokeLatency(sdk.caller, CFG.p8Lat))
    const r = await step('P8:rate', () => invokeRate(sdk.caller, CFG.p8Rate, CFG.p8Conc))
    log(`  P8 round ${i}/${CFG.p8Runs}: p50 ${fmt(l?.p50, 2)} ms, p99 ${fmt(l?.p99, 2)} ms, ${fmt(r?.perSecond, 0)} invocations/s`)
  }
} finally {
  await sdk?.stop()
  await Promise.all([ours.stop(), bare.stop(), node.stop()])
}

const p1Ours = median((raw['P1:ours'] ?? []).map((x) => x.MBps))
const slowRate = (Number.isFinite(p1Ours) ? p1Ours * 1e6 : 150e6) / 10
log(`P5: fresh wrangler per run; (i) ${CFG.p5AbsentMiB} MiB with the reader absent; (iii) ${CFG.p5SlowMiB} MiB, reader paced at ${fmt(slowRate / 1e6, 1)} MB/s (1/10 of P1)`)
for (let i = 1; i <= CFG.p5Runs; i++) {
  const a = await step('P5:absent', () => slowReaderRun('absent', CFG.p5AbsentMiB * MiB))
  log(`  (i) run ${i}/${CFG.p5Runs}: growth ${fmt(a?.growthMiB, 0)} MiB, lost ${a?.lostBytes ?? '–'} B, reader close ${a?.readerClose ?? '–'}`)
  const c = await step('P5:client', () => slowReaderRun('client', CFG.p5SlowMiB * MiB, { rateBps: slowRate }))
  log(`  (ii) run ${i}/${CFG.p5Runs}: growth ${fmt(c?.growthMiB, 0)} MiB, lost ${c?.lostBytes ?? '–'} B, reader close ${c?.readerClose ?? '–'}`)
  const s = await step('P5:slow', () => slowReaderRun('slow', CFG.p5SlowMiB * MiB, { rateBps: slowRate }))
  log(`  (iii) run ${i}/${CFG.p5Runs}: growth ${fmt(s?.growthMiB, 0)} MiB, lost ${s?.lostBytes ?? '–'} B, reader close ${s?.readerClose ?? '–'}`)
}

log(`P6: ${CFG.p6N} concurrent channels × 1 MiB, fresh wrangler per run, ${CFG.p6Runs} runs`)
for (let i = 1; i <= CFG.p6Runs; i++) {
  const r = await step('P6', () => manyChannels(CFG.p6N, MiB, { onProgress: (s) => log(`    ${s}`) }))
  log(`  run ${i}/${CFG.p6Runs}: ${fmt(r?.totalS, 2)} s, ${r?.correct ?? '–'}/${CFG.p6N} correct, idle ${fmt(r?.idlePerChannelKiB, 0)} KiB per channel`)
}

clearTimeout(hard)
finish()
await stopAll()
process.exit(errors.length ? 1 : 0)

/** Opens `n` idle reader+writer pairs on the bare DO; workerd RSS delta per pair. */
async function bareIdle(proc, n) {
  const socks = []
  try {
    await sleep(500)
    const before = rssBytes(proc.pids)
    for (let i = 0; i < n; i++) {
      const ch = await T.bare.channel()
      const r = c.open(ch.readUrl)
      const w = c.open(ch.writeUrl)
      socks.push(r.ws, w.ws)
      await Promise.all([r.opened, w.opened])
    }
    await sleep(3000)
    return { n, perChannelKiB: (rssBytes(proc.pids) - before) / n / 1024 }
  } finally {
    for (const s of socks) s.terminate()
  }
}

function finish() {
  const m = (k, f) => median((raw[k] ?? []).map(f))
  const n = (k) => (raw[k] ?? []).length
  const mb = (x) => `${fmt(x, 0)} MB/s`
  const P = {
    p1: { ours: m('P1:ours', (x) => x.MBps), bare: m('P1:bare', (x) => x.MBps), node: m('P1:node', (x) => x.MBps), tcp: m('P1:tcp', (x) => x.MBps) },
    p3: { ours: m('P3:ours', (x) => x.fps), bare: m('P3:bare', (x) => x.fps) },
    p4: { o50: m('P4:ours', (x) => x.p50), o99: m('P4:ours', (x) => x.p99), b50: m('P4:bare', (x) => x.p50), b99: m('P4:bare', (x) => x.p99) },
    p5a: { g: m('P5:absent', (x) => x.growthMiB), gmax: Math.max(...(raw['P5:absent'] ?? []).map((x) => x.growthMiB)), lost: (raw['P5:absent'] ?? []).reduce((s, x) => s + x.lostBytes, 0) },
    p5c: { g: m('P5:client', (x) => x.growthMiB), gmax: Math.max(...(raw['P5:client'] ?? []).map((x) => x.growthMiB)), lost: (raw['P5:client'] ?? []).reduce((s, x) => s + x.lostBytes, 0), closes: (raw['P5:client'] ?? []).map((x) => x.readerClose) },
    p5s: { g: m('P5:slow', (x) => x.growthMiB), gmax: Math.max(...(raw['P5:slow'] ?? []).map((x) => x.growthMiB)), lost: (raw['P5:slow'] ?? []).reduce((s, x) => s + x.lostBytes, 0), closes: (raw['P5:slow'] ?? []).map((x) => x.readerClose) },
    p6: { t: m('P6', (x) => x.totalS), correct: (raw['P6'] ?? []).map((x) => x.correct), idle: m('P6', (x) => x.idlePerChannelKiB), create: m('P6', (x) => x.createS), bareIdle: m('P6:bareIdle', (x) => x.perChannelKiB) },
    p7: { http: m('P7:http', (x) => x.MBps), raw: m('P7:raw', (x) => x.MBps) },
    p8: { p50: m('P8:lat', (x) => x.p50), p99: m('P8:lat', (x) => x.p99), rate: m('P8:rate', (x) => x.perSecond) },
  }
  const failures = (prefix) => errors.filter((e) => e.key.startsWith(prefix)).length
  const runs = (k, ...more) => `${n(k)}${failures(k) ? ` (+${failures(k)} failed)` : ''}${more.length ? ` / ${more.map(n).join(' / ')}` : ''}`
  const rows = [
    { id: 'P1', measure: `${CFG.thrMiB} MiB, 64 KiB binary frames, MB/s`, ours: mb(P.p1.ours), baseline: `bare DO ${mb(P.p1.bare)}`, ratio: `${fmt(P.p1.ours / P.p1.bare, 2)}×`, check: P.p1.ours / P.p1.bare, target: { op: '>=', value: 0.9 }, runs: runs('P1:ours', 'P1:bare'), chart: { label: 'P1 ours / bare DO (MB/s)', value: P.p1.ours / P.p1.bare } },
    { id: 'P2', measure: 'same, vs Node ws relay', ours: mb(P.p1.ours), baseline: `node ws ${mb(P.p1.node)}`, ratio: `${fmt(P.p1.ours / P.p1.node, 2)}×`, check: P.p1.ours / P.p1.node, target: { op: '>=', value: 0.75 }, runs: runs('P1:node'), chart: { label: 'P2 ours / Node ws relay (MB/s)', value: P.p1.ours / P.p1.node } },
    { id: 'P2c', measure: 'same, vs loopback TCP (ceiling)', ours: mb(P.p1.ours), baseline: `TCP ${mb(P.p1.tcp)}`, ratio: `${fmt(P.p1.ours / P.p1.tcp, 2)}×`, runs: runs('P1:tcp'), chart: { label: 'ours / loopback TCP (MB/s)', value: P.p1.ours / P.p1.tcp } },
    { id: 'P3', measure: `${CFG.textFrames} × 1 KiB text frames, frames/s`, ours: `${fmt(P.p3.ours, 0)}/s`, baseline: `bare DO ${fmt(P.p3.bare, 0)}/s`, ratio: `${fmt(P.p3.ours / P.p3.bare, 2)}×`, check: P.p3.ours / P.p3.bare, target: { op: '>=', value: 0.9 }, runs: runs('P3:ours', 'P3:bare'), chart: { label: 'P3 ours / bare DO (text frames/s)', value: P.p3.ours / P.p3.bare } },
    { id: 'P4', measure: `one-frame latency p50 (p99), ${CFG.latSamples} sequential, ms`, ours: `${fmt(P.p4.o50, 2)} (${fmt(P.p4.o99, 2)})`, baseline: `bare DO ${fmt(P.p4.b50, 2)} (${fmt(P.p4.b99, 2)})`, ratio: `p50 ${fmt(P.p4.o50 / P.p4.b50, 2)}× (p99 ${fmt(P.p4.o99 / P.p4.b99, 2)}×)`, check: P.p4.o50 / P.p4.b50, target: { op: '<=', value: 1.2 }, runs: runs('P4:ours', 'P4:bare'), chart: { label: 'P4 latency p50 ours / bare DO', value: P.p4.o50 / P.p4.b50 } },
    { id: 'P5 (i)', measure: `${CFG.p5AbsentMiB} MiB written, reader absent until the writer closed: workerd RSS growth, bytes lost`, ours: `${fmt(P.p5a.g, 0)} MiB (max ${fmt(P.p5a.gmax, 0)}), lost ${P.p5a.lost}`, ratio: `${fmt(P.p5a.g, 0)} MiB`, check: P.p5a.lost === 0 ? P.p5a.g : Infinity, target: { op: '<=', value: 64, unit: ' MiB, 0 lost' }, runs: runs('P5:absent'), chart: { label: 'P5(i) RSS growth / 64 MiB', value: P.p5a.g / 64 }, chartTarget: 1 },
    { id: 'P5 (ii)', measure: `${CFG.p5SlowMiB} MiB, our client (1 MiB window, acks) reading at 1/10 of P1: RSS growth, bytes lost`, ours: `${fmt(P.p5c.g, 0)} MiB (max ${fmt(P.p5c.gmax, 0)}), lost ${P.p5c.lost}`, ratio: `reader closes ${P.p5c.closes.join(',')}`, check: P.p5c.lost === 0 ? P.p5c.g : Infinity, target: { op: '<=', value: 64, unit: ' MiB, 0 lost' }, runs: runs('P5:client'), chart: { label: 'P5(ii) RSS growth / 64 MiB', value: P.p5c.g / 64 }, chartTarget: 1 },
    { id: 'P5 (iii)', measure: `${CFG.p5SlowMiB} MiB, raw ws reader paced at 1/10 of P1 (${fmt(slowRate / 1e6, 1)} MB/s): RSS growth, bytes lost`, ours: `${fmt(P.p5s.g, 0)} MiB (max ${fmt(P.p5s.gmax, 0)}), lost ${P.p5s.lost}`, ratio: `reader closes ${P.p5s.closes.join(',')}`, runs: runs('P5:slow') },
    { id: 'P6', measure: `${CFG.p6N} concurrent channels × 1 MiB: total time, correct; idle memory per open channel`, ours: `${fmt(P.p6.t, 2)} s, ${P.p6.correct.join('/') || '–'} of ${CFG.p6N} correct; ${fmt(P.p6.idle, 0)} KiB/channel`, baseline: `bare DO idle ${fmt(P.p6.bareIdle, 0)} KiB/pair`, ratio: `create ${fmt(P.p6.create, 1)} s`, runs: runs('P6') },
    { id: 'P7', measure: `${CFG.p7MiB} MiB download via http() trigger vs raw channel, MB/s`, ours: `http() ${mb(P.p7.http)}`, baseline: `raw channel ${mb(P.p7.raw)}`, ratio: `${fmt(P.p7.http / P.p7.raw, 2)}×`, check: P.p7.http / P.p7.raw, target: { op: '>=', value: 0.6 }, runs: runs('P7:http', 'P7:raw'), chart: { label: 'P7 http() download / raw channel', value: P.p7.http / P.p7.raw } },
    { id: 'P8', measure: `invocation round trip p50 (p99) over ${CFG.p8Lat} sequential; invocations/s (${CFG.p8Rate}, concurrency ${CFG.p8Conc})`, ours: `${fmt(P.p8.p50, 2)} (${fmt(P.p8.p99, 2)}) ms; ${fmt(P.p8.rate, 0)}/s`, ratio: `p50 ${fmt(P.p8.p50, 2)} ms`, check: P.p8.p50, target: { op: '<=', value: 2, unit: ' ms' }, runs: runs('P8:lat', 'P8:rate'), chart: { label: 'P8 p50 / 2 ms budget', value: P.p8.p50 / 2 } },
  ]
  // the charted P5/P8 bars are "value / budget": their target is 1
  for (const r of rows) if (r.id === 'P8' || r.id === 'P5 (i)' || r.id === 'P5 (ii)') r.chart.target = { op: '<=', value: 1 }
  const chartRows = rows.map((r) => ({ ...r, target: r.chart?.target ?? r.target, check: r.chart?.target ? r.chart.value : r.check }))
  const fixChecks = (r) => ({ ...r, chart: r.chart && { ...r.chart } })
  const loadEnd = loadavg()
  const meta = {
    date: new Date().toISOString(),
    quick: QUICK,
    seconds: (Date.now() - started) / 1000,
    node: process.version,
    wrangler: JSON.parse(readFileSync(join(ROOT, 'node_modules/wrangler/package.json'), 'utf8')).version,
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 2 ** 30),
    loadavgStart: loadStart,
    loadavgEnd: loadEnd,
    config: CFG,
    source: SOURCE,
    notes: 'MB = 10^6 bytes. Every figure is the median of its runs; raw has every run. Ours, the bare DO and the Node relay run side by side; the same Node process drives writer and reader.',
  }
  const summary = rows.map((r) => ({ id: r.id, measure: r.measure, ours: r.ours, baseline: r.baseline ?? null, ratio: r.ratio ?? null, target: checkTarget(r.target, r.check).text || null, met: checkTarget(r.target, r.check).met, runs: r.runs }))
  writeOutputs(join(ROOT, 'bench'), { meta, medians: P, summary, errors, raw }, chartRows.map(fixChecks), `iii channels at the edge: ratios vs targets (${meta.date.slice(0, 16)}Z, ${meta.cores} cores)`)
  console.log(`\n## npm run bench — ${meta.date} (${fmt(meta.seconds, 0)} s; load ${loadStart.map((x) => x.toFixed(1)).join(' ')} → ${loadEnd.map((x) => x.toFixed(1)).join(' ')})\n`)
  console.log(table(rows))
  console.log('\nMB = 10^6 bytes; each figure is the median of the runs given; results in bench/results.json, chart in bench/results.svg.')
  if (errors.length) console.log(`\n${errors.length} measurement(s) failed:\n` + errors.map((e) => `- ${e.key}: ${e.error}`).join('\n'))
}
