#!/usr/bin/env node
// `npm run bench`: starts `wrangler dev` (ours), the bare-DO baseline (bench/bare-do/) and the Node
// ws relay (bench/node-relay.mjs) on loopback, runs P1–P8, prints a Markdown table and writes
// bench/results.json and bench/results.svg. Progress goes to stderr. ~5 minutes on 2 cores.
//   node bench/run.mjs [--quick] [--only=P|P5|S|D|H|R|O|Q|A]
//   --quick: small sizes, 1 run each (a smoke test of the bench itself); --only: the relay rows (P),
//   the memory and storage rows alone (P5, P9), the engine-at-scale rows (S1–S5: ours against the
//   single-engine design, BASELINE_COMMIT) or the data module rows (D1–D3: state round trips,
//   stream fan-out) alone, the HTTP-trigger rows (H0–H4: latency, throughput and storage cost per
//   request against a GET that touches no object), or the robustness row (R7: another worker's calls
//   while one worker floods the engine with registrations), or the observability rows (O1: an
//   invocation with the SDK's OpenTelemetry on against off; O1c: on, with a collector), or the queue
//   rows (Q1: an enqueue's receipt against a plain invocation; Q2: no-op jobs/s through `default`;
//   Q3: what a million jobs cost, computed from Q2 and the price list), or the worker endpoint rows
//   (A1: an invocation through a worker endpoint, its auth function run once at the upgrade and its
//   rules checked per call, against the plain socket; A2: through an endpoint with a middleware).
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
import { dataWorker, stateRoundTrips, streamFanout } from './lib/data.mjs'
import { floodRun } from './lib/flood.mjs'
import { CONCURRENCY as H_CONCURRENCY, UPLOAD_BYTES, bareHopClient, httpCosts, httpLatency, httpRate, httpTargets, httpWorker } from './lib/http.mjs'
import { otelRound, sinkCollector } from './lib/otel.mjs'
import { batchLog, jobCost, queueRound, queueServer, vmComparison } from './lib/queues.mjs'
import { ENDPOINTS, endpointRound, endpointServer } from './lib/endpoints.mjs'
import { BASELINE_COMMIT, baselineSource, busiestShare, createChannelCost, reconnectStorm, registryCalls } from './lib/scale.mjs'

const MiB = c.MiB
const QUICK = process.argv.includes('--quick')
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length)
const RUN_P = ONLY === undefined || ONLY === 'P'
const RUN_P5 = RUN_P || ONLY === 'P5'
const RUN_S = ONLY === undefined || ONLY === 'S'
const RUN_D = ONLY === undefined || ONLY === 'D'
const RUN_H = ONLY === undefined || ONLY === 'H'
const RUN_R = ONLY === undefined || ONLY === 'R'
const RUN_O = ONLY === undefined || ONLY === 'O'
const RUN_Q = ONLY === undefined || ONLY === 'Q'
const RUN_A = ONLY === undefined || ONLY === 'A'
const SCALE = QUICK
  ? { s1K: 16, s1Inv: 800, s1Req: 160, s2N: 100, s3N: 200, s4Lat: 300, s4Rate: 500, s4Runs: 1, s5Workers: 50 }
  : { s1K: 16, s1Inv: 4000, s1Req: 800, s2N: 500, s3N: 1000, s4Lat: 1000, s4Rate: 2000, s4Runs: 3, s5Workers: 50 }
const CFG = {
  ...(QUICK
    ? { thrMiB: 32, thrRuns: 1, textFrames: 2000, textRuns: 1, latSamples: 300, latRuns: 1, p5AbsentMiB: [8, 16, 32], p5RefMiB: 32, p5SlowMiB: 16, p5Runs: 1, p6N: 50, p6Runs: 1, p7MiB: 16, p7Runs: 1, p8Lat: 300, p8Rate: 500, p8Conc: 50, p8Runs: 1 }
    : { thrMiB: 256, thrRuns: 5, textFrames: 10_000, textRuns: 3, latSamples: 2000, latRuns: 3, p5AbsentMiB: [64, 256, 1024], p5RefMiB: 256, p5SlowMiB: 128, p5Runs: 2, p6N: 200, p6Runs: 3, p7MiB: 64, p7Runs: 3, p8Lat: 2000, p8Rate: 5000, p8Conc: 50, p8Runs: 3 }),
  ...SCALE,
  ...(QUICK ? { dPairs: 500, dConc: 10, dFanRuns: 10, dSubs: 100 } : { dPairs: 3000, dConc: 10, dFanRuns: 50, dSubs: 100 }),
  // R7: the finding's burst (issue 21, item 6); 1,000 is the documented default bound of functions per worker.
  ...(QUICK ? { rFunctions: 2000, rRoutes: 400 } : { rFunctions: 10_000, rRoutes: 2000 }),
  rBound: 1000,
  // H0–H4: about a minute and a half in all on 2 idle cores (three fresh wrangler dev; a trigger request
  // takes 4–6× a plain GET today, so the counts are what keeps H small). H4's counts are per request.
  ...(QUICK ? { hLat: 100, hWarm: 20, hRate: 200, hRateRuns: 1, hCostN: 20, hUploadN: 5 } : { hLat: 300, hWarm: 30, hRate: 200, hRateRuns: 3, hCostN: 100, hUploadN: 20 }),
  // O1: sequential invocations per round, rounds per setting (off, on, on with a collector, in turns).
  ...(QUICK ? { oLat: 200, oWarm: 50, oRuns: 1 } : { oLat: 2000, oWarm: 200, oRuns: 5 }),
  // Q1: enqueues and invocations of each per round (in turns); Q2: jobs per run, enqueues in flight.
  // About a minute in all on 2 cores: the jobs of a run must all have run before the next starts.
  ...(QUICK ? { qLat: 100, qWarm: 20, qRuns: 1, qJobs: 300, qInFlight: 50, qRateRuns: 1 } : { qLat: 500, qWarm: 50, qRuns: 3, qJobs: 2000, qInFlight: 50, qRateRuns: 3 }),
  // A1–A2: sequential invocations per round, rounds per setting (plain socket, endpoint, endpoint with a middleware, in turns).
  ...(QUICK ? { aLat: 200, aWarm: 50, aRuns: 1 } : { aLat: 1000, aWarm: 200, aRuns: 5 }),
}
const HARD_LIMIT_MS = 1_200_000 // stop whatever runs at 20 min and report what we have (the full run took 13 min before R7)

const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 18)) {
  // wrangler needs 22.12; the launcher shared with the e2e tests is TypeScript, run by Node's type stripping (22.18).
  console.error(`the bench needs Node >= 22.18 (this is ${process.version}): run it as \`npm run bench\`, or with PATH=node_modules/.bin:$PATH`)
  process.exit(1)
}

const started = Date.now()
/** The pace of the slow readers of P5 (1/10 of P1), set once P1 ran. */
let slowRate = 15e6
// The SDK says "Worker registered" (console.debug) for each of the hundreds of workers the bench starts.
console.debug = () => {}
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
  errors.push({ key: 'all', error: 'hard time limit (20 min) reached' })
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
if (RUN_P) await relayRows()
if (RUN_P5) await memoryRows()
if (RUN_S) await scaleRows()
if (RUN_D) await dataRows()
// A worker that does not register fails H alone; the rows after it still run.
if (RUN_H) await httpRows().catch((e) => (errors.push({ key: 'H', error: String(e?.message ?? e) }), log(`  H: FAILED: ${e?.message ?? e}`)))
if (RUN_R) await floodRows()
if (RUN_O) await otelRows()
if (RUN_Q) await queueRows()
if (RUN_A) await endpointRows()

clearTimeout(hard)
finish()
await stopAll()
process.exit(errors.length ? 1 : 0)

/** P1–P8: the channel relay against a bare DO, a Node relay and loopback TCP; P8 invocations. */
async function relayRows() {
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
  await step('P6:bareIdle', () => bareIdle(bare, CFG.p6N, T)).then((v) => v && log(`  bare DO: ${fmt(v.perChannelKiB, 0)} KiB per idle pair`))

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

log(`P6: ${CFG.p6N} concurrent channels × 1 MiB, fresh wrangler per run, ${CFG.p6Runs} runs`)
for (let i = 1; i <= CFG.p6Runs; i++) {
  const r = await step('P6', () => manyChannels(CFG.p6N, MiB, { onProgress: (s) => log(`    ${s}`) }))
  log(`  run ${i}/${CFG.p6Runs}: ${fmt(r?.totalS, 2)} s, ${r?.correct ?? '–'}/${CFG.p6N} correct, idle ${fmt(r?.idlePerChannelKiB, 0)} KiB per channel`)
}
}

