// The channel's rules, free of Workers APIs: who may connect, where a frame goes, how a channel ends.
// ChannelObject adapts sockets, SQLite and timers to this; the unit tests drive it with fakes.
//
// Where a frame goes:
//   reader connected, nothing queued, reader not backed up  -> straight to the reader (no storage)
//   otherwise                                              -> `pending` (memory), then to the
//                                                             FrameStore in one batch
// A batch is written when the next frame would not fit in it (`bufferBytes`, at most one storage
// row), when it holds `bufferSize` frames, when the writer ends with no reader, or when the flush
// task runs (the host runs it a short delay after the first frame waits; a pending timer keeps a
// Durable Object in memory, so only a reset, which also drops the writer's socket, can lose a
// batch: the reader is then told the writer was lost). Fewer, fuller batches mean fewer storage
// rows, which Cloudflare bills one by one.
// The drain task sends the stored frames, then `pending`, to the reader a slice at a time.
//
// Holding back: a reader is sent nothing more while it has a window's worth unacknowledged (flow
// control, opt-in, for clients of our own: `readerAck`) or while its socket reports more than
// `readerHighWaterBytes` queued (`Peer.bufferedAmount`, where the runtime reports one). Held-back
// frames wait in `pending` and then storage, so a slow reader costs bounded memory. An ack wakes a
// window-blocked reader; a backed-up socket is looked at again on the next writer frame or by the
// recheck task. The SDK's reader sends nothing back and gets no window.

import { CloseCode, closeReason } from '../protocol/close-codes'
import type { End, EndPhase } from '../protocol/refs'
import { type Frame, formatBytes, frameBytes } from './frame'

/** An open socket for one end, as the core sees it. */
export interface Peer {
  send(frame: Frame): void
  close(code: number, reason: string): void
  /** Bytes queued in the socket and not yet sent, where the runtime reports it (read per frame). */
  readonly bufferedAmount?: number
}

/** Durable home of undelivered frames, numbered by a sequence that only grows. */
export interface FrameStore {
  /** Stores `frames` under the consecutive seqs `firstSeq`, `firstSeq + 1`, ... */
  append(firstSeq: number, frames: readonly Frame[]): void
  /** Frames from `fromSeq` on, in order, stopping once `maxBytes` is reached (at least one if any). */
  read(fromSeq: number, maxBytes: number): Frame[]
  /** Frames below `seq` are delivered: the store may forget them (or reuse their space). */
  dropBelow(seq: number): void
}

/** A FrameStore that survives the object: what it holds can be read back after a wake. */
export interface DurableFrameStore extends FrameStore {
  /**
   * The stored range after a wake. `delivered`: frames below it reached the reader before the object
   * slept (kept with the reader's socket); null when no reader took anything yet.
   */
  restore(delivered: number | null): StoredRange
}

/**
 * Work the core asks the host to run later: 'drain' and 'reconcile' soon after the current event,
 * 'flush' after a short delay (so a batch can fill), 'recheck' after a short delay (a reader whose
 * socket was backed up may have drained).
 */
export type Task = 'flush' | 'drain' | 'reconcile' | 'recheck'

/** What the host does for the core: timers, the small record of the ends, the final cleanup. */
export interface ChannelHost {
  /** Call `core.runTask(task)` soon, after the current event; repeated calls before it runs are one. */
  schedule(task: Task): void
  /** Persist the ends' state (only on connect and close), so a rebuilt object knows it. */
  saveEnds(ends: EndsState): void
  /** The channel is over: drop its storage and the object. */
  finish(): void
}

export interface ChannelLimits {
  /** Frames held in memory before they are written to storage in one batch. */
  bufferSize: number
  /** Bytes held in memory before they are written to storage in one batch (at most one storage row). */
  bufferBytes: number
  maxFrameBytes: number
  /** Undelivered bytes (memory + storage) past which the writer is closed with 1013. */
  storageQuotaBytes: number
  /** Backlog bytes sent to the reader per drain turn. */
  drainSliceBytes: number
  /** Held back while the reader's socket reports more than this queued. */
  readerHighWaterBytes: number
}

