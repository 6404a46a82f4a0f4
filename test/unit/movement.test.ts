// The page's live charts (public/_iii/movement.js): counters from status snapshots in, rates out.
import { describe, expect, it } from 'vitest'
import { MAX_LINES, Movement, WINDOW_MS, linePath, niceBytes, niceMax } from '../../public/_iii/movement.js'

const MB = 1_000_000
const snap = (channels: Record<string, number>, workers: Record<string, number> = {}) => ({
  channels: Object.entries(channels).map(([channel_id, bytes_out]) => ({ channel_id, bytes_out })),
  workers: Object.entries(workers).map(([id, invocations]) => ({ id, invocations })),
})

describe('Movement', () => {
  it('turns counters into per-second rates between two snapshots, per channel and for invocations', () => {
    const m = new Movement()
    m.add(snap({ a: 10 * MB, b: 0 }, { w1: 100, w2: 5 }), 1_000)
    expect(m.points).toEqual([]) // one snapshot says nothing about speed
    m.add(snap({ a: 14 * MB, b: MB }, { w1: 150, w2: 15 }), 3_000)
    expect(m.points).toHaveLength(1)
    expect(Object.fromEntries(m.points[0]!.channels)).toEqual({ a: 2 * MB, b: MB / 2 })
    expect(m.invocationSeries()).toEqual([30])
  })

  it('counts a channel or worker seen for the first time from zero, and a counter that went down (a restarted session) from zero', () => {
    const m = new Movement()
    m.add(snap({}, { w1: 500 }), 0)
    m.add(snap({ fresh: 3 * MB }, { w1: 20, w2: 4 }), 1_000)
    expect(Object.fromEntries(m.points[0]!.channels)).toEqual({ fresh: 3 * MB })
    expect(m.invocationSeries()).toEqual([24])
  })

  it("spreads a new channel's first bytes over its age by the server's clock (it is listed after a second), not over one interval", () => {
    const m = new Movement()
    m.add(snap({}), 0)
    const listed = { channel_id: 'slow', bytes_out: 6 * MB, opened_at_ms: 50_000, updated_at_ms: 53_000 } // 3 s old
    const young = { channel_id: 'young', bytes_out: MB, opened_at_ms: 52_900, updated_at_ms: 53_000 } // younger than the interval
    m.add({ channels: [listed, young] }, 1_000)
    expect(Object.fromEntries(m.points[0]!.channels)).toEqual({ slow: 2 * MB, young: MB })
  })

  it('leaves a gap (null, not zero) after a long pause, and forgets points older than the window', () => {
    const m = new Movement()
    m.add(snap({ a: 0 }, { w: 0 }), 0)
    m.add(snap({ a: MB }, { w: 10 }), 1_000)
    m.add(snap({ a: 2 * MB }, { w: 20 }), 30_000) // the tab slept: no rate for those 29 s
    m.add(snap({ a: 3 * MB }, { w: 30 }), 31_000)
    expect(m.invocationSeries()).toEqual([10, null, 10])
    expect(m.channelSeries()[0]!.values).toEqual([MB, null, MB])
    m.add(snap({ a: 4 * MB }, { w: 40 }), 1_000 + WINDOW_MS + 1) // 30 s later: another gap
    expect(m.points.map((p) => p.at)).toEqual([29_999, 31_000, 61_000]) // the point at 1 s left the window
  })

  it(`draws the ${MAX_LINES} busiest channels as lines and sums the rest into one, skipping channels that moved nothing`, () => {
    const m = new Movement()
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'idle']
    m.add(snap(Object.fromEntries(ids.map((id) => [id, 0]))), 0)
    m.add(snap(Object.fromEntries(ids.map((id, i) => [id, id === 'idle' ? 0 : (i + 1) * MB]))), 1_000)
    const series = m.channelSeries()
    expect(series.map((s) => s.id)).toEqual(['c7', 'c6', 'c5', 'c4', 'c3', 'other'])
    expect(series.at(-1)).toMatchObject({ label: '2 other channels', values: [3 * MB] })
  })

  it('gives a finished channel no value once it is no longer listed (its line ends)', () => {
    const m = new Movement()
    m.add(snap({ a: 0, b: 0 }), 0)
    m.add(snap({ a: MB, b: MB }), 1_000)
    m.add(snap({ b: 2 * MB }), 2_000)
    expect(m.channelSeries().find((s) => s.id === 'a')!.values).toEqual([MB, null])
  })
})

describe('chart scale and paths', () => {
  it('rounds the top of the scale up to 1, 2 or 5 × 10^k', () => {
    expect([0, 0.3, 1, 1.2, 3, 7, 10, 11, 4_900_000].map((v) => niceMax(v))).toEqual([1, 1, 1, 2, 5, 10, 10, 20, 5_000_000])
    expect(niceMax(10, 1024)).toBe(2000)
  })

  it('rounds a bytes scale in binary units, from 1 KiB', () => {
    const KiB = 1024
    const MiB = KiB * KiB
    const GiB = MiB * KiB
    expect([0, 500, 1500, 900 * KiB, 1010 * KiB, 3 * MiB, 47.7 * MiB, 3000 * GiB].map(niceBytes)).toEqual([
      KiB, KiB, 2 * KiB, 1000 * KiB, MiB, 5 * MiB, 50 * MiB, 5000 * GiB,
    ])
  })

  it('maps the window onto the width and 0..max onto the height, breaking the line at a gap', () => {
    const box = { now: WINDOW_MS, max: 10, width: 600, height: 100 }
    expect(linePath([0, 5, null, 10, 20], [0, 30_000, 40_000, 50_000, WINDOW_MS], box)).toBe(
      'M0.0,100.0l0,0L300.0,50.0M500.0,0.0l0,0L600.0,0.0',
    )
    expect(linePath([null], [0], box)).toBe('')
  })
})
