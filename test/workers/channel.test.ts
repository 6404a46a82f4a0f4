// The Channel Durable Object in workerd: relay, late reader, ends, eviction, TTL.
import { env } from 'cloudflare:workers'
import { evictDurableObject, listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { signingKeyFor } from '../../src/channel/keys'
import { mintChannel } from '../../src/channel/mint'
import { describe, expect, it } from 'vitest'
import { CloseCode } from '../../src/protocol/close-codes'
import { chunk, concat, connect, createChannel, waitFor, frontDoor } from './support'

const stubOf = (channelId: string) => env.CHANNEL.get(env.CHANNEL.idFromName(channelId))

/**
 * Storage left by a channel, read from a fresh instance: a finished channel drops its object with
 * `ctx.abort()`, and calls that race the drop fail with its reason ("channel finished"), so retry.
 */
async function leftovers(channelId: string) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await runInDurableObject(stubOf(channelId), async (_obj, state) => ({
        alarm: await state.storage.getAlarm(),
        tables: state.storage.sql
          .exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' ORDER BY name")
          .toArray()
          .map((row) => row.name),
        frames: state.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'frame_rows'").toArray().length
          ? state.storage.sql.exec('SELECT sum(frames) AS n FROM frame_rows').one().n ?? 0
          : 0,
      }))
    } catch (err) {
      if (attempt >= 50 || !String(err).includes('channel finished')) throw err
      await new Promise((r) => setTimeout(r, 10))
    }
  }
}

/** Undelivered frames as the object itself counts them (memory + storage), from its status counters. */
const backlogOf = async (channelId: string) => ({ frames: (await stubOf(channelId).stats())?.backlog_frames ?? 0 })

describe('relay', () => {
  it('relays binary and text frames 1:1, in order, with their type', async () => {
    const refs = await createChannel()
    const reader = await connect(refs.reader)
    const writer = await connect(refs.writer)
    const sent = [chunk(1, 65536), 'progress 1', chunk(2, 10), '', chunk(3, 0), 'done']
    for (const frame of sent) writer.ws.send(frame)
    writer.ws.close(1000, 'stream_complete')
    expect(await reader.closed).toEqual({ code: 1000, reason: 'stream_complete' })
    expect(reader.frames).toEqual(sent)
  })

  it('serves the channel socket under a path prefix too', async () => {
    const refs = await createChannel()
    const reader = await connect(refs.reader, '/iii')
    const writer = await connect(refs.writer, '/iii/deeper')
    writer.ws.send('hi')
    writer.ws.close(1000)
    expect((await reader.closed).code).toBe(1000)
    expect(reader.frames).toEqual(['hi'])
  })

  it('keeps everything for a reader that connects after the writer finished', async () => {
    const refs = await createChannel(4)
    const writer = await connect(refs.writer)
    const sent = Array.from({ length: 40 }, (_, i) => (i % 5 === 0 ? `text ${i}` : chunk(i, 4096 + i)))
    for (const frame of sent) writer.ws.send(frame)
    writer.ws.close(1000, 'stream_complete')
    await writer.closed
    const reader = await connect(refs.reader)
    expect((await reader.closed).code).toBe(1000)
    expect(reader.frames).toEqual(sent)
  })
})