/** The Close the reader gets once it has everything: fixed when the writer ends. */
export interface StreamEnd {
  code: number
  reason: string
}

export interface EndsState {
  writer: EndPhase
  reader: EndPhase
  end: StreamEnd | null
}

/** Frames in the store: seqs `from` (inclusive) to `to` (exclusive), `bytes` in all. */
export interface StoredRange {
  from: number
  to: number
  bytes: number
}

/** Flow control of a reader: its window and the bytes sent to it and acknowledged by it since it connected. */
export interface ReaderFlow {
  window: number
  sent: number
  acked: number
}

export type ConnectResult = { ok: true } | { ok: false; code: number; reason: string }

export interface ChannelStats {
  framesIn: number
  bytesIn: number
  framesOut: number
  bytesOut: number
  /** Bytes written to storage: what the reader could not take at once. */
  bytesStored: number
}

export const emptyEnds = (): EndsState => ({ writer: 'waiting', reader: 'waiting', end: null })

export class ChannelCore {
  readonly stats: ChannelStats = { framesIn: 0, bytesIn: 0, framesOut: 0, bytesOut: 0, bytesStored: 0 }
  private readonly ends: EndsState
  private readonly stored: StoredRange
  private pending: Frame[] = []
  private pendingBytes = 0
  private writer: Peer | null = null
  private reader: Peer | null = null
  private finished = false
  private readerEnding = false
  /** Flow control: the reader's window in bytes (null: none), bytes sent and acknowledged since it connected. */
  private window: number | null = null
  private sentToReader = 0
  private ackedByReader = 0

  /**
   * @param restored what a rebuilt object finds: the saved ends, the stored range and the sockets
   *   still attached to it (hibernation keeps sockets open while the object is gone).
   */
  constructor(
    private readonly limits: ChannelLimits,
    private readonly store: FrameStore,
    private readonly host: ChannelHost,
    restored?: { ends: EndsState; stored: StoredRange; writer?: Peer; reader?: Peer; readerFlow?: ReaderFlow | null },
  ) {
    this.ends = restored ? { ...restored.ends } : emptyEnds()
    this.stored = restored ? { ...restored.stored } : { from: 0, to: 0, bytes: 0 }
    this.writer = restored?.writer ?? null
    this.reader = restored?.reader ?? null
    // A flow-controlled reader's counters come back too: its acks are totals since it connected.
    this.window = restored?.readerFlow?.window ?? null
    this.sentToReader = restored?.readerFlow?.sent ?? 0
    this.ackedByReader = restored?.readerFlow?.acked ?? 0
    if (!restored) return
    // An end 'open' without a socket is either closing right now (the event that woke us: a
    // closing socket is no longer listed) or gone with an object reset. Decide after that event.
    if ((this.ends.writer === 'open' && !this.writer) || (this.ends.reader === 'open' && !this.reader)) {
      this.host.schedule('reconcile')
    }
    if (this.reader && (!this.backlogEmpty() || this.ends.writer === 'done')) this.host.schedule('drain')
  }

  /** Undelivered frames and bytes, in memory and in storage. */
  get backlog(): { frames: number; bytes: number } {
    return {
      frames: this.stored.to - this.stored.from + this.pending.length,
      bytes: this.stored.bytes + this.pendingBytes,
    }
  }

  /** A flow-controlled reader's window and counters (null without a window), for the host to keep. */
  get readerFlow(): ReaderFlow | null {
    return this.window === null ? null : { window: this.window, sent: this.sentToReader, acked: this.ackedByReader }
  }

  /** Frames below this seq have left storage for the reader (the host keeps it with the reader). */
  get storedFrom(): number {
    return this.stored.from
  }

  get endsState(): EndsState {
    return { ...this.ends }
  }

  get isFinished(): boolean {
    return this.finished
  }

