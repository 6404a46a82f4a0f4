// ChannelCore by example: one test per rule of the channel spec, driven through the fakes.
import { describe, expect, it } from 'vitest'
import { ChannelCore, type ChannelLimits } from '../../src/channel/core'
import type { Frame } from '../../src/channel/frame'
import { FakeHost, FakePeer, MemoryFrameStore, bigLimits, show } from './fakes'

function setup(limits: Partial<ChannelLimits> = {}) {
  const store = new MemoryFrameStore()
  const host = new FakeHost()
  const core = new ChannelCore({ ...bigLimits, ...limits }, store, host)
  host.core = core
  const writer = new FakePeer('writer')
  const reader = new FakePeer('reader')
  // The reader answers our Close in a later turn, as a real socket does.
  reader.onClose = () => host.post('reader close', () => host.core!.readerClosed())
  return { store, host, core, writer, reader }
}

const bytes = (...b: number[]) => new Uint8Array(b)
// 19 bytes: 'é€😀' is 2 + 3 + 4 bytes of UTF-8.
const mixed: Frame[] = ['hello', bytes(1, 2, 3), '', new Uint8Array(0), 'é€😀', bytes(0, 255)]

describe('ends', () => {
  it('refuses a second writer or reader with 1008 and keeps the first', () => {
    const { core, writer, reader } = setup()
    expect(core.connect('writer', writer)).toEqual({ ok: true })
    expect(core.connect('reader', reader)).toEqual({ ok: true })
    const intruder = new FakePeer()
    expect(core.connect('writer', intruder)).toMatchObject({ ok: false, code: 1008, reason: 'channel writer already connected' })
    expect(core.connect('reader', intruder)).toMatchObject({ ok: false, code: 1008, reason: 'channel reader already connected' })
    core.writerFrame('still relayed')
    expect(reader.sent).toEqual(['still relayed'])
    expect(intruder.sent).toEqual([])
    expect(intruder.closes).toEqual([])
  })

  it('refuses an end that has finished with 1008', () => {
    const { core, writer } = setup()
    core.connect('writer', writer)
    core.writerClosed(1000, '')
    expect(core.connect('writer', new FakePeer())).toMatchObject({ ok: false, code: 1008, reason: 'channel writer already finished' })
  })

  it('refuses both ends once the channel is finished', () => {
    const { core, reader } = setup()
    core.connect('reader', reader)
    core.readerClosed() // the writer never came: the channel is over
    expect(core.isFinished).toBe(true)
    expect(core.connect('writer', new FakePeer())).toMatchObject({ ok: false, code: 1008 })
    expect(core.connect('reader', new FakePeer())).toMatchObject({ ok: false, code: 1008 })
  })

  it('saves the ends on each connect and on the writer end', () => {
    const { core, host, writer, reader } = setup()
    core.connect('writer', writer)
    core.connect('reader', reader)
    core.writerClosed(1000, 'bye')
    expect(host.saved).toEqual([
      { writer: 'open', reader: 'waiting', end: null },
      { writer: 'open', reader: 'open', end: null },
      { writer: 'done', reader: 'open', end: { code: 1000, reason: 'bye' } },
    ])
  })
})

