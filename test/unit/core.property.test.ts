// ChannelCore against a model, with fast-check: random writers, readers, task orders and evictions.
// The model knows nothing of pending/store/drain; it only knows what the spec promises the reader:
// every accepted frame, in order, same opcode, then one Close with the right code. Half the runs
// use a flow-control window with a reader that acknowledges part of what it got at random times.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ChannelCore, type ChannelLimits, emptyEnds } from '../../src/channel/core'
import type { End } from '../../src/protocol/refs'
import { type Frame, frameBytes } from '../../src/channel/frame'
import { closeReason } from '../../src/protocol/close-codes'
import { FakeHost, FakePeer, MemoryFrameStore, show } from './fakes'

type Op =
  | { kind: 'frame'; frame: Frame }
  | { kind: 'task'; pick: number }
  | { kind: 'runAll' }
  | { kind: 'connect'; end: End }
  | { kind: 'writerClose'; code: number; reason: string }
  | { kind: 'evict'; writerLost: boolean }
  | { kind: 'ack'; fraction: number }
  | { kind: 'backup'; reads: number }

// Frames of 0..3000 bytes: ASCII text, any-code-point text (1..4 UTF-8 bytes each), binary, empties.
// `size: 'max'` because fast-check otherwise keeps lengths near 10 whatever maxLength says; the
// short ones stay so that many frames fit in one batch or slice too. Large frames are not shrunk
// byte by byte (the core never looks inside a frame), or a failure would take minutes to shrink.
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.noShrink(fc.string({ maxLength: 3000, size: 'max' })),
  fc.noShrink(fc.string({ unit: 'binary', maxLength: 700, size: 'max' })),
  fc.noShrink(fc.uint8Array({ maxLength: 3000, size: 'max' })),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.uint8Array({ maxLength: 8 }),
  fc.constantFrom<Frame>('', new Uint8Array(0)),
)
// 1005/1006 are what the platform reports for a Close without code / a dropped connection.
const closeCodeArb = fc.oneof(fc.constant(1000), fc.constantFrom(1001, 1005, 1006, 1011, 3000, 4000, 4999))
const closeArb = fc.record({
  code: closeCodeArb,
  reason: fc.oneof(fc.constant(''), fc.string({ maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 60 })),
})

const stepArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 20, arbitrary: frameArb.map((frame) => ({ kind: 'frame' as const, frame })) },
  { weight: 12, arbitrary: fc.nat().map((pick) => ({ kind: 'task' as const, pick })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'runAll' as const }) },
  { weight: 4, arbitrary: fc.constantFrom<End>('writer', 'reader').map((end) => ({ kind: 'connect' as const, end })) },
  { weight: 3, arbitrary: fc.constant({ kind: 'evict' as const, writerLost: false }) },
  { weight: 4, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((fraction) => ({ kind: 'ack' as const, fraction })) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 12 }).map((reads) => ({ kind: 'backup' as const, reads })) },
)
/** The writer's end in mid-run, if any: its own Close, or its socket lost while the object slept. */
const writerEndArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: closeArb.map((c) => ({ kind: 'writerClose' as const, ...c })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'evict' as const, writerLost: true }) },
)
/** Steps, maybe a mid-run writer end, more steps (late reader, evictions, refused sockets). */
const opsArb: fc.Arbitrary<Op[]> = fc
  .tuple(fc.array(stepArb, { maxLength: 60, size: 'max' }), fc.option(writerEndArb, { freq: 2 }), fc.array(stepArb, { maxLength: 20, size: 'max' }))
  .map(([before, end, after]) => [...before, ...(end ? [end] : []), ...after])

// Small limits so batching, byte thresholds and drain slicing all happen within a few frames.
const limitsArb: fc.Arbitrary<ChannelLimits> = fc.record({
  bufferSize: fc.integer({ min: 1, max: 8 }),
  bufferBytes: fc.integer({ min: 1, max: 8000 }),
  drainSliceBytes: fc.integer({ min: 1, max: 6000 }),
  maxFrameBytes: fc.oneof({ weight: 4, arbitrary: fc.constant(1 << 20) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 3000 }) }),
  storageQuotaBytes: fc.oneof({ weight: 3, arbitrary: fc.constant(1 << 30) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 20_000 }) }),
  readerHighWaterBytes: fc.constant(1 << 20),
})

/** A reader's flow-control window in bytes: none, or small enough to block often. */
const windowArb = fc.option(fc.integer({ min: 1, max: 6000 }), { freq: 2 })