/**
 * P5 and P9: one channel whose reader is absent (64 MiB, 256 MiB, 1 GiB), slow, or reading at full
 * speed next to the bare Durable Object (what the platform itself holds): workerd's RSS, what V8
 * holds, bytes lost, and storage rows written per GB stored. A fresh `wrangler dev` per run.
 */
async function memoryRows() {
  const p1Ours = median((raw['P1:ours'] ?? []).map((x) => x.MBps))
  slowRate = (Number.isFinite(p1Ours) ? p1Ours * 1e6 : 150e6) / 10
  const fmtRun = (r) => `growth ${fmt(r?.growthMiB, 0)} MiB, V8 ${fmt(r?.v8UsedMiB, 0)} + ${fmt(r?.v8ArrayBuffersMiB, 0)} MiB, lost ${r?.lostBytes ?? '–'} B, ${r?.rowsWritten ?? '–'} rows for ${fmt((r?.bytesStored ?? NaN) / 1e6, 0)} MB stored, reader close ${r?.readerClose ?? '–'}`
  log(`P5 reference: ${CFG.p5RefMiB} MiB relayed to a reader at full speed (nothing stored), ours and the bare DO`)
  for (const bare of [false, true]) {
    const r = await step(`P5:fast:${bare ? 'bare' : 'ours'}`, () => slowReaderRun('fast', CFG.p5RefMiB * MiB, { bare }))
    log(`  ${bare ? 'bare DO' : 'ours'}: ${fmtRun(r)}`)
  }
  for (const mib of CFG.p5AbsentMiB) {
    const runs = mib === 256 ? CFG.p5Runs : 1
    log(`P5 (i): ${mib} MiB with the reader absent until the writer finished, ${runs} run(s)`)
    for (let i = 1; i <= runs; i++) {
      const a = await step(`P5:absent:${mib}`, () => slowReaderRun('absent', mib * MiB))
      log(`  run ${i}/${runs}: ${fmtRun(a)}`)
    }
  }
  log(`P5 (ii)/(iii): ${CFG.p5SlowMiB} MiB, reader paced at ${fmt(slowRate / 1e6, 1)} MB/s (1/10 of P1), ${CFG.p5Runs} runs`)
  for (let i = 1; i <= CFG.p5Runs; i++) {
    const c = await step('P5:client', () => slowReaderRun('client', CFG.p5SlowMiB * MiB, { rateBps: slowRate }))
    log(`  (ii) run ${i}/${CFG.p5Runs}: ${fmtRun(c)}`)
    const s = await step('P5:slow', () => slowReaderRun('slow', CFG.p5SlowMiB * MiB, { rateBps: slowRate }))
    log(`  (iii) run ${i}/${CFG.p5Runs}: ${fmtRun(s)}`)
  }
}

/** S1–S5: the engine spread over objects, against the single-engine design of BASELINE_COMMIT. */
async function scaleRows() {
  log(`S2–S4: ours and the single-engine design (commit ${BASELINE_COMMIT}) side by side`)
  const [ours, single] = await Promise.all([startWrangler({ label: 'ours', cwd: sourceSnapshot() }), startWrangler({ label: 'single engine', cwd: baselineSource() })])
  let sdkOurs = null
  let sdkSingle = null
  try {
    sdkOurs = await sdkWorkers(ours, MiB)
    sdkSingle = await sdkWorkers(single, MiB)
    const s2 = await step('S2', () => registryCalls(ours, sdkOurs.caller, CFG.s2N))
    log(`  S2: registry calls per warm invocation ${fmt(s2?.perInvocation, 3)}, per warm HTTP request ${fmt(s2?.perRequest, 3)}`)
    const s3 = await step('S3', () => createChannelCost(ours, sdkOurs.caller, CFG.s3N))
    log(`  S3: createChannel p50 ${fmt(s3?.sdkP50, 2)} ms vs GET /api/info ${fmt(s3?.getP50, 2)} ms (${fmt(s3?.ratio, 2)}×); objects left by ${s3?.unusedChannels ?? '–'} unused channels: ${s3?.unusedObjects ?? '–'}`)
    const s3s = await step('S3:single', () => createChannelCost(single, sdkSingle.caller, CFG.s3N, { countObjects: false }))
    log(`  S3 single engine: createChannel p50 ${fmt(s3s?.sdkP50, 2)} ms (a channel object created per call)`)
    for (let i = 1; i <= CFG.s4Runs; i++) {
      const lo = await step('S4:lat:ours', () => invokeLatency(sdkOurs.caller, CFG.s4Lat))
      const ls = await step('S4:lat:single', () => invokeLatency(sdkSingle.caller, CFG.s4Lat))
      const ro = await step('S4:rate:ours', () => invokeRate(sdkOurs.caller, CFG.s4Rate, 50))
      const rs = await step('S4:rate:single', () => invokeRate(sdkSingle.caller, CFG.s4Rate, 50))
      log(`  S4 round ${i}/${CFG.s4Runs}: p50 ours ${fmt(lo?.p50, 2)} / single ${fmt(ls?.p50, 2)} ms, p99 ${fmt(lo?.p99, 2)} / ${fmt(ls?.p99, 2)} ms, ${fmt(ro?.perSecond, 0)} / ${fmt(rs?.perSecond, 0)} invocations/s`)
    }
  } finally {
    await Promise.allSettled([sdkOurs?.stop(), sdkSingle?.stop()])
    await Promise.all([ours.stop(), single.stop()])
  }

  log(`S1: ${CFG.s1K} workers invoking each other at random + HTTP requests over 8 functions (every object counting)`)
  const counted = await startWrangler({ label: 'ours (counting)', cwd: sourceSnapshot(), vars: { III_COUNTERS: '1' } })
  try {
    const s1 = await step('S1', () => busiestShare(counted, { K: CFG.s1K, invocations: CFG.s1Inv, requests: CFG.s1Req }))
    log(`  S1: channels wrote ${s1?.rowsPerChannel ?? '–'} storage rows each (median; max ${s1?.rowsPerChannelMax ?? '–'})`)
    log(`  S1: ${s1?.total ?? '–'} events over ${s1?.objects ?? '–'} objects (${s1?.channels ?? '–'} channels) in ${fmt(s1?.seconds, 1)} s (${s1?.errors ?? '–'} errors); busiest ${s1?.busiest ?? '–'} ${fmt(100 * (s1?.busiestShare ?? NaN), 1)} %, median object ${s1?.medianEvents ?? '–'} events, median session ${s1?.sessionsMedian ?? '–'}`)
  } finally {
    await counted.stop()
  }

  log(`S5: ${CFG.s5Workers} workers, then a redeploy (every object reset, every socket closed)`)
  const redeployed = await startWrangler({ label: 'ours (redeployed)', copy: true })
  try {
    const s5 = await step('S5', () => reconnectStorm(redeployed, () => redeployed.redeploy(), { workers: CFG.s5Workers }))
    log(`  S5: all ${s5?.workers ?? '–'} workers answering again ${fmt((s5?.backMs ?? NaN) / 1000, 2)} s after the redeploy`)
  } finally {
    await redeployed.stop()
  }
}

/** D1–D3: state::set + state::get round trips through the SDK, stream fan-out to live subscribers. */
async function dataRows() {
  log(`D1–D3: state round trips (${CFG.dPairs} pairs, concurrency ${CFG.dConc}) and stream fan-out (${CFG.dSubs} subscribers, ${CFG.dFanRuns} sets)`)
  const ours = await startWrangler({ label: 'ours (data)', cwd: sourceSnapshot() })
  const iii = dataWorker(ours)
  try {
    const d1 = await step('D1', () => stateRoundTrips(iii, { n: CFG.dPairs, concurrency: CFG.dConc, keys: 1, scopes: 1 }))
    log(`  D1 one key: ${fmt(d1?.perSecond, 0)} set+get/s, p50 ${fmt(d1?.p50, 2)} ms, p99 ${fmt(d1?.p99, 2)} ms`)
    const d2 = await step('D2', () => stateRoundTrips(iii, { n: CFG.dPairs, concurrency: CFG.dConc, keys: 100, scopes: 10 }))
    log(`  D2 100 keys / 10 scopes: ${fmt(d2?.perSecond, 0)} set+get/s, p50 ${fmt(d2?.p50, 2)} ms, p99 ${fmt(d2?.p99, 2)} ms`)
    const d3 = await step('D3', () => streamFanout(ours, iii, { subscribers: CFG.dSubs, runs: CFG.dFanRuns }))
    log(`  D3 fan-out to ${CFG.dSubs}: last subscriber p50 ${fmt(d3?.p50, 2)} ms, p99 ${fmt(d3?.p99, 2)} ms`)
  } finally {
    await iii.shutdown().catch(() => {})
    await ours.stop()
  }
}

