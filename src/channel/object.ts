// ChannelObject: one Durable Object per channel. A thin shell that adapts hibernatable WebSockets,
// SQLite and timers to ChannelCore, where the rules live. Socket tags name the end ('writer',
// 'reader'); a refused second socket is not hibernatable and has no tag, so it never shadows one.

import { DurableObject } from 'cloudflare:workers'
import { CloseCode, echoableCloseCode, isReservedCloseCode } from '../protocol/close-codes'
import { parseReaderAck } from '../protocol/refs'
import { engineStub } from '../stubs'
import { ChannelCore, type ChannelHost, type End, type EndsState, type Peer, type ReaderFlow, type Task, emptyEnds } from './core'
import { keyMatches } from './keys'
import { channelLimits, ttlSeconds } from './limits'
import { CHANNEL_SCHEMA, SqliteFrameStore } from './sqlite-store'

/** What `createChannel` hands the object: never the keys themselves, only their digests. */
export interface ChannelInit {
  channelId: string
  bufferSize: number
  writerKeyHash: string
  readerKeyHash: string
}

type ChannelRow = {
  channel_id: string
  buffer_size: number
  writer_key_hash: string
  reader_key_hash: string
  ends: string
}

/** What a channel tells the engine about itself (see EngineObject.reportChannel). */
export interface ChannelSnapshot {
  channel_id: string
  writer: EndsState['writer']
  reader: EndsState['reader']
  frames_in: number
  bytes_in: number
  frames_out: number
  bytes_out: number
  backlog_frames: number
  backlog_bytes: number
  buffer_size: number
  finished: boolean
  updated_at_ms: number
}

const REPORT_INTERVAL_MS = 1000

/** Headers the front door sets on the upgrade it forwards here (already shape-checked there). */
export const END_HEADER = 'x-iii-channel-end'
export const KEY_HEADER = 'x-iii-channel-key'
export const WINDOW_HEADER = 'x-iii-channel-window'

/**
 * Kept on a flow-controlled reader's socket, so its window and counters survive the object
 * sleeping (an attachment is memory kept with the socket, not a storage write).
 */
type ReaderAttachment = ReaderFlow | null

/** WebSocket.readyState CLOSED (the constant is not exposed as a static in workerd). */
const SOCKET_CLOSED = 3

const peer = (ws: WebSocket): Peer => ({
  send: (frame) => ws.send(frame),
  close: (code, reason) => {
    try {
      ws.close(code, reason)
    } catch {
      // already closing: the peer is gone either way
    }
  },
})

