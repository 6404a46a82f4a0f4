// D1–D3: the data modules through the real iii-sdk — state::set + state::get round trips (one key,
// then 100 keys over 10 scopes) and stream fan-out to 100 live subscriber sockets.
import { registerWorker } from 'iii-sdk'
import WebSocket from 'ws'
import { within } from './clients.mjs'

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

/** One SDK worker that only calls builtins (nothing registered). */
export function dataWorker(proc) {
  return registerWorker(proc.wsUrl, { workerName: 'bench-data', otel: { enabled: false }, enableMetricsReporting: false })
}

/**
 * D1/D2: `n` state::set + state::get pairs, `concurrency` in flight, over `keys` keys spread over
 * `scopes` scopes (one object per scope). Each pair's time is one sample; the rate counts pairs.
 */
export async function stateRoundTrips(iii, { n, concurrency, keys, scopes, warmup = 100 }) {
  const run = `${Date.now()}`
  const target = (i) => {
    const k = i % keys
    return { scope: `bench-${run}-${k % scopes}`, key: `k${k}` }
  }
  const pair = async (i) => {
    const t = performance.now()
    const at = target(i)
    await within(iii.trigger({ function_id: 'state::set', payload: { ...at, value: { i } } }), 10_000, 'state::set')
    const got = await within(iii.trigger({ function_id: 'state::get', payload: at }), 10_000, 'state::get')
    if (typeof got?.i !== 'number') throw new Error(`state::get returned ${JSON.stringify(got)}`)
    return performance.now() - t
  }
  for (let i = 0; i < warmup; i++) await pair(i)
  const samples = []
  let next = 0
  const t0 = performance.now()
  const lane = async () => {
    while (next < n) samples.push(await pair(next++))
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
  const seconds = (performance.now() - t0) / 1000
  samples.sort((a, b) => a - b)
  return { perSecond: n / seconds, p50: pct(samples, 50), p99: pct(samples, 99) }
}

/**
 * D3: `subscribers` sockets joined to one stream group; `runs` times one stream::set, timed from
 * just before the call until the last subscriber has the change.
 */
export async function streamFanout(proc, iii, { subscribers, runs }) {
  const stream = `bench-${Date.now()}`
  const group = 'g'
  const sockets = []
  const waiting = new Map() // item id → { left, resolve }
  try {
    await Promise.all(
      Array.from({ length: subscribers }, async (_, s) => {
        const ws = new WebSocket(`${proc.wsUrl}/streams/${stream}/${group}`)
        sockets.push(ws)
        let synced
        const sync = new Promise((r) => (synced = r))
        ws.on('message', (data) => {
          const m = JSON.parse(String(data))
          if (m.event?.type === 'sync') return synced()
          const w = waiting.get(m.id)
          if (w && --w.left === 0) w.resolve(performance.now())
        })
        await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 10_000, 'subscriber socket')
        ws.send(JSON.stringify({ type: 'join', data: { subscriptionId: `s${s}`, streamName: stream, groupId: group } }))
        await within(sync, 10_000, 'subscriber sync')
      }),
    )
    const samples = []
    for (let r = 0; r < runs; r++) {
      const id = `i${r}`
      const all = new Promise((resolve) => waiting.set(id, { left: subscribers, resolve }))
      const t0 = performance.now()
      await within(iii.trigger({ function_id: 'stream::set', payload: { stream_name: stream, group_id: group, item_id: id, data: { r } } }), 10_000, 'stream::set')
      samples.push((await within(all, 10_000, `fan-out to ${subscribers} subscribers`)) - t0)
      waiting.delete(id)
    }
    samples.sort((a, b) => a - b)
    return { p50: pct(samples, 50), p99: pct(samples, 99), subscribers, runs }
  } finally {
    for (const ws of sockets) ws.terminate()
  }
}
