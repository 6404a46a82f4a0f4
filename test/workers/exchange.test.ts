// An HTTP trigger's two channels, hosted by the session serving the function (engine/exchange.ts):
// the worker's sockets for them reach that session through the front door, nothing is written for
// a request answered by a result or streamed to a client that keeps up, a slow client's response
// spills into the session's SQLite, and every way a request can end leaves nobody hanging.
// III_HTTP_TIMEOUT_MS is 4,000 here (vitest.config.ts).
import { env } from 'cloudflare:workers'
import { runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { ChannelRef } from '../../src/protocol/refs'
import { type RawWorker, ofType, openWorker, settle } from './engine-support'
import { type Client, chunk, concat, connect, frontDoor } from './support'

const sessionOf = (worker: RawWorker) => env.SESSION.get(env.SESSION.idFromString(worker.id))
const rowsWritten = async (worker: RawWorker) => (await sessionOf(worker).stats()).rows_written

/** A raw worker serving `fn` on `<method> /<path>`. */
async function serve(fn: string, path: string, method = 'GET'): Promise<RawWorker> {
  const worker = await openWorker()
  worker.send({ type: 'registerfunction', id: fn })
  worker.send({ type: 'registertrigger', id: `${fn}-trigger`, trigger_type: 'http', function_id: fn, config: { api_path: path, http_method: method } })
  await settle(worker)
  return worker
}

const result = (worker: RawWorker, inv: Record<string, any>, value: unknown) =>
  worker.send({ type: 'invocationresult', invocation_id: inv.invocation_id, result: value })

/** The worker's writer for the response: `set_status`, `set_headers`, then body frames. */
async function openResponse(inv: Record<string, any>): Promise<Client> {
  return connect(inv.data.response as ChannelRef)
}

async function readAll(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer())
}

