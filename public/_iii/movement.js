// @ts-check
// The page's live charts, without the DOM: status snapshots in (one a second from the status
// stream, or every 2 s when polling), rates out — bytes/s delivered by each open channel and
// invocations/s in the namespace — and the SVG paths that draw them. The server sends counters
// only (`bytes_out` per channel, `invocations` per worker); the rates are the change between two
// snapshots divided by the time between them. Pure, so test/unit/movement.test.ts runs it in Node.

/** How far back the charts look. */
export const WINDOW_MS = 60_000
/** Channels drawn as their own line; the rest are summed into one "other channels" line. */
export const MAX_LINES = 5
/** A gap longer than this between two snapshots (tab asleep, stream lost) gives no rate: unknown, not zero. */
const MAX_GAP_MS = 10_000

/**
 * @typedef {{ channel_id: string, bytes_out: number, opened_at_ms?: number, updated_at_ms?: number }} ChannelCounters
 * @typedef {{ id: string, invocations?: number }} WorkerCounters
 * @typedef {{ channels?: ChannelCounters[], workers?: WorkerCounters[] }} StatusCounters
 * @typedef {{ at: number, channels: Map<string, number>, invocations: number }} Point
 *   One interval's rates, at its end: bytes/s by channel and invocations/s.
 * @typedef {{ id: string, label: string, values: (number | null)[], total: number }} Series
 */

export class Movement {
  /** @type {{ at: number, channels: Map<string, number>, workers: Map<string, number> } | null} */
  #last = null
  /** @type {Point[]} */
  #points = []

  /**
   * One status snapshot, taken at `at` (ms). A channel seen for the first time (a channel is listed
   * once it has lived a second) counts its bytes over its age, as the server's clock gives it, or
   * over this interval if that is longer; a new worker counts all its invocations in this interval;
   * a counter that went down (an evicted session starts at 0 again) counts from 0.
   * @param {StatusCounters} status
   * @param {number} at
   */
  add(status, at) {
    const channels = new Map((status.channels ?? []).map((c) => [c.channel_id, Number(c.bytes_out) || 0]))
    const ages = new Map((status.channels ?? []).map((c) => [c.channel_id, ((c.updated_at_ms ?? 0) - (c.opened_at_ms ?? Infinity)) / 1000]))
    const workers = new Map((status.workers ?? []).map((w) => [w.id, Number(w.invocations) || 0]))
    const last = this.#last
    this.#last = { at, channels, workers }
    if (last && at - last.at > MAX_GAP_MS) this.#points.push({ at: at - 1, channels: new Map(), invocations: NaN })
    if (!last || at <= last.at || at - last.at > MAX_GAP_MS) return this.#trim(at)
    const seconds = (at - last.at) / 1000
    const moved = (/** @type {number} */ now, /** @type {number | undefined} */ before) => (before === undefined || now < before ? now : now - before)
    const rates = new Map()
    for (const [id, bytes] of channels) {
      const before = last.channels.get(id)
      rates.set(id, moved(bytes, before) / (before === undefined ? Math.max(seconds, ages.get(id) || 0) : seconds))
    }
    let calls = 0
    for (const [id, n] of workers) calls += moved(n, last.workers.get(id))
    this.#points.push({ at, channels: rates, invocations: calls / seconds })
    this.#trim(at)
  }

  /** Forgets everything (another namespace is shown). */
  reset() {
    this.#last = null
    this.#points = []
  }

  /** @param {number} now */
  #trim(now) {
    const from = this.#points.findIndex((p) => p.at >= now - WINDOW_MS)
    this.#points.splice(0, from === -1 ? this.#points.length : from)
  }

  /** The points in the window, oldest first. */
  get points() {
    return this.#points
  }

  /**
   * The channel lines: the MAX_LINES channels that moved most bytes in the window, then one line
   * summing the others (only when there are others). A value is null where the channel was not
   * listed (not open yet, or finished): the line has a gap there.
   * @returns {Series[]}
   */
  channelSeries() {
    const totals = new Map()
    for (const p of this.#points) for (const [id, r] of p.channels) totals.set(id, (totals.get(id) ?? 0) + r)
    const ranked = [...totals].filter(([, t]) => t > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    const shown = ranked.slice(0, MAX_LINES).map(([id]) => id)
    /** @type {Series[]} */
    const series = shown.map((id) => ({
      id,
      label: id.slice(0, 8),
      values: this.#points.map((p) => p.channels.get(id) ?? null),
      total: totals.get(id),
    }))
    const others = ranked.slice(MAX_LINES)
    if (others.length) {
      const ids = new Set(others.map(([id]) => id))
      series.push({
        id: 'other',
        label: `${others.length} other channel${others.length === 1 ? '' : 's'}`,
        values: this.#points.map((p) => [...p.channels].reduce((n, [id, r]) => (ids.has(id) ? n + r : n), 0)),
        total: others.reduce((n, [, t]) => n + t, 0),
      })
    }
    return series
  }

  /** Invocations per second, one value per point (null across a gap). @returns {(number | null)[]} */
  invocationSeries() {
    return this.#points.map((p) => (Number.isNaN(p.invocations) ? null : p.invocations))
  }
}

/**
 * The smallest 1, 2 or 5 × 10^k at or above `value` (at least `floor`): the top of a chart's scale,
 * so its label reads as a round number.
 * @param {number} value
 * @param {number} [floor]
 */
export function niceMax(value, floor = 1) {
  const v = Math.max(value, floor)
  const power = 10 ** Math.floor(Math.log10(v))
  for (const step of [1, 2, 5, 10]) if (step * power >= v) return step * power
  return 10 * power
}

/**
 * niceMax for bytes, in the page's binary units: 1, 2, 5, 10, 20, 50, 100, 200 or 500 of KiB, MiB
 * or GiB (1 KiB at least), so the label reads "50 MiB/s" rather than "47.7 MiB/s".
 * @param {number} value
 */
export function niceBytes(value) {
  let unit = 1024
  while (unit < 2 ** 30 && value >= unit * 1024) unit *= 1024
  return Math.min(niceMax(value / unit), unit === 2 ** 30 ? Infinity : 1024) * unit
}

/**
 * An SVG path for one series: x from the points' times across [now - WINDOW_MS, now], y from 0
 * (bottom) to `max` (top; higher values are drawn at the top). A null value breaks the line.
 * @param {(number | null)[]} values
 * @param {number[]} times
 * @param {{ now: number, max: number, width: number, height: number }} box
 */
export function linePath(values, times, { now, max, width, height }) {
  const x = (/** @type {number} */ t) => ((t - (now - WINDOW_MS)) / WINDOW_MS) * width
  const y = (/** @type {number} */ v) => height - (Math.min(v, max) / max) * height
  let d = ''
  let open = false
  values.forEach((v, i) => {
    const t = times[i]
    if (v === null || !Number.isFinite(v) || t === undefined) {
      open = false
      return
    }
    const at = `${x(t).toFixed(1)},${y(v).toFixed(1)}`
    // Each run starts with a zero-length segment: with round caps a lone point still shows as a dot.
    d += open ? `L${at}` : `M${at}l0,0`
    open = true
  })
  return d
}
