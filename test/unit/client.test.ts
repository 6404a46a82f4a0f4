// The web-standard channel client (src/client) in Node 22: frame splitting, bufferedAmount, acks,
// how ends and refusals map to typed errors. A fake socket for the rules, the real ChannelCore for
// flow control end to end, and Node's own WebSocket against a `ws` server for the wire.
import { createHash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebSocketServer } from 'ws'
import { ChannelCore, type ChannelHost, type FrameStore, type Peer, type Task } from '../../src/channel/core'
import type { Frame } from '../../src/channel/frame'
import {
  ChannelClosedError,
  ChannelError,
  ChannelHttpError,
  ChannelNotFoundError,
  type ChannelReader,
  type ChannelRef,
  ChannelRequestError,
  type ChannelSocket,
  ChannelUnauthorizedError,
  type ChannelWriter,
  FRAME_BYTES,
  channelSocketUrl,
  createChannel,
  openChannel,
} from '../../src/client'

const ID = '0b7f5c9e-3a41-4d2b-9c0e-5f6a7b8c9d0e.tpb75a.64'
const KEY = 'A'.repeat(42) + 'g'
const writeRef: ChannelRef & { direction: 'write' } = { channel_id: ID, access_key: KEY, direction: 'write' }
const readRef: ChannelRef & { direction: 'read' } = { channel_id: ID, access_key: KEY, direction: 'read' }
const BASE = 'http://edge.test'

/** A WebSocket stand-in: records what the client sends, lets the test play the server. */
class FakeSocket implements ChannelSocket {
  readyState = 0
  bufferedAmount = 0
  binaryType = 'blob'
  readonly sent: (string | Uint8Array)[] = []
  readonly closes: { code?: number; reason?: string }[] = []
  private readonly listeners = new Map<string, ((e: any) => void)[]>()

  constructor(readonly url: string) {}

  addEventListener(type: string, listener: (e: any) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
  }
  send(data: string | ArrayBufferView | ArrayBuffer): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open')
    // Copy, as a socket does: the caller may reuse its buffer.
    this.sent.push(typeof data === 'string' ? data : new Uint8Array(ArrayBuffer.isView(data) ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data))
  }
  close(code?: number, reason?: string): void {
    this.closes.push({ code, reason })
    this.readyState = 2
  }
  emit(type: string, event: any = {}): void {
    if (type === 'open') this.readyState = 1
    if (type === 'close') this.readyState = 3
    for (const l of this.listeners.get(type) ?? []) l(event)
  }
  /** The server's side of a message. */
  receive(data: string | Uint8Array): void {
    this.emit('message', { data: typeof data === 'string' ? data : data.slice().buffer })
  }
  get binary(): Uint8Array[] {
    return this.sent.filter((f): f is Uint8Array => typeof f !== 'string')
  }
  get texts(): string[] {
    return this.sent.filter((f): f is string => typeof f === 'string')
  }
}

/** openChannel with a fake socket that opens on the next tick. */
function fakeOpen(): { socket: () => FakeSocket; webSocket: (url: string) => FakeSocket } {
  let last: FakeSocket | undefined
  return {
    socket: () => last!,
    webSocket: (url) => {
      last = new FakeSocket(url)
      setTimeout(() => last!.emit('open'), 0)
      return last
    },
  }
}

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 255)
const sha = (parts: Uint8Array[]) => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest('hex')
}
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms))

async function readAll(reader: ChannelReader): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for await (const chunk of reader.readable as unknown as AsyncIterable<Uint8Array>) out.push(chunk)
  return out
}

afterEach(() => {
  vi.useRealTimers()
})