describe('the session hosts an HTTP request', () => {
  it('answers a result with no channel object and no row written', async () => {
    const worker = await serve('x::json', 'x-json')
    const before = await rowsWritten(worker)
    for (let i = 0; i < 5; i++) {
      const pending = frontDoor('http://localhost/x-json')
      const inv = await worker.next(ofType('invokefunction'))
      // The refs name the session: no object stands behind them.
      expect(inv.data.response.channel_id).toMatch(new RegExp(`^http\\.${worker.id}\\.[0-9a-f-]{36}\\.response$`))
      expect(inv.data.request_body.channel_id).toMatch(/\.body$/)
      result(worker, inv, { status_code: 201, body: { n: i } })
      const res = await pending
      expect(res.status).toBe(201)
      expect(await res.json()).toEqual({ n: i })
    }
    expect(await rowsWritten(worker)).toBe(before)
  })

  it('streams a response the worker writes, status and headers first, writing nothing for a client that keeps up', async () => {
    const worker = await serve('x::stream', 'x-stream')
    const before = await rowsWritten(worker)
    const pending = frontDoor('http://localhost/x-stream')
    const inv = await worker.next(ofType('invokefunction'))
    const writer = await openResponse(inv)
    writer.ws.send(JSON.stringify({ type: 'set_status', status_code: 207 }))
    writer.ws.send(JSON.stringify({ type: 'set_headers', headers: { 'content-type': 'text/plain', 'x-two': ['a', 'b'] } }))
    writer.ws.send(new TextEncoder().encode('hello '))
    const res = await pending
    // The response started with the first body frame, before the writer ended.
    expect(res.status).toBe(207)
    expect(res.headers.get('content-type')).toBe('text/plain')
    expect(res.headers.get('x-two')).toBe('a, b')
    writer.ws.send(new TextEncoder().encode('world'))
    writer.ws.close(1000, 'stream_complete')
    result(worker, inv, null)
    expect(await res.text()).toBe('hello world')
    expect(await rowsWritten(worker)).toBe(before)
  })

  it('hands the body to the worker when it reads it, in order, then a clean close', async () => {
    const worker = await serve('x::upload', 'x-upload', 'POST')
    const body = chunk(7, 300_000)
    const pending = frontDoor('http://localhost/x-upload', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })
    const inv = await worker.next(ofType('invokefunction'))
    expect(inv.data.body).toBeNull()
    const reader = await connect(inv.data.request_body as ChannelRef)
    const end = await reader.closed
    expect(end.code).toBe(1000)
    expect(concat(reader.frames)).toEqual(body)
    expect(reader.frames.every((f) => typeof f !== 'string' && f.byteLength <= 64 * 1024)).toBe(true)
    result(worker, inv, { status_code: 200, body: { bytes: body.byteLength } })
    expect(await (await pending).json()).toEqual({ bytes: 300_000 })
  })

  it('still hands over the body when the worker reads it after its response started (an echo)', async () => {
    const worker = await serve('x::echo', 'x-echo', 'POST')
    const body = chunk(3, 200_000)
    const pending = frontDoor('http://localhost/x-echo', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })
    const inv = await worker.next(ofType('invokefunction'))
    const writer = await openResponse(inv)
    writer.ws.send(new TextEncoder().encode('echo:'))
    const res = await pending // answered: the call that carried the body's handle is over
    const reader = await connect(inv.data.request_body as ChannelRef)
    expect((await reader.closed).code).toBe(1000)
    const got = concat(reader.frames)
    expect(got).toEqual(body)
    writer.ws.send(got.subarray(0, 10))
    writer.ws.close(1000)
    result(worker, inv, null)
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(new Uint8Array([...new TextEncoder().encode('echo:'), ...body.subarray(0, 10)]))
  })

  it('ends a body cut short of its content-length, or broken, with 4001', async () => {
    const worker = await serve('x::short', 'x-short', 'POST')
    for (const how of ['short', 'broken'] as const) {
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(chunk(1, 300))
          if (how === 'short') controller.close()
          else controller.error(new Error('client went away'))
        },
      })
      const request = new Request('http://localhost/x-short', { method: 'POST', body: stream, headers: { 'content-length': '1000' }, duplex: 'half' } as RequestInit)
      const pending = frontDoor(request)
      const inv = await worker.next(ofType('invokefunction'))
      const reader = await connect(inv.data.request_body as ChannelRef)
      const end = await reader.closed
      expect(end.code, how).toBe(4001)
      if (how === 'short') expect(end.reason).toContain('300 of 1000')
      result(worker, inv, { status_code: 400, body: 'short' })
      expect((await pending).status).toBe(400)
    }
  })

  it('waits for a response writer that opens late, after an empty result', async () => {
    const worker = await serve('x::late', 'x-late')
    const pending = frontDoor('http://localhost/x-late')
    const inv = await worker.next(ofType('invokefunction'))
    // The `http()` helper's result comes before its writer connected.
    result(worker, inv, null)
    await settle(worker) // the result reached the session before the writer opens
    const writer = await openResponse(inv)
    writer.ws.send(new TextEncoder().encode('late'))
    writer.ws.close(1000)
    const res = await pending
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('late')
  })

  it('answers any result at once, as the engine maps it: a late writer finds the request over', async () => {
    const worker = await serve('x::plain', 'x-plain')
    const pending = frontDoor('http://localhost/x-plain')
    const inv = await worker.next(ofType('invokefunction'))
    result(worker, inv, { ok: true })
    const res = await pending
    // No status_code, headers or body: 200, the engine's default body `{}`, JSON.
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(await res.json()).toEqual({})
    // The answer did not wait for a response writer: one that opens now is told the request is over.
    const writer = await openResponse(inv)
    expect((await writer.closed).code).toBe(4002)
  })

  it('answers 204 when the function returns nothing and never opens the response channel', async () => {
    const worker = await serve('x::nothing', 'x-nothing')
    const pending = frontDoor('http://localhost/x-nothing')
    result(worker, await worker.next(ofType('invokefunction')), null)
    const res = await pending
    expect(res.status).toBe(204)
  })

  it('answers 504 when nothing comes within III_HTTP_TIMEOUT_MS, and drops the late result', async () => {
    const worker = await serve('x::slow', 'x-slow')
    const res = await frontDoor('http://localhost/x-slow')
    expect(res.status).toBe(504)
    expect(await res.json()).toMatchObject({ error: { code: 'GATEWAY_TIMEOUT', message: expect.stringContaining('III_HTTP_TIMEOUT_MS') } })
    const inv = await worker.next(ofType('invokefunction'))
    result(worker, inv, { status_code: 200, body: 'too late' })
    // The session forgot the request: a socket for its channels is closed at once.
    const writer = await openResponse(inv)
    expect((await writer.closed).code).toBe(4002)
    expect((await sessionOf(worker).stats()).active_invocations).toBe(0)
  })

  it('refuses a second writer (1008) and closes a socket for a request that is over (4002)', async () => {
    const worker = await serve('x::twice', 'x-twice')
    const pending = frontDoor('http://localhost/x-twice')
    const inv = await worker.next(ofType('invokefunction'))
    const writer = await openResponse(inv)
    const second = await openResponse(inv)
    expect((await second.closed).code).toBe(1008)
    writer.ws.send(new TextEncoder().encode('one'))
    writer.ws.close(1000)
    expect(await (await pending).text()).toBe('one')
    const late = await openResponse(inv)
    expect((await late.closed).code).toBe(4002)
  })

  it('502 when the response channel breaks before anything came', async () => {
    const worker = await serve('x::broken', 'x-broken')
    const pending = frontDoor('http://localhost/x-broken')
    const writer = await openResponse(await worker.next(ofType('invokefunction')))
    writer.ws.close(4500, 'crashed')
    const res = await pending
    expect(res.status).toBe(502)
    expect(await res.json()).toMatchObject({ error: { code: 'BAD_GATEWAY' } })
  })

  it('ends the body abnormally when the function fails after its response started', async () => {
    const worker = await serve('x::fails', 'x-fails')
    const pending = frontDoor('http://localhost/x-fails')
    const inv = await worker.next(ofType('invokefunction'))
    const writer = await openResponse(inv)
    writer.ws.send(new TextEncoder().encode('part'))
    const res = await pending
    worker.send({ type: 'invocationresult', invocation_id: inv.invocation_id, error: { code: 'boom', message: 'failed midway' } })
    await expect(res.text()).rejects.toThrow()
    expect((await writer.closed).code).toBe(4002)
  })

  it("spills a slow client's response into the session's SQLite and delivers all of it, in order, then drops it", async () => {
    const worker = await serve('x::big', 'x-big')
    const before = await rowsWritten(worker)
    const pending = frontDoor('http://localhost/x-big')
    const inv = await worker.next(ofType('invokefunction'))
    const writer = await openResponse(inv)
    // 3.5 MiB while the client reads nothing: past what the stream holds (2 MiB), within the quota here (2 MiB).
    const frames = Array.from({ length: 56 }, (_, i) => chunk(i, 64 * 1024))
    for (const frame of frames) writer.ws.send(frame)
    const res = await pending
    // What the client did not take goes to storage in batches (after the flush delay) before it reads a byte.
    for (let i = 0; i < 200 && (await rowsWritten(worker)) === before; i++) await new Promise((r) => setTimeout(r, 10))
    expect(await rowsWritten(worker)).toBeGreaterThan(before)
    writer.ws.close(1000)
    expect(await readAll(res)).toEqual(concat(frames))
    const tables = await runInDurableObject(sessionOf(worker), (_obj, state) =>
      state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE name LIKE 'exchange_%'").toArray(),
    )
    expect(tables).toEqual([])
  })

  it('answers 502 at once, with nothing left hanging, when the session is reset while the response streams', async () => {
    const worker = await serve('x::reset', 'x-reset')
    const pending = frontDoor('http://localhost/x-reset')
    const inv = await worker.next(ofType('invokefunction'))
    const writer = await openResponse(inv)
    writer.ws.send(new TextEncoder().encode('part'))
    const res = await pending
    await runInDurableObject(sessionOf(worker), (_obj, state) => state.abort('reset by the test')).catch(() => {})
    await expect(res.text()).rejects.toThrow()
    // The worker's socket for the response went with the session.
    expect((await writer.closed).code).not.toBe(1000)
  })
})