describe('ends', () => {
  it('tells the reader a writer that vanished without a clean Close (4001), after all data', async () => {
    const refs = await createChannel()
    const reader = await connect(refs.reader)
    const writer = await connect(refs.writer)
    writer.ws.send(chunk(7, 1000))
    writer.ws.close(4999, 'crashed') // any non-1000 code stands for an abnormal end
    const closed = await reader.closed
    expect(closed.code).toBe(CloseCode.WriterLost)
    expect(closed.reason).toMatch(/writer lost/)
    expect(reader.frames).toEqual([chunk(7, 1000)])
  })

  it('closes the writer with 4002 when the reader goes away', async () => {
    const refs = await createChannel()
    const reader = await connect(refs.reader)
    const writer = await connect(refs.writer)
    reader.ws.close(1000, 'bye')
    const closed = await writer.closed
    expect(closed.code).toBe(CloseCode.ReaderGone)
  })

  it('accepts a second socket for a taken end and closes it with 1008; the first keeps working', async () => {
    const refs = await createChannel()
    const writer = await connect(refs.writer)
    const second = await connect(refs.writer)
    expect(await second.closed).toMatchObject({ code: CloseCode.EndTaken, reason: 'channel writer already connected' })
    const reader = await connect(refs.reader)
    const readerTwo = await connect(refs.reader)
    expect((await readerTwo.closed).code).toBe(CloseCode.EndTaken)
    writer.ws.send('still here')
    writer.ws.close(1000)
    expect((await reader.closed).code).toBe(1000)
    expect(reader.frames).toEqual(['still here'])
  })

  it('answers 404 for a wrong key, a reader key used to write, and an unknown channel', async () => {
    const refs = await createChannel()
        const upgrade = { headers: { Upgrade: 'websocket' } }
    const url = (id: string, key: string, dir: string) => `http://localhost/ws/channels/${id}?key=${key}&dir=${dir}`
    expect((await frontDoor(url(refs.writer.channel_id, refs.reader.access_key, 'write'), upgrade)).status).toBe(404)
    expect((await frontDoor(url(refs.writer.channel_id, 'A'.repeat(43), 'read'), upgrade)).status).toBe(404)
    expect((await frontDoor(url(crypto.randomUUID(), refs.reader.access_key, 'read'), upgrade)).status).toBe(404)
  })

  it('closes the writer with 1009 on a frame over CHANNEL_MAX_FRAME_BYTES; the reader gets what came before', async () => {
    const refs = await createChannel()
    const reader = await connect(refs.reader)
    const writer = await connect(refs.writer)
    writer.ws.send(chunk(1, 100))
    writer.ws.send(new Uint8Array(Number(env.CHANNEL_MAX_FRAME_BYTES) + 1))
    expect((await writer.closed).code).toBe(CloseCode.FrameTooLarge)
    const closed = await reader.closed
    expect(closed.code).toBe(CloseCode.FrameTooLarge)
    expect(closed.reason).toMatch(/frame too large/)
    expect(reader.frames).toEqual([chunk(1, 100)])
  })
})

describe('signed keys', () => {
  it('refuses at the front door a key that is not signed for this channel and direction', async () => {
    const refs = await createChannel()
    const other = await createChannel()
        const upgrade = { headers: { Upgrade: 'websocket' } }
    const url = (id: string, key: string, dir: string) => `http://localhost/ws/channels/${id}?key=${encodeURIComponent(key)}&dir=${dir}`
    // A reader key used to write, a key of another channel, a flipped bit: all 404.
    expect((await frontDoor(url(refs.writer.channel_id, refs.reader.access_key, 'write'), upgrade)).status).toBe(404)
    expect((await frontDoor(url(refs.writer.channel_id, other.writer.access_key, 'write'), upgrade)).status).toBe(404)
    const key = refs.writer.access_key
    const flipped = key.slice(0, 30) + (key[30] === 'A' ? 'B' : 'A') + key.slice(31)
    expect((await frontDoor(url(refs.writer.channel_id, flipped, 'write'), upgrade)).status).toBe(404)
    expect((await frontDoor(url(refs.writer.channel_id, key, 'write'), upgrade)).status).toBe(101)
  })
})

describe('flow control', () => {
  const settle = () => new Promise((r) => setTimeout(r, 50))

  it('keeps at most a window of unacknowledged bytes in flight to a reader that asks for one', async () => {
    const refs = await createChannel()
    const reader = await connect(refs.reader, '', '&window=65536')
    const writer = await connect(refs.writer)
    const frames = Array.from({ length: 12 }, (_, i) => chunk(i, 32 * 1024))
    for (const frame of frames) writer.ws.send(frame)
    writer.ws.close(1000)
    await settle()
    expect(reader.frames.length).toBe(2) // 64 KiB in flight: the window
    reader.ws.send(JSON.stringify({ type: 'ack', bytes: 32 * 1024 }))
    await settle()
    expect(reader.frames.length).toBe(3)
    await evictDurableObject(stubOf(refs.writer.channel_id)) // the window survives the object sleeping
    let consumed = 3 * 32 * 1024
    for (let i = 0; i < 20 && reader.frames.length < 12; i++) {
      reader.ws.send(JSON.stringify({ type: 'ack', bytes: consumed }))
      await settle()
      consumed = reader.frames.length * 32 * 1024
    }
    expect((await reader.closed).code).toBe(1000)
    expect(reader.frames).toEqual(frames)
  })

  it('refuses a window on a writer and one out of range (400)', async () => {
    const refs = await createChannel()
        const upgrade = { headers: { Upgrade: 'websocket' } }
    const base = (ref: typeof refs.reader) => `http://localhost/ws/channels/${ref.channel_id}?key=${encodeURIComponent(ref.access_key)}&dir=${ref.direction}`
    expect((await frontDoor(base(refs.writer) + '&window=65536', upgrade)).status).toBe(400)
    expect((await frontDoor(base(refs.reader) + '&window=10', upgrade)).status).toBe(400)
  })
})