describe('relay', () => {
  it('sends straight to a caught-up reader: no task, no storage', () => {
    const { core, host, store, writer, reader } = setup()
    core.connect('reader', reader)
    core.connect('writer', writer)
    for (const f of mixed) core.writerFrame(f)
    expect(show(reader.sent)).toEqual(show(mixed))
    expect(host.queue).toEqual([])
    expect(store.size).toBe(0)
    expect(core.stats).toEqual({ framesIn: 6, bytesIn: 19, framesOut: 6, bytesOut: 19, bytesStored: 0 })
  })

  it('keeps text vs binary through storage, empty frames included (late reader)', () => {
    const { core, host, store, writer, reader } = setup({ bufferSize: 2 })
    core.connect('writer', writer)
    for (const f of mixed) core.writerFrame(f)
    host.runAll()
    expect(store.size).toBe(mixed.length)
    core.connect('reader', reader)
    host.runAll()
    expect(show(reader.sent)).toEqual(show(mixed))
    expect(store.size).toBe(0)
    expect(core.backlog).toEqual({ frames: 0, bytes: 0 })
  })

  it('queues behind a backlog instead of overtaking it', () => {
    const { core, host, writer, reader } = setup()
    core.connect('writer', writer)
    core.writerFrame('a')
    core.connect('reader', reader) // drain is scheduled, not run yet
    core.writerFrame('b')
    expect(reader.sent).toEqual([])
    host.runAll()
    core.writerFrame('c') // caught up again: direct
    expect(reader.sent).toEqual(['a', 'b', 'c'])
  })
})

describe('buffering', () => {
  it('moves pending to the store in one batch at bufferSize frames', () => {
    const { core, store, writer } = setup({ bufferSize: 3 })
    core.connect('writer', writer)
    core.writerFrame('a')
    core.writerFrame('b')
    expect(store.size).toBe(0)
    expect(core.backlog).toEqual({ frames: 2, bytes: 2 })
    core.writerFrame('c')
    expect([...store.frames.values()]).toEqual(['a', 'b', 'c'])
    core.writerFrame('d')
    expect(store.size).toBe(3) // 'd' waits in memory for the next batch or the flush task
    expect(core.backlog).toEqual({ frames: 4, bytes: 4 })
  })

  it('writes a batch once the next frame would not fit in it, so batches (rows) come out full', () => {
    const { core, store, writer } = setup({ bufferBytes: 10 })
    core.connect('writer', writer)
    core.writerFrame('1234')
    core.writerFrame('5678')
    expect(store.size).toBe(0)
    core.writerFrame('9abc') // 8 + 4 > 10: the batch so far is written, '9abc' starts the next
    expect([...store.frames.values()]).toEqual(['1234', '5678'])
    expect(core.backlog).toEqual({ frames: 3, bytes: 12 })
  })

  it('a frame as large as a batch goes to storage at once, after the batch before it', () => {
    const { core, store, writer } = setup({ bufferBytes: 10 })
    core.connect('writer', writer)
    core.writerFrame('ab')
    core.writerFrame('x'.repeat(25))
    expect([...store.frames.values()]).toEqual(['ab', 'x'.repeat(25)])
    expect(core.stats.bytesStored).toBe(27)
  })

  it('the flush task stores what is pending', () => {
    const { core, host, store, writer } = setup()
    core.connect('writer', writer)
    core.writerFrame('a')
    expect(host.tasks).toEqual(['flush'])
    host.runAll()
    expect([...store.frames.values()]).toEqual(['a'])
    expect(core.backlog).toEqual({ frames: 1, bytes: 1 })
  })

  it('drains one slice per turn, at least one frame, rescheduling while backlog remains', () => {
    const { core, host, writer, reader } = setup({ drainSliceBytes: 10, bufferSize: 1 })
    core.connect('writer', writer)
    for (const f of ['1234', '5678', '9abc', 'defg', 'x'.repeat(50), 'z']) core.writerFrame(f)
    host.runAll()
    core.connect('reader', reader)
    expect(host.tasks).toEqual(['drain'])
    host.runOne()
    expect(reader.sent).toEqual(['1234', '5678', '9abc']) // 12 bytes: the slice is reached
    expect(host.tasks).toEqual(['drain'])
    host.runOne()
    expect(reader.sent.length).toBe(5) // 'defg' then the 50-byte frame, larger than a whole slice
    host.runOne()
    expect(reader.sent.length).toBe(6)
    expect(host.tasks).toEqual([])
  })
})

