// End to end: the real Worker under `wrangler dev`, driven over HTTP and WebSockets with `ws`.

import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type ChannelRefs,
  channelUrl,
  createChannel,
  openReader,
  openWriter,
  refusedUpgradeStatus,
  sendAll,
  sha256,
} from './support/channel'
import { startWrangler, type WranglerDev } from './support/wrangler'

const MiB = 1024 * 1024
const FRAME = 64 * 1024 // the SDK's largest binary frame

let dev: WranglerDev
beforeAll(async () => {
  dev = await startWrangler()
})
afterAll(async () => {
  await dev?.stop()
})

/**
 * A stream of `bytes` in 64 KiB binary frames with text messages at known places: first, after
 * every 64th frame, and last. `texts` is what a reader must see (text, binary frames before it).
 */
function stream(bytes: number) {
  const data = randomBytes(bytes)
  const messages: Array<string | Uint8Array> = ['begin']
  const texts = [{ text: 'begin', afterFrames: 0 }]
  for (let i = 0, o = 0; o < bytes; i++, o += FRAME) {
    messages.push(data.subarray(o, o + FRAME))
    if ((i + 1) % 64 === 0) {
      messages.push(`mark ${i + 1}`)
      texts.push({ text: `mark ${i + 1}`, afterFrames: i + 1 })
    }
  }
  const frames = Math.ceil(bytes / FRAME)
  messages.push('end')
  texts.push({ text: 'end', afterFrames: frames })
  return { data, messages, texts, frames }
}

const url = (refs: ChannelRefs, end: 'writer' | 'reader', prefix = '') => channelUrl(dev.wsUrl, refs[end], prefix)
const mbps = (bytes: number, ms: number) => (bytes / MiB / (ms / 1000)).toFixed(1)

describe('relay', () => {
  it('relays 16 MiB live, texts in place, then Close 1000 with the writer reason', async () => {
    const s = stream(16 * MiB)
    const refs = await createChannel(dev.baseUrl)
    const reader = await openReader(url(refs, 'reader'))
    const writer = await openWriter(url(refs, 'writer'))
    const t0 = performance.now()
    await sendAll(writer.ws, s.messages)
    writer.ws.close(1000, 'all sent')
    const got = await reader.done
    console.log(`e2e 16 MiB relay: ${mbps(s.data.length, performance.now() - t0)} MB/s`)

    expect(got).toMatchObject({ code: 1000, reason: 'all sent', binaryBytes: s.data.length, binaryFrames: s.frames })
    expect(got.sha256).toBe(sha256(s.data))
    expect(got.texts).toEqual(s.texts)
    expect((await writer.closed).code).toBe(1000)
  })

  it('keeps everything for a reader that connects after the writer closed', async () => {
    const s = stream(16 * MiB)
    const refs = await createChannel(dev.baseUrl)
    const writer = await openWriter(url(refs, 'writer'))
    await sendAll(writer.ws, s.messages)
    writer.ws.close(1000)
    expect((await writer.closed).code).toBe(1000)

    const t0 = performance.now()
    const reader = await openReader(url(refs, 'reader'))
    const got = await reader.done
    console.log(`e2e 16 MiB late reader: ${mbps(s.data.length, performance.now() - t0)} MB/s`)

    expect(got).toMatchObject({ code: 1000, reason: 'stream_complete', binaryBytes: s.data.length, binaryFrames: s.frames })
    expect(got.sha256).toBe(sha256(s.data))
    expect(got.texts).toEqual(s.texts)
  })

  it('serves the socket address under a path prefix (/iii/ws/channels/…)', async () => {
    const s = stream(MiB)
    const refs = await createChannel(dev.baseUrl)
    const reader = await openReader(url(refs, 'reader', '/iii'))
    const writer = await openWriter(url(refs, 'writer', '/iii'))
    await sendAll(writer.ws, s.messages)
    writer.ws.close(1000)
    const got = await reader.done
    expect(got).toMatchObject({ code: 1000, binaryBytes: s.data.length })
    expect(got.sha256).toBe(sha256(s.data))
    expect(got.texts).toEqual(s.texts)
  })
})

