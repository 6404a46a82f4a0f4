// P5 (memory and storage rows with an absent or slow reader) and P6 (many channels), each on a fresh
// `wrangler dev` so the workerd RSS baseline is clean. (The one slow-reader bench of the project.)
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import WebSocket from 'ws'
import { binaryReader, frameAt, open, oursTarget, relayTarget, within, writeFrames, KiB, MiB } from './clients.mjs'
import { ROOT, rssSampler, sleep, sourceSnapshot, startWrangler } from './procs.mjs'

/** Reader pacing with ws.pause()/resume(): at most rateBps, in 50 ms slices. */
function pacer(rateBps) {
  const tick = 50
  let budget = (rateBps * tick) / 1000
  let ws = null
  const timer = setInterval(() => {
    budget = (rateBps * tick) / 1000
    if (ws?.isPaused) ws.resume()
  }, tick)
  return {
    onFrame(socket, len) {
      ws = socket
      budget -= len
      if (budget <= 0 && !socket.isPaused) socket.pause()
    },
    stop: () => clearInterval(timer),
  }
}

/**
 * P5, one channel on a fresh `wrangler dev` (a clean RSS baseline). mode 'absent': the reader
 * connects only after the writer finished (Close 1000). 'slow': a raw ws reader, connected from the
 * start, reads at `rateBps` (no signal to the channel). 'client': the project's own client
 * (public/_iii/client.js, flow control with a 1 MiB window) reads at `rateBps`: the channel keeps
 * the rest in storage. 'fast': a raw reader at full speed (nothing stored); with `bare` the same on
 * the bare Durable Object relay, the platform's own share of memory.
 * Returns workerd's RSS growth (peak − baseline), bytes lost, the rows the channel wrote and the
 * bytes it stored (III_COUNTERS), and after an absent reader's write what V8 holds.
 */
export async function slowReaderRun(mode, bytes, { rateBps, bare = false, timeoutMs = 300_000 } = {}) {
  const proc = bare
    ? await startWrangler({ label: `bare DO (P5 ${mode})`, config: 'bench/bare-do/wrangler.toml' })
    : await startWrangler({ label: `ours (P5 ${mode})`, cwd: sourceSnapshot(), vars: { III_COUNTERS: '1' } })
  try {
    const target = bare ? relayTarget('bare', proc) : oursTarget(proc)
    const frames = Math.ceil(bytes / (64 * KiB))
    const { writeUrl, readUrl, writer, reader } = await target.channel()
    await sleep(1000)
    const rss = rssSampler(proc.pids, 100)
    const baseline = rss.now()
    const pace = mode === 'slow' ? pacer(rateBps) : null // 'client' paces itself
    let r = null
    if (mode === 'slow' || mode === 'fast') {
      r = binaryReader(readUrl, { expectFrames: frames, pause: pace?.onFrame })
      await r.opened
    } else if (mode === 'client') {
      r = await clientReader(proc.baseUrl, reader, rateBps)
    }
    const w = open(writeUrl)
    await w.opened
    let wClosed = false
    w.closed.then((c) => (wClosed = c))
    const t0 = performance.now()
    await within(writeFrames(w.ws, frames, (i) => frameAt(i), { isClosed: () => wClosed }), timeoutMs, 'P5 writer')
    const writerS = (performance.now() - t0) / 1000
    const peakWriting = rss.peak()
    let heap = null
    if (mode === 'absent') {
      await within(w.closed, 15_000, 'P5 writer close').catch(() => {})
      heap = await v8Heap(proc.inspectorPort).catch(() => null)
      r = binaryReader(readUrl, { expectFrames: frames })
    }
    const res = await within(r.done, timeoutMs, 'P5 reader')
    pace?.stop()
    const peak = rss.peak()
    rss.stop()
    const expected = frames * 64 * KiB
    const storage = bare ? null : await channelStorage(proc, writer.channel_id).catch(() => null)
    return {
      growthMiB: (peak - baseline) / MiB,
      growthWritingMiB: (peakWriting - baseline) / MiB,
      baselineMiB: baseline / MiB,
      lostBytes: expected - res.bytes,
      orderOk: res.orderOk,
      readerClose: res.close.code,
      writerMBps: expected / 1e6 / writerS,
      readerMBps: expected / 1e6 / ((res.tLast - (res.tFirst || t0)) / 1000),
      rowsWritten: storage?.rows_written ?? null,
      bytesStored: storage?.bytes_stored ?? null,
      v8UsedMiB: heap ? heap.usedSize / MiB : null,
      v8ArrayBuffersMiB: heap ? heap.backingStorageSize / MiB : null,
      wranglerSays: res.bytes === expected ? undefined : wranglerErrors(proc),
    }
  } catch (e) {
    // what workerd said (e.g. an object reset) is the useful part of a failure
    const says = wranglerErrors(proc)
    throw new Error(`${e.message}${says ? ` | wrangler: ${says}` : ''}`)
  } finally {
    await proc.stop()
  }
}

/** What a channel wrote to storage in its life: it tells its status object when it ends (III_COUNTERS). */
async function channelStorage(proc, channelId) {
  for (let i = 0; i < 50; i++) {
    const res = await fetch(`${proc.baseUrl}/api/counters`)
    const storage = res.ok ? (await res.json()).status?.storage?.[channelId] : undefined
    if (storage) return storage
    await sleep(100)
  }
  throw new Error('the channel did not report its storage')
}