describe('addresses and refs', () => {
  it('builds the channel socket URL from an http(s) or ws(s) base, keeping a path prefix', () => {
    const ref = { ...readRef, access_key: 'a+b/c=' }
    expect(channelSocketUrl('http://127.0.0.1:8787/', ref)).toBe(`ws://127.0.0.1:8787/ws/channels/${ID}?key=a%2Bb%2Fc%3D&dir=read`)
    expect(channelSocketUrl('https://x.workers.dev/iii', writeRef, undefined)).toBe(`wss://x.workers.dev/iii/ws/channels/${ID}?key=${KEY}&dir=write`)
    expect(channelSocketUrl('wss://x.workers.dev', readRef, 65536)).toBe(`wss://x.workers.dev/ws/channels/${ID}?key=${KEY}&dir=read&window=65536`)
  })

  it('refuses a bad ref before any socket, with the status the server would give', async () => {
    const webSocket = vi.fn()
    await expect(openChannel(BASE, { ...readRef, direction: 'sideways' } as never, { webSocket })).rejects.toBeInstanceOf(ChannelRequestError)
    await expect(openChannel(BASE, { ...readRef, channel_id: 'nope' }, { webSocket })).rejects.toBeInstanceOf(ChannelNotFoundError)
    await expect(openChannel(BASE, { ...writeRef, access_key: '' }, { webSocket })).rejects.toBeInstanceOf(ChannelRequestError)
    await expect(openChannel(BASE, readRef, { webSocket, window: 1000 })).rejects.toThrow(/window/)
    await expect(openChannel(BASE, readRef, { webSocket, window: 128 * 1024 * 1024 })).rejects.toBeInstanceOf(ChannelRequestError)
    expect(webSocket).not.toHaveBeenCalled()
  })
})

describe('createChannel', () => {
  it('POSTs /channels with buffer_size and the token, and returns the refs', async () => {
    const refs = { writer: writeRef, reader: readRef }
    const fetch = vi.fn(async (_url: string, _init?: RequestInit) => Response.json(refs, { status: 201 }))
    expect(await createChannel('ws://edge.test/', { bufferSize: 8, token: 't0k', fetch })).toEqual(refs)
    const [url, init] = fetch.mock.calls[0]!
    expect(url).toBe('http://edge.test/channels')
    expect(init).toMatchObject({ method: 'POST', body: '{"buffer_size":8}', headers: { authorization: 'Bearer t0k' } })
  })

  it('maps 400, 401 and 404 to typed errors carrying the server message', async () => {
    const answer = (status: number, body: unknown) => createChannel(BASE, { fetch: async () => Response.json(body, { status }) })
    await expect(answer(400, { error: 'buffer_size must be a number' })).rejects.toSatisfy(
      (e) => e instanceof ChannelRequestError && e.status === 400 && /buffer_size must be a number/.test(e.message),
    )
    await expect(answer(401, { error: 'engine token required' })).rejects.toBeInstanceOf(ChannelUnauthorizedError)
    await expect(answer(404, { error: { code: 'NOT_FOUND', message: 'no route' } })).rejects.toSatisfy(
      (e) => e instanceof ChannelNotFoundError && /no route/.test(e.message),
    )
    await expect(answer(503, 'busy')).rejects.toSatisfy((e) => e instanceof ChannelHttpError && e.status === 503)
    await expect(createChannel(BASE, { fetch: async () => Promise.reject(new TypeError('fetch failed')) })).rejects.toThrow(
      /could not reach http:\/\/edge.test\/channels/,
    )
  })
})