export class ChannelObject extends DurableObject<Env> implements ChannelHost {
  private readonly store = new SqliteFrameStore(this.ctx.storage.sql)
  private readonly scheduled = new Set<Task>()
  private core: ChannelCore | null = null
  private row: ChannelRow | null = null
  /** When this channel last told the engine its counters (for the status page), at most once a second. */
  private lastReport = 0
  private reportTimer: ReturnType<typeof setTimeout> | undefined
  /** Storage deletion of a finished channel; the object is dropped once it is done. */
  private finishing: Promise<void> | null = null

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.row = this.loadRow()
    if (this.row) this.core = this.buildCore(this.row, true)
  }

  /** Creates the channel (called once, by `createChannel`); the TTL alarm starts now. */
  async create(init: ChannelInit): Promise<void> {
    this.ctx.storage.sql.exec(CHANNEL_SCHEMA)
    this.ctx.storage.sql.exec(
      'INSERT INTO channel (id, channel_id, buffer_size, writer_key_hash, reader_key_hash, ends) VALUES (1, ?, ?, ?, ?, ?)',
      init.channelId,
      init.bufferSize,
      init.writerKeyHash,
      init.readerKeyHash,
      JSON.stringify(emptyEnds()),
    )
    await this.ctx.storage.setAlarm(Date.now() + ttlSeconds(this.env) * 1000)
    this.row = this.loadRow()
    this.core = this.buildCore(this.row!, false)
  }

  /** The WebSocket upgrade of one end, forwarded by the front door. */
  override async fetch(request: Request): Promise<Response> {
    const end = request.headers.get(END_HEADER) as End
    const key = request.headers.get(KEY_HEADER) ?? ''
    const row = this.row
    const hash = row && (end === 'writer' ? row.writer_key_hash : row.reader_key_hash)
    if (!this.core || this.core.isFinished || !hash || !(await keyMatches(key, hash))) {
      return new Response('channel not found or wrong key', { status: 404 })
    }
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
    const window = end === 'reader' && request.headers.has(WINDOW_HEADER) ? Number(request.headers.get(WINDOW_HEADER)) : null
    const result = this.core.connect(end, peer(server), window)
    if (result.ok) {
      this.ctx.acceptWebSocket(server, [end])
      if (end === 'reader') server.serializeAttachment(this.core.readerFlow satisfies ReaderAttachment)
      this.report(true)
    } else {
      // A second socket for a taken end is accepted, then closed at once; the first keeps working.
      // Accepted outside hibernation: workerd then ends its TCP connection at once, where a
      // hibernatable one would linger ~10 s while the object lives on for the first socket.
      server.accept()
      server.close(result.code, result.reason)
    }
    return new Response(null, { status: 101, webSocket: client })
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const end = this.endOf(ws)
    if (end === 'writer') {
      this.core?.writerFrame(typeof message === 'string' ? message : new Uint8Array(message))
      this.keepReaderFlow()
      void this.report()
      return
    }
    // A reader only ever sends flow-control acks; anything else from it is ignored.
    const acked = end === 'reader' && typeof message === 'string' ? parseReaderAck(message) : null
    if (acked !== null) {
      this.core?.readerAck(acked)
      this.keepReaderFlow()
    }
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    // Answer the peer's Close ourselves, or it waits ~10 s for one (PLATFORM.md §6).
    if (!isReservedCloseCode(code)) peer(ws).close(echoableCloseCode(code), '')
    this.endClosed(ws, code, reason)
  }

  override webSocketError(ws: WebSocket, error: unknown): void {
    console.warn(`[channel] socket error: ${error instanceof Error ? error.message : String(error)}`)
    // Don't leave the peer waiting for a Close that nobody else will send.
    peer(ws).close(CloseCode.Internal, 'socket error')
    this.endClosed(ws, 1006, 'socket error')
  }

  override alarm(): void {
    this.core?.expire(ttlSeconds(this.env))
  }

  // ChannelHost

  schedule(task: Task): void {
    if (this.scheduled.has(task)) return
    this.scheduled.add(task)
    setTimeout(() => {
      this.scheduled.delete(task)
      this.core?.runTask(task)
      if (task === 'drain') this.keepReaderFlow()
    }, 0)
  }

  saveEnds(ends: EndsState): void {
    this.ctx.storage.sql.exec('UPDATE channel SET ends = ?', JSON.stringify(ends))
  }

  finish(): void {
    const reported = this.report(true)
    this.row = null
    const deleted = (async () => {
      await this.ctx.storage.deleteAlarm()
      await this.ctx.storage.deleteAll()
    })()
    this.finishing = Promise.all([deleted, reported]).then(() => {})
    void this.finishing.then(() => this.dropWhenQuiet())
  }

  private endClosed(ws: WebSocket, code: number, reason: string): void {
    const end = this.endOf(ws)
    if (end === 'writer') this.core?.writerClosed(code, reason)
    else if (end === 'reader') this.core?.readerClosed()
    if (this.core?.isFinished) void this.finishing?.then(() => this.dropWhenQuiet(ws))
    else this.report(true)
  }

  /**
   * Drops the finished object once no socket still waits for our Close to be answered. Without
   * this, workerd keeps a closed reader's TCP connection ~10 s and the SDK reader ends only then
   * (PLATFORM.md §7).
   */
  private dropWhenQuiet(closing?: WebSocket): void {
    const open = this.ctx.getWebSockets().filter((ws) => ws !== closing && ws.readyState !== SOCKET_CLOSED)
    if (open.length === 0) this.ctx.abort('channel finished')
  }

  /** Saves a flow-controlled reader's counters on its socket (SDK readers have none: nothing to do). */
  private keepReaderFlow(): void {
    const flow = this.core?.readerFlow
    if (!flow) return
    const reader = this.ctx.getWebSockets('reader')[0]
    try {
      reader?.serializeAttachment(flow satisfies ReaderAttachment)
    } catch {
      // the reader is closing: nothing left to keep
    }
  }

  /**
   * The end a socket serves, from its tag. Late events (frames or a Close still in flight) can reach
   * the object after it finished and was dropped; workerd then refuses the tag lookup: no end.
   */
  private endOf(ws: WebSocket): string | undefined {
    try {
      return this.ctx.getTags(ws)[0]
    } catch {
      return undefined
    }
  }

  /**
   * Tells the engine this channel's ends and counters, for the status page: on connect and close,
   * and at most once a second while data moves. Best effort; never on the path of a frame.
   */
  private report(now = false): Promise<void> | undefined {
    const row = this.row
    const core = this.core
    if (!row || !core) return
    const wait = REPORT_INTERVAL_MS - (Date.now() - this.lastReport)
    if (!now && wait > 0) {
      // Throttled: one trailing report carries the latest counters when the burst is over.
      this.reportTimer ??= setTimeout(() => {
        this.reportTimer = undefined
        void this.report(true)
      }, wait)
      return
    }
    if (this.reportTimer !== undefined) clearTimeout(this.reportTimer)
    this.reportTimer = undefined
    this.lastReport = Date.now()
    const ends = core.endsState
    const backlog = core.backlog
    const snapshot: ChannelSnapshot = {
      channel_id: row.channel_id,
      writer: ends.writer,
      reader: ends.reader,
      frames_in: core.stats.framesIn,
      bytes_in: core.stats.bytesIn,
      frames_out: core.stats.framesOut,
      bytes_out: core.stats.bytesOut,
      backlog_frames: backlog.frames,
      backlog_bytes: backlog.bytes,
      buffer_size: row.buffer_size,
      finished: core.isFinished,
      updated_at_ms: this.lastReport,
    }
    const sent = engineStub(this.env).reportChannel(snapshot).catch(() => {})
    this.ctx.waitUntil(sent)
    return sent
  }

  private loadRow(): ChannelRow | null {
    const sql = this.ctx.storage.sql
    const exists = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'channel'").toArray()
    if (exists.length === 0) return null
    return sql.exec<ChannelRow>('SELECT channel_id, buffer_size, writer_key_hash, reader_key_hash, ends FROM channel').toArray()[0] ?? null
  }

  private buildCore(row: ChannelRow, restore: boolean): ChannelCore {
    const limits = channelLimits(this.env, row.buffer_size)
    if (!restore) return new ChannelCore(limits, this.store, this)
    const ends = JSON.parse(row.ends) as EndsState
    const socket = (end: End) => (ends[end] === 'open' ? this.ctx.getWebSockets(end)[0] : undefined)
    const writer = socket('writer')
    const reader = socket('reader')
    return new ChannelCore(limits, this.store, this, {
      ends,
      stored: this.store.range(),
      writer: writer && peer(writer),
      reader: reader && peer(reader),
      readerFlow: (reader?.deserializeAttachment() as ReaderAttachment | undefined) ?? null,
    })
  }
}