  /**
   * A socket for `end` has been accepted; the first one per end wins, later ones are refused.
   * `window` (reader only) turns flow control on: see `readerAck`.
   */
  connect(end: End, peer: Peer, window: number | null = null): ConnectResult {
    if (this.finished || this.ends[end] !== 'waiting') {
      const state = this.ends[end] === 'open' ? 'already connected' : 'already finished'
      return { ok: false, code: CloseCode.EndTaken, reason: `channel ${end} ${state}` }
    }
    this.ends[end] = 'open'
    this[end] = peer
    if (end === 'reader') this.window = window
    this.host.saveEnds(this.endsState)
    if (end === 'reader' && (!this.backlogEmpty() || this.ends.writer === 'done')) this.host.schedule('drain')
    return { ok: true }
  }

  /** A frame from the writer: relayed at once when the reader keeps up, queued otherwise. */
  writerFrame(frame: Frame): void {
    if (this.ends.writer !== 'open') return // the writer was closed by us; frames in flight are refused
    const size = frameBytes(frame)
    this.stats.framesIn++
    this.stats.bytesIn += size
    if (size > this.limits.maxFrameBytes) {
      const limit = formatBytes(this.limits.maxFrameBytes)
      return this.failWriter(CloseCode.FrameTooLarge, `frame too large: ${formatBytes(size)} (limit ${limit})`)
    }
    if (this.reader && this.backlogEmpty() && this.canSend(size) === 'yes') return this.deliver(frame, size)
    if (this.backlog.bytes + size > this.limits.storageQuotaBytes) {
      const limit = formatBytes(this.limits.storageQuotaBytes)
      return this.failWriter(CloseCode.QuotaExceeded, `channel buffer quota exceeded (limit ${limit})`)
    }
    // A batch is one storage row: written once the next frame would not fit, so rows come out full.
    if (this.pending.length > 0 && this.pendingBytes + size > this.limits.bufferBytes) this.flush()
    this.pending.push(frame)
    this.pendingBytes += size
    if (this.pending.length >= this.limits.bufferSize || this.pendingBytes >= this.limits.bufferBytes) this.flush()
    this.host.schedule(this.reader ? 'drain' : 'flush')
  }

  /** The writer's socket closed (by the writer or the network). Only a 1000 Close is a clean end. */
  writerClosed(code: number, reason: string): void {
    if (this.finished || this.ends.writer !== 'open') return
    this.writer = null
    const end =
      code === CloseCode.Normal
        ? { code, reason: reason || 'stream_complete' }
        : { code: CloseCode.WriterLost, reason: `writer lost (close ${code}${reason ? `: ${reason}` : ''})` }
    this.endWriter(end)
  }

  /** The reader's socket closed: after our final Close (done) or early (then the writer is told). */
  readerClosed(): void {
    if (this.finished) return
    this.reader = null
    this.ends.reader = 'done'
    if (this.writer) {
      this.writer.close(CloseCode.ReaderGone, 'channel reader went away')
      this.writer = null
      this.ends.writer = 'done'
    }
    this.finish()
  }

  /** A flow-controlled reader has consumed `consumed` bytes in all since it connected. */
  readerAck(consumed: number): void {
    if (this.window === null || !(consumed > this.ackedByReader)) return
    this.ackedByReader = Math.min(consumed, this.sentToReader)
    if (!this.backlogEmpty()) this.host.schedule('drain')
  }

  /** The TTL alarm: a channel one of whose ends never connected is dropped. */
  expire(ttlSeconds: number): boolean {
    const missing = (['writer', 'reader'] as const).find((end) => this.ends[end] === 'waiting')
    if (!missing || this.finished) return false
    const reason = `channel expired: the ${missing} never connected within ${ttlSeconds} s`
    for (const peer of [this.writer, this.reader]) peer?.close(CloseCode.Expired, reason)
    this.writer = this.reader = null
    this.ends.writer = this.ends.reader = 'done'
    this.finish()
    return true
  }

  runTask(task: Task): void {
    if (this.finished) return
    if (task === 'flush') this.flush()
    else if (task === 'drain' || task === 'recheck') this.drain()
    else this.reconcile()
  }