describe('writer', () => {
  async function open(options: { highWaterMark?: number } = {}): Promise<{ writer: ChannelWriter; ws: FakeSocket }> {
    const fake = fakeOpen()
    const writer = await openChannel(BASE, writeRef, { webSocket: fake.webSocket, ...options })
    expect(fake.socket().url).toBe(`ws://edge.test/ws/channels/${ID}?key=${KEY}&dir=write`)
    return { writer, ws: fake.socket() }
  }

  it('splits writes into binary frames of at most 64 KiB, byte-exact, in order with text messages', async () => {
    const { writer, ws } = await open()
    const w = writer.writable.getWriter()
    const a = bytes(3 * FRAME_BYTES + 1000, 1)
    const b = bytes(10, 2)
    await w.write(a)
    const message = writer.sendMessage('between')
    await w.write(b)
    await message
    expect(ws.sent.map((f) => (typeof f === 'string' ? f : f.byteLength))).toEqual([FRAME_BYTES, FRAME_BYTES, FRAME_BYTES, 1000, 'between', 10])
    expect(sha(ws.binary)).toBe(sha([a, b]))
    expect(writer.bytesSent).toBe(a.length + b.length)
  })

  it('waits while its socket holds more than the high-water mark', async () => {
    const { writer, ws } = await open({ highWaterMark: 100_000 })
    ws.bufferedAmount = 150_000
    const w = writer.writable.getWriter()
    let done = false
    const write = w.write(bytes(2 * FRAME_BYTES)).then(() => (done = true))
    await tick(30)
    expect(ws.binary).toHaveLength(0)
    expect(done).toBe(false)
    ws.bufferedAmount = 0
    await write
    expect(ws.binary).toHaveLength(2)
  })

  it('closes with 1000 once everything is sent, and resolves when the server confirms', async () => {
    const { writer, ws } = await open()
    const w = writer.writable.getWriter()
    void w.write(bytes(1000))
    const closing = w.close()
    await tick()
    expect(ws.binary).toHaveLength(1)
    expect(ws.closes).toEqual([{ code: 1000, reason: undefined }])
    ws.emit('close', { code: 1000, reason: '' })
    await closing
    expect(await writer.closed).toEqual({ code: 1000, reason: '' })
  })

  it('aborts with a 3000 Close carrying the reason (the reader sees 4001 writer lost)', async () => {
    const { writer, ws } = await open()
    await writer.abort(new Error('disk on fire'))
    expect(ws.closes).toEqual([{ code: 3000, reason: 'disk on fire' }])
    const long = await open()
    await long.writer.abort('é'.repeat(100))
    expect(new TextEncoder().encode(long.ws.closes[0]!.reason!).length).toBeLessThanOrEqual(123)
  })

  it.each([
    [4002, 'reader_gone'],
    [1013, 'quota'],
    [1009, 'frame_too_large'],
    [4008, 'expired'],
    [1011, 'error'],
  ] as const)('errors the writable when the server closes it with %i (%s)', async (code, kind) => {
    const { writer, ws } = await open()
    const w = writer.writable.getWriter()
    ws.emit('close', { code, reason: 'told by server' })
    const error = await w.write(bytes(10)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error).toMatchObject({ code, kind, reason: 'told by server' })
    await expect(writer.sendMessage('late')).rejects.toMatchObject({ code, kind })
    expect(ws.sent).toHaveLength(0)
  })
})

describe('reader', () => {
  async function open(options: { window?: number | false; onMessage?: (t: string) => void } = {}) {
    const fake = fakeOpen()
    const reader = await openChannel(BASE, readRef, { webSocket: fake.webSocket, ...options })
    return { reader, ws: fake.socket() }
  }

  it('asks for a 1 MiB window by default, or none with window: false', async () => {
    expect((await open()).ws.url).toMatch(/&dir=read&window=1048576$/)
    expect((await open({ window: false })).ws.url).toMatch(/&dir=read$/)
  })

  it('delivers binary frames in order and ends normally on 1000', async () => {
    const { reader, ws } = await open()
    const parts = [bytes(5, 1), bytes(70_000, 2), bytes(1, 3)]
    for (const p of parts) ws.receive(p)
    ws.emit('close', { code: 1000, reason: 'stream_complete' })
    expect(sha(await readAll(reader))).toBe(sha(parts))
    expect(await reader.closed).toEqual({ code: 1000, reason: 'stream_complete' })
  })

  it.each([
    [4001, 'writer_lost'],
    [1009, 'frame_too_large'],
    [1013, 'quota'],
    [4008, 'expired'],
    [1011, 'error'],
    [1006, 'error'],
  ] as const)('on %i (%s): gives what came before, then errors with a typed error', async (code, kind) => {
    const { reader, ws } = await open()
    ws.receive(bytes(100))
    ws.receive(bytes(200))
    ws.emit('close', { code, reason: 'why' })
    const got: Uint8Array[] = []
    const r = reader.readable.getReader()
    let error: unknown
    try {
      for (;;) {
        const { done, value } = await r.read()
        if (done) break
        got.push(value)
      }
    } catch (e) {
      error = e
    }
    expect(got.map((c) => c.length)).toEqual([100, 200])
    expect(error).toBeInstanceOf(ChannelClosedError)
    expect(error).toMatchObject({ code, kind, reason: 'why' })
  })

  it('keeps text messages that come before anyone listens, then delivers in order', async () => {
    const { reader, ws } = await open()
    ws.receive('one')
    ws.receive('two')
    const seen: string[] = []
    reader.onMessage((t) => seen.push(t))
    ws.receive('three')
    expect(seen).toEqual(['one', 'two', 'three'])
  })

  it('acknowledges what the consumer has read, not what arrived', async () => {
    const window = 64 * 1024
    const { reader, ws } = await open({ window })
    const acks = () => ws.texts.map((t) => JSON.parse(t) as { type: string; bytes: number })
    // 64 KiB arrives and nobody reads: nothing to acknowledge.
    for (let i = 0; i < 4; i++) ws.receive(bytes(16 * 1024, i))
    await tick(30)
    expect(acks()).toEqual([])
    const r = reader.readable.getReader()
    await r.read() // 16 KiB = window / 4: acknowledged at once
    expect(acks()).toEqual([{ type: 'ack', bytes: 16 * 1024 }])
    await r.read()
    await r.read()
    expect(acks().at(-1)).toEqual({ type: 'ack', bytes: 48 * 1024 })
    // Less than a quarter window read, then the consumer stops: acknowledged a moment later.
    ws.receive(bytes(1000))
    await r.read() // the 4th 16 KiB
    await r.read() // the 1000 bytes
    ws.receive('hello') // text is consumed on delivery: 5 bytes
    await tick(30)
    expect(acks().at(-1)).toEqual({ type: 'ack', bytes: 64 * 1024 + 1000 + 5 })
  })

  it('sends no acknowledgements without a window', async () => {
    const { reader, ws } = await open({ window: false })
    ws.receive(bytes(200_000))
    ws.emit('close', { code: 1000, reason: '' })
    await readAll(reader)
    expect(ws.texts).toEqual([])
  })

  it('tells the channel when the consumer cancels (the writer then gets 4002)', async () => {
    const { reader, ws } = await open()
    await reader.readable.cancel('enough')
    expect(ws.closes).toEqual([{ code: 1000, reason: 'enough' }])
    ws.receive(bytes(10)) // in flight: ignored, no throw
  })
})

