// HTTP triggers when workers come and go, and when requests go wrong (issue: HTTP triggers as fast
// and cheap as the Worker, back the moment their worker is): a restarted worker serves its route
// as soon as its registration landed, a worker whose socket was cut serves it again once the SDK
// reconnected, a function that never answers gets 504 after III_HTTP_TIMEOUT_MS (a response that
// started streams on), and a body cut short of its content-length ends the function's reader with
// 4001. Each with the real iii-sdk; the socket cut through a TCP proxy of our own.
import { connect as tcpConnect } from 'node:net'
import { http } from '@iii-dev/helpers/http'
import { registerWorker } from 'iii-sdk'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { type Iii, sdkSuite } from './support/sdk'
import { tcpProxy } from './support/proxy'
import { sleep, until } from './support/wait'

/** The engine's view of `who`'s route: answers and which worker served it. */
async function served(baseUrl: string, path: string): Promise<{ status: number; by?: string }> {
  const res = await fetch(`${baseUrl}${path}`)
  const text = await res.text()
  return { status: res.status, ...(res.status === 200 ? { by: (JSON.parse(text) as { by: string }).by } : {}) }
}

/** Registers `fn` on `GET /<path>`, answering `{by: name}`; resolves once the engine knows the route. */
async function serveRoute(iii: Iii, name: string, fn: string, path: string): Promise<void> {
  iii.registerFunction(fn, async () => ({ status_code: 200, body: { by: name } }))
  iii.registerTrigger({ type: 'http', function_id: fn, config: { api_path: path, http_method: 'GET' } })
  // A call after registering waits for this worker's registrations to reach the registry.
  await until(`the route of ${fn} registered`, async () => {
    const listed = (await iii.trigger({ function_id: 'engine::registered-triggers::list', payload: { function_id: fn, worker: name } })) as { registered_triggers: unknown[] }
    return listed.registered_triggers.length > 0
  })
}


describe('a route whose worker comes back', () => {
  const suite = sdkSuite()

  it('is served by the restarted worker as soon as its registration landed, not 503', async () => {
    const { baseUrl } = suite.dev
    const first = suite.worker('first')
    await serveRoute(first, 'first', 'back::restart', 'back/restart')
    expect(await served(baseUrl, '/back/restart')).toEqual({ status: 200, by: 'first' })
    await first.shutdown()
    const restartedAt = Date.now()
    const second = suite.worker('second')
    await serveRoute(second, 'second', 'back::restart', 'back/restart')
    const landed = Date.now() - restartedAt
    // The front door's cached view still names the first worker's session: it must look again.
    expect(await served(baseUrl, '/back/restart')).toEqual({ status: 200, by: 'second' })
    console.log(`e2e route back after a restart: served ${Date.now() - restartedAt} ms after the new worker started (its registration landed after ${landed} ms)`)
    expect(Date.now() - restartedAt).toBeLessThan(3000)
  })

  it('is served again once the SDK reconnected after its socket was cut; 503 with Retry-After meanwhile, never 404 or a hang', async () => {
    const { baseUrl, port } = suite.dev
    const proxy = await tcpProxy(port)
    const iii = registerWorker(`ws://127.0.0.1:${proxy.port}`, { workerName: 'cut', otel: { enabled: false } })
    try {
      await serveRoute(iii, 'cut', 'back::cut', 'back/cut')
      expect(await served(baseUrl, '/back/cut')).toEqual({ status: 200, by: 'cut' })
      const cutAt = Date.now()
      proxy.cut()
      const seen = new Set<number>()
      let back = 0
      await until('the route back after the reconnect', async () => {
        const { status } = await served(baseUrl, '/back/cut')
        seen.add(status)
        if (status === 200) back = Date.now() - cutAt
        return status === 200
      }, 15_000)
      console.log(`e2e route back after a socket cut: ${back} ms (statuses meanwhile: ${[...seen].join(', ')})`)
      expect([...seen].every((s) => s === 200 || s === 503)).toBe(true)
      expect(back).toBeLessThan(5000)
    } finally {
      await iii.shutdown()
      await proxy.close()
    }
  })
})

