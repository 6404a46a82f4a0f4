// The page's worker (src/client/worker.ts) in Node 22: registration, refusal by the auth function,
// results and errors as iii-sdk shapes them, pings, timeouts, and calls cut off by a Close. A fake
// socket plays the engine; Node's own WebSocket against a `ws` server checks the wire.
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { WebSocketServer } from 'ws'
import { EngineError, type EngineWorker, InvocationError, type WorkerSocket, connectWorker } from '../../src/client'

/** A WebSocket stand-in: records what the worker sends, lets the test play the engine. */
class FakeSocket implements WorkerSocket {
  static last: FakeSocket | null = null
  readyState = 0
  readonly sent: any[] = []
  readonly closes: (number | undefined)[] = []
  private readonly listeners = new Map<string, ((e: any) => void)[]>()

  constructor(readonly url: string) {
    FakeSocket.last = this
  }
  addEventListener(type: string, listener: (e: any) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener])
  }
  send(data: string): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open')
    this.sent.push(JSON.parse(data))
  }
  close(code?: number): void {
    this.closes.push(code)
    this.readyState = 2
  }
  emit(type: string, event: any = {}): void {
    if (type === 'open') this.readyState = 1
    if (type === 'close') this.readyState = 3
    for (const l of this.listeners.get(type) ?? []) l(event)
  }
  /** The engine sends a text frame. */
  engine(message: unknown): void {
    this.emit('message', { data: JSON.stringify(message) })
  }
}