/** Where two frame lists first differ, or null: cheap enough to run on every shrink step. */
function frameDiff(got: readonly Frame[], want: readonly Frame[]): string | null {
  const [a, b] = [show(got), show(want)]
  const i = a.findIndex((x, k) => x !== b[k])
  if (i === -1 && a.length === b.length) return null
  const at = i === -1 ? Math.min(a.length, b.length) : i
  const cut = (s?: string) => (s === undefined ? 'nothing' : s.slice(0, 60))
  return `${a.length} frames vs ${b.length} expected; #${at}: got ${cut(a[at])}, want ${cut(b[at])}`
}

/** Runs take ~1 s in all; the limit only cuts a runaway shrink short (the failure is still reported). */
const shrinkLimit = { skipAllAfterTimeLimit: 60_000 }

type ExpectedEnd = { code: number; reason: string } | { code: number; reasonPrefix: string }

/** One channel's life: the real core (rebuilt on eviction) next to a model of what must happen. */
class Scenario {
  readonly store = new MemoryFrameStore()
  readonly host = new FakeHost()
  readonly writer = new FakePeer('writer')
  readonly reader = new FakePeer('reader')
  readonly refused: FakePeer[] = []
  core: ChannelCore
  // The model.
  connected = { writer: false, reader: false }
  writerOpen = false // the writer's socket is up and the channel still takes its frames
  writerFailed: number | null = null // the code we closed the writer with (1009, 1013)
  accepted: Frame[] = []
  acceptedBytes = 0
  end: ExpectedEnd | null = null
  // Flow control, as the reader sees it: bytes received and bytes it acknowledged (totals).
  received = 0
  acked = 0
  /** The core's window counters restart on a rebuild, so the window is only checked before one. */

  constructor(
    readonly limits: ChannelLimits,
    readonly window: number | null = null,
  ) {
    this.core = new ChannelCore(limits, this.store, this.host)
    this.host.core = this.core
    // The reader answers our Close in a later turn, as a real socket does.
    this.reader.onClose = () => this.host.post('reader close', () => this.host.core!.readerClosed())
    this.reader.onSend = (frame) => {
      const size = frameBytes(frame)
      if (this.windowKnown) {
        const inFlight = this.received - this.acked
        if (!(inFlight === 0 || inFlight + size <= this.window!)) {
          throw new Error(`window ${this.window} exceeded: ${inFlight} B in flight, then ${size} B`)
        }
      }
      this.received += size
    }
  }

  /** Whether the model can tell what the window allows (the reader has one; rebuilds keep its counters). */
  private get windowKnown(): boolean {
    return this.window !== null
  }

  private windowAllows(size: number): boolean {
    const inFlight = this.received - this.acked
    return this.window === null || inFlight === 0 || inFlight + size <= this.window
  }

  apply(op: Op): void {
    switch (op.kind) {
      case 'frame':
        return this.frame(op.frame)
      case 'task':
        this.host.runOne(op.pick)
        return
      case 'runAll':
        this.host.runAll()
        return
      case 'connect':
        return this.connect(op.end)
      case 'writerClose':
        return this.writerClose(op.code, op.reason)
      case 'evict':
        return this.evict(op.writerLost)
      case 'ack':
        return this.ack(op.fraction)
      case 'backup':
        // The reader's socket reports a backlog for its next few reads, then drains by itself.
        this.reader.backedUpReads = op.reads
        return
    }
  }

  private get deliveredBytes(): number {
    return this.reader.sent.reduce((n, f) => n + frameBytes(f), 0)
  }

  private frame(frame: Frame): void {
    if (this.writerFailed !== null) {
      // A frame already in flight when we closed the writer: it must be refused.
      this.core.writerFrame(frame)
      expect(this.writer.closes).toHaveLength(1)
      return
    }
    if (!this.writerOpen) return // no writer socket, no frame
    const size = frameBytes(frame)
    const undeliveredFrames = this.accepted.length - this.reader.sent.length
    const undeliveredBytes = this.acceptedBytes - this.deliveredBytes
    const sentBefore = this.reader.sent.length
    const mayGoDirect = this.connected.reader && undeliveredFrames === 0
    const windowOk = this.windowAllows(size) // before the send changes what is in flight
    const backedUp = this.reader.backedUpReads > 0
    const mustGoDirect = mayGoDirect && !backedUp && (this.window === null || (this.windowKnown && windowOk))
    this.core.writerFrame(frame)
    if (size > this.limits.maxFrameBytes) return this.expectWriterFailed(1009, 'frame too large')
    const direct = this.reader.sent.length > sentBefore
    if (mustGoDirect) expect(direct, 'a caught-up reader gets the frame at once').toBe(true)
    if (direct) expect(mayGoDirect, 'only a caught-up reader gets a frame at once').toBe(true)
    if (direct) expect(backedUp, 'a backed-up reader is held back').toBe(false)
    if (this.windowKnown && mayGoDirect && !windowOk) expect(direct, 'held back by the window').toBe(false)
    if (!direct && undeliveredBytes + size > this.limits.storageQuotaBytes) return this.expectWriterFailed(1013, 'quota')
    expect(this.writer.closes).toEqual([])
    this.accepted.push(frame)
    this.acceptedBytes += size
  }

