// ChannelObject: one Durable Object per channel id, created by the first socket that connects to it
// (near that socket). A thin shell that adapts hibernatable WebSockets, SQLite and timers to
// ChannelCore, where the rules live. Socket tags name the end ('writer', 'reader'); a refused second
// socket is not hibernatable and has no tag, so it never shadows one.
//
// Keys are checked by the front door (they are signed over the channel id), so the object keeps no
// key. What it needs before anyone connects (buffer size, creation time, namespace) is in its id.
//
// Public methods are the RPC surface: `fetch` (a socket of one end, from the front door or the HTTP
// bridge) and `stats` (live counters for the status page). The core's host callbacks are private.

import { DurableObject } from 'cloudflare:workers'
import { CloseCode, echoableCloseCode, isReservedCloseCode } from '../protocol/close-codes'
import { type End, parseChannelId, parseReaderAck } from '../protocol/refs'
import { httpError } from '../protocol/http-errors'
import type { ChannelSnapshot } from '../status/object'
import { statusStub } from '../status/stubs'
import { socketTag } from '../tags'
import { ChannelCore, type ChannelHost, type EndsState, type Peer, type ReaderFlow, emptyEnds } from './core'
import { connectRequest } from './connect'
import { channelLimits, taskTimer, ttlSeconds } from './limits'
import { CHANNEL_SCHEMA, type RowMeter, SqliteFrameStore, execCounted } from './sqlite-store'

type ChannelRow = {
  channel_id: string
  buffer_size: number
  namespace: string
  /** Unix seconds, from the id: a first connect must come within the TTL of this. */
  created_at: number
  /** Unix ms of the first connect (when the TTL alarm started). */
  opened_at: number
  ends: string
  /** 1 once the channel ended: the row stays as a tombstone until its refs can no longer open it. */
  finished: number
}

/**
 * A channel tells the status page about itself only once it has lived this long, then on each
 * connect and close: short channels (most SDK and HTTP-trigger channels) never report, so the
 * status object is on no channel's path (docs/architecture.md, "Status without a funnel").
 */
export const REPORT_AFTER_MS = 1000

/**
 * Kept on the reader's socket, so they survive the object sleeping (an attachment is memory kept
 * with the socket, not a storage write): a flow-controlled reader's window and counters, and how
 * far the reader got through what is stored (its rows may be overwritten; see sqlite-store.ts).
 */
type ReaderAttachment = { flow: ReaderFlow | null; delivered: number }

/** WebSocket.readyState CLOSED (the constant is not exposed as a static in workerd). */
const SOCKET_CLOSED = 3

const NOT_FOUND = () => httpError(404, 'NOT_FOUND', 'channel not found or wrong key')

const peer = (ws: WebSocket): Peer => ({
  send: (frame) => ws.send(frame),
  get bufferedAmount() {
    return ws.bufferedAmount
  },
  close: (code, reason) => {
    try {
      ws.close(code, reason)
    } catch {
      // already closing: the peer is gone either way
    }
  },
})

export class ChannelObject extends DurableObject<Env> {
  /** Rows written by this object since it woke: frames, its own row, alarms (reported for the bench). */
  readonly #meter: RowMeter = { rowsWritten: 0 }
  readonly #store = new SqliteFrameStore(this.ctx.storage.sql, this.#meter)
  #core: ChannelCore | null = null
  #row: ChannelRow | null = null
  /** Storage cleanup of a finished channel; the object is dropped once it is done. */
  #finishing: Promise<void> | null = null
  #reportTimer: ReturnType<typeof setTimeout> | undefined
  /** True while `alarm()` runs: the alarm that would delete a tombstone is being used up. */
  #inAlarm = false
  /** Messages and requests this object handled since it woke, and how many of them it has told (bench S1). */
  #events = 0
  #eventsTold = 0