/** A worker registered over a fake socket, and that socket. */
async function registered(timeoutMs?: number): Promise<{ worker: EngineWorker; ws: FakeSocket }> {
  const connecting = connectWorker('http://edge.test/app?access_token=t', { WebSocket: FakeSocket, timeoutMs })
  const ws = FakeSocket.last!
  ws.emit('open')
  ws.engine({ type: 'workerregistered', worker_id: 'w-1', reattach_token: 'r' })
  return { worker: await connecting, ws }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('connectWorker', () => {
  it('opens ws(s) for an http(s) address and resolves once the engine registered the worker', async () => {
    const { worker, ws } = await registered()
    expect(ws.url).toBe('ws://edge.test/app?access_token=t')
    expect(worker.workerId).toBe('w-1')
  })

  it("rejects with the auth function's refusal (AUTH_ERROR), from the error frame before the Close", async () => {
    const connecting = connectWorker('ws://edge.test/app', { WebSocket: FakeSocket })
    const ws = FakeSocket.last!
    ws.emit('open')
    ws.engine({ type: 'error', error: { code: 'AUTH_ERROR', message: 'invalid token' } })
    const err = await connecting.catch((e) => e)
    expect(err).toBeInstanceOf(EngineError)
    expect(err).toMatchObject({ code: 'AUTH_ERROR', message: 'AUTH_ERROR: invalid token' })
    ws.emit('close', { code: 1008, reason: 'AUTH_ERROR: invalid token' })
  })

  it('reads the refusal from the Close reason when no error frame came, else says the socket closed first', async () => {
    const refused = connectWorker('ws://edge.test/app', { WebSocket: FakeSocket })
    FakeSocket.last!.emit('close', { code: 1008, reason: 'AUTH_ERROR: invalid token' })
    await expect(refused).rejects.toMatchObject({ code: 'AUTH_ERROR', message: 'AUTH_ERROR: invalid token' })

    const lost = connectWorker('ws://edge.test/app', { WebSocket: FakeSocket })
    FakeSocket.last!.emit('error')
    FakeSocket.last!.emit('close', { code: 1006, reason: '' })
    await expect(lost).rejects.toMatchObject({ code: 'CONNECTION_CLOSED', message: 'CONNECTION_CLOSED: socket closed before the engine registered the worker: socket closed (1006)' })
  })

  it('gives up after timeoutMs without a registration, and closes its socket', async () => {
    vi.useFakeTimers()
    const connecting = connectWorker('ws://edge.test/app', { WebSocket: FakeSocket, timeoutMs: 500 })
    const ws = FakeSocket.last!
    ws.emit('open')
    const result = connecting.catch((e) => e)
    await vi.advanceTimersByTimeAsync(500)
    expect(await result).toMatchObject({ code: 'TIMEOUT' })
    expect(ws.closes).toEqual([1000])
  })
})

describe('trigger', () => {
  it('sends an invokefunction with a fresh UUID and resolves with its result', async () => {
    const { worker, ws } = await registered()
    const answer = worker.trigger({ function_id: 'app::public::hello', payload: { name: 'x' } })
    const sent = ws.sent.at(-1)
    expect(sent).toMatchObject({ type: 'invokefunction', function_id: 'app::public::hello', data: { name: 'x' }, timeout_ms: 30_000 })
    expect(sent.invocation_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    ws.engine({ type: 'invocationresult', invocation_id: 'someone-else', result: 'no' })
    ws.engine({ type: 'invocationresult', invocation_id: sent.invocation_id, function_id: 'app::public::hello', result: { greeting: 'hi' } })
    expect(await answer).toEqual({ greeting: 'hi' })
  })

  it("rejects as iii-sdk's InvocationError does: code, function_id, message '<code>: <message>'", async () => {
    const { worker, ws } = await registered()
    const answer = worker.trigger({ function_id: 'app::private', payload: {} }).catch((e) => e)
    const message = "function 'app::private' not allowed (add to rbac.expose_functions)"
    ws.engine({ type: 'invocationresult', invocation_id: ws.sent.at(-1).invocation_id, error: { code: 'FORBIDDEN', message } })
    const err = await answer
    expect(err).toBeInstanceOf(InvocationError)
    expect(err).toBeInstanceOf(EngineError)
    expect(err).toMatchObject({ name: 'InvocationError', code: 'FORBIDDEN', function_id: 'app::private', message: `FORBIDDEN: ${message}` })
  })

  it('sends a void call without an invocation id and waits for nothing', async () => {
    const { worker, ws } = await registered()
    expect(await worker.trigger({ function_id: 'app::public::log', payload: 1, action: { type: 'void' } })).toBeUndefined()
    expect(ws.sent.at(-1)).toEqual({ type: 'invokefunction', function_id: 'app::public::log', data: 1, action: { type: 'void' } })
  })

  it('times out a call after its timeoutMs (the engine is told the same bound)', async () => {
    vi.useFakeTimers()
    const { worker, ws } = await registered()
    const answer = worker.trigger({ function_id: 'app::slow', payload: {}, timeoutMs: 200 }).catch((e) => e)
    expect(ws.sent.at(-1).timeout_ms).toBe(200)
    await vi.advanceTimersByTimeAsync(200)
    expect(await answer).toMatchObject({ code: 'TIMEOUT', function_id: 'app::slow', message: 'TIMEOUT: invocation timed out after 200ms' })
  })

  it('answers pings, ignores what is not for it, and rejects calls in flight when the socket closes', async () => {
    const { worker, ws } = await registered()
    ws.engine({ type: 'ping' })
    expect(ws.sent.at(-1)).toEqual({ type: 'pong' })
    ws.emit('message', { data: 'not json' })
    ws.emit('message', { data: new ArrayBuffer(4) })
    ws.engine({ type: 'registertrigger', id: 't' })
    const waiting = worker.trigger({ function_id: 'app::public::hello', payload: {} }).catch((e) => e)
    ws.emit('close', { code: 1001, reason: 'going away' })
    expect(await waiting).toMatchObject({ code: 'CONNECTION_CLOSED', message: 'CONNECTION_CLOSED: socket closed (1001 going away)' })
    expect(await worker.closed).toEqual({ code: 1001, reason: 'going away' })
    await expect(worker.trigger({ function_id: 'x', payload: {} })).rejects.toMatchObject({ code: 'CONNECTION_CLOSED', function_id: 'x' })
  })

  it('close() ends the socket with 1000', async () => {
    const { worker, ws } = await registered()
    worker.close()
    expect(ws.closes).toEqual([1000])
  })
})

describe("on the wire: Node's WebSocket against a ws server", () => {
  it('registers, calls and is refused as a browser would be', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise((r) => server.once('listening', r))
    const base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`
    server.on('connection', (socket, req) => {
      if (!req.url!.includes('access_token=alice')) {
        socket.send(JSON.stringify({ type: 'error', error: { code: 'AUTH_ERROR', message: 'invalid token' } }))
        return socket.close(1008, 'AUTH_ERROR: invalid token')
      }
      socket.send(JSON.stringify({ type: 'workerregistered', worker_id: 'w-9' }))
      socket.on('message', (data: Buffer) => {
        const m = JSON.parse(data.toString())
        socket.send(JSON.stringify({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: m.function_id, result: m.data }))
      })
    })
    try {
      const worker = await connectWorker(`${base}/app?access_token=alice`)
      expect(worker.workerId).toBe('w-9')
      expect(await worker.trigger({ function_id: 'echo', payload: { n: 1 } })).toEqual({ n: 1 })
      worker.close()
      expect((await worker.closed).code).toBe(1000)
      await expect(connectWorker(`${base}/app?access_token=mallory`)).rejects.toMatchObject({ code: 'AUTH_ERROR', message: 'AUTH_ERROR: invalid token' })
    } finally {
      await new Promise((r) => server.close(r))
    }
  })
})