describe('writer end', () => {
  it('1000 closes the reader after all data, reason defaulting to stream_complete', () => {
    const { core, host, writer, reader } = setup({ bufferSize: 2 })
    core.connect('writer', writer)
    for (const f of mixed) core.writerFrame(f)
    core.writerClosed(1000, '')
    core.connect('reader', reader)
    host.runAll()
    expect(show(reader.sent)).toEqual(show(mixed))
    expect(reader.closes).toEqual([{ code: 1000, reason: 'stream_complete' }])
    expect(core.isFinished).toBe(true)
    expect(host.finishCalls).toBe(1)
    expect(writer.closes).toEqual([]) // the writer closed itself
  })

  it('1000 with a reason passes the reason on', () => {
    const { core, host, writer, reader } = setup()
    core.connect('reader', reader)
    core.connect('writer', writer)
    core.writerClosed(1000, 'all done')
    host.runAll()
    expect(reader.closes).toEqual([{ code: 1000, reason: 'all done' }])
  })

  it.each([
    [1006, '', 'writer lost (close 1006)'],
    [1001, 'going away', 'writer lost (close 1001: going away)'],
    [1011, 'boom', 'writer lost (close 1011: boom)'],
  ])('close %i gives the reader all data then 4001', (code, reason, expected) => {
    const { core, host, writer, reader } = setup()
    core.connect('writer', writer)
    core.writerFrame('a')
    core.connect('reader', reader)
    core.writerFrame(bytes(7))
    core.writerClosed(code, reason)
    host.runAll()
    expect(show(reader.sent)).toEqual(show(['a', bytes(7)]))
    expect(reader.closes).toEqual([{ code: 4001, reason: expected }])
  })

  it('a frame over maxFrameBytes closes the writer 1009; the reader gets what came before, then 1009', () => {
    const { core, host, writer, reader } = setup({ maxFrameBytes: 4 })
    core.connect('writer', writer)
    core.writerFrame('1234') // exactly the limit: accepted
    core.writerFrame('12345')
    core.writerFrame('late') // in flight after our Close: refused
    expect(writer.closes).toEqual([{ code: 1009, reason: 'frame too large: 5 B (limit 4 B)' }])
    core.writerClosed(1009, '') // the socket's own close event changes nothing
    core.connect('reader', reader)
    host.runAll()
    expect(reader.sent).toEqual(['1234'])
    expect(reader.closes).toEqual([{ code: 1009, reason: 'frame too large: 5 B (limit 4 B)' }])
  })

  it('undelivered bytes past the quota close the writer 1013; nothing accepted is dropped', () => {
    const { core, host, writer, reader } = setup({ storageQuotaBytes: 10, bufferSize: 2 })
    core.connect('writer', writer)
    for (const f of ['1234', '5678', '90']) core.writerFrame(f) // exactly 10 bytes
    core.writerFrame('x')
    core.writerFrame('y')
    expect(writer.closes).toHaveLength(1)
    expect(writer.closes[0]).toMatchObject({ code: 1013, reason: expect.stringContaining('quota') })
    core.connect('reader', reader)
    host.runAll()
    expect(reader.sent).toEqual(['1234', '5678', '90'])
    expect(reader.closes).toEqual([{ code: 1013, reason: 'channel buffer quota exceeded (limit 10 B)' }])
  })

  it('the quota counts undelivered bytes only: a caught-up reader may receive more', () => {
    const { core, writer, reader } = setup({ storageQuotaBytes: 3 })
    core.connect('reader', reader)
    core.connect('writer', writer)
    core.writerFrame('0123456789')
    expect(writer.closes).toEqual([])
    expect(reader.sent).toEqual(['0123456789'])
  })
})