describe('refused upgrades', () => {
  const refusedSocket = (url: string) => {
    const ws = new FakeSocket(url)
    setTimeout(() => {
      ws.emit('error')
      ws.emit('close', { code: 1006, reason: '' })
    }, 0)
    return ws
  }

  it('reports a socket that fails before it opens as not found, when the server answers', async () => {
    const fetch = vi.fn(async () => new Response('{}'))
    await expect(openChannel(BASE, readRef, { webSocket: refusedSocket, fetch })).rejects.toSatisfy(
      (e) => e instanceof ChannelNotFoundError && e.status === 404 && e.message === 'channel not found or wrong key',
    )
    expect(fetch).toHaveBeenCalledWith('http://edge.test/api/info', expect.anything())
  })

  it('and as unreachable when the server does not answer', async () => {
    const fetch = async () => Promise.reject(new TypeError('connect ECONNREFUSED'))
    const error = await openChannel(BASE, writeRef, { webSocket: refusedSocket, fetch }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ChannelError)
    expect(error).not.toBeInstanceOf(ChannelNotFoundError)
    expect((error as Error).message).toMatch(/could not reach http:\/\/edge.test: connect ECONNREFUSED/)
  })
})

/** ChannelCore with a Map for storage and real timers: the server side of flow control. */
function coreChannel(limits: Partial<ConstructorParameters<typeof ChannelCore>[0]> = {}) {
  const frames = new Map<number, Frame>()
  const store: FrameStore = {
    append: (first, fs) => fs.forEach((f, i) => frames.set(first + i, f)),
    read: (from, maxBytes) => {
      const out: Frame[] = []
      let size = 0
      for (let seq = from; frames.has(seq) && (out.length === 0 || size < maxBytes); seq++) {
        const f = frames.get(seq)!
        out.push(f)
        size += typeof f === 'string' ? new TextEncoder().encode(f).length : f.byteLength
      }
      return out
    },
    dropBelow: (seq) => {
      for (const k of frames.keys()) if (k < seq) frames.delete(k)
    },
  }
  let core!: ChannelCore
  const host: ChannelHost = {
    schedule: (task: Task) => void setTimeout(() => core.runTask(task), 0),
    saveEnds: () => {},
    finish: () => {},
  }
  core = new ChannelCore(
    { bufferSize: 64, bufferBytes: 1 << 20, maxFrameBytes: 1 << 20, storageQuotaBytes: 1 << 30, drainSliceBytes: 1 << 20, readerHighWaterBytes: 2 << 20, ...limits },
    store,
    host,
  )
  return core
}