/**
 * H0–H4: HTTP triggers served by an SDK worker in this process, each against GET /api/info (no
 * object) in the same wrangler dev, interleaved; the bare Worker's GET as the platform's floor. A
 * fresh wrangler dev for the latencies, another for the rates (every trigger request leaves objects
 * behind, which slows local workerd), a third counting storage rows (III_COUNTERS) for H4.
 */
async function httpRows() {
  const bare = await startWrangler({ config: 'bench/bare-do/wrangler.toml', label: 'bare DO' })
  const hopClient = await bareHopClient(bare)
  try {
    for (const part of ['latency', 'rate']) {
      const ours = await startWrangler({ label: `ours (http ${part})`, cwd: sourceSnapshot() })
      let worker = null
      try {
        worker = await httpWorker(ours)
        const T = httpTargets(ours, bare)
        const targets = { info: T.info, json: T.json, stream: T.stream, bare: T.bare, ...(part === 'latency' ? { hop: T.hop, hopSocket: T.hopSocket } : {}) }
        if (part === 'latency') {
          log(`H0–H2: ${CFG.hLat} sequential requests each (after ${CFG.hWarm}), GET /api/info, JSON trigger, http() trigger, the bare Worker and its two hops in turns`)
          const l = await step('H:lat', () => httpLatency(targets, CFG.hLat, CFG.hWarm))
          if (l) log(`  ${Object.entries(l).map(([k, v]) => `${k} p50 ${fmt(v.p50, 2)} p99 ${fmt(v.p99, 2)} ms`).join(', ')}`)
        } else {
          log(`H0/H3: ${CFG.hRate} requests at concurrency ${H_CONCURRENCY} per target, ${CFG.hRateRuns} rounds in turns`)
          for (let i = 1; i <= CFG.hRateRuns; i++) {
            const got = {}
            for (const [k, t] of Object.entries(targets)) got[k] = (await step(`H:rate:${k}`, () => httpRate(t, CFG.hRate)))?.perSecond
            log(`  round ${i}/${CFG.hRateRuns}: ` + Object.entries(got).map(([k, v]) => `${k} ${fmt(v, 0)}/s`).join(', '))
          }
        }
      } finally {
        await worker?.stop()
        await ours.stop()
      }
    }
  } finally {
    hopClient.stop()
    await bare.stop()
  }

  log(`H4: objects created and storage rows written per request (${CFG.hCostN} requests each, ${CFG.hUploadN} uploads of ${UPLOAD_BYTES} B), counting`)
  const counted = await startWrangler({ label: 'ours (http, counting)', cwd: sourceSnapshot(), vars: { III_COUNTERS: '1' } })
  let worker = null
  try {
    worker = await httpWorker(counted)
    const T = httpTargets(counted)
    for (const [key, t, n] of [['H4 (a)', T.json, CFG.hCostN], ['H4 (b)', T.stream, CFG.hCostN], ['H4 (c)', T.upload, CFG.hUploadN]]) {
      const r = await step(key, () => httpCosts(counted, t, n))
      if (r) log(`  ${key} ${t.name}: objects/request ${JSON.stringify(r.objectsPerRequest)}, rows/request: channels ${fmt(r.channelRowsPerRequest, 2)} (${fmt(r.channelsReportingPerRequest, 2)} channels reported), sessions ${r.sessionRowsPerRequest === null ? 'n/a' : fmt(r.sessionRowsPerRequest, 2)}`)
    }
  } finally {
    await worker?.stop()
    await counted.stop()
  }
}

/**
 * R7: a canary's echo while another worker floods registrations (functions, then functions and
 * routes); a fresh wrangler each. Both as `wrangler dev` runs by default and without its local trace
 * collector (X_LOCAL_OBSERVABILITY=false), which records every event of every object on the
 * engine's own thread: a flood's 10,000 events cost others seconds there, in local development only.
 */
async function floodRows() {
  // R7n: the same number of messages the engine ignores, for what the platform itself costs.
  const runs = [
    ['R7', 0, true, false], ['R7r', CFG.rRoutes, true, false], ['R7n', 0, true, true],
    ['R7 (no collector)', 0, false, false], ['R7r (no collector)', CFG.rRoutes, false, false], ['R7n (no collector)', 0, false, true],
  ]
  for (const [key, routes, collector, noop] of runs) {
    log(`${key}: canary echo every 20 ms while a raw socket sends ${CFG.rFunctions} ${noop ? 'no-op messages' : 'registerfunction'}${routes ? ` and ${routes} http routes` : ''} in one burst${collector ? '' : ', without the local trace collector'}`)
    const ours = await startWrangler({ label: `ours (${key})`, cwd: sourceSnapshot(), ...(collector ? {} : { env: { X_LOCAL_OBSERVABILITY: 'false' } }) })
    try {
      const r = await step(key, () => floodRun(ours, { functions: CFG.rFunctions, routes, noop, bound: CFG.rBound }))
      if (r) {
        log(`  ${key}: burst sent in ${fmt(r.sentMs, 0)} ms; canary ${r.calls} calls: p50 ${fmt(r.p50, 1)} ms, p99 ${fmt(r.p99Answered, 1)} ms, max ${fmt(r.max, 0)} ms, ${r.timeouts} timeouts${r.otherErrors.length ? `, errors ${r.otherErrors.join(', ')}` : ''} (before the flood p50 ${fmt(r.beforeP50, 1)} ms)`)
        log(`  ${key}: ${r.accepted} functions accepted, the last callable after ${fmt((r.lastCallableMs ?? NaN) / 1000, 2)} s; refused triggers ${JSON.stringify(r.refusedTriggers)}; socket answered its ping after ${fmt((r.pongMs ?? NaN) / 1000, 2)} s`)
      }
    } finally {
      await ours.stop()
    }
  }
}

/**
 * O1: invocation p50 with the SDK's OpenTelemetry on (spans, a Logger record per call) against
 * off, on one wrangler dev; O1c: on, with III_OTLP_ENDPOINT set (a sink), on another. In turns.
 */
async function otelRows() {
  const sink = await sinkCollector()
  const plain = await startWrangler({ label: 'ours (otel)', cwd: sourceSnapshot() })
  const exporting = await startWrangler({ label: 'ours (otel, collector)', cwd: sourceSnapshot(), vars: { III_OTLP_ENDPOINT: sink.url } })
  try {
    for (let i = 1; i <= CFG.oRuns; i++) {
      for (const [key, proc, otel] of [['O1:off', plain, 'off'], ['O1:on', plain, 'on'], ['O1c:on', exporting, 'on']]) {
        const r = await step(key, () => otelRound(proc, otel, CFG.oLat, CFG.oWarm))
        if (r) log(`  O round ${i}/${CFG.oRuns} ${key}: p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms`)
      }
    }
    log(`  collector received: ${JSON.stringify(sink.counts)}`)
  } finally {
    await plain.stop()
    await exporting.stop()
    await sink.stop()
  }
}

/**
 * Q1–Q2: queues on one wrangler dev (`default` at concurrency 10, set here so the rows do not hang
 * on wrangler.toml), printing the consumer's batches (`--log-level info`), one server process for
 * the whole section and a caller per round. Each round waits until its jobs all ran, so the next
 * starts on an empty queue. Q3 is computed from these in finish().
 */
