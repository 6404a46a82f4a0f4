// Bad input, generated: the front door, the engine socket, channel frames and stream subscriber
// sockets must answer each case with a clear status or close code, never a 5xx or a crash
// (1006, 1011), and leave everyone else working.
import { request } from 'node:http'
import fc from 'fast-check'
import { registerWorker } from 'iii-sdk'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { channelUrl, createChannel, openReader, openWriter, refusedUpgradeStatus } from './support/channel'
import { type WranglerDev, startWrangler } from './support/wrangler'

let dev: WranglerDev
let control: ReturnType<typeof registerWorker>
let cases = 0

beforeAll(async () => {
  dev = await startWrangler()
  // A healthy worker that must keep working through all of this.
  control = registerWorker(dev.wsUrl, { workerName: 'control', otel: { enabled: false } })
  control.registerFunction('control::echo', async (x: unknown) => x)
})

afterAll(async () => {
  console.log(`e2e fuzz: ${cases} generated cases`)
  await control?.shutdown()
  await dev?.stop()
})

async function controlStillWorks(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      expect(await control.trigger({ function_id: 'control::echo', payload: { ok: i }, timeoutMs: 2000 })).toEqual({ ok: i })
      return
    } catch (err) {
      if (i === 49) throw err
      await new Promise((r) => setTimeout(r, 100)) // registration may still be on its way
    }
  }
}

describe('front door', () => {
  it('answers malformed channel socket requests with 400/404/426, never 5xx', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 60 })
    await fc.assert(
      fc.asyncProperty(text, fc.option(text), fc.option(text), fc.boolean(), async (id, key, dir, isUpgrade) => {
        cases++
        const query = new URLSearchParams()
        if (key !== null) query.set('key', key)
        if (dir !== null) query.set('dir', dir)
        const path = `/ws/channels/${encodeURIComponent(id)}?${query}`
        // Node's fetch will not send an Upgrade header; `ws` makes the real handshake.
        const status = isUpgrade
          ? await refusedUpgradeStatus(`${dev.wsUrl}${path}`)
          : await fetch(`${dev.baseUrl}${path}`).then(async (res) => (await res.body?.cancel(), res.status))
        // An empty id does not reach the channel route: 404 from the front door either way.
        expect(isUpgrade ? [400, 404] : [404, 426]).toContain(status)
      }),
      { numRuns: 500 },
    )
  })

  it('answers junk paths, methods and POST /channels bodies with 4xx, never 5xx', async () => {
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS')
    await fc.assert(
      fc.asyncProperty(method, fc.webPath(), fc.oneof(fc.string(), fc.json(), fc.constant('{"buffer_size":"9"}')), async (m, path, body) => {
        cases += 2
        const junk = await fetch(`${dev.baseUrl}${path || '/'}x`, { method: m, body: m === 'GET' ? undefined : body })
        await junk.body?.cancel()
        expect(junk.status).toBeLessThan(500)
        const created = await fetch(`${dev.baseUrl}/channels`, { method: 'POST', body })
        await created.body?.cancel()
        expect([201, 400]).toContain(created.status)
      }),
      { numRuns: 300 },
    )
  })
})

/** A raw HTTP/1.1 request with exactly these headers (fetch may not set Host or Origin freely). */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers, setHost: false }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('front door: Origin and Host', () => {
  it('lets only this machine and its pages use an engine without a token: 200, 401 or 403 in the error shape, never 5xx', async () => {
    const loopback = fc.constantFrom('localhost', '127.0.0.1', '[::1]', '127.1.2.3')
    // Any IPv4 address but 127.0.0.0/8, which is loopback (127.1.2.3 above): fc.ipV4() can draw one.
    const other = fc.oneof(fc.domain(), fc.ipV4().filter((ip) => !ip.startsWith('127.')), fc.constantFrom('evil.example', 'localhost.evil.example', '127.0.0.1.nip.io', '[::ffff:7f00:1]', '0.0.0.0'))
    const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined })
    const hostOf = (h: string, p: number | undefined) => (p === undefined ? h : `${h}:${p}`)
    const origin = fc.option(
      fc.oneof(
        fc.tuple(fc.constantFrom('http', 'https'), loopback, port).map(([s, h, p]) => ({ value: `${s}://${hostOf(h, p)}`, local: true })),
        fc.tuple(fc.constantFrom('http', 'https', 'file', 'chrome-extension'), other, port).map(([s, h, p]) => ({ value: `${s}://${hostOf(h, p)}`, local: false })),
        fc.constantFrom({ value: 'null', local: false }, { value: '', local: false }),
        fc.string({ maxLength: 40 }).filter((v) => /^[\x20-\x7e]*$/.test(v)).map((v) => ({ value: v, local: false })),
      ),
      { nil: undefined },
    )
    const host = fc.oneof(
      fc.tuple(loopback, port).map(([h, p]) => ({ value: hostOf(h, p), local: true })),
      fc.tuple(other, port).map(([h, p]) => ({ value: hostOf(h, p), local: false })),
    )
    await fc.assert(
      fc.asyncProperty(host, origin, fc.constantFrom('/api/status', '/api/info', '/api/counters'), async (h, o, path) => {
        cases++
        const headers: Record<string, string> = { host: h.value }
        if (o !== undefined) headers.origin = o.value
        const res = await rawGet(dev.port, path, headers)
        expect(res.status, JSON.stringify(headers)).toBeLessThan(500)
        // A page's origin that parses to a loopback origin may; nothing else. (An empty header does
        // not reach the Worker: no page, as when there is none. Nor does one of spaces only: HTTP
        // trims a header value's surrounding whitespace, so it arrives empty.)
        const pageOk = o === undefined || o.value.trim() === '' || (o.local && new URL(o.value).origin === o.value)
        const expected = !h.local ? 401 : pageOk ? 200 : 403
        expect(res.status, JSON.stringify(headers)).toBe(expected)
        if (expected !== 200) expect(JSON.parse(res.body).error.code).toBe(expected === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN')
      }),
      { numRuns: 300 },
    )
  })
})

