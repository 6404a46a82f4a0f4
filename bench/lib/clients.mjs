// The measurements that drive raw WebSocket clients (`ws`) through a relay: ours (POST /channels),
// the bare DO, the Node relay; and loopback TCP as the ceiling. Clocks are read in this process only.
import { randomUUID } from 'node:crypto'
import net from 'node:net'
import WebSocket from 'ws'
import { channelSocketUrl } from '../../public/_iii/client.js'
import { sleep } from './procs.mjs'

export const KiB = 1024
export const MiB = 1024 * 1024
const WRITER_HIGH_WATER = 4 * MiB
const OPTS = { perMessageDeflate: false, maxPayload: 0 }

/** A relay target: how to get a pair of socket URLs for a new channel. */
export function oursTarget(proc) {
  return {
    name: 'ours',
    async channel() {
      const res = await fetch(`${proc.baseUrl}/channels`, { method: 'POST' })
      if (res.status !== 201) throw new Error(`POST /channels: ${res.status}`)
      const { writer, reader } = await res.json()
      return { writeUrl: channelSocketUrl(proc.wsUrl, writer), readUrl: channelSocketUrl(proc.wsUrl, reader), writer, reader }
    },
  }
}
export function relayTarget(name, proc) {
  return {
    name,
    async channel() {
      const id = randomUUID()
      return { writeUrl: `${proc.wsUrl}/ws/${id}?dir=write`, readUrl: `${proc.wsUrl}/ws/${id}?dir=read` }
    },
  }
}

/** Opens a socket; listeners given are attached before the handshake ends. */
export function open(url, onMessage) {
  const ws = new WebSocket(url, OPTS)
  if (onMessage) ws.on('message', onMessage)
  const closed = new Promise((res) => ws.once('close', (code, reason) => res({ code, reason: String(reason) })))
  ws.on('error', () => {})
  const opened = new Promise((res, rej) => {
    ws.once('open', res)
    ws.once('unexpected-response', (_q, r) => rej(new Error(`upgrade refused ${r.statusCode}`)))
    ws.once('error', rej)
    closed.then(() => rej(new Error('closed before open')))
  })
  return { ws, opened, closed }
}

function drained(ws) {
  return new Promise((res) => {
    const done = () => {
      clearTimeout(t)
      ws._socket?.off('drain', done)
      res()
    }
    const t = setTimeout(done, 20)
    ws._socket?.once('drain', done)
  })
}

/** 64 KiB frames stamped with their index (first 8 bytes), so order is checked without hashing. */
const base = Buffer.alloc(64 * KiB)
for (let i = 0; i < base.length; i++) base[i] = (i * 7 + (i >> 9)) & 255
export function frameAt(i, size = 64 * KiB) {
  const f = Buffer.allocUnsafe(size)
  base.copy(f, 0, 0, size)
  f.writeUInt32BE(i >>> 0, 0)
  return f
}

/** Writer at full speed (≤ 4 MiB queued in Node), then Close 1000. */
export async function writeFrames(ws, count, make, { closeAfter = true, isClosed = () => false } = {}) {
  for (let i = 0; i < count; i++) {
    if (isClosed()) throw new Error(`writer closed by peer after ${i} frames: ${JSON.stringify(isClosed())}`)
    if (ws.bufferedAmount > WRITER_HIGH_WATER) await drained(ws)
    ws.send(make(i))
  }
  while (ws.bufferedAmount > 0 && !isClosed()) await drained(ws)
  if (closeAfter) ws.close(1000, 'stream_complete')
}

/** Reader counting binary bytes and checking the frame stamps; resolves at its Close (or timeout). */
export function binaryReader(url, { expectFrames, pause } = {}) {
  const st = { bytes: 0, frames: 0, orderOk: true, tFirst: 0, tLast: 0 }
  let all
  const gotAll = new Promise((res) => (all = res))
  const s = open(url, (d, bin) => {
    if (!bin) return
    if (st.frames === 0) st.tFirst = performance.now()
    if (d.length >= 4 && d.readUInt32BE(0) !== st.frames >>> 0) st.orderOk = false
    st.frames++
    st.bytes += d.length
    st.tLast = performance.now()
    pause?.(s.ws, d.length)
    if (st.frames === expectFrames) all()
  })
  // Done at its Close, or 2 s after the last expected frame (workerd may hold a closed socket's TCP ~10 s).
  const done = Promise.race([s.closed, gotAll.then(() => Promise.race([s.closed, sleep(2000).then(() => ({ code: 0, reason: 'no close within 2 s' }))]))])
  return { ...s, st, done: done.then((c) => (s.ws.terminate(), { ...st, close: c, expectFrames })) }
}