  /** After a rebuild: an end still 'open' whose socket never showed up ended abnormally. */
  private reconcile(): void {
    if (this.ends.writer === 'open' && !this.writer) this.writerClosed(1006, 'lost while the channel slept')
    if (this.ends.reader === 'open' && !this.reader) this.readerClosed()
  }

  private backlogEmpty(): boolean {
    return this.stored.to === this.stored.from && this.pending.length === 0
  }

  private deliver(frame: Frame, size: number): void {
    this.reader!.send(frame)
    this.stats.framesOut++
    this.stats.bytesOut += size
    this.sentToReader += size
  }

  /**
   * Whether the reader may be sent a frame of `size` now: not while a window's worth is
   * unacknowledged (one frame always goes when nothing is in flight), nor while its socket is
   * backed up.
   */
  private canSend(size: number): 'yes' | 'window' | 'backed-up' {
    if (this.window !== null) {
      const inFlight = this.sentToReader - this.ackedByReader
      if (inFlight > 0 && inFlight + size > this.window) return 'window'
    }
    if ((this.reader?.bufferedAmount ?? 0) > this.limits.readerHighWaterBytes) return 'backed-up'
    return 'yes'
  }

  /** Moves `pending` to storage in one batch. */
  private flush(): void {
    if (this.pending.length === 0) return
    this.store.append(this.stored.to, this.pending)
    this.stored.to += this.pending.length
    this.stored.bytes += this.pendingBytes
    this.stats.bytesStored += this.pendingBytes
    this.pending = []
    this.pendingBytes = 0
  }

  /** Sends up to one slice of backlog to the reader; ends the reader's stream once all is sent. */
  private drain(): void {
    if (!this.reader) return
    let budget = this.limits.drainSliceBytes
    let held: 'window' | 'backed-up' | null = null
    while (budget > 0 && !held && this.stored.to > this.stored.from) {
      const frames = this.store.read(this.stored.from, budget)
      let sent = 0
      for (const frame of frames) {
        const size = frameBytes(frame)
        const can = this.canSend(size)
        if (can !== 'yes') {
          held = can
          break
        }
        this.deliver(frame, size)
        this.stored.bytes -= size
        budget -= size
        sent++
      }
      this.stored.from += sent
      if (sent > 0) this.store.dropBelow(this.stored.from)
      if (frames.length === 0) break // defensive: the store has nothing where the range says it has
    }
    while (budget > 0 && !held && this.pending.length > 0) {
      const size = frameBytes(this.pending[0]!)
      const can = this.canSend(size)
      if (can !== 'yes') {
        held = can
        break
      }
      this.deliver(this.pending.shift()!, size)
      this.pendingBytes -= size
      budget -= size
    }
    if (this.backlogEmpty()) {
      if (this.ends.writer === 'done') this.endReader()
      return
    }
    if (!held) return this.host.schedule('drain')
    // What waits for a held-back reader goes to storage in batches, not polled from memory. A reader
    // at the end of its window is woken by its next ack; a backed-up socket is looked at again.
    if (this.pending.length > 0) this.host.schedule('flush')
    if (held === 'backed-up') this.host.schedule('recheck')
  }

  private failWriter(code: number, reason: string): void {
    this.writer?.close(code, closeReason(reason))
    this.writer = null
    this.endWriter({ code, reason })
  }

  private endWriter(end: StreamEnd): void {
    this.ends.writer = 'done'
    this.ends.end = { code: end.code, reason: closeReason(end.reason) }
    // Without a reader the object may be dropped as soon as this socket is gone: store everything now.
    if (!this.reader) this.flush()
    this.host.saveEnds(this.endsState)
    if (this.reader) this.host.schedule('drain')
  }

  private endReader(): void {
    if (this.readerEnding) return
    this.readerEnding = true
    const end = this.ends.end ?? { code: CloseCode.Internal, reason: 'channel ended without a writer end' }
    this.reader!.close(end.code, end.reason)
  }

  private finish(): void {
    this.finished = true
    this.pending = []
    this.pendingBytes = 0
    this.host.finish()
  }
}