describe('reader end and expiry', () => {
  it('a reader leaving early closes the writer 4002 and finishes', () => {
    const { core, host, writer, reader } = setup()
    core.connect('writer', writer)
    core.connect('reader', reader)
    core.readerClosed()
    expect(writer.closes).toEqual([{ code: 4002, reason: 'channel reader went away' }])
    expect(host.finishCalls).toBe(1)
    core.writerFrame('ignored')
    core.writerClosed(1000, '')
    core.readerClosed()
    expect(reader.sent).toEqual([])
    expect(host.finishCalls).toBe(1)
  })

  it('the reader answering our final Close finishes without touching the closed writer', () => {
    const { core, host, writer, reader } = setup()
    core.connect('writer', writer)
    core.connect('reader', reader)
    core.writerClosed(1000, '')
    host.runAll() // drain -> Close to reader -> its answer -> readerClosed
    expect(core.isFinished).toBe(true)
    expect(host.finishCalls).toBe(1)
    expect(writer.closes).toEqual([])
  })

  it('expire closes the connected end 4008 when the other never came', () => {
    const { core, host, writer } = setup()
    core.connect('writer', writer)
    core.writerFrame('lost')
    expect(core.expire(60)).toBe(true)
    expect(writer.closes).toEqual([{ code: 4008, reason: 'channel expired: the reader never connected within 60 s' }])
    expect(host.finishCalls).toBe(1)
    expect(core.expire(60)).toBe(false)
  })

  it('expire with no end connected finishes; the reader-side message names the writer', () => {
    const { core, host, reader } = setup()
    expect(core.expire(5)).toBe(true)
    expect(host.finishCalls).toBe(1)
    const other = setup()
    other.core.connect('reader', other.reader)
    other.core.expire(5)
    expect(other.reader.closes).toEqual([{ code: 4008, reason: 'channel expired: the writer never connected within 5 s' }])
    expect(reader.closes).toEqual([])
  })

  it('expire does nothing once both ends have connected', () => {
    const { core, host, writer, reader } = setup()
    core.connect('writer', writer)
    core.connect('reader', reader)
    core.writerClosed(1000, '') // even with the writer already done
    expect(core.expire(60)).toBe(false)
    expect(host.finishCalls).toBe(0)
    expect(reader.closes).toEqual([])
    host.runAll()
    expect(reader.closes).toEqual([{ code: 1000, reason: 'stream_complete' }])
  })
})

describe('restoration after eviction', () => {
  /** Drops the core and builds a new one from what it saved, as a woken Durable Object does. */
  function rebuild(s: ReturnType<typeof setup>, sockets: { writer?: FakePeer; reader?: FakePeer }) {
    s.host.runAll()
    const core = new ChannelCore(bigLimits, s.store, s.host, { ends: s.host.lastSaved!, stored: s.store.restore(sockets.reader ? s.core.storedFrom : null), ...sockets })
    s.host.core = core
    return core
  }

  it('a late reader gets everything stored before the eviction', () => {
    const s = setup()
    s.core.connect('writer', s.writer)
    for (const f of mixed) s.core.writerFrame(f)
    const core = rebuild(s, { writer: s.writer })
    core.writerFrame('after')
    core.writerClosed(1000, '')
    core.connect('reader', s.reader)
    s.host.runAll()
    expect(show(s.reader.sent)).toEqual(show([...mixed, 'after']))
    expect(s.reader.closes).toEqual([{ code: 1000, reason: 'stream_complete' }])
  })

  it('a writer socket lost while asleep ends the stream with 4001', () => {
    const s = setup()
    s.core.connect('writer', s.writer)
    s.core.connect('reader', s.reader)
    s.core.writerFrame('a')
    rebuild(s, { reader: s.reader })
    s.host.runAll()
    expect(s.reader.sent).toEqual(['a'])
    expect(s.reader.closes).toEqual([{ code: 4001, reason: 'writer lost (close 1006: lost while the channel slept)' }])
  })

  it('a reader socket lost while asleep closes the writer 4002 and finishes', () => {
    const s = setup()
    s.core.connect('writer', s.writer)
    s.core.connect('reader', s.reader)
    const core = rebuild(s, { writer: s.writer })
    // Decided after the event that woke the object (a closing socket is no longer listed then).
    expect(s.writer.closes).toEqual([])
    s.host.runAll()
    expect(s.writer.closes).toEqual([{ code: 4002, reason: 'channel reader went away' }])
    expect(core.isFinished).toBe(true)
    expect(s.host.finishCalls).toBe(1)
  })
})