describe('requests that go wrong', () => {
  const suite = sdkSuite({ vars: { III_HTTP_TIMEOUT_MS: '1500' } })

  it('answers 504 after III_HTTP_TIMEOUT_MS when the function never answers, and the worker carries on', async () => {
    const { baseUrl } = suite.dev
    const iii = suite.worker('slow')
    let released!: () => void
    const release = new Promise<void>((resolve) => (released = resolve))
    iii.registerFunction('wrong::hang', async () => {
      await release
      return { status_code: 200, body: 'too late' }
    })
    iii.registerFunction('wrong::ok', async () => ({ status_code: 200, body: { ok: true } }))
    iii.registerTrigger({ type: 'http', function_id: 'wrong::hang', config: { api_path: 'wrong/hang' } })
    iii.registerTrigger({ type: 'http', function_id: 'wrong::ok', config: { api_path: 'wrong/ok' } })
    await until('routes registered', async () => (await fetch(`${baseUrl}/wrong/ok`)).status === 200)
    const res = await fetch(`${baseUrl}/wrong/hang`)
    expect(res.status).toBe(504)
    expect(await res.json()).toMatchObject({ error: { code: 'GATEWAY_TIMEOUT', message: expect.stringContaining('1500 ms') } })
    released() // its late answer is dropped; the worker and its other routes are fine
    expect((await fetch(`${baseUrl}/wrong/ok`)).status).toBe(200)
  })

  it('lets a response that started stream on past III_HTTP_TIMEOUT_MS', async () => {
    const { baseUrl } = suite.dev
    const iii = suite.worker('long')
    iii.registerFunction(
      'wrong::long',
      http(async (_req, res) => {
        res.status(200)
        res.headers({ 'content-type': 'text/plain' })
        for (let i = 0; i < 5; i++) {
          res.stream.write(`tick ${i}\n`)
          await sleep(600) // 3 s in all: twice the timeout
        }
        res.stream.end()
        res.close()
      }),
    )
    iii.registerTrigger({ type: 'http', function_id: 'wrong::long', config: { api_path: 'wrong/long' } })
    await until('route registered', async () => (await fetch(`${baseUrl}/wrong/long`, { method: 'HEAD' })).status !== 404)
    const res = await fetch(`${baseUrl}/wrong/long`)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe(Array.from({ length: 5 }, (_, i) => `tick ${i}\n`).join(''))
  })

  it("ends the function's body reader with 4001 when the upload stops short of its content-length", async () => {
    const { baseUrl, port } = suite.dev
    const iii = suite.worker('upload')
    const reader = new Promise<{ code: number; reason: string; bytes: number }>((resolve) => {
      iii.registerFunction('wrong::upload', async (req: { headers: Record<string, string>; request_body: { url: string } }) => {
        if (req.headers['content-length'] !== '1000000') return { status_code: 200, body: 'probe' }
        // A raw reader on the body channel (the SDK's own reader ends the same way but drops the code).
        const ws = new WebSocket(req.request_body.url)
        let bytes = 0
        ws.on('message', (data: Buffer) => (bytes += data.length))
        ws.on('close', (code, reason) => resolve({ code, reason: reason.toString(), bytes }))
        await new Promise((r) => ws.on('close', r))
        return { status_code: 400, body: 'incomplete' }
      })
    })
    iii.registerTrigger({ type: 'http', function_id: 'wrong::upload', config: { api_path: 'wrong/upload', http_method: 'POST' } })
    await until('route registered', async () => (await fetch(`${baseUrl}/wrong/upload`, { method: 'POST', body: '' })).status !== 404)
    // A client that declares 1,000,000 bytes, sends 300,000 and goes away.
    const socket = tcpConnect(port, '127.0.0.1')
    await new Promise((r) => socket.on('connect', r))
    socket.write(`POST /wrong/upload HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n`)
    socket.write(Buffer.alloc(300_000, 7))
    await sleep(500)
    socket.destroy()
    const end = await reader
    expect(end.code).toBe(4001)
    expect(end.bytes).toBeLessThanOrEqual(300_000)
  })
})