async function queueRows() {
  const ours = await startWrangler({ label: 'ours (queues)', cwd: sourceSnapshot(), logLevel: 'info', vars: { III_QUEUES: JSON.stringify({ default: { concurrency: 10 } }) } })
  let server = null
  try {
    server = await queueServer(ours)
    log(`Q1: enqueue → receipt against a plain invocation, ${CFG.qLat} of each in turns (after ${CFG.qWarm}), ${CFG.qRuns} rounds`)
    for (let i = 1; i <= CFG.qRuns; i++) {
      const batches = await batchLog(ours)
      const r = await step('Q1', async () => ({ ...(await queueRound(ours, 'q1', CFG.qLat, CFG.qWarm)), batches: await batches.since(CFG.qLat + CFG.qWarm) }))
      if (r) log(`  round ${i}/${CFG.qRuns}: enqueue p50 ${fmt(r.enqueue.p50, 2)} p99 ${fmt(r.enqueue.p99, 2)} ms, invocation p50 ${fmt(r.invoke.p50, 2)} p99 ${fmt(r.invoke.p99, 2)} ms; the jobs started p50 ${fmt(r.wait.p50, 1)} ms after their enqueue (p99 ${fmt(r.wait.p99, 1)}), ${fmt(r.batches?.perBatch, 1)} per batch`)
    }
    log(`Q2: ${CFG.qJobs} no-op jobs, ${CFG.qInFlight} enqueues in flight, until the last ran; ${CFG.qRateRuns} runs`)
    for (let i = 1; i <= CFG.qRateRuns; i++) {
      const batches = await batchLog(ours)
      const r = await step('Q2', async () => ({ ...(await queueRound(ours, 'q2', CFG.qJobs, CFG.qInFlight)), batches: await batches.since(CFG.qJobs) }))
      if (r) log(`  run ${i}/${CFG.qRateRuns}: ${fmt(r.perSecond, 0)} jobs/s (enqueued at ${fmt(r.enqueuePerSecond, 0)}/s), enqueue → start p50 ${fmt(r.wait.p50, 0)} ms, p99 ${fmt(r.wait.p99, 0)} ms; ${r.batches?.batches ?? '–'} batches of ${fmt(r.batches?.perBatch, 1)} (largest ${r.batches?.largest ?? '–'}); ${r.ran - r.jobs} run twice`)
    }
  } finally {
    server?.stop()
    await ours.stop()
  }
}

/**
 * A1–A2: one wrangler dev with two worker endpoints (bench/lib/endpoints.mjs), one trusted server
 * process for the section (bench::echo, bench::auth, bench::mw), a caller process per round and
 * setting: the plain socket and the endpoint in turns (their order swapped each round), then the
 * endpoint with a middleware. Each endpoint caller is one connection: the auth function's calls
 * are counted by connection.
 */
async function endpointRows() {
  const ours = await startWrangler({ label: 'ours (endpoints)', cwd: sourceSnapshot(), vars: { III_WORKER_ENDPOINTS: JSON.stringify(ENDPOINTS) } })
  let server = null
  try {
    server = await endpointServer(ours)
    log(`A1/A2: ${CFG.aLat} sequential invocations of bench::echo per round (after ${CFG.aWarm}), ${CFG.aRuns} rounds: plain socket and /ew in turns, then /ew-mw (middleware)`)
    for (let i = 1; i <= CFG.aRuns; i++) {
      const order = i % 2 ? ['plain', 'endpoint', 'middleware'] : ['endpoint', 'plain', 'middleware']
      const got = {}
      for (const setting of order) {
        const conn = `r${i}-${setting}`
        const before = server.authTotal()
        got[setting] = await step(`A:${setting}`, async () => {
          const r = await endpointRound(ours, setting, conn, CFG.aLat, CFG.aWarm)
          // The caller exited after its last answer: its connection's auth call (if any) was long printed.
          return { ...r, conn, connections: setting === 'plain' ? 0 : 1, authCalls: server.authCalls(conn), authDuring: server.authTotal() - before }
        })
      }
      log(`  round ${i}/${CFG.aRuns}: ` + order.map((k) => `${k} p50 ${fmt(got[k]?.p50, 2)} p99 ${fmt(got[k]?.p99, 2)} ms${k === 'plain' ? '' : ` (auth ${got[k]?.authCalls ?? '–'}× for ${got[k]?.calls ?? '–'} calls)`}`).join(', '))
    }
    log(`  bench::auth ran ${server.authTotal()} times in all`)
  } finally {
    server?.stop()
    await ours.stop()
  }
}

