// The unmodified iii-sdk against `wrangler dev`: workers, invocations, createChannel, refs, and the
// seed's examples 3 and 4 written with the SDK 0.22 API (docs/protocol.md).
import { spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { registerWorker } from 'iii-sdk'
import type { ChannelReader, ChannelWriter } from 'iii-sdk/channel'
import { createChannel } from 'iii-sdk/helpers'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { digestChannel } from './support/sdk'
import { type WranglerDev, startWrangler } from './support/wrangler'

type Iii = ReturnType<typeof registerWorker>

let dev: WranglerDev
let producer: Iii
let consumer: Iii

const sha256 = (buf: Buffer) => createHash('sha256').update(buf).digest('hex')

beforeAll(async () => {
  dev = await startWrangler()
  // OpenTelemetry state is process-global in the SDK: one worker keeps it, the other opts out.
  producer = registerWorker(dev.wsUrl, { workerName: 'producer' })
  consumer = registerWorker(dev.wsUrl, { workerName: 'consumer', otel: { enabled: false } })

  // Seed example 3: the consumer end of the pipeline.
  consumer.registerFunction('pipeline::consumer', async (input: { label: string; reader: ChannelReader }) => {
    const chunks: Buffer[] = []
    for await (const chunk of input.reader.stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))
    const records = JSON.parse(Buffer.concat(chunks).toString('utf-8'))
    const total = records.reduce((sum: number, r: { value: number }) => sum + r.value, 0)
    return { label: input.label, count: records.length, total }
  })
  producer.registerFunction('pipeline::producer', async (input: { records: { name: string; value: number }[] }) => {
    const channel = await createChannel(producer)
    const writePromise = new Promise<void>((resolve, reject) => {
      channel.writer.stream.end(Buffer.from(JSON.stringify(input.records)), (err?: Error | null) =>
        err ? reject(err) : resolve(),
      )
    })
    const result = await producer.trigger({
      function_id: 'pipeline::consumer',
      payload: { label: 'batch-001', reader: channel.readerRef },
    })
    await writePromise
    return result
  })

  // Seed example 4: bidirectional streaming with progress over two channels.
  consumer.registerFunction('transform::worker', async (input: { reader: ChannelReader; writer: ChannelWriter }) => {
    const chunks: Buffer[] = []
    let count = 0
    for await (const chunk of input.reader.stream) {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))
      count++
      input.writer.sendMessage(JSON.stringify({ type: 'progress', chunks: count }))
    }
    const result = Buffer.concat(chunks).toString('utf-8').toUpperCase()
    input.writer.stream.end(Buffer.from(result))
    return { status: 'done' }
  })
  producer.registerFunction('transform::coordinator', async (input: { text: string }) => {
    const inputChannel = await createChannel(producer)
    const outputChannel = await createChannel(producer)
    const progress: unknown[] = []
    outputChannel.reader.onMessage((msg) => progress.push(JSON.parse(msg)))
    inputChannel.writer.stream.end(Buffer.from(input.text))
    const triggerPromise = producer.trigger({
      function_id: 'transform::worker',
      payload: { reader: inputChannel.readerRef, writer: outputChannel.writerRef },
    })
    const resultChunks: Buffer[] = []
    for await (const chunk of outputChannel.reader.stream) {
      resultChunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk))
    }
    await triggerPromise
    return { result: Buffer.concat(resultChunks).toString('utf-8'), progress }
  })

  // A reader for the large roundtrip: hashes binary, collects text messages.
  consumer.registerFunction('blob::digest', (input: { reader: ChannelReader }) => digestChannel(input.reader))

  await waitForFunctions(producer, ['pipeline::consumer', 'transform::worker', 'blob::digest', 'transform::coordinator'])
})

afterAll(async () => {
  await Promise.allSettled([producer?.shutdown(), consumer?.shutdown()])
  await dev?.stop()
})

/** Registration is asynchronous (sent on open): wait until the engine lists the functions. */
async function waitForFunctions(iii: Iii, ids: string[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { functions } = (await iii.trigger({ function_id: 'engine::functions::list', payload: {} })) as {
      functions: { function_id: string }[]
    }
    if (ids.every((id) => functions.some((f) => f.function_id === id))) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`functions not registered: ${ids.join(', ')}`)
}

