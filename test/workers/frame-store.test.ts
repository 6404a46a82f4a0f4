// The SQLite frame store inside a Durable Object: the same cases as the in-memory store the unit
// tests use, then what only SQLite shows (rows written, the old one-row-per-frame layout).
import { env } from 'cloudflare:workers'
import { runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { ROW_PAYLOAD_BYTES } from '../../src/channel/packing'
import { type RowMeter, SqliteFrameStore } from '../../src/channel/sqlite-store'
import { frameStoreCases } from '../cases/frame-store.cases'

let objects = 0
/** Runs `fn` with the SQLite storage of a Durable Object nobody else uses. */
function inFreshObject<R>(fn: (sql: SqlStorage) => R): Promise<R> {
  const stub = env.CHANNEL.get(env.CHANNEL.idFromName(`frame-store-${++objects}`))
  return runInDurableObject(stub, (_obj, state) => fn(state.storage.sql))
}

describe('SqliteFrameStore: the shared cases, with 100-byte rows', () => {
  for (const c of frameStoreCases) {
    it(c.name, () =>
      inFreshObject((sql) => {
        c.run({ store: new SqliteFrameStore(sql, { rowsWritten: 0 }, 100), wake: () => new SqliteFrameStore(sql, { rowsWritten: 0 }, 100), rowBytes: 100 })
      }),
    )
  }
})

describe('SqliteFrameStore rows written', () => {
  const MiB = 1 << 20
  const frame = new Uint8Array(64 * 1024)
  /** Spills `total` bytes of 64 KiB frames in batches of one row, delivers them all, then ends. */
  function spill(sql: SqlStorage, total: number, deliverAsWritten: boolean) {
    const meter: RowMeter = { rowsWritten: 0 }
    const store = new SqliteFrameStore(sql, meter)
    const perBatch = Math.floor(ROW_PAYLOAD_BYTES / frame.byteLength) // what ChannelCore batches
    let seq = 0
    let delivered = 0
    let mostRows = 0
    const deliver = () => {
      while (store.read(delivered, MiB).length > 0) delivered += store.read(delivered, MiB).length
      store.dropBelow(delivered)
    }
    while (seq * frame.byteLength < total) {
      store.append(seq, Array(perBatch).fill(frame))
      seq += perBatch
      if (deliverAsWritten) deliver()
      mostRows = Math.max(mostRows, sql.exec('SELECT count(*) AS n FROM frame_rows').one().n as number)
    }
    deliver()
    expect(delivered).toBe(seq)
    store.clear()
    return { rows: meter.rowsWritten, bytes: seq * frame.byteLength, mostRows }
  }

  it('costs at most one row written per 1.95 MB spilled, delivery and the end included', () =>
    inFreshObject((sql) => {
      // An absent reader: everything is stored first, then read.
      const absent = spill(sql, 64 * MiB, false)
      expect(absent.rows).toBeLessThanOrEqual(Math.ceil(absent.bytes / 1.95e6) + 2) // + the table's creation
      // A slow reader: the backlog stays small and rows are overwritten, never deleted.
      const slow = spill(sql, 64 * MiB, true)
      expect(slow.rows).toBeLessThanOrEqual(Math.ceil(slow.bytes / 1.95e6) + 2)
      expect(slow.mostRows).toBeLessThanOrEqual(2) // storage stays the size of the backlog
    }))

  it('leaves no cursor open: the table can be dropped after partial reads', () =>
    inFreshObject((sql) => {
      const store = new SqliteFrameStore(sql, { rowsWritten: 0 }, 10)
      store.append(0, ['aaaaaaaa', 'bbbbbbbb', 'cccccccc'])
      expect(store.read(0, 1)).toEqual(['aaaaaaaa'])
      store.clear()
      expect(sql.exec("SELECT count(*) AS n FROM sqlite_master WHERE name = 'frame_rows'").one().n).toBe(0)
    }))

  it('repacks frames stored one row each (the layout before packing) when the object wakes', () =>
    inFreshObject((sql) => {
      sql.exec('CREATE TABLE frames (seq INTEGER PRIMARY KEY, data ANY) STRICT')
      const old = ['text é', new Uint8Array([1, 2, 3]), '', new Uint8Array(0)]
      old.forEach((f, i) => sql.exec('INSERT INTO frames (seq, data) VALUES (?, ?)', 7 + i, f))
      const store = new SqliteFrameStore(sql)
      expect(store.restore(null)).toEqual({ from: 7, to: 11, bytes: 10 })
      expect(store.read(7, 1 << 20)).toEqual(old)
      expect(sql.exec("SELECT count(*) AS n FROM sqlite_master WHERE name = 'frames'").one().n).toBe(0)
    }))
})