describe('engine socket', () => {
  it('survives garbage, wrong-typed messages and huge payloads; the socket and other workers keep working', async () => {
    const ws = new WebSocket(dev.wsUrl)
    const inbox: string[] = []
    ws.on('message', (m) => inbox.push(m.toString()))
    await new Promise((resolve) => ws.once('open', resolve))
    const types = fc.constantFrom('registerfunction', 'invokefunction', 'invocationresult', 'registertrigger', 'unregistertrigger', 'reattach', 'nope', 42, null)
    const garbage = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ type: types, id: fc.anything(), function_id: fc.anything(), invocation_id: fc.anything(), data: fc.anything(), config: fc.anything() }).map((o) => JSON.stringify(o)),
    )
    const samples = fc.sample(garbage, 1000)
    for (const message of samples) ws.send(message)
    ws.send(Buffer.alloc(1024, 0xff)) // binary on the main socket
    ws.send(JSON.stringify({ type: 'invokefunction', invocation_id: 'big', function_id: 'control::echo', data: 'x'.repeat(8 * 1024 * 1024) }))
    cases += samples.length + 2
    ws.send(JSON.stringify({ type: 'ping' }))
    for (let i = 0; i < 200 && !inbox.includes('{"type":"pong"}'); i++) await new Promise((r) => setTimeout(r, 25))
    expect(inbox).toContain('{"type":"pong"}')
    expect(ws.readyState).toBe(WebSocket.OPEN)
    // The 8 MiB payload went through to the echo function and back, untouched.
    for (let i = 0; i < 200 && !inbox.some((m) => m.includes('"invocation_id":"big"')); i++) await new Promise((r) => setTimeout(r, 25))
    const big = JSON.parse(inbox.find((m) => m.includes('"invocation_id":"big"'))!)
    expect(big.result.length).toBe(8 * 1024 * 1024)
    ws.close()
    await controlStillWorks()
  })

  it("closes a socket that sends a frame over the runtime's 32 MiB with 1009, and only that socket", async () => {
    const ws = new WebSocket(dev.wsUrl)
    await new Promise((resolve) => ws.once('open', resolve))
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    ws.on('error', () => {})
    cases++
    ws.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(32 * 1024 * 1024 + 1) }))
    expect(await closed).toBe(1009)
    await controlStillWorks()
  })
})

describe('channel frames', () => {
  it('relays a text frame with invalid UTF-8 as text with U+FFFD (workerd decodes text lossily), nothing hangs', async () => {
    const refs = await createChannel(dev.baseUrl)
    const reader = await openReader(channelUrl(dev.wsUrl, refs.reader))
    const writer = await openWriter(channelUrl(dev.wsUrl, refs.writer))
    writer.ws.send(Buffer.from('fine'))
    writer.ws.send(Buffer.from([0xc3, 0x28, 0xff]), { binary: false })
    writer.ws.close(1000)
    const got = await reader.done
    expect(got).toMatchObject({ code: 1000, binaryBytes: 4 })
    expect(got.texts.map((t: { text: string }) => t.text)).toEqual(['\uFFFD(\uFFFD'])
    cases++
  })

  it('closes a writer whose frame is over the frame limit with 1009; the channel stays consistent', async () => {
    const refs = await createChannel(dev.baseUrl)
    const reader = await openReader(channelUrl(dev.wsUrl, refs.reader))
    const writer = await openWriter(channelUrl(dev.wsUrl, refs.writer))
    writer.ws.send(Buffer.alloc(1000, 1))
    writer.ws.send(Buffer.alloc(2 * 1024 * 1024, 2))
    expect((await writer.closed).code).toBe(1009)
    const got = await reader.done
    expect(got).toMatchObject({ code: 1009, binaryBytes: 1000 })
    cases++
    await controlStillWorks()
  })
})