describe('iii-sdk against the edge engine', () => {
  it('moves 2 MiB of binary and text messages through createChannel, byte-exact', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 123)
    const channel = await createChannel(producer)
    const digest = producer.trigger({ function_id: 'blob::digest', payload: { reader: channel.readerRef } })
    channel.writer.sendMessage('meta:start')
    const started = Date.now()
    await new Promise<void>((resolve, reject) => channel.writer.stream.end(data, (err?: Error | null) => (err ? reject(err) : resolve())))
    const result = (await digest) as { sha256: string; bytes: number; texts: string[] }
    console.log(`e2e sdk createChannel 2 MiB: ${(data.length / 1e6 / ((Date.now() - started) / 1000)).toFixed(1)} MB/s`)
    expect(result).toEqual({ sha256: sha256(data), bytes: data.length, texts: ['meta:start'] })
  })

  it('runs seed example 3: streaming data between functions', async () => {
    const records = Array.from({ length: 500 }, (_, i) => ({ name: `r${i}`, value: i }))
    const result = await producer.trigger({ function_id: 'pipeline::producer', payload: { records } })
    expect(result).toEqual({ label: 'batch-001', count: 500, total: (499 * 500) / 2 })
  })

  it('runs seed example 4: bidirectional streaming with progress', async () => {
    const text = 'hello edge channels '.repeat(10_000) // ~200 KB: several 64 KiB chunks
    const { result, progress } = (await producer.trigger({ function_id: 'transform::coordinator', payload: { text } })) as {
      result: string
      progress: { type: string; chunks: number }[]
    }
    expect(result).toBe(text.toUpperCase())
    expect(progress.length).toBeGreaterThan(0)
    expect(progress.map((p) => p.chunks)).toEqual(progress.map((_, i) => i + 1))
  })

  it('rejects a call to an unknown function with function_not_found, at once', async () => {
    const started = Date.now()
    await expect(producer.trigger({ function_id: 'nobody::home', payload: {} })).rejects.toMatchObject({
      code: 'function_not_found',
    })
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('gives the caller an error, not a hang, when the serving worker is killed mid-invocation', async () => {
    const child = spawn(join(import.meta.dirname, '../../node_modules/.bin/node'), [join(import.meta.dirname, 'fixtures/slow-worker.mjs'), dev.wsUrl], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const lines: string[] = []
    child.stdout.on('data', (d: Buffer) => lines.push(...d.toString().split('\n')))
    try {
      await waitForFunctions(producer, ['slow::forever'])
      const call = producer.trigger({ function_id: 'slow::forever', payload: {}, timeoutMs: 25_000 })
      for (let i = 0; i < 100 && !lines.includes('INVOKED'); i++) await new Promise((r) => setTimeout(r, 50))
      expect(lines).toContain('INVOKED')
      const killedAt = Date.now()
      child.kill('SIGKILL')
      await expect(call).rejects.toMatchObject({ code: 'invocation_stopped' })
      console.log(`e2e killed worker: caller told after ${Date.now() - killedAt} ms`)
    } finally {
      child.kill('SIGKILL')
    }
  })
})

describe('heartbeat', () => {
  it('answers the SDK\'s protocol pings and {"type":"ping"} on the main socket', async () => {
    const ws = new WebSocket(dev.wsUrl)
    const messages: string[] = []
    ws.on('message', (m) => messages.push(m.toString()))
    await new Promise((resolve) => ws.once('open', resolve))
    const pong = new Promise<string>((resolve) => ws.once('pong', (data) => resolve(data.toString())))
    ws.ping('are you there')
    expect(await pong).toBe('are you there')
    ws.send(JSON.stringify({ type: 'ping' }))
    for (let i = 0; i < 100 && !messages.includes('{"type":"pong"}'); i++) await new Promise((r) => setTimeout(r, 20))
    expect(messages).toContain('{"type":"pong"}')
    ws.close()
  })
})

describe('engine token', () => {
  let guarded: WranglerDev
  beforeAll(async () => {
    guarded = await startWrangler({ vars: { III_ENGINE_TOKEN: 'e2e-secret-token' } })
  })
  afterAll(async () => guarded?.stop())

  const upgradeStatus = (headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(guarded.wsUrl, { headers })
      ws.on('open', () => {
        ws.close()
        resolve(101)
      })
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('error', reject)
    })

  it('refuses the main socket and the channels API without the token, accepts them with it', async () => {
    expect(await upgradeStatus({})).toBe(401)
    expect(await upgradeStatus({ authorization: 'Bearer wrong' })).toBe(401)
    expect(await upgradeStatus({ authorization: 'Bearer e2e-secret-token' })).toBe(101)
    expect((await fetch(`${guarded.baseUrl}/channels`, { method: 'POST' })).status).toBe(401)
    const ok = await fetch(`${guarded.baseUrl}/channels`, { method: 'POST', headers: { authorization: 'Bearer e2e-secret-token' } })
    expect(ok.status).toBe(201)
  })

  it('lets an SDK worker in with registerWorker(url, { headers })', async () => {
    const iii = registerWorker(guarded.wsUrl, {
      workerName: 'token-holder',
      headers: { authorization: 'Bearer e2e-secret-token' },
      otel: { enabled: false },
    })
    try {
      iii.registerFunction('echo::it', async (x: unknown) => x)
      await waitForFunctions(iii, ['echo::it'])
      expect(await iii.trigger({ function_id: 'echo::it', payload: { a: 1 } })).toEqual({ a: 1 })
    } finally {
      await iii.shutdown()
    }
  })
})