/** `p`, or a rejection after `ms` (the timer is cleared once `p` settles). */
export function within(p, ms, what) {
  let t
  const timeout = new Promise((_, rej) => (t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms / 1000} s`)), ms)))
  return Promise.race([p, timeout]).finally(() => clearTimeout(t))
}

/** P1/P2/P7-raw: `bytes` in 64 KiB binary frames writer → relay → reader (reader first). MB/s. */
export async function throughput(target, bytes, { timeoutMs = 120_000 } = {}) {
  const frames = Math.ceil(bytes / (64 * KiB))
  const { writeUrl, readUrl } = await target.channel()
  const r = binaryReader(readUrl, { expectFrames: frames })
  await r.opened
  const w = open(writeUrl)
  await w.opened
  let wClosed = false
  w.closed.then((c) => (wClosed = c))
  const t0 = performance.now()
  await within(writeFrames(w.ws, frames, (i) => frameAt(i), { isClosed: () => wClosed }), timeoutMs, `${target.name} writer`)
  const tWritten = performance.now()
  const res = await within(r.done, timeoutMs, `${target.name} reader`)
  const bytesExpected = frames * 64 * KiB
  if (res.bytes !== bytesExpected || !res.orderOk) throw new Error(`${target.name}: got ${res.bytes}/${bytesExpected} bytes, order ${res.orderOk}, reader close ${JSON.stringify(res.close)}, writer close ${JSON.stringify(wClosed)}`)
  const s = (res.tLast - t0) / 1000
  return { MBps: bytesExpected / 1e6 / s, seconds: s, writerSeconds: (tWritten - t0) / 1000, lost: bytesExpected - res.bytes }
}

/** P3: `count` 1 KiB text frames; frames/s measured at the reader. */
export async function textRate(target, count, { timeoutMs = 120_000 } = {}) {
  const { writeUrl, readUrl } = await target.channel()
  const pad = 'x'.repeat(1024 - 8)
  let n = 0
  let orderOk = true
  let tLast = 0
  let all
  const gotAll = new Promise((res) => (all = res))
  const r = open(readUrl, (d, bin) => {
    if (bin) return
    if (Number(d.toString('latin1', 0, 8)) !== n) orderOk = false
    n++
    tLast = performance.now()
    if (n === count) all()
  })
  await r.opened
  const w = open(writeUrl)
  await w.opened
  let wClosed = false
  w.closed.then((c) => (wClosed = c))
  const t0 = performance.now()
  await within(writeFrames(w.ws, count, (i) => String(i).padStart(8, '0') + pad, { isClosed: () => wClosed }), timeoutMs, 'text writer')
  await within(Promise.race([r.closed, gotAll.then(() => Promise.race([r.closed, sleep(2000)]))]), timeoutMs, 'text reader')
  r.ws.terminate()
  if (n !== count || !orderOk) throw new Error(`${target.name}: text frames ${n}/${count}, order ${orderOk}`)
  return { fps: count / ((tLast - t0) / 1000) }
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

/** P4: one frame writer → reader, sequentially `samples` times (after `warmup`); ms p50/p99. */
export async function latency(target, samples, { warmup = 200, size = 64, timeoutMs = 60_000 } = {}) {
  const { writeUrl, readUrl } = await target.channel()
  let wake = null
  const r = open(readUrl, () => wake?.())
  await r.opened
  const w = open(writeUrl)
  await w.opened
  const payload = Buffer.alloc(size, 1)
  const out = []
  const deadline = Date.now() + timeoutMs
  for (let i = 0; i < warmup + samples; i++) {
    if (Date.now() > deadline) throw new Error(`${target.name} latency: timed out at sample ${i}`)
    const got = new Promise((res) => (wake = res))
    const t = performance.now()
    w.ws.send(payload)
    await within(got, 10_000, 'latency sample')
    if (i >= warmup) out.push(performance.now() - t)
  }
  w.ws.terminate()
  r.ws.terminate()
  out.sort((a, b) => a - b)
  return { p50: pct(out, 50), p99: pct(out, 99) }
}

/** (c) loopback TCP: the same byte count over a net socket pair in this process. MB/s. */
export async function tcpThroughput(bytes) {
  const chunk = frameAt(0)
  const frames = Math.ceil(bytes / chunk.length)
  const total = frames * chunk.length
  let got = 0
  let tEnd = 0
  const srvDone = new Promise((res) => {
    const srv = net.createServer((s) => {
      s.on('data', (d) => {
        got += d.length
        if (got >= total) {
          tEnd = performance.now()
          s.destroy()
          srv.close()
          res()
        }
      })
    })
    srv.listen(0, '127.0.0.1', () => {
      const c = net.connect(srv.address().port, '127.0.0.1', async () => {
        t0 = performance.now()
        for (let i = 0; i < frames; i++) if (!c.write(chunk)) await new Promise((r) => c.once('drain', r))
        c.end()
      })
      c.on('error', () => {})
    })
  })
  let t0 = 0
  await within(srvDone, 60_000, 'tcp')
  return { MBps: total / 1e6 / ((tEnd - t0) / 1000) }
}
