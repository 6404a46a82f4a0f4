// SQLite layout of a channel Durable Object. Tables:
//   channel(id = 1, channel_id, buffer_size, namespace, created_at, opened_at, ends JSON, finished)
//       one row, written on the first connect, on connect and close, and kept as a tombstone after
//       the end (object.ts)
//   frame_rows(key, frames, sizes, data)
//       undelivered frames, packed: consecutive frames share a row of up to 1.97 MB (packing.ts).
//       Created on the first spill, dropped when the channel ends.
//
// Why rows are packed, reused and dropped: Cloudflare bills rows written ($1 per million) and
// counts each deleted row as written, while DROP TABLE writes none (workerd's own count, measured).
// So a row whose frames the reader has taken is not deleted: the next batch overwrites it (one
// UPDATE, renumbering it to the end of the stream), and the table is dropped when the channel ends.
// Spilling 1 GB of 64 KiB frames then costs about 520 rows written instead of 30,500.
// Which rows are delivered is not written down (that would be a write per batch): the reader's
// socket keeps the cursor (ChannelObject), and a channel without a reader has delivered nothing.
// Every cursor is read to its end (toArray/one), so DROP TABLE never meets an open one.

import type { DurableFrameStore, StoredRange } from './core'
import type { Frame } from './frame'
import { type PackedRow, ROW_PARTS, ROW_PAYLOAD_BYTES, concat, packRowsInto, readSizes, rowKey, seqOfKey, toFrame, unpackFrames } from './packing'

export const CHANNEL_SCHEMA = `
  CREATE TABLE IF NOT EXISTS channel (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    channel_id TEXT NOT NULL,
    buffer_size INTEGER NOT NULL,
    namespace TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    opened_at INTEGER NOT NULL,
    ends TEXT NOT NULL,
    finished INTEGER NOT NULL
  );
`

const FRAME_ROWS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS frame_rows (
    key INTEGER PRIMARY KEY,
    frames INTEGER NOT NULL,
    sizes BLOB NOT NULL,
    data BLOB NOT NULL
  ) STRICT