describe('ends going away', () => {
  it('gives the reader what the writer sent, then 4001, when the writer dies without a Close', async () => {
    const data = randomBytes(4 * MiB)
    const frames = Array.from({ length: data.length / FRAME }, (_, i) => data.subarray(i * FRAME, (i + 1) * FRAME))
    const refs = await createChannel(dev.baseUrl)
    const reader = await openReader(url(refs, 'reader'))
    const writer = await openWriter(url(refs, 'writer'))
    // Half first, seen by the reader, so the writer dies mid-stream and not before it began.
    const half = frames.length / 2
    await sendAll(writer.ws, frames.slice(0, half))
    await expect.poll(reader.bytesSoFar, { timeout: 30_000 }).toBe(half * FRAME)
    void sendAll(writer.ws, frames.slice(half)).catch(() => {})
    writer.ws.terminate() // no Close frame: just the TCP connection going away

    const got = await reader.done
    expect(got.code).toBe(4001)
    // Frames still in the client's buffers when it died may never reach the server: a prefix is enough.
    expect(got.binaryBytes).toBeGreaterThanOrEqual(half * FRAME)
    expect(got.binaryBytes % FRAME).toBe(0)
    expect(got.sha256).toBe(sha256(data.subarray(0, got.binaryBytes)))
  })

  it('closes the writer with 4002, promptly, when the reader crashes (TCP reset, no Close)', async () => {
    const refs = await createChannel(dev.baseUrl)
    const reader = await openReader(url(refs, 'reader'))
    const writer = await openWriter(url(refs, 'writer'))
    await sendAll(writer.ws, [randomBytes(FRAME)])
    await expect.poll(reader.bytesSoFar, { timeout: 30_000 }).toBe(FRAME)
    const crashedAt = Date.now()
    reader.ws.terminate()
    expect((await writer.closed).code).toBe(4002)
    console.log(`e2e reader crash: writer closed after ${Date.now() - crashedAt} ms`)
  })

  it('closes the writer with 4002 when the reader leaves', async () => {
    const refs = await createChannel(dev.baseUrl)
    const reader = await openReader(url(refs, 'reader'))
    const writer = await openWriter(url(refs, 'writer'))
    await sendAll(writer.ws, [randomBytes(FRAME), 'hi'])
    reader.ws.close(1000)
    expect((await writer.closed).code).toBe(4002)
  })

  it('refuses a second writer with 1008 and keeps the first working', async () => {
    const s = stream(MiB)
    const refs = await createChannel(dev.baseUrl)
    const reader = await openReader(url(refs, 'reader'))
    const first = await openWriter(url(refs, 'writer'))
    const opened = Date.now()
    const second = await openWriter(url(refs, 'writer'))
    expect((await second.closed).code).toBe(1008)
    // The refused socket's connection must end with its Close, not linger ~10 s (docs/platform.md).
    expect(Date.now() - opened).toBeLessThan(5000)

    await sendAll(first.ws, s.messages)
    first.ws.close(1000)
    const got = await reader.done
    expect(got).toMatchObject({ code: 1000, binaryBytes: s.data.length })
    expect(got.sha256).toBe(sha256(s.data))
    expect(got.texts).toEqual(s.texts)
  })
})

describe('HTTP errors', () => {
  let refs: ChannelRefs
  beforeAll(async () => {
    refs = await createChannel(dev.baseUrl)
  })
  const socketUrl = (id: string, query: string) => `${dev.wsUrl}/ws/channels/${id}?${query}`
  const key = () => encodeURIComponent(refs.writer.access_key)

  it('answers 426 to a plain GET of a socket address', async () => {
    const res = await fetch(url(refs, 'writer').replace(/^ws/, 'http'))
    expect(res.status).toBe(426)
  })

  it('refuses bad upgrades with 400 or 404', async () => {
    const id = refs.writer.channel_id
    expect(await refusedUpgradeStatus(socketUrl(id, `key=${key()}&dir=sideways`))).toBe(400)
    expect(await refusedUpgradeStatus(socketUrl(id, `key=${key()}`))).toBe(400)
    expect(await refusedUpgradeStatus(socketUrl(id, 'dir=write'))).toBe(400)
    expect(await refusedUpgradeStatus(socketUrl('not-a-uuid', `key=${key()}&dir=write`))).toBe(404)
    expect(await refusedUpgradeStatus(socketUrl(id, 'key=short&dir=write'))).toBe(404)
    // Well-formed but wrong: the reader's key on the writer end, a fresh random key, an unknown id.
    expect(await refusedUpgradeStatus(socketUrl(id, `key=${encodeURIComponent(refs.reader.access_key)}&dir=write`))).toBe(404)
    expect(await refusedUpgradeStatus(socketUrl(id, `key=${randomBytes(32).toString('base64url')}&dir=write`))).toBe(404)
    expect(await refusedUpgradeStatus(socketUrl(crypto.randomUUID(), `key=${key()}&dir=write`))).toBe(404)
  })

  it('answers 400 JSON to a bad POST /channels body', async () => {
    for (const body of ['{not json', '[1]', '{"buffer_size": "lots"}']) {
      const res = await fetch(`${dev.baseUrl}/channels`, { method: 'POST', body })
      expect(res.status, body).toBe(400)
      expect(await res.json()).toEqual({ error: { code: 'BAD_REQUEST', message: expect.any(String) } })
    }
  })

  it('without an engine token, refuses a request addressed to any host but this machine', async () => {
    // As a deployed Worker sees requests: Cloudflare routes by hostname, so the Host is the public one.
    const post = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(`${dev.baseUrl}/channels`, { method: 'POST', headers: { host } }, (res) => {
          let body = ''
          res.on('data', (d) => (body += d))
          res.on('end', () => resolve({ status: res.statusCode!, body }))
        })
        req.on('error', reject)
        req.end()
      })
    const refused = await post('iii-channels-edge.example.workers.dev')
    expect(refused.status).toBe(401)
    expect(JSON.parse(refused.body).error.message).toContain('wrangler secret put III_ENGINE_TOKEN')
    expect((await post(new URL(dev.baseUrl).host)).status).toBe(201)
  })

  it('clamps buffer_size and still returns both refs', async () => {
    for (const size of [0, -5, 1e9, 3.7]) {
      const refs = await createChannel(dev.baseUrl, size)
      expect(refs.writer).toMatchObject({ channel_id: refs.reader.channel_id, direction: 'write' })
      expect(refs.reader.direction).toBe('read')
      expect(refs.writer.access_key).not.toBe(refs.reader.access_key)
    }
  })
})
