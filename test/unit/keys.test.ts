// Channel keys are signed over the whole channel id: the front door can refuse a forged key, a key
// of the other end, a key of another channel, or an id whose buffer size or namespace was changed.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { constantTimeEqual, keySigned, sameSecret, signingKeyFor } from '../../src/channel/keys'
import { mintChannel } from '../../src/channel/mint'
import { parseChannelId } from '../../src/protocol/refs'

const now = Date.UTC(2026, 10, 30)

describe('mintChannel', () => {
  it('makes one id, two distinct keys, each signed for its own direction only', async () => {
    const key = await signingKeyFor('unit-secret')
    const { writer, reader } = await mintChannel(key, { bufferSize: 8, namespace: 'team-a', now })
    expect(writer.channel_id).toBe(reader.channel_id)
    expect(parseChannelId(writer.channel_id)).toMatchObject({ bufferSize: 8, namespace: 'team-a', createdAt: now / 1000 })
    expect(writer.access_key).not.toBe(reader.access_key)
    expect(await keySigned(writer.access_key, writer.channel_id, 'write', key)).toBe(true)
    expect(await keySigned(reader.access_key, reader.channel_id, 'read', key)).toBe(true)
    expect(await keySigned(reader.access_key, reader.channel_id, 'write', key)).toBe(false)
    expect(await keySigned(writer.access_key, writer.channel_id, 'read', key)).toBe(false)
  })

  it('refuses a key under another secret, for another id, or for an edited id (buffer size, namespace)', async () => {
    const key = await signingKeyFor('unit-secret')
    const other = await signingKeyFor('another-secret')
    const { writer } = await mintChannel(key, { bufferSize: 8, namespace: '', now })
    const { writer: second } = await mintChannel(key, { bufferSize: 8, namespace: '', now })
    expect(await keySigned(writer.access_key, writer.channel_id, 'write', other)).toBe(false)
    expect(await keySigned(writer.access_key, second.channel_id, 'write', key)).toBe(false)
    expect(await keySigned(writer.access_key, writer.channel_id.replace(/\.8$/, '.1024'), 'write', key)).toBe(false)
    expect(await keySigned(writer.access_key, `${writer.channel_id}.team-a`, 'write', key)).toBe(false)
  })

  it('refuses every single-bit change of a key (property)', async () => {
    const key = await signingKeyFor('unit-secret')
    const { reader } = await mintChannel(key, { bufferSize: 64, namespace: '', now })
    const bytes = Buffer.from(reader.access_key, 'base64url')
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: bytes.length * 8 - 1 }), async (bit) => {
        const flipped = Buffer.from(bytes)
        flipped[bit >> 3]! ^= 1 << (bit & 7)
        expect(await keySigned(flipped.toString('base64url'), reader.channel_id, 'read', key)).toBe(false)
      }),
      { numRuns: 100 },
    )
  })
})

describe('comparisons', () => {
  it('constantTimeEqual compares bytes and lengths', () => {
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true)
    expect(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false)
    expect(constantTimeEqual(new Uint8Array([1]), new Uint8Array([1, 0]))).toBe(false)
  })

  it('sameSecret never accepts an empty token', async () => {
    expect(await sameSecret('tok', 'tok')).toBe(true)
    expect(await sameSecret('', '')).toBe(false)
    expect(await sameSecret('tok2', 'tok')).toBe(false)
  })
})