/** What V8 holds in the Worker's isolate (JS heap and ArrayBuffer memory), from its inspector. */
async function v8Heap(inspectorPort) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()
  const url = targets.find((t) => t.webSocketDebuggerUrl)?.webSocketDebuggerUrl
  if (!url) throw new Error('no inspector target')
  const ws = new WebSocket(url)
  try {
    await new Promise((res, rej) => (ws.once('open', res), ws.once('error', rej)))
    const reply = new Promise((res) =>
      ws.on('message', (d) => {
        const m = JSON.parse(String(d))
        if (m.id === 1) res(m.result)
      }),
    )
    ws.send(JSON.stringify({ id: 1, method: 'Runtime.getHeapUsage' }))
    return await within(reply, 10_000, 'inspector')
  } finally {
    ws.close()
  }
}

/** P5 (ii): our web client reading at `rateBps`, checking the frame stamps in the byte stream. */
async function clientReader(baseUrl, ref, rateBps) {
  const { openChannel } = await import(pathToFileURL(join(ROOT, 'public/_iii/client.js')).href)
  const reader = await openChannel(baseUrl, ref, { window: MiB })
  const st = { bytes: 0, orderOk: true, tFirst: 0, tLast: 0 }
  const done = (async () => {
    let close = { code: 1000 }
    try {
      for await (const chunk of reader.readable) {
        if (st.bytes === 0) st.tFirst = performance.now()
        // Frames are 64 KiB: a stamp sits at every 64 KiB boundary inside the stream.
        for (let at = (64 * KiB - (st.bytes % (64 * KiB))) % (64 * KiB); at + 4 <= chunk.byteLength; at += 64 * KiB) {
          const frame = (st.bytes + at) / (64 * KiB)
          if (new DataView(chunk.buffer, chunk.byteOffset + at, 4).getUint32(0) !== frame >>> 0) st.orderOk = false
        }
        st.bytes += chunk.byteLength
        st.tLast = performance.now()
        await sleep((chunk.byteLength / rateBps) * 1000) // the slow consumer
      }
    } catch (e) {
      close = { code: e.code ?? 0, reason: e.message }
    }
    return { ...st, close }
  })()
  return { done }
}

function wranglerErrors(proc) {
  return proc
    .output()
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((l) => /error|exceeded|reset|memory|abort/i.test(l))
    .slice(-5)
    .join(' / ')
    .slice(0, 600)
}

async function pool(n, concurrency, fn) {
  const out = new Array(n)
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++
        out[i] = await fn(i)
      }
    }),
  )
  return out
}

/**
 * P6. N channels: create them, open both ends (idle) and measure workerd RSS per channel; then
 * every writer sends `perChannel` bytes at once; total time until every reader has all of it.
 */
export async function manyChannels(n, perChannel, { timeoutMs = 240_000, onProgress } = {}) {
  const proc = await startWrangler({ label: `ours (P6 N=${n})`, cwd: sourceSnapshot() })
  const sockets = []
  try {
    const target = oursTarget(proc)
    await sleep(1000)
    const rss = rssSampler(proc.pids, 200)
    const baseline = rss.now()
    const tCreate = performance.now()
    const chans = await within(pool(n, 16, () => target.channel()), timeoutMs, 'P6 create')
    const createS = (performance.now() - tCreate) / 1000
    onProgress?.(`created ${n} channels in ${createS.toFixed(1)} s`)
    const frames = Math.ceil(perChannel / (64 * KiB))
    const pairs = await within(
      pool(n, 32, async (i) => {
        const r = binaryReader(chans[i].readUrl, { expectFrames: frames })
        sockets.push(r.ws)
        await r.opened
        const w = open(chans[i].writeUrl)
        sockets.push(w.ws)
        await w.opened
        return { r, w }
      }),
      timeoutMs,
      'P6 open',
    )
    const tOpen = performance.now()
    onProgress?.(`opened ${2 * n} sockets in ${((tOpen - tCreate) / 1000 - createS).toFixed(1)} s`)
    await sleep(3000)
    const idle = rss.now()
    const t0 = performance.now()
    const results = await within(
      Promise.all(
        pairs.map(async ({ r, w }) => {
          let wClosed = false
          w.closed.then((c) => (wClosed = c))
          await writeFrames(w.ws, frames, (i) => frameAt(i), { isClosed: () => wClosed })
          return r.done
        }),
      ),
      timeoutMs,
      'P6 transfer',
    )
    const totalS = (performance.now() - t0) / 1000
    const peak = rss.peak()
    rss.stop()
    const expected = frames * 64 * KiB
    const correct = results.filter((x) => x.bytes === expected && x.orderOk).length
    return {
      n,
      totalS,
      correct,
      createS,
      idlePerChannelKiB: (idle - baseline) / n / KiB,
      idleDeltaMiB: (idle - baseline) / MiB,
      peakMiB: peak / MiB,
      MBps: (n * expected) / 1e6 / totalS,
    }
  } finally {
    for (const s of sockets) s.terminate()
    await proc.stop()
  }
}
