// What every FrameStore must do, as plain cases: the unit tests run them on the in-memory store,
// the workers tests on the SQLite store (inside a Durable Object), so the fake cannot drift from
// the real thing. Each case gets a fresh store and a way to "wake" it, as an evicted object would.
import { expect } from 'vitest'
import type { DurableFrameStore } from '../../src/channel/core'
import { type Frame, frameBytes } from '../../src/channel/frame'

export interface StoreUnderTest {
  store: DurableFrameStore
  /** The store as a freshly woken object finds it (same storage, nothing in memory). */
  wake(): DurableFrameStore
  /** Frame bytes in one storage row (the SQLite store runs the cases with small rows). */
  rowBytes: number
}

const show = (frames: readonly Frame[]) =>
  frames.map((f) => (typeof f === 'string' ? `text:${JSON.stringify(f)}` : `bin:${Array.from(f).join(',')}`))

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i * 7) & 255)

// Text and binary, empty ones, multi-byte UTF-8 ('é€😀' is 9 bytes).
const mixed: Frame[] = ['hello', bytes(3, 1), '', new Uint8Array(0), 'é€😀', bytes(2, 2)]

/** Reads everything from `from` on, slice by slice, as the channel's drain does. */
function readAll(store: DurableFrameStore, from: number, slice = 1 << 30): Frame[] {
  const out: Frame[] = []
  for (;;) {
    const got = store.read(from + out.length, slice)
    if (got.length === 0) return out
    out.push(...got)
  }
}

export const frameStoreCases: { name: string; run: (t: StoreUnderTest) => void }[] = [
  {
    name: 'gives back frames in order, text as text and binary as binary, empty ones included',
    run: ({ store }) => {
      store.append(0, mixed.slice(0, 2))
      store.append(2, mixed.slice(2))
      expect(show(readAll(store, 0))).toEqual(show(mixed))
      expect(show(store.read(4, 1 << 30))).toEqual(show(mixed.slice(4)))
    },
  },
  {
    name: 'stops a read once maxBytes is reached, with at least one frame',
    run: ({ store }) => {
      store.append(0, ['1234', '5678', '9abc'])
      expect(store.read(0, 5)).toEqual(['1234', '5678'])
      expect(store.read(0, 4)).toEqual(['1234'])
      expect(store.read(0, 1)).toEqual(['1234'])
      expect(store.read(1, 1 << 30)).toEqual(['5678', '9abc'])
      expect(store.read(3, 1 << 30)).toEqual([])
    },
  },
  {
    name: 'splits a frame larger than a row and joins it again',
    run: ({ store, rowBytes }) => {
      const big = bytes(3 * rowBytes + 17, 3)
      const bigText = 'ü'.repeat(rowBytes) // 2 bytes each: two rows and more
      const frames: Frame[] = ['before', big, bigText, 'after']
      store.append(0, frames)
      expect(show(readAll(store, 0, 10))).toEqual(show(frames))
      expect(show(store.read(2, 1))).toEqual(show([bigText]))
    },
  },
  {
    name: 'after a wake, holds what was stored and not delivered, bytes counted in UTF-8',
    run: (t) => {
      const frames = Array.from({ length: 10 }, (_, i): Frame => (i % 2 ? bytes(i * 5, i) : `frame ${i} é`))
      t.store.append(0, frames.slice(0, 4))
      t.store.append(4, frames.slice(4))
      expect(t.store.read(0, 1)).toHaveLength(1)
      t.store.dropBelow(3) // as if the reader had taken frames 0..2 (read in any slices)
      const woken = t.wake()
      const undelivered = frames.slice(3)
      expect(woken.restore(3)).toEqual({ from: 3, to: 10, bytes: undelivered.reduce((n, f) => n + frameBytes(f), 0) })
      expect(show(readAll(woken, 3))).toEqual(show(undelivered))
    },
  },
  {
    name: 'after a wake with no reader yet, holds everything stored',
    run: (t) => {
      t.store.append(5, ['a', 'bb'])
      const woken = t.wake()
      expect(woken.restore(null)).toEqual({ from: 5, to: 7, bytes: 3 })
      expect(readAll(woken, 5)).toEqual(['a', 'bb'])
    },
  },
  {
    name: 'an empty store wakes empty',
    run: (t) => {
      const range = t.wake().restore(null)
      expect(range.to - range.from).toBe(0)
      expect(range.bytes).toBe(0)
    },
  },
  {
    name: 'goes on after everything was delivered, and after a wake then',
    run: (t) => {
      t.store.append(0, ['a', 'b'])
      expect(readAll(t.store, 0)).toEqual(['a', 'b'])
      t.store.dropBelow(2)
      t.store.append(2, ['c'])
      expect(readAll(t.store, 2)).toEqual(['c'])
      t.store.dropBelow(3)
      const woken = t.wake()
      expect(woken.restore(3)).toEqual({ from: 3, to: 3, bytes: 0 })
      woken.append(3, ['d', 'e'])
      expect(readAll(woken, 3)).toEqual(['d', 'e'])
    },
  },
  {
    name: 'a long stream through a small backlog: delivered space is used again, nothing old comes back',
    run: (t) => {
      // A writer ahead of a reader: batches go in, the reader takes some, sometimes the object wakes.
      let rand = 7
      const next = (n: number) => (rand = (rand * 1103515245 + 12345) % 2 ** 31) % n
      let store = t.store
      const model: Frame[] = []
      let delivered = 0
      for (let step = 0; step < 300; step++) {
        const choice = next(10)
        if (choice < 5) {
          const batch = Array.from({ length: 1 + next(4) }, (): Frame => (next(2) ? bytes(next(t.rowBytes + 40), step) : 'x'.repeat(next(t.rowBytes))))
          store.append(model.length, batch)
          model.push(...batch)
        } else if (choice < 9) {
          const got = store.read(delivered, 1 + next(2 * t.rowBytes))
          expect(show(got)).toEqual(show(model.slice(delivered, delivered + got.length)))
          const taken = next(got.length + 1) // the reader may be held back part way
          delivered += taken
          store.dropBelow(delivered)
        } else {
          store = t.wake()
          const range = store.restore(delivered)
          const rest = model.slice(delivered)
          expect(range).toEqual({ from: delivered, to: model.length, bytes: rest.reduce((n, f) => n + frameBytes(f), 0) })
        }
      }
      expect(show(readAll(store, delivered))).toEqual(show(model.slice(delivered)))
    },
  },
]