  private expectWriterFailed(code: number, reasonPart: string): void {
    expect(this.writer.closes).toEqual([{ code, reason: expect.stringContaining(reasonPart) }])
    this.writerFailed = code
    this.writerOpen = false
    this.end = { code, reason: this.writer.closes[0]!.reason }
  }

  private connect(end: End): void {
    if (this.connected[end]) {
      const intruder = new FakePeer(`second ${end}`)
      this.refused.push(intruder)
      expect(this.core.connect(end, intruder)).toMatchObject({ ok: false, code: 1008 })
      return
    }
    expect(this.core.connect(end, end === 'writer' ? this.writer : this.reader, end === 'reader' ? this.window : null)).toEqual({ ok: true })
    this.connected[end] = true
    if (end === 'writer') this.writerOpen = true
  }

  writerClose(code: number, reason: string): void {
    if (this.writerFailed !== null) {
      this.core.writerClosed(code, reason) // the socket's close event after our Close: no effect
      return
    }
    if (!this.writerOpen) return
    this.writerOpen = false
    this.core.writerClosed(code, reason)
    this.end =
      code === 1000
        ? { code: 1000, reason: closeReason(reason || 'stream_complete') }
        : { code: 4001, reasonPrefix: `writer lost (close ${code}` }
  }

  /** Eviction at a quiescent point: run everything, then build a new core from what was saved. */
  private evict(writerLost: boolean): void {
    this.host.runAll()
    if (this.core.isFinished) return // a finished object is dropped, not woken
    const ends = this.host.lastSaved ?? emptyEnds()
    expect(ends.writer === 'open', 'saved writer phase').toBe(this.writerOpen)
    expect(ends.reader === 'open', 'saved reader phase').toBe(this.connected.reader)
    // The writer's socket may have gone while the object slept: the core then learns it on waking.
    const lost = writerLost && this.writerOpen
    if (lost) {
      this.writerOpen = false
      this.end = { code: 4001, reason: 'writer lost (close 1006: lost while the channel slept)' }
    }
    // The reader's flow counters live on its socket (the attachment), so they survive the rebuild.
    const readerFlow = ends.reader === 'open' ? this.core.readerFlow : null
    this.core = new ChannelCore(this.limits, this.store, this.host, {
      ends,
      // How far the reader got through storage is kept on its socket, like its flow counters.
      stored: this.store.restore(ends.reader === 'open' ? this.core.storedFrom : null),
      writer: ends.writer === 'open' && !lost ? this.writer : undefined,
      reader: ends.reader === 'open' ? this.reader : undefined,
      readerFlow,
    })
    this.host.core = this.core
  }

  /** The reader acknowledges part of what it received (totals only grow, as a real reader's do). */
  ack(fraction: number): void {
    if (!this.connected.reader || this.reader.closed) return
    this.acked += Math.floor(fraction * (this.received - this.acked))
    this.core.readerAck(this.acked)
  }

  /** Holds after every step: nothing is lost or duplicated, and memory holds less than one batch. */
  checkInvariants(): void {
    const undelivered = this.accepted.length - this.reader.sent.length
    expect(this.core.backlog).toEqual({ frames: undelivered, bytes: this.acceptedBytes - this.deliveredBytes })
    if (this.core.isFinished) return
    const pendingFrames = this.core.backlog.frames - this.store.size
    const pendingBytes = this.core.backlog.bytes - this.store.bytes
    expect(pendingFrames).toBeGreaterThanOrEqual(0)
    expect(pendingFrames).toBeLessThan(this.limits.bufferSize)
    if (pendingFrames > 0) expect(pendingBytes).toBeLessThan(this.limits.bufferBytes)
  }

  /** The rest of a normal life: both ends come, the writer ends, everything runs. */
  finishWith(code: number, reason: string): void {
    if (!this.connected.writer) this.connect('writer')
    this.writerClose(code, reason)
    if (!this.connected.reader) this.connect('reader')
    this.host.runAll()
    // A windowed reader gets the rest only as it acknowledges: it consumes everything, repeatedly.
    while (!this.reader.closed && this.window !== null) {
      const before = this.reader.sent.length
      this.ack(1)
      this.host.runAll()
      if (this.reader.sent.length === before && !this.reader.closed) break // stuck: the checks below say how
    }
  }
}

