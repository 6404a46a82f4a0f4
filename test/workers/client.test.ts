// The web-standard client (src/client) inside workerd, against the real Channel object: sockets are
// upgraded through the front door (`upgradeViaFetch` over the Worker's own fetch), which also shows statuses.
import { describe, expect, it } from 'vitest'
import {
  ChannelClosedError,
  ChannelNotFoundError,
  type ChannelReader,
  type FetchLike,
  createChannel,
  openChannel,
  upgradeViaFetch,
} from '../../src/client'
import { BASE, chunk, frontDoor, waitFor } from './support'

const fetcher: FetchLike = (input, init) => frontDoor(input, init)
const webSocket = upgradeViaFetch(fetcher)
const refs = () => createChannel(BASE, { fetch: fetcher })

async function digest(parts: Uint8Array[]): Promise<string> {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    all.set(p, at)
    at += p.byteLength
  }
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', all))].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** Reads everything; `pauseEvery` frames it lets the channel run (a slow consumer). */
async function drain(reader: ChannelReader, pauseEvery = 0): Promise<{ parts: Uint8Array[]; error?: unknown }> {
  const parts: Uint8Array[] = []
  const r = reader.readable.getReader()
  try {
    for (;;) {
      const { done, value } = await r.read()
      if (done) return { parts }
      parts.push(value)
      if (pauseEvery && parts.length % pauseEvery === 0) await new Promise((res) => setTimeout(res, 1))
    }
  } catch (error) {
    return { parts, error }
  }
}

describe('channel client in workerd', () => {
  it('moves 1.5 MiB and text messages writer -> reader, byte-exact, ending with 1000', async () => {
    const { writer: wref, reader: rref } = await refs()
    const messages: string[] = []
    const reader = await openChannel(BASE, rref, { webSocket, onMessage: (t) => messages.push(t) })
    const writer = await openChannel(BASE, wref, { webSocket })
    const parts = [chunk(1, 1024 * 1024 + 17), chunk(2, 512 * 1024), chunk(3, 5)] // under the 2 MiB quota of this project
    const reading = drain(reader, 3)
    const w = writer.writable.getWriter()
    await writer.sendMessage('start')
    for (const p of parts) await w.write(p)
    await writer.sendMessage('end')
    await w.close()
    const got = await reading
    expect(got.error).toBeUndefined()
    expect(await digest(got.parts)).toBe(await digest(parts))
    expect(Math.max(...got.parts.map((p) => p.byteLength))).toBe(64 * 1024)
    expect(messages).toEqual(['start', 'end'])
    expect(await reader.closed).toEqual({ code: 1000, reason: 'stream_complete' })
  })

  it('with a window, holds the rest back until the consumer reads, and then gets everything', async () => {
    const { writer: wref, reader: rref } = await refs()
    const reader = await openChannel(BASE, rref, { webSocket, window: 64 * 1024 })
    const writer = await openChannel(BASE, wref, { webSocket })
    const parts = Array.from({ length: 16 }, (_, i) => chunk(10 + i, 32 * 1024))
    const w = writer.writable.getWriter()
    for (const p of parts) await w.write(p)
    await waitFor(() => reader.bytesReceived >= 64 * 1024, 'the first window')
    await new Promise((r) => setTimeout(r, 50))
    expect(reader.bytesReceived).toBe(64 * 1024) // nobody read: no acks, nothing more in flight
    const reading = drain(reader, 2)
    await w.close()
    const got = await reading
    expect(got.error).toBeUndefined()
    expect(await digest(got.parts)).toBe(await digest(parts))
  })

  it("a writer's abort reaches the reader as 4001 writer_lost, after what came before", async () => {
    const { writer: wref, reader: rref } = await refs()
    const reader = await openChannel(BASE, rref, { webSocket })
    const writer = await openChannel(BASE, wref, { webSocket })
    const w = writer.writable.getWriter()
    await w.write(chunk(4, 1000))
    await waitFor(() => reader.bytesReceived === 1000, 'the first bytes')
    await w.abort(new Error('upload cancelled'))
    const got = await drain(reader)
    expect(got.parts.map((p) => p.byteLength)).toEqual([1000])
    expect(got.error).toBeInstanceOf(ChannelClosedError)
    expect(got.error).toMatchObject({ code: 4001, kind: 'writer_lost', reason: 'writer lost (close 3000: upload cancelled)' })
  })

  it('a reader that cancels makes the next write fail with 4002 reader_gone', async () => {
    const { writer: wref, reader: rref } = await refs()
    const reader = await openChannel(BASE, rref, { webSocket })
    const writer = await openChannel(BASE, wref, { webSocket })
    await reader.cancel('seen enough')
    const end = await writer.closed
    expect(end.code).toBe(4002)
    const error = await writer.writable.getWriter().write(chunk(5, 10)).catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'ChannelClosedError', code: 4002, kind: 'reader_gone' })
  })

  it('frames over CHANNEL_MAX_FRAME_BYTES end both sides with 1009 frame_too_large', async () => {
    const { writer: wref, reader: rref } = await refs()
    const reader = await openChannel(BASE, rref, { webSocket })
    const writer = await openChannel(BASE, wref, { webSocket, frameBytes: 2 * 1024 * 1024 })
    const w = writer.writable.getWriter()
    void w.write(chunk(6, 1024 * 1024 + 1)).catch(() => {})
    expect((await writer.closed).code).toBe(1009)
    const got = await drain(reader)
    expect(got.error).toMatchObject({ code: 1009, kind: 'frame_too_large' })
  })

  it('more than the storage quota without a reader ends the writer with 1013 quota', async () => {
    const { writer: wref } = await refs() // the workers project sets a 2 MiB quota
    const writer = await openChannel(BASE, wref, { webSocket })
    const w = writer.writable.getWriter()
    const error = await (async () => {
      for (let i = 0; i < 64; i++) await w.write(chunk(i, 64 * 1024))
      await new Promise((r) => setTimeout(r, 50))
      await w.write(chunk(99, 10))
    })().catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 1013, kind: 'quota' })
  })

  it('typed refusals: a wrong key is 404 ChannelNotFoundError; a taken end closes with 1008', async () => {
    const { writer: wref, reader: rref } = await refs()
    const wrong = { ...rref, access_key: wref.access_key }
    await expect(openChannel(BASE, wrong, { webSocket })).rejects.toBeInstanceOf(ChannelNotFoundError)
    const first = await openChannel(BASE, rref, { webSocket })
    const second = await openChannel(BASE, rref, { webSocket })
    expect(await drain(second)).toMatchObject({ error: { code: 1008, kind: 'end_taken' } })
    await first.cancel()
  })
})