describe('flow control (reader window)', () => {
  const f50 = (i: number) => String(i % 10).repeat(50)

  it('keeps at most a window of unacknowledged bytes in flight, the rest waiting in storage', () => {
    const { core, host, store, writer, reader } = setup({ bufferSize: 64 })
    core.connect('reader', reader, 100)
    core.connect('writer', writer)
    for (let i = 0; i < 6; i++) core.writerFrame(f50(i))
    host.runAll()
    expect(reader.sent).toEqual([f50(0), f50(1)]) // 50 + 50 = the window exactly
    expect(store.size).toBe(4) // blocked: what waits goes to storage, not memory
    expect(host.queue).toEqual([]) // no polling while blocked
    core.readerAck(50)
    host.runAll()
    expect(reader.sent.length).toBe(3)
    core.readerAck(50) // a repeated ack opens nothing
    host.runAll()
    expect(reader.sent.length).toBe(3)
  })

  it('always lets one frame through when nothing is in flight, even one larger than the window', () => {
    const { core, host, writer, reader } = setup()
    core.connect('reader', reader, 10)
    core.connect('writer', writer)
    core.writerFrame('x'.repeat(30))
    core.writerFrame('y')
    host.runAll()
    expect(reader.sent).toEqual(['x'.repeat(30)])
    core.readerAck(30)
    host.runAll()
    expect(reader.sent).toEqual(['x'.repeat(30), 'y'])
  })

  it('ends the stream once everything is acknowledged and sent', () => {
    const { core, host, writer, reader } = setup()
    core.connect('reader', reader, 100)
    core.connect('writer', writer)
    for (let i = 0; i < 5; i++) core.writerFrame(f50(i))
    core.writerClosed(1000, '')
    for (let i = 0; i < 10 && !reader.closed; i++) {
      core.readerAck(reader.sent.length * 50) // all it got so far
      host.runAll()
    }
    expect(reader.sent).toEqual([0, 1, 2, 3, 4].map(f50))
    expect(reader.closes).toEqual([{ code: 1000, reason: 'stream_complete' }])
  })

  it('ignores acks from a reader without a window', () => {
    const { core, host, writer, reader } = setup()
    core.connect('reader', reader)
    core.connect('writer', writer)
    core.readerAck(1_000_000)
    expect(host.queue).toEqual([])
  })

  // Found by these tests: acks carry the total consumed since the reader connected, so a rebuilt
  // core must get the reader's counters back (the ChannelObject keeps them on the socket).
  it('after a rebuild, acks still bound what is in flight', () => {
    const s = setup({ bufferSize: 64 })
    s.core.connect('reader', s.reader, 100)
    s.core.connect('writer', s.writer)
    for (let i = 0; i < 20; i++) {
      s.core.writerFrame(f50(i))
      s.core.readerAck((i + 1) * 50) // the reader keeps up: 1000 bytes consumed before the eviction
      s.host.runAll()
    }
    s.host.runAll()
    const core = new ChannelCore({ ...bigLimits, bufferSize: 64 }, s.store, s.host, {
      ends: s.host.lastSaved!,
      stored: s.store.restore(s.core.storedFrom),
      writer: s.writer,
      reader: s.reader,
      readerFlow: s.core.readerFlow,
    })
    s.host.core = core
    for (let i = 20; i < 40; i++) core.writerFrame(f50(i))
    s.host.runAll()
    let consumed = 1000
    for (let i = 0; i < 10; i++) {
      consumed += 50 // the reader consumes one frame, and says so
      core.readerAck(consumed)
      s.host.runAll()
      const unconsumed = s.reader.sent.length * 50 - consumed
      expect(unconsumed).toBeLessThanOrEqual(100)
    }
  })
})