describe('ChannelCore (property)', () => {
  it('the reader gets exactly the accepted frames in order, then one Close with the right code', () => {
    fc.assert(
      fc.property(limitsArb, windowArb, fc.boolean(), opsArb, closeArb, (limits, window, writerFirst, ops, last) => {
        const s = new Scenario(limits, window)
        if (writerFirst) s.apply({ kind: 'connect', end: 'writer' }) // else it connects somewhere in `ops`, or at the end
        for (const op of ops) {
          s.apply(op)
          s.checkInvariants()
        }
        s.finishWith(last.code, last.reason)
        s.checkInvariants()

        expect(frameDiff(s.reader.sent, s.accepted)).toBeNull()
        expect(s.reader.closes).toHaveLength(1)
        const end = s.end!
        const close = s.reader.closes[0]!
        expect(close.code).toBe(end.code)
        if ('reason' in end) expect(close.reason).toBe(end.reason)
        else expect(close.reason.startsWith(end.reasonPrefix)).toBe(true)

        expect(s.writer.closes).toEqual(s.writerFailed === null ? [] : [expect.objectContaining({ code: s.writerFailed })])
        for (const peer of [s.writer, s.reader, ...s.refused]) {
          expect(peer.sentAfterClose).toBe(0)
          expect(peer.badReasons).toBe(0)
        }
        expect(s.writer.sent).toEqual([])
        for (const peer of s.refused) expect([peer.sent, peer.closes]).toEqual([[], []])

        expect(s.core.isFinished).toBe(true)
        expect(s.host.finishCalls).toBe(1)
        expect(s.core.backlog).toEqual({ frames: 0, bytes: 0 })
        expect(s.store.size).toBe(0)
        expect(s.host.queue).toEqual([])
      }),
      { numRuns: 500, ...shrinkLimit },
    )
  })

  it('with no reader, the quota admits exactly the longest prefix that fits, then 1013', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 30, size: 'max' }),
        fc.integer({ min: 0, max: 15_000 }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }),
        (frames, quota, bufferSize, runs) => {
          const s = new Scenario({ bufferSize, bufferBytes: 4000, maxFrameBytes: 1 << 20, storageQuotaBytes: quota, drainSliceBytes: 5000, readerHighWaterBytes: 1 << 20 })
          let total = 0
          const fits = frames.findIndex((f) => (total += frameBytes(f)) > quota)
          const prefix = fits === -1 ? frames : frames.slice(0, fits)

          s.apply({ kind: 'connect', end: 'writer' })
          frames.forEach((frame, i) => {
            s.core.writerFrame(frame)
            if (runs[i]) s.host.runOne() // flush (or not) between frames: the quota counts memory and store alike
          })
          if (fits === -1) {
            expect(s.writer.closes).toEqual([])
            s.core.writerClosed(1000, '')
          } else {
            expect(s.writer.closes).toEqual([{ code: 1013, reason: expect.stringContaining('quota') }])
          }
          s.apply({ kind: 'connect', end: 'reader' })
          s.host.runAll()
          expect(frameDiff(s.reader.sent, prefix)).toBeNull()
          expect(s.reader.closes.map((c) => c.code)).toEqual([fits === -1 ? 1000 : 1013])
        },
      ),
      { numRuns: 300, ...shrinkLimit },
    )
  })

  it('a reader leaving at any point closes an open writer 4002 and finishes once', () => {
    fc.assert(
      fc.property(limitsArb, windowArb, opsArb, (limits, window, ops) => {
        const s = new Scenario(limits, window)
        s.apply({ kind: 'connect', end: 'reader' })
        for (const op of ops) s.apply(op)
        if (s.core.isFinished) return // the stream already ended normally
        const writerWasOpen = s.writerOpen
        s.core.readerClosed()
        expect(s.core.isFinished).toBe(true)
        expect(s.host.finishCalls).toBe(1)
        if (writerWasOpen) expect(s.writer.closes).toEqual([{ code: 4002, reason: 'channel reader went away' }])
        s.host.runAll() // leftover tasks do nothing on a finished channel
        expect(s.reader.closes.length).toBeLessThanOrEqual(1)
        expect(s.reader.sentAfterClose).toBe(0)
        expect(s.host.finishCalls).toBe(1)
      }),
      { numRuns: 200, ...shrinkLimit },
    )
  })
})