describe('storage quota', () => {
  it('closes the writer with 1013 naming the limit; the reader still gets every accepted frame', async () => {
    const quota = Number(env.CHANNEL_STORAGE_QUOTA_BYTES)
    const refs = await createChannel()
    const writer = await connect(refs.writer)
    const frames = Array.from({ length: Math.ceil(quota / 65536) + 4 }, (_, i) => chunk(i, 65536))
    for (const frame of frames) writer.ws.send(frame)
    const closed = await writer.closed
    expect(closed).toEqual({ code: CloseCode.QuotaExceeded, reason: 'channel buffer quota exceeded (limit 2 MiB)' })
    const reader = await connect(refs.reader)
    const end = await reader.closed
    expect(end.code).toBe(CloseCode.QuotaExceeded)
    const accepted = Math.floor(quota / 65536)
    expect(reader.frames.length).toBe(accepted)
    expect(concat(reader.frames)).toEqual(concat(frames.slice(0, accepted)))
  })
})

describe('eviction', () => {
  it('delivers byte-exact after the object is evicted mid-transfer with undelivered frames', async () => {
    const refs = await createChannel(8)
    const writer = await connect(refs.writer)
    const sent: Uint8Array[] = []
    const send = (n: number) => {
      for (let i = 0; i < n; i++) {
        const frame = chunk(sent.length, 1024 + ((sent.length * 97) % 60000))
        sent.push(frame)
        writer.ws.send(frame)
      }
    }
    send(50)
    // Wait until the object has taken every frame in, then evict it (sockets stay, hibernated).
    let backlog = 0
    for (let i = 0; i < 200 && backlog < 50; i++) {
      backlog = (await backlogOf(refs.writer.channel_id)).frames
      if (backlog < 50) await new Promise((r) => setTimeout(r, 5))
    }
    expect(backlog).toBe(50)
    await evictDurableObject(stubOf(refs.writer.channel_id))
    send(30) // the object wakes up again for these
    const reader = await connect(refs.reader)
    await waitFor(() => reader.frames.length >= 40, 'some frames delivered')
    await evictDurableObject(stubOf(refs.writer.channel_id))
    send(20)
    writer.ws.close(1000, 'stream_complete')
    expect((await reader.closed).code).toBe(1000)
    expect(reader.frames.length).toBe(sent.length)
    expect(concat(reader.frames)).toEqual(concat(sent))
  })

  it('a reader part-way through a stored row when the object sleeps gets the rest once, nothing twice', async () => {
    const refs = await createChannel()
    const writer = await connect(refs.writer)
    const frames = Array.from({ length: 12 }, (_, i) => chunk(i + 100, 32 * 1024)) // one storage row
    for (const frame of frames) writer.ws.send(frame)
    writer.ws.close(1000)
    await writer.closed
    const reader = await connect(refs.reader, '', '&window=65536')
    await waitFor(() => reader.frames.length === 2, 'the first window')
    // The row is still in storage with frames 0 and 1 delivered: only the reader's socket knows.
    await evictDurableObject(stubOf(refs.writer.channel_id))
    for (let i = 0; i < 40 && reader.frames.length < 12; i++) {
      reader.ws.send(JSON.stringify({ type: 'ack', bytes: reader.frames.length * 32 * 1024 }))
      await new Promise((r) => setTimeout(r, 20))
    }
    expect((await reader.closed).code).toBe(1000)
    expect(reader.frames).toEqual(frames)
  })

  it('keeps a finished writer\'s data for a reader that comes after an eviction', async () => {
    const refs = await createChannel()
    const writer = await connect(refs.writer)
    writer.ws.send('before')
    writer.ws.send(chunk(9, 70000))
    writer.ws.close(1000)
    await writer.closed
    await evictDurableObject(stubOf(refs.writer.channel_id))
    const reader = await connect(refs.reader)
    expect((await reader.closed).code).toBe(1000)
    expect(reader.frames).toEqual(['before', chunk(9, 70000)])
  })
})

