// SQLite layout of a channel Durable Object. Tables:
//   channel(id = 1, channel_id, buffer_size, namespace, created_at, opened_at, ends JSON, finished)
//                                          one row, written on the first connect, on connect and
//                                          close, and kept as a tombstone after the end (object.ts)
//   frames(seq INTEGER PRIMARY KEY, data)  undelivered frames; `data` is TEXT for text frames and
//                                          BLOB for binary ones, so the opcode survives storage
// Frames are written in batches (one implicit transaction per event) and deleted as the reader
// receives them, so an idle channel holds only what nobody has read yet.

import type { FrameStore, StoredRange } from './core'
import type { Frame } from './frame'

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
  CREATE TABLE IF NOT EXISTS frames (seq INTEGER PRIMARY KEY, data ANY) STRICT;
`

export class SqliteFrameStore implements FrameStore {
  constructor(private readonly sql: SqlStorage) {}

  append(firstSeq: number, frames: readonly Frame[]): void {
    frames.forEach((frame, i) => this.sql.exec('INSERT INTO frames (seq, data) VALUES (?, ?)', firstSeq + i, frame))
  }

  read(fromSeq: number, maxBytes: number): Frame[] {
    const frames: Frame[] = []
    let bytes = 0
    const rows = this.sql.exec<{ data: string | ArrayBuffer }>(
      'SELECT data FROM frames WHERE seq >= ? ORDER BY seq',
      fromSeq,
    )
    for (const { data } of rows) {
      const frame = typeof data === 'string' ? data : new Uint8Array(data)
      frames.push(frame)
      bytes += typeof frame === 'string' ? frame.length : frame.byteLength
      if (bytes >= maxBytes) break
    }
    return frames
  }

  dropBelow(seq: number): void {
    this.sql.exec('DELETE FROM frames WHERE seq < ?', seq)
  }

  /** The stored range, rebuilt from the rows themselves after the object wakes. */
  range(): StoredRange {
    const row = this.sql
      .exec<{ lo: number | null; hi: number | null; bytes: number | null }>(
        'SELECT min(seq) AS lo, max(seq) AS hi, sum(length(CAST(data AS BLOB))) AS bytes FROM frames',
      )
      .one()
    if (row.lo === null || row.hi === null) return { from: 0, to: 0, bytes: 0 }
    return { from: row.lo, to: row.hi + 1, bytes: row.bytes ?? 0 }
  }
}