type Closed = { code: number; reason: string }

/** A subscriber socket at `path` (`/streams`, or a group's own): its frames as text, and its close. */
async function subscriberAt(path: string) {
  const ws = new WebSocket(`${dev.wsUrl}${path}`)
  const frames: string[] = []
  ws.on('message', (m) => frames.push(String(m)))
  const closed = new Promise<Closed>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  return { ws, frames, closed }
}

/** Joins group `g` of `streamName` on `sub` and waits for its sync, or for the socket to close. */
async function joinAndSync(sub: Awaited<ReturnType<typeof subscriberAt>>, streamName: string): Promise<'synced' | Closed> {
  sub.ws.send(JSON.stringify({ type: 'join', data: { subscriptionId: 'control', streamName, groupId: 'g' } }))
  const synced = (async () => {
    for (let i = 0; i < 400; i++) {
      if (sub.frames.some((f) => f.includes(`"streamName":${JSON.stringify(streamName)}`) && f.includes('"sync"'))) return 'synced' as const
      await new Promise((r) => setTimeout(r, 25))
    }
    throw new Error(`no sync for ${streamName}, last frames: ${sub.frames.slice(-3).join(' ')}`)
  })()
  return Promise.race([synced, sub.closed])
}

const freshStream = () => `fuzz-${Math.random().toString(36).slice(2)}`
const BINARY_CLOSE: Closed = { code: 1003, reason: 'binary frames are not stream messages; send JSON text' }

describe('stream subscriber sockets', () => {
  // Join and leave frames whose fields are anything, or almost right (names of any characters).
  const name = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constantFrom('', 'a', 'x'.repeat(513), '\ud800', 'g\n\u0000', 'ü✓😀'))
  const field = fc.oneof(name, fc.anything({ maxDepth: 2 }))
  const data = fc.oneof(fc.record({ subscriptionId: field, streamName: field, groupId: field, id: fc.option(field) }, { requiredKeys: [] }), fc.anything({ maxDepth: 2 }))
  const type = fc.oneof(fc.constantFrom('join', 'leave', 'subscribe', ''), fc.anything({ maxDepth: 1 }))
  const shaped = fc.record({ type, data }).map((o) => JSON.stringify(o))
  // Readable joins and leaves with names of any characters (each such join opens a group).
  const readable = fc
    .record({ type: fc.constantFrom('join', 'leave'), data: fc.record({ subscriptionId: name, streamName: name, groupId: name, id: fc.option(name, { nil: undefined }) }) })
    .map((o) => JSON.stringify(o))
  // Huge: under the 1 MiB a Worker's socket takes in one message.
  const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.json(), shaped, readable, readable, fc.constant('{"type":"join","data":'), fc.constant(`"${'x'.repeat(900_000)}"`))
  const frame = fc.oneof({ arbitrary: text.map((t) => ({ text: t })), weight: 4 }, { arbitrary: fc.uint8Array({ maxLength: 2048 }).map((b) => ({ binary: Buffer.from(b) })), weight: 1 })
  const send = (ws: WebSocket, f: { text: string } | { binary: Buffer }) => ('text' in f ? ws.send(f.text) : ws.send(f.binary, { binary: true }))

  it('a /streams socket closes with 1003 on a binary frame, drops malformed text and keeps serving; never 1006 or 1011', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 6 }), async (frames) => {
        cases += frames.length
        const hub = await subscriberAt('/streams')
        for (const f of frames) send(hub.ws, f)
        const after = await joinAndSync(hub, freshStream())
        hub.ws.terminate()
        expect(after).toEqual(frames.some((f) => 'binary' in f) ? BINARY_CLOSE : 'synced')
      }),
      { numRuns: 300 },
    )
    // Another subscriber, and the engine's workers, were never disturbed.
    const next = await subscriberAt('/streams')
    expect(await joinAndSync(next, freshStream())).toBe('synced')
    next.ws.close()
    await controlStillWorks()
  })

  it('a group socket closes with 1003 on a binary frame and drops malformed text; never 1006 or 1011', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 4 }), async (frames) => {
        cases += frames.length
        const stream = freshStream()
        const sub = await subscriberAt(`/streams/${stream}/g`)
        for (const f of frames) send(sub.ws, f)
        const after = await joinAndSync(sub, stream)
        sub.ws.terminate()
        // A readable join for another group closes a group socket with 1008 (it says where to go).
        if (after !== 'synced' && after.code === 1008) expect(after.reason).toMatch(/^this socket serves stream fuzz-/)
        else expect(after).toEqual(frames.some((f) => 'binary' in f) ? BINARY_CLOSE : 'synced')
      }),
      { numRuns: 150 },
    )
    const next = await subscriberAt('/streams')
    expect(await joinAndSync(next, freshStream())).toBe('synced')
    next.ws.close()
    await controlStillWorks()
  })
})