/** Opens `n` idle reader+writer pairs on the bare DO; workerd RSS delta per pair. */
async function bareIdle(proc, n, T) {
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

/** H0–H4 as table rows, from their medians. */
function httpRowList(h, runs) {
  const L = h.lat
  const lat = (k) => (L?.[k] ? `${fmt(L[k].p50, 2)} (${fmt(L[k].p99, 2)}) ms` : '–')
  const vsGet = (k) => (L?.[k] && L.info ? { p50: L[k].p50 / L.info.p50, p99: L[k].p99 / L.info.p99 } : { p50: NaN, p99: NaN })
  const perS = (x) => `${fmt(x, 0)}/s`
  // The platform's floor for the same path (bench/bare-do, BareHop), against the bare Worker's own GET.
  const floor = (k) => (L?.[k] && L.bare ? { p50: L[k].p50 / L.bare.p50, p99: L[k].p99 / L.bare.p99 } : null)
  const latRow = (id, key, what, limit, floorKey) => {
    const r = vsGet(key)
    const f = floor(floorKey)
    return {
      id,
      measure: `${what}: p50 (p99), ${CFG.hLat} sequential, in turns with H0; the floor: the bare Worker's ${floorKey === 'hop' ? 'hop to a Node client on its socket and back' : 'hop answered on a new socket, as `http()` opens one'}`,
      ours: lat(key),
      baseline: `H0 ${lat('info')}; floor ${lat(floorKey)} vs bare GET ${lat('bare')}`,
      ratio: `p50 ${fmt(r.p50, 2)}× (p99 ${fmt(r.p99, 2)}×)${f ? `; floor p50 ${fmt(f.p50, 2)}× (p99 ${fmt(f.p99, 2)}×)` : ''}`,
      check: Math.max(r.p50, r.p99),
      target: { op: '<=', value: limit, unit: '× (p50 and p99)' },
      runs: runs('H:lat'),
      chart: { label: `${id} latency / GET /api/info (worse of p50, p99)`, value: Math.max(r.p50, r.p99) },
    }
  }
  const rateRow = (id, key, what, limit) => ({
    id,
    measure: `${what}: req/s at concurrency ${H_CONCURRENCY} (${CFG.hRate} per round, in turns with H0)`,
    ours: perS(h.rate[key]),
    baseline: `H0 ${perS(h.rate.info)}`,
    ratio: `${fmt(h.rate[key] / h.rate.info, 2)}×`,
    check: h.rate[key] / h.rate.info,
    target: { op: '>=', value: limit },
    runs: runs(`H:rate:${key}`, 'H:rate:info'),
    chart: { label: `${id} req/s / GET /api/info`, value: h.rate[key] / h.rate.info },
  })
  const objectsText = (r) => Object.entries(r.objectsPerRequest).map(([cls, v]) => `${fmt(v, 2)} ${cls}`).join(', ') || '0'
  const sessionText = (r) => (r.sessionRowsPerRequest === null ? 'n/a (no session_rows in /api/counters)' : fmt(r.sessionRowsPerRequest, 2))
  // The sessions' part unknown and the rest 0: the target cannot be judged ('n/a').
  const costCheck = (r) => {
    if (!r) return NaN
    const known = Math.max(r.objectsTotalPerRequest, r.channelRowsPerRequest)
    return r.sessionRowsPerRequest === null ? (known > 0 ? known : 'n/a') : Math.max(known, r.sessionRowsPerRequest)
  }
  const costRow = (id, r, what, n, target) => ({
    id,
    measure: `${what}, per request (${n} requests, wrangler dev counting): Durable Objects created (new SQLite files, by class); storage rows written by channels, by sessions`,
    ours: r ? `objects ${objectsText(r)}; rows: channels ${fmt(r.channelRowsPerRequest, 2)}, sessions ${sessionText(r)}` : '–',
    ratio: r ? `${fmt(r.objectsTotalPerRequest, 2)} objects, ${fmt(r.channelRowsPerRequest + (r.sessionRowsPerRequest ?? 0), 2)}${r.sessionRowsPerRequest === null ? '+?' : ''} rows` : '–',
    check: target ? costCheck(r) : undefined,
    target: target ? { op: '<=', value: 0, unit: ' objects and rows' } : undefined,
    runs: runs(id),
  })
  return [
    {
      id: 'H0',
      measure: `GET /api/info (touches no object): p50 (p99) over ${CFG.hLat} sequential; req/s at concurrency ${H_CONCURRENCY}`,
      ours: `${lat('info')}; ${perS(h.rate.info)}`,
      baseline: `bare Worker GET ${lat('bare')}; ${perS(h.rate.bare)}`,
      ratio: L?.info && L.bare ? `p50 ${fmt(L.info.p50 / L.bare.p50, 2)}× the bare Worker` : '–',
      runs: runs('H:lat', 'H:rate:info', 'H:rate:bare'),
    },
    latRow('H1', 'json', 'HTTP trigger, the function returns `{ status_code: 200, body: { ok: true } }`', 1.5, 'hop'),
    latRow('H2', 'stream', "HTTP trigger with `http()`: status, headers, `res.stream.end('hello')`, `res.close()`", 2.5, 'hopSocket'),
    rateRow('H3 (json)', 'json', 'the H1 trigger', 0.5),
    rateRow('H3 (stream)', 'stream', 'the H2 trigger', 0.3),
    costRow('H4 (a)', h.a, 'the H1 trigger', CFG.hCostN, true),
    costRow('H4 (b)', h.b, 'the H2 trigger', CFG.hCostN, true),
    costRow('H4 (c)', h.c, `POST of ${UPLOAD_BYTES / 1024 / 1024} MiB to an \`http()\` trigger that reads it whole and answers its length`, CFG.hUploadN, false),
  ]
}

/** Q1–Q2 medians over their runs, and Q3 computed from them. */
function queueMedians(m) {
  const q1 = {
    e50: m('Q1', (x) => x.enqueue.p50), e99: m('Q1', (x) => x.enqueue.p99), i50: m('Q1', (x) => x.invoke.p50), i99: m('Q1', (x) => x.invoke.p99),
    w50: m('Q1', (x) => x.wait.p50), w99: m('Q1', (x) => x.wait.p99), perBatch: m('Q1', (x) => x.batches?.perBatch ?? NaN), enqueueRate: m('Q1', (x) => x.enqueuePerSecond),
  }
  const q2 = {
    rate: m('Q2', (x) => x.perSecond), enqueueRate: m('Q2', (x) => x.enqueuePerSecond), w50: m('Q2', (x) => x.wait.p50), w99: m('Q2', (x) => x.wait.p99),
    perBatch: m('Q2', (x) => x.batches?.perBatch ?? NaN), secondsPerJob: m('Q2', (x) => x.wallMs / 1000 / x.jobs), twice: m('Q2', (x) => x.ran - x.jobs),
  }
  // Computed three ways: under load, at Q2's batches and pace; at Q1's (one caller enqueueing one at
  // a time got about a job per batch); and under one job a second (a batch and an enqueue count
  // each). Out of load both sessions are awake about an invocation's time per job (Q1's p50).
  const awake = Number.isFinite(q1.i50) ? q1.i50 / 1000 : 0.005
  const loaded = Number.isFinite(q2.perBatch) ? jobCost({ perBatch: q2.perBatch, enqueuesPerSecond: q2.enqueueRate, awakeSecondsPerJob: q2.secondsPerJob }) : null
  const sequential = Number.isFinite(q1.perBatch) ? jobCost({ perBatch: q1.perBatch, enqueuesPerSecond: q1.enqueueRate, awakeSecondsPerJob: awake }) : null
  const slow = jobCost({ perBatch: 1, enqueuesPerSecond: 1, awakeSecondsPerJob: awake })
  return { q1, q2, q3: { loaded, sequential, slow, vm: loaded && vmComparison(loaded.total, slow.total) } }
}

/** Q1–Q3 as table rows. */
function queueRowList(q, runs) {
  const { q1, q2, q3 } = q
  const lat = (a, b) => `${fmt(a, 2)} (${fmt(b, 2)}) ms`
  const usd = (x) => (x < 0.1 ? `$${fmt(x, 4)}` : `$${fmt(x, 2)}`)
  const items = (c) => `Queues ${usd(c.perMillion.queues)}, Worker requests ${usd(c.perMillion.workerRequests)}, CPU ${usd(c.perMillion.cpu)} (assumed), object requests ${usd(c.perMillion.objectRequests)}, rows ${usd(c.perMillion.rowsWritten)}, duration ${usd(c.perMillion.duration)}`
  return [
    { id: 'Q1', measure: `\`TriggerAction.Enqueue\` → \`{messageReceiptId}\` at the SDK (the job stored in Cloudflare Queues) vs a plain invocation: p50 (p99), ${CFG.qLat} of each in turns, caller and callee in processes of their own`, ours: `enqueue ${lat(q1.e50, q1.e99)}`, baseline: `invocation ${lat(q1.i50, q1.i99)}; the jobs started ${fmt(q1.w50, 1)} (${fmt(q1.w99, 1)}) ms after their enqueue, ${fmt(q1.perBatch, 1)} per batch`, ratio: `p50 ${fmt(q1.e50 / q1.i50, 2)}× (p99 ${fmt(q1.e99 / q1.i99, 2)}×)`, runs: runs('Q1'), chart: { label: 'Q1 enqueue receipt / invocation (p50)', value: q1.e50 / q1.i50 } },
    { id: 'Q2', measure: `${CFG.qJobs} no-op jobs through \`default\` (concurrency 10), ${CFG.qInFlight} enqueues in flight, until the last ran: jobs/s; enqueue (payload's timestamp) → function start p50 (p99)`, ours: `${fmt(q2.rate, 0)} jobs/s; ${fmt(q2.w50, 0)} (${fmt(q2.w99, 0)}) ms`, baseline: `enqueued at ${fmt(q2.enqueueRate, 0)}/s; ${fmt(q2.perBatch, 1)} jobs per consumer batch; ${fmt(q2.twice, 0)} run twice`, ratio: `${fmt(q2.rate, 0)}/s`, runs: runs('Q2') },
    {
      id: 'Q3',
      measure: `cost per million jobs past the included amounts, COMPUTED (not measured or billed): counts per job read off the code (bench/lib/queues.mjs) × Cloudflare's list prices; at Q2's batches and pace, at Q1's (one job at a time), under one job a second`,
      ours: q3.loaded ? `${usd(q3.loaded.total)} at ${fmt(q2.perBatch, 0)} jobs per batch: ${items(q3.loaded)}` : '–',
      baseline: q3.vm ? `self-hosted engine + queue worker on a $${q3.vm.dollarsPerMonth}/month VM: ${usd(q3.vm.perMillionFull)} per million flat out at an ASSUMED ${q3.vm.jobsPerSecond.toLocaleString('en')} jobs/s; it costs what the edge does at ${fmt(q3.vm.breakEvenMillionsPerMonth, 1)} M jobs a month (${fmt(q3.vm.breakEvenSlowMillionsPerMonth, 1)} M when under one a second)` : '–',
      ratio: `${q3.sequential ? `${usd(q3.sequential.total)} at ${fmt(q1.perBatch, 1)} per batch (${items(q3.sequential)}); ` : ''}${usd(q3.slow.total)} under one a second (${items(q3.slow)})`,
      runs: `computed from ${runs('Q1', 'Q2')}`,
    },
  ]
}

/** A1–A2 medians over their rounds; the auth function's calls and the endpoint connections, summed. */
function endpointMedians(m) {
  const via = ['endpoint', 'middleware'].flatMap((k) => raw[`A:${k}`] ?? [])
  return {
    plain50: m('A:plain', (x) => x.p50), plain99: m('A:plain', (x) => x.p99),
    ew50: m('A:endpoint', (x) => x.p50), ew99: m('A:endpoint', (x) => x.p99),
    mw50: m('A:middleware', (x) => x.p50), mw99: m('A:middleware', (x) => x.p99),
    connections: via.reduce((t, x) => t + x.connections, 0),
    authCalls: via.reduce((t, x) => t + x.authDuring, 0),
    calls: via.reduce((t, x) => t + x.calls, 0),
    // every endpoint connection admitted by exactly one auth call, and none besides
    oncePerConnection: via.length > 0 && via.every((x) => x.authCalls === 1 && x.authDuring === 1),
  }
}

/** A1–A2 as table rows. */
function endpointRowList(a, runs) {
  const lat = (x, y) => `${fmt(x, 2)} (${fmt(y, 2)}) ms`
  const auth = `bench::auth ran ${a.authCalls} times for ${a.connections} endpoint connections (${a.calls.toLocaleString('en')} calls through them)`
  return [
    {
      id: 'A1',
      measure: `invocation round trip p50 (p99), ${CFG.aLat} sequential, caller and callee in processes of their own: through a worker endpoint (auth function at the upgrade, \`match("bench::*")\` checked per call) vs the plain socket, in turns`,
      ours: `endpoint ${lat(a.ew50, a.ew99)}; ${auth}`,
      baseline: `plain socket ${lat(a.plain50, a.plain99)}`,
      ratio: `p50 ${fmt(a.ew50 / a.plain50, 2)}× (p99 ${fmt(a.ew99 / a.plain99, 2)}×)`,
      check: a.oncePerConnection ? a.ew50 / a.plain50 : Infinity,
      target: { op: '<=', value: 1.1, unit: '×, auth once per connection' },
      runs: runs('A:endpoint', 'A:plain'),
      chart: { label: 'A1 invocation p50, endpoint / plain socket', value: a.ew50 / a.plain50 },
    },
    {
      id: 'A2',
      measure: 'same, through an endpoint with a middleware (bench::mw invokes the target with the trusted SDK: two invocations per call, by design)',
      ours: `endpoint + middleware ${lat(a.mw50, a.mw99)}`,
      baseline: `plain socket ${lat(a.plain50, a.plain99)}`,
      ratio: `p50 ${fmt(a.mw50 / a.plain50, 2)}× (p99 ${fmt(a.mw99 / a.plain99, 2)}×)`,
      runs: runs('A:middleware'),
    },
  ]
}

function finish() {
  const m = (k, f) => median((raw[k] ?? []).map(f))
  const n = (k) => (raw[k] ?? []).length
  /** A P5 case over its runs: median RSS growth, bytes lost in all, rows written per GB stored, V8's share. */
  const p5Summary = (k) => {
    const rs = raw[k] ?? []
    const stored = rs.reduce((t, x) => t + (x.bytesStored ?? 0), 0)
    return {
      g: m(k, (x) => x.growthMiB),
      gmax: Math.max(...rs.map((x) => x.growthMiB)),
      lost: rs.reduce((t, x) => t + x.lostBytes, 0),
      closes: rs.map((x) => x.readerClose),
      rowsPerGB: stored > 0 ? rs.reduce((t, x) => t + (x.rowsWritten ?? 0), 0) / (stored / 1e9) : NaN,
      rows: m(k, (x) => x.rowsWritten),
      storedMB: m(k, (x) => x.bytesStored / 1e6),
      v8: m(k, (x) => (x.v8UsedMiB ?? NaN) + (x.v8ArrayBuffersMiB ?? NaN)),
    }
  }
  const mb = (x) => `${fmt(x, 0)} MB/s`
  const P = {
    p1: { ours: m('P1:ours', (x) => x.MBps), bare: m('P1:bare', (x) => x.MBps), node: m('P1:node', (x) => x.MBps), tcp: m('P1:tcp', (x) => x.MBps) },
    p3: { ours: m('P3:ours', (x) => x.fps), bare: m('P3:bare', (x) => x.fps) },
    p4: { o50: m('P4:ours', (x) => x.p50), o99: m('P4:ours', (x) => x.p99), b50: m('P4:bare', (x) => x.p50), b99: m('P4:bare', (x) => x.p99) },
    p5: {
      ...Object.fromEntries(CFG.p5AbsentMiB.map((mib) => [`absent${mib}`, p5Summary(`P5:absent:${mib}`)])),
      client: p5Summary('P5:client'),
      slow: p5Summary('P5:slow'),
      fastOurs: p5Summary('P5:fast:ours'),
      fastBare: p5Summary('P5:fast:bare'),
    },
    p6: { t: m('P6', (x) => x.totalS), correct: (raw['P6'] ?? []).map((x) => x.correct), idle: m('P6', (x) => x.idlePerChannelKiB), create: m('P6', (x) => x.createS), bareIdle: m('P6:bareIdle', (x) => x.perChannelKiB) },
    p7: { http: m('P7:http', (x) => x.MBps), raw: m('P7:raw', (x) => x.MBps) },
    p8: { p50: m('P8:lat', (x) => x.p50), p99: m('P8:lat', (x) => x.p99), rate: m('P8:rate', (x) => x.perSecond) },
    s1: (raw['S1'] ?? [])[0] ?? null,
    s2: (raw['S2'] ?? [])[0] ?? null,
    s3: (raw['S3'] ?? [])[0] ?? null,
    s3single: (raw['S3:single'] ?? [])[0] ?? null,
    s4: {
      o50: m('S4:lat:ours', (x) => x.p50), o99: m('S4:lat:ours', (x) => x.p99), s50: m('S4:lat:single', (x) => x.p50), s99: m('S4:lat:single', (x) => x.p99),
      orate: m('S4:rate:ours', (x) => x.perSecond), srate: m('S4:rate:single', (x) => x.perSecond),
    },
    s5: (raw['S5'] ?? [])[0] ?? null,
    d1: (raw['D1'] ?? [])[0] ?? null,
    d2: (raw['D2'] ?? [])[0] ?? null,
    d3: (raw['D3'] ?? [])[0] ?? null,
    h: {
      lat: (raw['H:lat'] ?? [])[0] ?? null,
      rate: Object.fromEntries(['info', 'json', 'stream', 'bare'].map((k) => [k, m(`H:rate:${k}`, (x) => x.perSecond)])),
      a: (raw['H4 (a)'] ?? [])[0] ?? null,
      b: (raw['H4 (b)'] ?? [])[0] ?? null,
      c: (raw['H4 (c)'] ?? [])[0] ?? null,
    },
    r7: (raw['R7'] ?? [])[0] ?? null,
    r7r: (raw['R7r'] ?? [])[0] ?? null,
    r7n: (raw['R7n'] ?? [])[0] ?? null,
    r7nc: (raw['R7 (no collector)'] ?? [])[0] ?? null,
    r7rnc: (raw['R7r (no collector)'] ?? [])[0] ?? null,
    r7nnc: (raw['R7n (no collector)'] ?? [])[0] ?? null,
    q: queueMedians(m),
    a: endpointMedians(m),
    o1: {
      off50: m('O1:off', (x) => x.p50), off99: m('O1:off', (x) => x.p99),
      on50: m('O1:on', (x) => x.p50), on99: m('O1:on', (x) => x.p99),
      c50: m('O1c:on', (x) => x.p50), c99: m('O1c:on', (x) => x.p99),
    },
  }
  const failures = (prefix) => errors.filter((e) => e.key.startsWith(prefix)).length
  const runs = (k, ...more) => `${n(k)}${failures(k) ? ` (+${failures(k)} failed)` : ''}${more.length ? ` / ${more.map(n).join(' / ')}` : ''}`
  const rows = [
    { id: 'P1', measure: `${CFG.thrMiB} MiB, 64 KiB binary frames, MB/s`, ours: mb(P.p1.ours), baseline: `bare DO ${mb(P.p1.bare)}`, ratio: `${fmt(P.p1.ours / P.p1.bare, 2)}×`, check: P.p1.ours / P.p1.bare, target: { op: '>=', value: 0.9 }, runs: runs('P1:ours', 'P1:bare'), chart: { label: 'P1 ours / bare DO (MB/s)', value: P.p1.ours / P.p1.bare } },
    { id: 'P2', measure: 'same, vs Node ws relay', ours: mb(P.p1.ours), baseline: `node ws ${mb(P.p1.node)}`, ratio: `${fmt(P.p1.ours / P.p1.node, 2)}×`, check: P.p1.ours / P.p1.node, target: { op: '>=', value: 0.75 }, runs: runs('P1:node'), chart: { label: 'P2 ours / Node ws relay (MB/s)', value: P.p1.ours / P.p1.node } },
    { id: 'P2c', measure: 'same, vs loopback TCP (ceiling)', ours: mb(P.p1.ours), baseline: `TCP ${mb(P.p1.tcp)}`, ratio: `${fmt(P.p1.ours / P.p1.tcp, 2)}×`, runs: runs('P1:tcp'), chart: { label: 'ours / loopback TCP (MB/s)', value: P.p1.ours / P.p1.tcp } },
    { id: 'P3', measure: `${CFG.textFrames} × 1 KiB text frames, frames/s`, ours: `${fmt(P.p3.ours, 0)}/s`, baseline: `bare DO ${fmt(P.p3.bare, 0)}/s`, ratio: `${fmt(P.p3.ours / P.p3.bare, 2)}×`, check: P.p3.ours / P.p3.bare, target: { op: '>=', value: 0.9 }, runs: runs('P3:ours', 'P3:bare'), chart: { label: 'P3 ours / bare DO (text frames/s)', value: P.p3.ours / P.p3.bare } },
    { id: 'P4', measure: `one-frame latency p50 (p99), ${CFG.latSamples} sequential, ms`, ours: `${fmt(P.p4.o50, 2)} (${fmt(P.p4.o99, 2)})`, baseline: `bare DO ${fmt(P.p4.b50, 2)} (${fmt(P.p4.b99, 2)})`, ratio: `p50 ${fmt(P.p4.o50 / P.p4.b50, 2)}× (p99 ${fmt(P.p4.o99 / P.p4.b99, 2)}×)`, check: P.p4.o50 / P.p4.b50, target: { op: '<=', value: 1.2 }, runs: runs('P4:ours', 'P4:bare'), chart: { label: 'P4 latency p50 ours / bare DO', value: P.p4.o50 / P.p4.b50 } },
    ...CFG.p5AbsentMiB.map((mib) => {
      const a = P.p5[`absent${mib}`]
      return { id: `P5 (i) ${mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`}`, measure: `one channel, ${mib} MiB written with the reader absent until the writer closed: workerd RSS growth (V8 heap + ArrayBuffers after the write), bytes lost`, ours: `${fmt(a.g, 0)} MiB (V8 ${fmt(a.v8, 0)} MiB), lost ${a.lost}`, ratio: `${fmt(a.g, 0)} MiB`, check: a.lost === 0 ? a.g : Infinity, target: { op: '<=', value: 64, unit: ' MiB, 0 lost' }, runs: runs(`P5:absent:${mib}`), chart: mib === 256 ? { label: 'P5(i) 256 MiB: RSS growth / 64 MiB', value: a.g / 64 } : undefined }
    }),
    { id: 'P5 (ii)', measure: `${CFG.p5SlowMiB} MiB, our client (1 MiB window, acks) reading at 1/10 of P1: RSS growth, bytes lost`, ours: `${fmt(P.p5.client.g, 0)} MiB (max ${fmt(P.p5.client.gmax, 0)}), lost ${P.p5.client.lost}`, ratio: `reader closes ${P.p5.client.closes.join(',')}`, check: P.p5.client.lost === 0 ? P.p5.client.g : Infinity, target: { op: '<=', value: 64, unit: ' MiB, 0 lost' }, runs: runs('P5:client'), chart: { label: 'P5(ii) RSS growth / 64 MiB', value: P.p5.client.g / 64 } },
    { id: 'P5 (iii)', measure: `${CFG.p5SlowMiB} MiB, raw ws reader paced at 1/10 of P1 (${fmt(slowRate / 1e6, 1)} MB/s): RSS growth, bytes lost`, ours: `${fmt(P.p5.slow.g, 0)} MiB (max ${fmt(P.p5.slow.gmax, 0)}), lost ${P.p5.slow.lost}`, ratio: `reader closes ${P.p5.slow.closes.join(',')}`, runs: runs('P5:slow') },
    { id: 'P5 (ref)', measure: `${CFG.p5RefMiB} MiB to a reader at full speed, nothing stored: RSS growth, ours vs the bare DO (the platform's own share)`, ours: `${fmt(P.p5.fastOurs.g, 0)} MiB`, baseline: `bare DO ${fmt(P.p5.fastBare.g, 0)} MiB`, ratio: `${fmt(P.p5.fastOurs.g / P.p5.fastBare.g, 2)}×`, runs: runs('P5:fast:ours', 'P5:fast:bare') },
    { id: 'P9', measure: `storage rows written per GB stored (INSERT, UPDATE, DELETE, schema, alarm: the channel's whole life), absent reader, ${CFG.p5AbsentMiB.at(-1)} MiB`, ours: `${fmt(P.p5[`absent${CFG.p5AbsentMiB.at(-1)}`].rowsPerGB, 0)} rows/GB (${fmt(P.p5[`absent${CFG.p5AbsentMiB.at(-1)}`].rows, 0)} rows for ${fmt(P.p5[`absent${CFG.p5AbsentMiB.at(-1)}`].storedMB, 0)} MB)`, baseline: `slow readers: client ${fmt(P.p5.client.rowsPerGB, 0)}, raw ${fmt(P.p5.slow.rowsPerGB, 0)} rows/GB`, ratio: `${fmt(P.p5[`absent${CFG.p5AbsentMiB.at(-1)}`].rowsPerGB, 0)}`, check: P.p5[`absent${CFG.p5AbsentMiB.at(-1)}`].rowsPerGB, target: { op: '<=', value: 600, unit: ' rows/GB' }, runs: runs(`P5:absent:${CFG.p5AbsentMiB.at(-1)}`), chart: { label: 'P9 rows written per GB / 600', value: P.p5[`absent${CFG.p5AbsentMiB.at(-1)}`].rowsPerGB / 600 } },
    { id: 'P6', measure: `${CFG.p6N} concurrent channels × 1 MiB: total time, correct; idle memory per open channel`, ours: `${fmt(P.p6.t, 2)} s, ${P.p6.correct.join('/') || '–'} of ${CFG.p6N} correct; ${fmt(P.p6.idle, 0)} KiB/channel`, baseline: `bare DO idle ${fmt(P.p6.bareIdle, 0)} KiB/pair`, ratio: `create ${fmt(P.p6.create, 1)} s`, runs: runs('P6') },
    { id: 'P7', measure: `${CFG.p7MiB} MiB download via http() trigger vs raw channel, MB/s`, ours: `http() ${mb(P.p7.http)}`, baseline: `raw channel ${mb(P.p7.raw)}`, ratio: `${fmt(P.p7.http / P.p7.raw, 2)}×`, check: P.p7.http / P.p7.raw, target: { op: '>=', value: 0.6 }, runs: runs('P7:http', 'P7:raw'), chart: { label: 'P7 http() download / raw channel', value: P.p7.http / P.p7.raw } },
    { id: 'P8', measure: `invocation round trip p50 (p99) over ${CFG.p8Lat} sequential`, ours: `${fmt(P.p8.p50, 2)} (${fmt(P.p8.p99, 2)}) ms`, ratio: `p50 ${fmt(P.p8.p50, 2)} ms`, check: P.p8.p50, target: { op: '<=', value: 2, unit: ' ms' }, runs: runs('P8:lat'), chart: { label: 'P8 p50 / 2 ms budget', value: P.p8.p50 / 2 } },
    { id: 'P8b', measure: `invocations/s (${CFG.p8Rate}, concurrency ${CFG.p8Conc}), one caller and one callee`, ours: `${fmt(P.p8.rate, 0)}/s`, ratio: `${fmt(P.p8.rate, 0)}/s`, check: P.p8.rate, target: { op: '>=', value: 5000, unit: '/s' }, runs: runs('P8:rate') },
  ]
  const { s1, s2, s3, s3single, s4, s5 } = P
  const pctOf = (x) => `${fmt(100 * x, 1)} %`
  const scaleRows = [
    { id: 'S1', measure: s1 ? `busiest object's share of all messages and requests: K = ${s1.K} workers, ${s1.invocations} invocations at random + ${s1.requests} HTTP requests over 8 functions` : 'busiest object share (K = 16)', ours: s1 ? `${pctOf(s1.busiestShare)} (${s1.busiest}); ${s1.total} events over ${s1.objects} objects (${s1.channels} channels); median object ${s1.medianEvents}, median session ${s1.sessionsMedian}; storage rows per channel ${s1.rowsPerChannel ?? '–'}` : '–', baseline: 'single engine: 100 % (every message)', ratio: s1 ? pctOf(s1.busiestShare) : '–', check: s1?.busiestShare, target: { op: '<=', value: s1 ? +s1.goal.toFixed(3) : 0.125, unit: ' (2/K)' }, runs: runs('S1'), chart: s1 && { label: 'S1 busiest share / (2/K)', value: s1.busiestShare / s1.goal } },
    { id: 'S2', measure: 'registry calls per warm invocation / per warm HTTP-trigger request', ours: s2 ? `${fmt(s2.perInvocation, 3)} / ${fmt(s2.perRequest, 3)} (${s2.n} each)` : '–', baseline: 'single engine: every call', ratio: s2 ? fmt(Math.max(s2.perInvocation, s2.perRequest), 3) : '–', check: s2 ? Math.max(s2.perInvocation, s2.perRequest) : NaN, target: { op: '<=', value: 0, unit: ' calls' }, runs: runs('S2') },
    { id: 'S3', measure: `createChannel p50 at the SDK vs GET /api/info (no object); objects left by unused channels`, ours: s3 ? `${fmt(s3.sdkP50, 2)} ms (p99 ${fmt(s3.sdkP99, 2)}); ${s3.unusedObjects} objects for ${s3.unusedChannels} unused channels` : '–', baseline: s3 ? `GET ${fmt(s3.getP50, 2)} ms; single engine's createChannel ${fmt(s3single?.sdkP50, 2)} ms` : '–', ratio: s3 ? `${fmt(s3.ratio, 2)}×` : '–', check: s3 && s3.unusedObjects === 0 ? s3.ratio : Infinity, target: { op: '<=', value: 1.5, unit: '×, 0 objects' }, runs: runs('S3'), chart: s3 && { label: 'S3 createChannel / plain GET (p50)', value: s3.ratio } },
    { id: 'S4', measure: `invocation round trip p50 (p99), ${CFG.s4Lat} sequential; ours vs the single engine (${BASELINE_COMMIT})`, ours: `${fmt(s4.o50, 2)} (${fmt(s4.o99, 2)}) ms`, baseline: `single engine ${fmt(s4.s50, 2)} (${fmt(s4.s99, 2)}) ms`, ratio: `${fmt(s4.o50 / s4.s50, 2)}×`, check: s4.o50 / s4.s50, target: { op: '<=', value: 1.3 }, runs: runs('S4:lat:ours', 'S4:lat:single'), chart: { label: 'S4 invocation p50 / single engine', value: s4.o50 / s4.s50 } },
    { id: 'S4b', measure: `invocations/s at concurrency 50 (${CFG.s4Rate} per run), one caller and one callee`, ours: `${fmt(s4.orate, 0)}/s`, baseline: `single engine ${fmt(s4.srate, 0)}/s`, ratio: `${fmt(s4.orate / s4.srate, 2)}×`, check: s4.orate, target: { op: '>=', value: 5000, unit: '/s' }, runs: runs('S4:rate:ours', 'S4:rate:single') },
    { id: 'S5', measure: `reconnect storm: ${s5?.workers ?? 50} SDK workers answering again after a redeploy`, ours: s5 ? `${fmt(s5.backMs / 1000, 2)} s` : '–', ratio: s5 ? `${fmt(s5.backMs / 1000, 2)} s` : '–', check: s5 ? s5.backMs / 1000 : NaN, target: { op: '<=', value: 5, unit: ' s' }, runs: runs('S5'), chart: s5 && { label: 'S5 reconnect storm / 5 s', value: s5.backMs / 5000 } },
  ]
  const memoryIds = (r) => r.id.startsWith('P5') || r.id === 'P9'
  const kept = rows.filter((r) => (memoryIds(r) ? RUN_P5 : RUN_P))
  rows.splice(0, rows.length, ...kept)
  if (RUN_S) rows.push(...scaleRows)
  const { d1, d2, d3 } = P
  const pairs = (d) => (d ? `${fmt(d.perSecond, 0)} set+get/s; p50 ${fmt(d.p50, 2)} (p99 ${fmt(d.p99, 2)}) ms` : '–')
  const dataRowList = [
    { id: 'D1', measure: `state::set + state::get round trips through the SDK, one key, concurrency ${CFG.dConc} (${CFG.dPairs} pairs)`, ours: pairs(d1), ratio: d1 ? `p50 ${fmt(d1.p50, 2)} ms` : '–', runs: runs('D1') },
    { id: 'D2', measure: `same, 100 keys over 10 scopes (10 state objects)`, ours: pairs(d2), ratio: d1 && d2 ? `${fmt(d2.perSecond / d1.perSecond, 2)}× D1` : '–', runs: runs('D2') },
    { id: 'D3', measure: `stream fan-out: one stream::set to a group with ${CFG.dSubs} live subscribers, until the last has it (${CFG.dFanRuns} sets)`, ours: d3 ? `p50 ${fmt(d3.p50, 2)} (p99 ${fmt(d3.p99, 2)}) ms` : '–', ratio: d3 ? `p50 ${fmt(d3.p50, 2)} ms` : '–', runs: runs('D3') },
  ]
  if (RUN_D) rows.push(...dataRowList)
  if (RUN_H) rows.push(...httpRowList(P.h, runs))
  const flood = (key, r, what, collector, noop = false) => ({
    id: key,
    measure: `canary echo (called every 20 ms by another SDK worker, 10 s timeout) while one raw socket sends ${what} in one burst${collector ? '' : ', wrangler dev without its local trace collector'}: p99 (p50, max), timeouts; ${noop ? 'when the engine was through the burst' : 'functions accepted and when the last is callable'}`,
    ours: r ? `p99 ${fmt(r.p99Answered, 0)} ms (p50 ${fmt(r.p50, 0)}, max ${fmt(r.max, 0)}), ${r.timeouts} timeouts of ${r.calls}; ${r.accepted ? `${r.accepted} accepted, last callable after ${fmt((r.lastCallableMs ?? NaN) / 1000, 2)} s` : `the burst handled after ${fmt((r.pongMs ?? NaN) / 1000, 2)} s`}${Object.keys(r.refusedTriggers).length ? `; triggers refused ${Object.entries(r.refusedTriggers).map(([c, n]) => `${n} ${c}`).join(', ')}` : ''}` : '–',
    baseline: r ? `before the flood p50 ${fmt(r.beforeP50, 1)} ms` : '',
    ratio: r ? `p99 ${fmt(r.p99Answered / 1000, 2)} s` : '–',
    check: r && r.timeouts === 0 && r.otherErrors.length === 0 ? r.p99 / 1000 : Infinity,
    target: { op: '<=', value: 1, unit: ' s p99, 0 timeouts' },
    runs: runs(key),
    // A timed-out call counts as 10 s; the bar stops at 5 (the chart's scale is ratios around 1).
    chart: r && { label: `${key} canary p99 under a flood / 1 s`, value: Math.min(5, (r.timeouts ? 10_000 : r.p99Answered) / 1000), target: { op: '<=', value: 1 } },
  })
  const fns = `${CFG.rFunctions.toLocaleString('en')} registerfunction`
  const withRoutes = `${fns} + ${CFG.rRoutes.toLocaleString('en')} http routes`
  const noops = `${CFG.rFunctions.toLocaleString('en')} messages the engine ignores (\`{"type":"pong"}\`: the platform's share)`
  if (RUN_R) {
    rows.push(flood('R7', P.r7, fns, true), flood('R7r', P.r7r, withRoutes, true), { ...flood('R7n', P.r7n, noops, true, true), target: undefined, chart: undefined })
    rows.push(flood('R7 (no collector)', P.r7nc, fns, false), flood('R7r (no collector)', P.r7rnc, withRoutes, false), { ...flood('R7n (no collector)', P.r7nnc, noops, false, true), target: undefined, chart: undefined })
  }
  const { o1 } = P
  const lat = (a, b) => `${fmt(a, 2)} (${fmt(b, 2)}) ms`
  if (RUN_O) {
    rows.push(
      { id: 'O1', measure: `invocation round trip p50 (p99), ${CFG.oLat} sequential, caller and callee in processes of their own: the SDK's OpenTelemetry on (spans; the callee writes a Logger record per call) vs off`, ours: `on ${lat(o1.on50, o1.on99)}`, baseline: `off ${lat(o1.off50, o1.off99)}`, ratio: `${fmt(o1.on50 / o1.off50, 2)}×`, check: o1.on50 / o1.off50, target: { op: '<=', value: 1.1 }, runs: runs('O1:on', 'O1:off'), chart: { label: 'O1 invocation p50, OTel on / off', value: o1.on50 / o1.off50 } },
      { id: 'O1c', measure: 'same, OpenTelemetry on and III_OTLP_ENDPOINT set (the edge makes its spans; everything goes on to a local collector), vs off without it', ours: `on + collector ${lat(o1.c50, o1.c99)}`, baseline: `off ${lat(o1.off50, o1.off99)}`, ratio: `${fmt(o1.c50 / o1.off50, 2)}×`, runs: runs('O1c:on') },
    )
  }
  if (RUN_Q) rows.push(...queueRowList(P.q, runs))
  if (RUN_A) rows.push(...endpointRowList(P.a, runs))
  // the charted P5/P8 bars are "value / budget": their target is 1
  for (const r of rows) if ((['P8', 'P5 (ii)', 'P9', 'S1', 'S5'].includes(r.id) || r.id.startsWith('P5 (i)')) && r.chart) r.chart.target = { op: '<=', value: 1 }
  for (const r of rows) if (r.id === 'S3' && r.chart) r.chart.target = { op: '<=', value: 1.5 }
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