describe('holding back for a backed-up reader socket (bufferedAmount)', () => {
  const backedUp = 10 << 20 // what a socket reports when far more is queued than readerHighWaterBytes

  it('keeps frames in storage while the socket reports a backlog, then sends them in order', () => {
    const { core, host, store, writer, reader } = setup()
    core.connect('reader', reader)
    core.connect('writer', writer)
    reader.queued = backedUp
    for (const f of mixed) core.writerFrame(f)
    expect(reader.sent).toEqual([])
    host.runOne() // drain: held back
    expect(host.tasks.sort()).toEqual(['flush', 'recheck'])
    host.runOne(host.tasks.indexOf('flush'))
    expect(store.size).toBe(mixed.length) // left in storage, not in memory
    host.runOne() // recheck: still backed up, looks again later (once, not a growing queue)
    expect(host.tasks).toEqual(['recheck'])
    reader.queued = 0 // the socket drained
    host.runAll()
    expect(show(reader.sent)).toEqual(show(mixed))
    expect(store.size).toBe(0)
  })

  it('looks again on the next writer frame', () => {
    const { core, host, writer, reader } = setup()
    core.connect('reader', reader)
    core.connect('writer', writer)
    reader.queued = backedUp
    core.writerFrame('a')
    host.runOne()
    expect(reader.sent).toEqual([])
    reader.queued = 0
    core.writerFrame('b') // queued behind 'a', and a drain is asked for
    expect(host.tasks).toContain('drain')
    host.runOne(host.tasks.indexOf('drain'))
    expect(reader.sent).toEqual(['a', 'b'])
  })

  it('a socket below the mark gets frames at once', () => {
    const { core, host, writer, reader } = setup()
    core.connect('reader', reader)
    core.connect('writer', writer)
    reader.queued = bigLimits.readerHighWaterBytes
    core.writerFrame('a')
    expect(reader.sent).toEqual(['a'])
    expect(host.queue).toEqual([])
  })
})

describe('eviction without the scheduled tasks (a timer lost with the object)', () => {
  const dropTimers = (host: FakeHost) => host.queue.splice(0)
  const rebuild = (s: ReturnType<typeof setup>, sockets: { writer?: FakePeer; reader?: FakePeer }) => {
    const core = new ChannelCore(bigLimits, s.store, s.host, { ends: s.host.lastSaved!, stored: s.store.restore(sockets.reader ? s.core.storedFrom : null), ...sockets })
    s.host.core = core
    return core
  }

  it('a writer ending with no reader stores its last frames at once', () => {
    const s = setup()
    s.core.connect('writer', s.writer)
    s.core.writerFrame('a')
    s.core.writerFrame(bytes(1))
    s.core.writerClosed(1000, '')
    dropTimers(s.host) // the flush never runs: the object may go as soon as the writer is gone
    const core = rebuild(s, {})
    core.connect('reader', s.reader)
    s.host.runAll()
    expect(show(s.reader.sent)).toEqual(show(['a', bytes(1)]))
    expect(s.reader.closes).toEqual([{ code: 1000, reason: 'stream_complete' }])
  })

  it('a rebuilt object resumes sending stored frames to a connected reader', () => {
    const s = setup()
    s.core.connect('writer', s.writer)
    for (const f of mixed) s.core.writerFrame(f)
    s.host.runAll()
    s.core.connect('reader', s.reader)
    dropTimers(s.host) // the drain the connect scheduled is lost
    rebuild(s, { writer: s.writer, reader: s.reader })
    s.host.runAll()
    expect(show(s.reader.sent)).toEqual(show(mixed))
  })
})