describe('reader flow control against the real channel rules', () => {
  it('never has more than the window in flight, and never stalls', async () => {
    const window = 64 * 1024
    const core = coreChannel()
    // The reader's socket: what the core sends arrives as messages; acks go back to the core.
    let inFlight = 0
    let maxInFlight = 0
    let delivered = 0
    const ws = new FakeSocket('reader')
    const readerPeer: Peer = {
      send: (frame) => {
        const size = typeof frame === 'string' ? new TextEncoder().encode(frame).length : frame.byteLength
        delivered += size
        inFlight = delivered - acked
        maxInFlight = Math.max(maxInFlight, inFlight)
        setTimeout(() => ws.receive(frame), 0)
      },
      close: (code, reason) => setTimeout(() => ws.emit('close', { code, reason }), 0),
    }
    let acked = 0
    const send = ws.send.bind(ws)
    ws.send = (data) => {
      send(data)
      if (typeof data === 'string') {
        acked = (JSON.parse(data) as { bytes: number }).bytes
        core.readerAck(acked)
      }
    }
    const reader = await openChannel(BASE, readRef, {
      window,
      webSocket: () => {
        setTimeout(() => ws.emit('open'), 0)
        return ws
      },
    })
    expect(core.connect('reader', readerPeer, window)).toEqual({ ok: true })
    expect(core.connect('writer', { send: () => {}, close: () => {} })).toEqual({ ok: true })

    // Odd sizes so frames never line up with the quarter-window ack points; a slow consumer.
    const parts = Array.from({ length: 60 }, (_, i) => bytes(7_000 + ((i * 7919) % 30_000), i))
    const texts: string[] = []
    reader.onMessage((t) => texts.push(t))
    for (const [i, p] of parts.entries()) {
      core.writerFrame(p)
      if (i % 10 === 0) core.writerFrame(`note ${i}`)
    }
    core.writerClosed(1000, '')
    const got: Uint8Array[] = []
    const r = reader.readable.getReader()
    for (;;) {
      const { done, value } = await r.read()
      if (done) break
      got.push(value)
      if (got.length % 7 === 0) await tick(2)
    }
    expect(sha(got)).toBe(sha(parts))
    expect(texts).toEqual(['note 0', 'note 10', 'note 20', 'note 30', 'note 40', 'note 50'])
    expect(maxInFlight).toBeLessThanOrEqual(window)
    expect(await reader.closed).toMatchObject({ code: 1000 })
  })
})

describe("on the wire: Node's WebSocket against a ws server", () => {
  it('writes frames, messages and a 1000 Close a ws server sees as such; reads with acks', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise((r) => server.once('listening', r))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const seen: { url: string; frames: (string | number)[]; close?: number } = { url: '', frames: [] }
    const acks: number[] = []
    server.on('connection', (socket, req) => {
      if (req.url!.includes('dir=write')) {
        seen.url = req.url!
        socket.on('message', (data: Buffer, isBinary) => seen.frames.push(isBinary ? data.length : data.toString()))
        socket.on('close', (code) => (seen.close = code))
      } else {
        socket.on('message', (data: Buffer) => acks.push((JSON.parse(data.toString()) as { bytes: number }).bytes))
        for (let i = 0; i < 4; i++) socket.send(bytes(64 * 1024, i))
        socket.send('done soon')
        setTimeout(() => socket.close(4001, 'writer lost (close 1006)'), 50)
      }
    })
    try {
      const writer = await openChannel(base, writeRef)
      const w = writer.writable.getWriter()
      await w.write(bytes(100_000))
      await writer.sendMessage('hi')
      await w.close() // resolves once the server's Close came back
      for (let i = 0; i < 100 && seen.close === undefined; i++) await tick(5)
      expect(seen).toEqual({ url: `/ws/channels/${ID}?key=${KEY}&dir=write`, frames: [65536, 100_000 - 65536, 'hi'], close: 1000 })

      const messages: string[] = []
      const reader = await openChannel(base, readRef, { window: 64 * 1024, onMessage: (t) => messages.push(t) })
      const got: number[] = []
      const error = await (async () => {
        for await (const chunk of reader.readable as unknown as AsyncIterable<Uint8Array>) got.push(chunk.length)
      })().catch((e: unknown) => e)
      expect(got).toEqual([65536, 65536, 65536, 65536])
      expect(messages).toEqual(['done soon'])
      expect(error).toMatchObject({ name: 'ChannelClosedError', code: 4001, kind: 'writer_lost' })
      expect(acks.length).toBeGreaterThan(0)
      expect(acks).toEqual([...acks].sort((a, b) => a - b))
    } finally {
      await new Promise((r) => server.close(r))
    }
  })
})
