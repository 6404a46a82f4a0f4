// How spilled frames are laid out in storage rows, free of Workers APIs (the SQLite store uses it,
// the unit tests check it in Node). Cloudflare bills every row written and counts a DELETE as a row
// written, so consecutive frames share a row of up to ROW_PAYLOAD_BYTES, and a row is reused rather
// than deleted (sqlite-store.ts).
//
// A row holds whole frames back to back, with a size index: one little-endian u32 per frame,
// `byteLength * 2 + (binary ? 1 : 0)`, so frame boundaries and text/binary survive storage. Text is
// stored as UTF-8. A frame larger than a row (possible only when CHANNEL_MAX_FRAME_BYTES is raised
// above ROW_PAYLOAD_BYTES; workerd accepts messages up to 32 MiB) is split over rows of its own,
// `part` 0, 1, …, each carrying the whole frame's size entry, and rejoined on reading.

import type { Frame } from './frame'

/**
 * Frame bytes one row holds: 30 of the SDK's 64 KiB frames, 1,966,080 bytes. Cloudflare's limit
 * for a row (and for one BLOB) is 2 MB (2,000,000 bytes); this leaves room for the size index
 * (4 bytes per frame, at most 1,024 frames per batch: 4 KiB) and the other columns.
 */
export const ROW_PAYLOAD_BYTES = 30 * 65_536

/** Rows one frame may be split over: a row's key is `seq * ROW_PARTS + part`. */
export const ROW_PARTS = 1024

/** Largest frame the layout can hold (far above workerd's 32 MiB message limit). */
export const MAX_STORED_FRAME_BYTES = ROW_PARTS * ROW_PAYLOAD_BYTES

export interface PackedRow {
  /** `seq * ROW_PARTS + part`, with `seq` the row's first frame: rows sort in stream order. */
  key: number
  /** Whole frames that start in this row (1 for each part of a split frame). */
  frames: number
  /** The size index: one u32 per frame. */
  sizes: Uint8Array
  data: Uint8Array
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const rowKey = (seq: number, part = 0) => seq * ROW_PARTS + part
export const seqOfKey = (key: number) => Math.floor(key / ROW_PARTS)

/** A frame's size entry: its byte length and whether it is binary. */
export interface SizeEntry {
  bytes: number
  binary: boolean
}

export function readSizes(sizes: Uint8Array): SizeEntry[] {
  const view = new DataView(sizes.buffer, sizes.byteOffset, sizes.byteLength)
  const out: SizeEntry[] = []
  for (let at = 0; at + 4 <= sizes.byteLength; at += 4) {
    const v = view.getUint32(at, true)
    out.push({ bytes: Math.floor(v / 2), binary: v % 2 === 1 })
  }
  return out
}

function writeSizes(entries: readonly SizeEntry[]): Uint8Array {
  const out = new Uint8Array(entries.length * 4)
  const view = new DataView(out.buffer)
  entries.forEach((e, i) => view.setUint32(i * 4, e.bytes * 2 + (e.binary ? 1 : 0), true))
  return out
}

const asBytes = (frame: Frame) => (typeof frame === 'string' ? encoder.encode(frame) : frame)

/**
 * Packs frames `firstSeq`, `firstSeq + 1`, … into rows of at most `rowBytes` frame bytes (whole
 * frames while they fit, a frame larger than a row in parts of its own) and hands each row to
 * `write` as soon as it is complete. Rows of several frames are assembled in `scratch`, which the
 * next row overwrites: `write` must be done with a row's data when it returns (SQLite copies it).
 * So packing leaves no row-sized buffers for the garbage collector.
 */
export function packRowsInto(firstSeq: number, frames: readonly Frame[], rowBytes: number, scratch: Uint8Array, write: (row: PackedRow) => void): void {
  let seq = firstSeq
  let open: { seq: number; entries: SizeEntry[]; first: Uint8Array; bytes: number } | null = null
  const close = () => {
    if (!open) return
    // One frame alone is written from its own bytes, no copy.
    const data = open.entries.length === 1 ? open.first : scratch.subarray(0, open.bytes)
    write({ key: rowKey(open.seq), frames: open.entries.length, sizes: writeSizes(open.entries), data })
    open = null
  }
  for (const frame of frames) {
    const bytes = asBytes(frame)
    const entry = { bytes: bytes.byteLength, binary: typeof frame !== 'string' }
    if (bytes.byteLength > rowBytes) {
      close()
      if (bytes.byteLength > ROW_PARTS * rowBytes) throw new Error(`frame of ${bytes.byteLength} bytes is larger than storage can hold`)
      for (let part = 0, at = 0; at < bytes.byteLength; part++, at += rowBytes) {
        write({ key: rowKey(seq, part), frames: 1, sizes: writeSizes([entry]), data: bytes.subarray(at, at + rowBytes) })
      }
    } else {
      if (open && open.bytes + bytes.byteLength > rowBytes) close()
      if (!open) open = { seq, entries: [], first: bytes, bytes: 0 }
      else if (open.entries.length === 1) scratch.set(open.first) // a second frame: assemble in scratch
      if (open.entries.length > 0) scratch.set(bytes, open.bytes)
      open.entries.push(entry)
      open.bytes += bytes.byteLength
    }
    seq++
  }
  close()
}

/** `packRowsInto`, collecting rows with their own copies of the data (for tests and one-off use). */
export function packRows(firstSeq: number, frames: readonly Frame[], rowBytes = ROW_PAYLOAD_BYTES): PackedRow[] {
  const rows: PackedRow[] = []
  packRowsInto(firstSeq, frames, rowBytes, new Uint8Array(rowBytes), (row) => rows.push({ ...row, data: row.data.slice() }))
  return rows
}

/** Frames cut out of `data` (bytes of consecutive whole frames) by their size entries. */
export function unpackFrames(entries: readonly SizeEntry[], data: Uint8Array): Frame[] {
  const frames: Frame[] = []
  let at = 0
  for (const { bytes, binary } of entries) {
    frames.push(toFrame(data.subarray(at, at + bytes), binary))
    at += bytes
  }
  return frames
}

/** A frame from its stored bytes (copied, so it does not keep a whole row alive). */
export function toFrame(bytes: Uint8Array, binary: boolean): Frame {
  return binary ? bytes.slice() : decoder.decode(bytes)
}

export function concat(chunks: readonly Uint8Array[], total = chunks.reduce((n, c) => n + c.byteLength, 0)): Uint8Array {
  if (chunks.length === 1) return chunks[0]!
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}
