// StatusObject: what the status page shows of a namespace's channels, one object per namespace,
// and the namespace's recent log records (`engine::logs::list`, the page). Channels report only
// once they have lived a second, then on connect and close (channel/object.ts), so this object is
// on no channel's path; it keeps the reports and the records in memory and forgets the finished.
// Records come in batches (a worker's `/otel` socket sends a batch a second at most), so a busy
// namespace costs this object about one call per worker per second (docs/observability.md).

import { DurableObject } from 'cloudflare:workers'
import type { EndPhase } from '../protocol/refs'
import { type LogEntry, pageEntry, type StoredLog } from '../observability/log-record'
import { type KeptLog, LogRing, type LogQuery, printLogs } from '../observability/log-ring'

/** A channel silent this long is dropped from the page (it went away without a last word: a reset). */
const STALE_CHANNEL_MS = 10 * 60 * 1000

/** What a channel tells its namespace's status object, and its `stats()` answers (channel/object.ts). */
export interface ChannelSnapshot {
  channel_id: string
  writer: EndPhase
  reader: EndPhase
  frames_in: number
  bytes_in: number
  frames_out: number
  bytes_out: number
  backlog_frames: number
  backlog_bytes: number
  buffer_size: number
  /** Bytes that went to storage (a reader that keeps up costs none). */
  bytes_stored: number
  /** Rows this channel's object wrote so far, as Cloudflare counts them for billing (bench). */
  rows_written: number
  finished: boolean
  /** When the first end connected (the page's chart spreads a new channel's first bytes over its age). */
  opened_at_ms: number
  updated_at_ms: number
}

/** What a channel's object wrote to storage in its life (bench P5: rows written per GB stored). */
export interface ChannelStorage {
  rows_written: number
  bytes_stored: number
}

/** Channels the page lists at most (the newest first). */
const MAX_LISTED = 200

/** Log entries the page lists (of the records kept: observability/log-ring.ts). */
const PAGE_LOG_ENTRIES = 100


export class StatusObject extends DurableObject<Env> {
  readonly #channels = new Map<string, ChannelSnapshot>()
  /** Messages and requests handled since this object woke (bench S1); bench counts are not counted. */
  #events = 0
  /** Channels' own event counts, sent only when III_COUNTERS is set (bench S1). */
  readonly #channelCounts = new Map<string, number>()
  /** Channels' storage use (rows written, bytes stored), latest figures, with III_COUNTERS (bench P5). */
  readonly #channelStorage = new Map<string, ChannelStorage>()

  /** The namespace's recent records: the newest 1,000, none older than an hour, in memory only. */
  readonly #logs = new LogRing()

  /**
   * Prints records as their lines of the Worker's log and keeps them, in the order they came. This
   * call is an invocation of its own, so `wrangler tail` and Workers Logs get its lines when it
   * ends (docs/observability.md, "Where records go").
   */
  addLogs(namespace: string, logs: KeptLog[]): void {
    this.#events++
    printLogs(namespace, logs)
    this.#logs.add(logs, Date.now())
  }

  /** The page's recent log, newest first. */
  logs(): LogEntry[] {
    this.#events++
    return this.#logs.newest(PAGE_LOG_ENTRIES, Date.now()).map((k) => pageEntry(k.record, k.origin))
  }

  /** `engine::logs::list` over the records kept (the query was parsed by the caller). */
  queryLogs(query: LogQuery): { logs: StoredLog[]; total: number } {
    this.#events++
    return this.#logs.query(query, Date.now())
  }

  /** `engine::logs::clear`. */
  clearLogs(): void {
    this.#events++
    this.#logs.clear()
  }

  /** A channel's ends and counters; a finished channel is forgotten. */
  report(snapshot: ChannelSnapshot): void {
    this.#events++
    if (snapshot.finished) this.#channels.delete(snapshot.channel_id)
    else this.#channels.set(snapshot.channel_id, snapshot)
  }

  /** The channels to show, newest report first. */
  channels(): ChannelSnapshot[] {
    this.#events++
    const stale = Date.now() - STALE_CHANNEL_MS
    for (const [id, c] of this.#channels) if (c.updated_at_ms < stale) this.#channels.delete(id)
    return [...this.#channels.values()].sort((a, b) => b.updated_at_ms - a.updated_at_ms).slice(0, MAX_LISTED)
  }

  /** Bench only: events a channel handled since it last told, and its storage use so far. */
  countChannel(channelId: string, events: number, storage?: ChannelStorage): void {
    this.#channelCounts.set(channelId, (this.#channelCounts.get(channelId) ?? 0) + events)
    if (storage) this.#channelStorage.set(channelId, storage)
  }

  /** This object's own events, and each channel's (bench only; empty unless III_COUNTERS is set). */
  counters(): { events: number; channels: Record<string, number>; storage: Record<string, ChannelStorage> } {
    return { events: this.#events, channels: Object.fromEntries(this.#channelCounts), storage: Object.fromEntries(this.#channelStorage) }
  }
}
