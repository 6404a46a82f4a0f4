// Row packing of spilled frames (the layout the SQLite store writes).
import { describe, expect, it } from 'vitest'
import { ROW_PARTS, packRows, readSizes, unpackFrames } from '../../src/channel/packing'

describe('packRows', () => {
  it('fills a row with whole frames and starts the next when one would not fit', () => {
    const frames = ['aaaa', new Uint8Array(3), 'bb', 'cccccc']
    const rows = packRows(10, frames, 10)
    expect(rows.map((r) => [r.key / ROW_PARTS, r.frames, r.data.byteLength])).toEqual([
      [10, 3, 9],
      [13, 1, 6],
    ])
    expect(unpackFrames(readSizes(rows[0]!.sizes), rows[0]!.data)).toEqual(['aaaa', new Uint8Array(3), 'bb'])
  })

  it('splits a frame larger than a row into parts of its own, keyed after its seq', () => {
    const rows = packRows(0, ['x', new Uint8Array(25), 'y'], 10)
    expect(rows.map((r) => [r.key, r.frames, r.data.byteLength])).toEqual([
      [0, 1, 1],
      [ROW_PARTS, 1, 10],
      [ROW_PARTS + 1, 1, 10],
      [ROW_PARTS + 2, 1, 5],
      [2 * ROW_PARTS, 1, 1],
    ])
    expect(readSizes(rows[2]!.sizes)).toEqual([{ bytes: 25, binary: true }])
  })

  it('measures text in UTF-8 bytes', () => {
    const [row] = packRows(0, ['é€😀'], 100)
    expect(readSizes(row!.sizes)).toEqual([{ bytes: 9, binary: false }])
    expect(unpackFrames(readSizes(row!.sizes), row!.data)).toEqual(['é€😀'])
  })
})