  readonly #host: ChannelHost = {
    schedule: taskTimer((task) => {
      this.#core?.runTask(task)
      if (task === 'drain' || task === 'recheck') this.#keepReader()
    }),
    saveEnds: (ends) => {
      this.#exec('UPDATE channel SET ends = ?', JSON.stringify(ends))
    },
    finish: () => this.#finish(),
  }

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.#row = this.#loadRow()
    if (this.#row && !this.#row.finished) this.#core = this.#buildCore(this.#row, true)
  }

  /** The WebSocket upgrade of one end, forwarded by the front door (key already checked). */
  override async fetch(request: Request): Promise<Response> {
    this.#events++
    const { channelId, end, window } = connectRequest(request)
    // No await before the row exists: two ends connecting at once must not both create it.
    if (!this.#row && !this.#open(channelId)) return NOT_FOUND()
    const core = this.#core
    if (!core || core.isFinished || this.#row?.finished) return NOT_FOUND()
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
    const result = core.connect(end, peer(server), window)
    if (result.ok) {
      this.ctx.acceptWebSocket(server, [end])
      if (end === 'reader') server.serializeAttachment({ flow: core.readerFlow, delivered: core.storedFrom } satisfies ReaderAttachment)
      this.#report()
    } else {
      // A second socket for a taken end is accepted, then closed at once; the first keeps working.
      // Accepted outside hibernation: workerd then ends its TCP connection at once, where a
      // hibernatable one would linger ~10 s while the object lives on for the first socket.
      server.accept()
      server.close(result.code, result.reason)
    }
    return new Response(null, { status: 101, webSocket: client })
  }

  /** Live counters for the status page, or null when this channel does not exist (nothing is created). */
  stats(): ChannelSnapshot | null {
    this.#events++
    return this.#snapshot()
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    this.#events++
    const end = socketTag(this.ctx, ws)
    if (end === 'writer') {
      this.#core?.writerFrame(typeof message === 'string' ? message : new Uint8Array(message))
      if (this.#core?.readerFlow) this.#keepReader()
      return
    }
    // A reader only ever sends flow-control acks; anything else from it is ignored.
    const acked = end === 'reader' && typeof message === 'string' ? parseReaderAck(message) : null
    if (acked !== null) {
      this.#core?.readerAck(acked)
      this.#keepReader()
    }
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    this.#events++
    // Answer the peer's Close ourselves, or it waits ~10 s for one (docs/platform.md).
    if (!isReservedCloseCode(code)) peer(ws).close(echoableCloseCode(code), '')
    this.#endClosed(ws, code, reason)
  }

  override webSocketError(ws: WebSocket, error: unknown): void {
    this.#events++
    console.warn(`[channel] socket error: ${error instanceof Error ? error.message : String(error)}`)
    // Don't leave the peer waiting for a Close that nobody else will send.
    peer(ws).close(CloseCode.Internal, 'socket error')
    this.#endClosed(ws, 1006, 'socket error')
  }

  override async alarm(): Promise<void> {
    this.#events++
    const row = this.#row
    if (!row) return
    if (row.finished) return this.ctx.storage.deleteAll()
    this.#inAlarm = true
    try {
      this.#core?.expire(ttlSeconds(this.env))
    } finally {
      this.#inAlarm = false
    }
  }

  /**
   * The first connect creates the channel, if its refs are still young enough: a channel nobody
   * connected to within the TTL of its creation is gone, as it always was.
   */
  #open(channelId: string): boolean {
    const id = parseChannelId(channelId)
    const ttlMs = ttlSeconds(this.env) * 1000
    const now = Date.now()
    if (!id || now > id.createdAt * 1000 + ttlMs) return false
    this.#exec(CHANNEL_SCHEMA)
    this.#exec(
      'INSERT INTO channel (id, channel_id, buffer_size, namespace, created_at, opened_at, ends, finished) VALUES (1, ?, ?, ?, ?, ?, ?, 0)',
      channelId,
      id.bufferSize,
      id.namespace,
      id.createdAt,
      now,
      JSON.stringify(emptyEnds()),
    )
    // The TTL starts now: the other end has CHANNEL_TTL_SECONDS to come.
    this.#setAlarm(now + ttlMs)
    this.#row = this.#loadRow()
    this.#core = this.#buildCore(this.#row!, false)
    this.#reportTimer = setTimeout(() => this.#report(), REPORT_AFTER_MS)
    return true
  }

  /**
   * The channel is over. Its frames go at once. While its refs could still open it again (within
   * the TTL of its creation) one row stays, so they get 404 as before; the TTL alarm, which is
   * always later than that, deletes it. Then the object is dropped.
   */
  #finish(): void {
    const row = this.#row
    this.#cancelReportTimer()
    const reported = this.#report()
    const now = Date.now()
    const ttlMs = ttlSeconds(this.env) * 1000
    let cleaned: Promise<void>
    if (row && now < row.created_at * 1000 + ttlMs) {
      this.#store.clear()
      this.#exec('UPDATE channel SET finished = 1, ends = ?', JSON.stringify(this.#core?.endsState ?? emptyEnds()))
      row.finished = 1
      // The pending TTL alarm (first connect + TTL) is later than created + TTL; only an alarm
      // that is running right now must be replaced. Dropping the object before these writes are
      // durable would lose them (ctx.abort breaks the output gate): wait for them.
      cleaned = (async () => {
        if (this.#inAlarm) await this.#setAlarm(row.created_at * 1000 + ttlMs)
        await this.ctx.storage.sync()
      })()
    } else {
      this.#row = null
      cleaned = (async () => {
        await this.ctx.storage.deleteAlarm()
        await this.ctx.storage.deleteAll()
      })()
    }
    const counted = this.#tellEvents(row)
    this.#finishing = Promise.all([cleaned, reported, counted]).then(() => {})
    void this.#finishing.then(() => this.#dropWhenQuiet())
  }

  #endClosed(ws: WebSocket, code: number, reason: string): void {
    const end = socketTag(this.ctx, ws)
    if (end === 'writer') this.#core?.writerClosed(code, reason)
    else if (end === 'reader') this.#core?.readerClosed()
    if (!this.#core?.isFinished) void this.#tellEvents()
    if (this.#core?.isFinished) void this.#finishing?.then(() => this.#dropWhenQuiet(ws))
    else this.#report()
  }

  /**
   * Drops the finished object once no socket still waits for our Close to be answered. Without
   * this, workerd keeps a closed reader's TCP connection ~10 s and the SDK reader ends only then
   * (docs/platform.md).
   */
  #dropWhenQuiet(closing?: WebSocket): void {
    const open = this.ctx.getWebSockets().filter((ws) => ws !== closing && ws.readyState !== SOCKET_CLOSED)
    if (open.length === 0) this.ctx.abort('channel finished')
  }

  /** Saves the reader's window counters and how far it got in storage on its socket. */
  #keepReader(): void {
    const core = this.#core
    if (!core || core.endsState.reader !== 'open') return
    const reader = this.ctx.getWebSockets('reader')[0]
    try {
      reader?.serializeAttachment({ flow: core.readerFlow, delivered: core.storedFrom } satisfies ReaderAttachment)
    } catch {
      // the reader is closing: nothing left to keep
    }
  }

  #exec(query: string, ...bindings: unknown[]): void {
    execCounted(this.ctx.storage.sql, this.#meter, query, ...bindings)
  }

  /** Cloudflare bills each setAlarm() as one row written. */
  #setAlarm(at: number): Promise<void> {
    this.#meter.rowsWritten++
    return this.ctx.storage.setAlarm(at)
  }

  #snapshot(): ChannelSnapshot | null {
    const row = this.#row
    const core = this.#core
    if (!row || !core) return null
    const ends = core.endsState
    const backlog = core.backlog
    return {
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
      bytes_stored: core.stats.bytesStored,
      rows_written: this.#meter.rowsWritten,
      finished: core.isFinished,
      opened_at_ms: row.opened_at,
      updated_at_ms: Date.now(),
    }
  }

  /**
   * Tells the namespace's status object this channel's ends and counters, once the channel has
   * lived REPORT_AFTER_MS (then on every connect and close). Best effort; never on a frame's path.
   */
  #report(): Promise<void> | undefined {
    const row = this.#row
    if (!row || Date.now() - row.opened_at < REPORT_AFTER_MS) return
    const snapshot = this.#snapshot()
    if (!snapshot) return
    this.#cancelReportTimer()
    const sent = statusStub(this.env, row.namespace).report(snapshot).catch(() => {})
    this.ctx.waitUntil(sent)
    return sent
  }

  /**
   * Bench only (III_COUNTERS): the events handled since the last time, and the storage used so far,
   * to the status object.
   */
  #tellEvents(row = this.#row): Promise<void> | undefined {
    if (!this.env.III_COUNTERS || !row || this.#events === this.#eventsTold) return
    const storage = { rows_written: this.#meter.rowsWritten, bytes_stored: this.#core?.stats.bytesStored ?? 0 }
    const told = statusStub(this.env, row.namespace).countChannel(row.channel_id, this.#events - this.#eventsTold, storage).catch(() => {})
    this.#eventsTold = this.#events
    this.ctx.waitUntil(told)
    return told
  }

  #cancelReportTimer(): void {
    if (this.#reportTimer !== undefined) clearTimeout(this.#reportTimer)
    this.#reportTimer = undefined
  }

  #loadRow(): ChannelRow | null {
    const sql = this.ctx.storage.sql
    const exists = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'channel'").toArray()
    if (exists.length === 0) return null
    return sql.exec<ChannelRow>('SELECT channel_id, buffer_size, namespace, created_at, opened_at, ends, finished FROM channel').toArray()[0] ?? null
  }

  #buildCore(row: ChannelRow, restore: boolean): ChannelCore {
    const limits = channelLimits(this.env, row.buffer_size)
    if (!restore) return new ChannelCore(limits, this.#store, this.#host)
    const ends = JSON.parse(row.ends) as EndsState
    const socket = (end: End) => (ends[end] === 'open' ? this.ctx.getWebSockets(end)[0] : undefined)
    const writer = socket('writer')
    const reader = socket('reader')
    const kept = (reader?.deserializeAttachment() as ReaderAttachment | null | undefined) ?? null
    return new ChannelCore(limits, this.#store, this.#host, {
      ends,
      stored: this.#store.restore(kept?.delivered ?? null),
      writer: writer && peer(writer),
      reader: reader && peer(reader),
      readerFlow: kept?.flow ?? null,
    })
  }
}