describe('cleanup', () => {
  const lateReader = (refs: { reader: { channel_id: string; access_key: string } }) =>
    frontDoor(`http://localhost/ws/channels/${refs.reader.channel_id}?key=${encodeURIComponent(refs.reader.access_key)}&dir=read`, { headers: { Upgrade: 'websocket' } })

  it('expires a channel whose reader never connected: the writer gets 4008, its refs 404, and nothing is left', async () => {
    const refs = await createChannel()
    const writer = await connect(refs.writer)
    writer.ws.send(chunk(1, 5000))
    expect(await runDurableObjectAlarm(stubOf(refs.writer.channel_id))).toBe(true)
    const closed = await writer.closed
    expect(closed.code).toBe(CloseCode.Expired)
    expect(closed.reason).toMatch(/reader never connected/)
    expect((await lateReader(refs)).status).toBe(404)
    // The alarm ran early here (its refs could still open it): a one-row tombstone stays until then.
    expect(await leftovers(refs.writer.channel_id)).toMatchObject({ tables: ['channel'], frames: 0 })
    expect(await runDurableObjectAlarm(stubOf(refs.writer.channel_id))).toBe(true)
    expect(await leftovers(refs.writer.channel_id)).toEqual({ alarm: null, tables: [], frames: 0 })
  })

  it('frees the frames once a channel has finished, and its tombstone at its alarm', async () => {
    const refs = await createChannel()
    const reader = await connect(refs.reader)
    const writer = await connect(refs.writer)
    writer.ws.send('x')
    writer.ws.close(1000)
    await reader.closed
    const left = await leftovers(refs.writer.channel_id)
    expect(left.tables).toEqual(['channel']) // a refs-can't-reopen-it marker; the frames' table is dropped
    expect(left.frames).toBe(0)
    expect(left.alarm).not.toBeNull()
    expect((await lateReader(refs)).status).toBe(404) // a finished channel is not opened again
    expect(await runDurableObjectAlarm(stubOf(refs.writer.channel_id))).toBe(true)
    expect(await leftovers(refs.writer.channel_id)).toEqual({ alarm: null, tables: [], frames: 0 })
  })
})

describe('channels born where they are used', () => {
  const exists = async (channelId: string) => {
    const wanted = env.CHANNEL.idFromName(channelId).toString()
    return (await listDurableObjectIds(env.CHANNEL)).some((id) => id.toString() === wanted)
  }

  it('makes refs without touching any object; the first socket creates the channel', async () => {
    const refs = await createChannel(8)
    expect(refs.writer.channel_id).toMatch(/\.8$/)
    expect(await exists(refs.writer.channel_id)).toBe(false)
    const reader = await connect(refs.reader)
    expect(await exists(refs.writer.channel_id)).toBe(true)
    reader.ws.close(1000)
  })

  it('refuses forged and wrong-direction keys at the front door: no object is created for them', async () => {
    const refs = await createChannel()
    const other = await createChannel()
    const upgrade = { headers: { Upgrade: 'websocket' } }
    const url = (key: string, dir: string) => `http://localhost/ws/channels/${refs.writer.channel_id}?key=${encodeURIComponent(key)}&dir=${dir}`
    for (const [key, dir] of [[refs.reader.access_key, 'write'], [refs.writer.access_key, 'read'], [other.writer.access_key, 'write'], ['B'.repeat(43), 'write']] as const) {
      expect((await frontDoor(url(key, dir), upgrade)).status).toBe(404)
    }
    expect(await exists(refs.writer.channel_id)).toBe(false)
  })

  it('refuses a first connect after the refs\' TTL, leaving nothing', async () => {
    const key = await signingKeyFor((env as unknown as { III_SIGNING_SECRET: string }).III_SIGNING_SECRET)
    const ttlMs = Number(env.CHANNEL_TTL_SECONDS) * 1000
    const old = await mintChannel(key, { bufferSize: 64, namespace: '', now: Date.now() - ttlMs - 5000 })
    const res = await frontDoor(`http://localhost/ws/channels/${old.writer.channel_id}?key=${encodeURIComponent(old.writer.access_key)}&dir=write`, { headers: { Upgrade: 'websocket' } })
    expect(res.status).toBe(404)
    expect(await leftovers(old.writer.channel_id)).toEqual({ alarm: null, tables: [], frames: 0 })
  })
})
