// In-memory stand-ins for what ChannelObject gives the core: SQLite frames, timers, sockets.
// They are strict on purpose (a reused seq throws, sends after Close are recorded) so that a
// core bug shows up as a failed assertion rather than as quietly "working" fakes.

import type { Kind, RegistryStore, Saved } from '../../src/engine/registry'
import type { ChannelCore, ChannelHost, DurableFrameStore, EndsState, Peer, StoredRange, Task } from '../../src/channel/core'
import { type Frame, frameBytes } from '../../src/channel/frame'

/** FrameStore over a Map, with the `restore()` a woken object rebuilds its StoredRange from. */
export class MemoryFrameStore implements DurableFrameStore {
  readonly frames = new Map<number, Frame>()
  /** One past the highest seq ever stored: where a store emptied by delivery goes on. */
  private end = 0

  append(firstSeq: number, frames: readonly Frame[]): void {
    frames.forEach((frame, i) => {
      const seq = firstSeq + i
      // SQLite's INTEGER PRIMARY KEY would refuse this too: overwriting a seq loses a frame.
      if (this.frames.has(seq)) throw new Error(`seq ${seq} already stored`)
      // Copy binary frames, as storage would: the core must not rely on the caller's buffer.
      this.frames.set(seq, typeof frame === 'string' ? frame : new Uint8Array(frame))
      this.end = Math.max(this.end, seq + 1)
    })
  }

  read(fromSeq: number, maxBytes: number): Frame[] {
    const out: Frame[] = []
    let bytes = 0
    for (const seq of this.seqs()) {
      if (seq < fromSeq) continue
      const frame = this.frames.get(seq)!
      out.push(frame)
      bytes += frameBytes(frame)
      if (bytes >= maxBytes) break
    }
    return out
  }

  dropBelow(seq: number): void {
    for (const s of [...this.frames.keys()]) if (s < seq) this.frames.delete(s)
  }

  restore(delivered: number | null): StoredRange {
    if (delivered !== null) this.dropBelow(delivered)
    const seqs = this.seqs()
    if (seqs.length === 0) return { from: this.end, to: this.end, bytes: 0 }
    return { from: seqs[0]!, to: seqs[seqs.length - 1]! + 1, bytes: this.bytes }
  }

  get size(): number {
    return this.frames.size
  }

  get bytes(): number {
    let n = 0
    for (const frame of this.frames.values()) n += frameBytes(frame)
    return n
  }

  private seqs(): number[] {
    return [...this.frames.keys()].sort((a, b) => a - b)
  }
}

type Job = { kind: 'task'; task: Task } | { kind: 'event'; name: string; run: () => void }

/**
 * A host whose timers are a manual queue, so a test decides when (and in which order) scheduled
 * tasks and socket events run. `core` is swapped when a test rebuilds the object after eviction.
 */
export class FakeHost implements ChannelHost {
  core: ChannelCore | null = null
  readonly queue: Job[] = []
  readonly saved: EndsState[] = []
  finishCalls = 0

  schedule(task: Task): void {
    // Like the real host's Set: a task already waiting is not queued twice.
    if (!this.queue.some((job) => job.kind === 'task' && job.task === task)) this.queue.push({ kind: 'task', task })
  }

  saveEnds(ends: EndsState): void {
    this.saved.push(structuredClone(ends))
  }

  finish(): void {
    this.finishCalls++
  }

  /** A socket event (e.g. the reader answering our Close) that arrives in a later turn. */
  post(name: string, run: () => void): void {
    this.queue.push({ kind: 'event', name, run })
  }

  get lastSaved(): EndsState | undefined {
    return this.saved[this.saved.length - 1]
  }

  get tasks(): Task[] {
    return this.queue.flatMap((job) => (job.kind === 'task' ? [job.task] : []))
  }

  /** Runs the queued job at `index` (FIFO by default); false when nothing is queued. */
  runOne(index = 0): boolean {
    if (this.queue.length === 0) return false
    const [job] = this.queue.splice(index % this.queue.length, 1)
    if (job!.kind === 'task') this.core?.runTask(job!.task)
    else job!.run()
    return true
  }

  /** Runs jobs until none is left: the object is then quiescent. Guards against endless rescheduling. */
  runAll(limit = 100_000): number {
    let n = 0
    while (this.runOne()) if (++n > limit) throw new Error('tasks never settle')
    return n
  }
}

/** A socket as the core sees it, recording what it was sent and how it was closed. */
export class FakePeer implements Peer {
  readonly sent: Frame[] = []
  readonly closes: { code: number; reason: string }[] = []
  /** Frames sent after our Close: a real socket would drop (or throw on) them. */
  sentAfterClose = 0
  /** What the socket reports as queued and not yet sent (a backed-up reader reports a lot). */
  queued = 0
  /** Reports `backedUp` bytes for this many more reads, then `queued`: a socket that drains by itself. */
  backedUpReads = 0
  /** Close reasons over 123 UTF-8 bytes, which make a real `close()` throw. */
  badReasons = 0
  onClose?: () => void
  /** Called before a frame is recorded; may throw to fail the test at the offending send. */
  onSend?: (frame: Frame) => void

  constructor(readonly name = 'peer') {}

  get bufferedAmount(): number {
    if (this.backedUpReads === 0) return this.queued
    this.backedUpReads--
    return 1 << 30
  }

  send(frame: Frame): void {
    this.onSend?.(frame)
    if (this.closes.length > 0) this.sentAfterClose++
    this.sent.push(frame)
  }

  close(code: number, reason: string): void {
    if (new TextEncoder().encode(reason).length > 123) this.badReasons++
    this.closes.push({ code, reason })
    this.onClose?.()
  }

  get closed(): boolean {
    return this.closes.length > 0
  }
}

/** Frames in a form whose diff is readable and where text vs binary (the opcode) matters. */
export function show(frames: readonly Frame[]): string[] {
  return frames.map((f) => (typeof f === 'string' ? `text:${JSON.stringify(f)}` : `bin:${Buffer.from(f).toString('hex')}`))
}

export const bigLimits = {
  bufferSize: 64,
  bufferBytes: 1 << 20,
  maxFrameBytes: 1 << 20,
  storageQuotaBytes: 1 << 30,
  drainSliceBytes: 1 << 20,
  readerHighWaterBytes: 2 << 20,
}

/** RegistryStore over maps, reloadable, so a "rebuilt object" test sees only what was written. */
export class MemoryRegistryStore implements RegistryStore {
  readonly rows = new Map<string, string>()
  version = 0
  routeVersion = 0
  writes = 0

  load(): Saved {
    const saved: Saved = { worker: [], function: [], trigger: [], trigger_type: [], departed: [], namespace: [], version: this.version, routeVersion: this.routeVersion }
    for (const [key, body] of this.rows) (saved[key.split('\u0000')[0] as Kind] as unknown[]).push(JSON.parse(body))
    return saved
  }
  put(kind: Kind, entry: { id: string }): void {
    this.writes++
    this.rows.set(`${kind}\u0000${entry.id}`, JSON.stringify(entry))
  }
  remove(kind: Kind, id: string): void {
    this.writes++
    this.rows.delete(`${kind}\u0000${id}`)
  }
  saveVersions(version: number, routeVersion: number): void {
    this.version = version
    this.routeVersion = routeVersion
  }
}