`

/** Rows written by an object's SQL, as workerd counts them (INSERT, UPDATE, DELETE, schema). */
export interface RowMeter {
  rowsWritten: number
}

/** Runs one statement to its end (so no cursor stays open) and counts the rows it wrote. */
export function execCounted<T extends Record<string, SqlStorageValue>>(sql: SqlStorage, meter: RowMeter, query: string, ...bindings: unknown[]): T[] {
  const cursor = sql.exec<T>(query, ...bindings)
  const rows = cursor.toArray()
  meter.rowsWritten += cursor.rowsWritten
  return rows
}

type RowHead = { key: number; frames: number; sizes: ArrayBuffer; bytes: number }

/** Where frame `seq` starts: frame `index` of row `key`, at byte `offset` of its data. */
type Position = { seq: number; row: RowHead; index: number; offset: number }

export class SqliteFrameStore implements DurableFrameStore {
  /** Frames below this reached the reader: their rows may be overwritten. */
  #delivered = 0
  #hasTable: boolean | null = null
  /** Where the next read will most likely start (reads are sequential): saves a lookup per slice. */
  #next: Position | null = null
  /** Where a row of several frames is assembled, reused for every row (no row-sized garbage). */
  #scratch: Uint8Array | null = null

  constructor(
    private readonly sql: SqlStorage,
    private readonly meter: RowMeter = { rowsWritten: 0 },
    private readonly rowBytes = ROW_PAYLOAD_BYTES,
    /**
     * The table's name: a channel's own object has one (`frame_rows`); a session keeps one per HTTP
     * request whose client is slower than its function (engine/exchange.ts), so several can spill at once.
     */
    private readonly table = 'frame_rows',
  ) {
    if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new Error(`not a table name: ${table}`)
  }

  append(firstSeq: number, frames: readonly Frame[]): void {
    if (frames.length === 0) return
    this.#ensureTable()
    this.#scratch ??= new Uint8Array(this.rowBytes)
    packRowsInto(firstSeq, frames, this.rowBytes, this.#scratch, (row) => this.#write(row))
  }

  read(fromSeq: number, maxBytes: number): Frame[] {
    if (!this.#tableExists()) return []
    let at = this.#next?.seq === fromSeq ? this.#next : this.#locate(fromSeq)
    const out: Frame[] = []
    let bytes = 0
    while (at && (out.length === 0 || bytes < maxBytes)) {
      const entries = readSizes(new Uint8Array(at.row.sizes))
      if (entries.length === 1 && entries[0]!.bytes > at.row.bytes) {
        // One frame larger than a row: its parts are the rows keyed seq*ROW_PARTS + 0, 1, …
        const parts = this.#exec<{ data: ArrayBuffer }>('SELECT data FROM frame_rows WHERE key >= ? AND key < ? ORDER BY key', at.row.key, at.row.key + ROW_PARTS)
        const data = concat(parts.map((p) => new Uint8Array(p.data)))
        out.push(toFrame(data, entries[0]!.binary))
        bytes += data.byteLength
        at = this.#rowAfter(rowKey(at.seq + 1) - 1, at.seq + 1)
        continue
      }
      // As many whole frames of this row as the budget takes (one at least), in one read of its data.
      let end = at.index
      let length = 0
      while (end < entries.length && (end === at.index || bytes + length < maxBytes)) length += entries[end++]!.bytes
      const [slice] = this.#exec<{ data: ArrayBuffer | null }>('SELECT substr(data, ?, ?) AS data FROM frame_rows WHERE key = ?', at.offset + 1, length, at.row.key)
      out.push(...unpackFrames(entries.slice(at.index, end), new Uint8Array(slice?.data ?? new ArrayBuffer(0))))
      bytes += length
      const seq = at.seq + (end - at.index)
      at = end < entries.length ? { seq, row: at.row, index: end, offset: at.offset + length } : this.#rowAfter(at.row.key, seq)
    }
    this.#next = at
    return out
  }

  dropBelow(seq: number): void {
    this.#delivered = Math.max(this.#delivered, seq)
  }

  restore(delivered: number | null): StoredRange {
    this.#next = null
    this.#hasTable = null
    this.#migrateOneRowPerFrame()
    if (!this.#tableExists()) return this.#empty(delivered ?? 0)
    const [last] = this.#exec<{ key: number; frames: number }>('SELECT key, frames FROM frame_rows ORDER BY key DESC LIMIT 1')
    if (!last) return this.#empty(delivered ?? 0)
    const to = seqOfKey(last.key) + last.frames
    const [first] = this.#exec<{ key: number }>('SELECT key FROM frame_rows ORDER BY key LIMIT 1')
    const from = Math.min(delivered ?? seqOfKey(first!.key), to)
    this.#delivered = from
    const at = this.#locate(from)
    if (!at) return this.#empty(to)
    const [sum] = this.#exec<{ bytes: number }>('SELECT sum(length(data)) AS bytes FROM frame_rows WHERE key >= ?', at.row.key)
    return { from, to, bytes: sum!.bytes - at.offset }
  }

  /** The channel is over: everything goes (DROP TABLE writes no rows; a DELETE would write one each). */
  clear(): void {
    this.#exec('DROP TABLE IF EXISTS frame_rows')
    if (this.table === 'frame_rows') this.#exec('DROP TABLE IF EXISTS frames')
    this.#hasTable = false
    this.#next = null
  }

  /** A row goes where a delivered row was (renumbered: one row written), or is added. */
  #write(row: PackedRow): void {
    const [oldest] = this.#exec<{ key: number; frames: number }>('SELECT key, frames FROM frame_rows ORDER BY key LIMIT 1')
    if (oldest && seqOfKey(oldest.key) + oldest.frames <= this.#delivered) {
      if (this.#next?.row.key === oldest.key) this.#next = null
      this.#exec('UPDATE frame_rows SET key = ?, frames = ?, sizes = ?, data = ? WHERE key = ?', row.key, row.frames, row.sizes, row.data, oldest.key)
    } else {
      this.#exec('INSERT INTO frame_rows (key, frames, sizes, data) VALUES (?, ?, ?, ?)', row.key, row.frames, row.sizes, row.data)
    }
  }

  /** Where frame `seq` starts, or null when it is not stored. */
  #locate(seq: number): Position | null {
    // The row holding `seq` is the last row keyed at or before it (rows of delivered frames, which
    // may still be there, are all keyed lower).
    const [row] = this.#exec<RowHead>('SELECT key, frames, sizes, length(data) AS bytes FROM frame_rows WHERE key <= ? ORDER BY key DESC LIMIT 1', rowKey(seq))
    if (!row || row.key % ROW_PARTS !== 0) return null
    const index = seq - seqOfKey(row.key)
    if (index >= row.frames) return null
    const offset = readSizes(new Uint8Array(row.sizes))
      .slice(0, index)
      .reduce((n, e) => n + e.bytes, 0)
    return { seq, row, index, offset }
  }

  /** The first row keyed after `key`, which starts with frame `seq`; null at the end of what is stored. */
  #rowAfter(key: number, seq: number): Position | null {
    const [row] = this.#exec<RowHead>('SELECT key, frames, sizes, length(data) AS bytes FROM frame_rows WHERE key > ? ORDER BY key LIMIT 1', key)
    return row && seqOfKey(row.key) === seq ? { seq, row, index: 0, offset: 0 } : null
  }

  #empty(at: number): StoredRange {
    this.#delivered = at
    return { from: at, to: at, bytes: 0 }
  }

  #ensureTable(): void {
    if (this.#tableExists()) return
    this.#exec(FRAME_ROWS_SCHEMA)
    this.#hasTable = true
  }

  #tableExists(): boolean {
    this.#hasTable ??= this.#exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'frame_rows'").length > 0
    return this.#hasTable
  }

  /**
   * Channels stored before rows were packed kept one row per frame in `frames(seq, data)`; storage
   * outlives a deploy, so a late reader may still come for them. Repacked once, in row-sized steps.
   */
  #migrateOneRowPerFrame(): void {
    if (this.table !== 'frame_rows') return
    if (this.#exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'frames'").length === 0) return
    for (let from = -1; ; ) {
      const rows = this.#exec<{ seq: number; data: string | ArrayBuffer }>('SELECT seq, data FROM frames WHERE seq > ? ORDER BY seq LIMIT 64', from)
      if (rows.length === 0) break
      this.append(rows[0]!.seq, rows.map((r) => (typeof r.data === 'string' ? r.data : new Uint8Array(r.data))))
      from = rows[rows.length - 1]!.seq
    }
    this.#exec('DROP TABLE frames')
  }

  /** Every statement names `frame_rows`: it is this store's table, whatever it is called. */
  #exec<T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]): T[] {
    return execCounted<T>(this.sql, this.meter, this.table === 'frame_rows' ? query : query.replaceAll('frame_rows', this.table), ...bindings)
  }
}
