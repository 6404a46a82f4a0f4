// HTTP triggers end to end: the seed's download and SSE examples (with the SDK 0.22 `http()` helper),
// streamed uploads, result responses, errors, and a client that goes away mid-download.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { http } from '@iii-dev/helpers/http'
import { registerWorker } from 'iii-sdk'
import type { ChannelReader } from 'iii-sdk/channel'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type WranglerDev, startWrangler } from './support/wrangler'

type Iii = ReturnType<typeof registerWorker>

let dev: WranglerDev
let iii: Iii
const MiB = 1024 * 1024
const DOWNLOAD_BYTES = 50 * MiB
/** How long the SSE function waits for the client to see an event before it gives up (and the test fails). */
const SSE_SEEN_TIMEOUT_MS = 10_000

/** Deterministic pseudo-random bytes in 256 KiB pieces, so both sides can hash without storing. */
function* pattern(total: number): Generator<Buffer> {
  let seed = 12345
  for (let at = 0; at < total; at += 256 * 1024) {
    const piece = Buffer.alloc(Math.min(256 * 1024, total - at))
    for (let i = 0; i < piece.length; i += 4) {
      seed = (seed * 1103515245 + 12345) >>> 0
      piece.writeUInt32LE(seed, i)
    }
    yield piece
  }
}
const patternSha = (total: number) => {
  const h = createHash('sha256')
  for (const piece of pattern(total)) h.update(piece)
  return h.digest('hex')
}

/** What the abortable download's function saw, read by the test from this same process. */
const abortProbe = { written: 0, failed: null as string | null }
const uploadProbe = { firstChunkAt: 0, chunks: 0 }
/**
 * The SSE function and the client share this process: the function writes event n+1 only once the
 * client said it saw event n, and both note what happened in one log. If the bridge held events
 * back, the function would wait in vain, note it, and the log would show it.
 */
const sse = {
  log: [] as string[],
  waiting: new Map<number, () => void>(),
  /** The client saw event `n`. */
  saw(n: number) {
    sse.log.push(`saw ${n}`)
    sse.waiting.get(n)?.()
  },
  /** Resolves once the client saw event `n`, or after SSE_SEEN_TIMEOUT_MS with a note in the log. */
  seen(n: number): Promise<void> {
    if (sse.log.includes(`saw ${n}`)) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        sse.log.push(`event ${n} not seen by the client`)
        resolve()
      }, SSE_SEEN_TIMEOUT_MS)
      sse.waiting.set(n, () => {
        clearTimeout(timer)
        resolve()
      })
    })
  },
}

beforeAll(async () => {
  dev = await startWrangler()
  iii = registerWorker(dev.wsUrl, { workerName: 'http-e2e', otel: { enabled: false } })

  // Seed example 1: file download (the file is generated instead of read from /data/reports).
  iii.registerFunction(
    'files::download',
    http(async (req, res) => {
      res.status(200)
      res.headers({
        'content-type': 'application/octet-stream',
        'content-disposition': `attachment; filename="${req.path_params.filename}"`,
      })
      await pipeline(Readable.from(pattern(DOWNLOAD_BYTES)), res.stream)
    }),
  )
  iii.registerTrigger({ type: 'http', function_id: 'files::download', config: { api_path: 'files/:filename', http_method: 'GET' } })

  // Seed example 2: server-sent events (the seed sleeps between events; here each waits for the client to see the last).
  iii.registerFunction(
    'events::stream',
    http(async (_req, res) => {
      res.status(200)
      res.headers({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
      for (let i = 1; i <= 5; i++) {
        const frame = `id: ${i}\nevent: progress\ndata: ${JSON.stringify({ step: i, total: 5 })}\n\n`
        sse.log.push(`wrote ${i}`)
        res.stream.write(Buffer.from(frame))
        await sse.seen(i)
      }
      const done = `id: 6\nevent: done\ndata: ${JSON.stringify({ message: 'complete' })}\n\n`
      sse.log.push('wrote 6')
      res.stream.write(Buffer.from(done))
      res.stream.end()
    }),
  )
  iii.registerTrigger({ type: 'http', function_id: 'events::stream', config: { api_path: 'events/stream', http_method: 'GET' } })

  // A large upload, read incrementally; the answer is a plain result.
  iii.registerFunction('upload::digest', async (req: { request_body: ChannelReader; headers: Record<string, string> }) => {
    const hash = createHash('sha256')
    let bytes = 0
    for await (const chunk of req.request_body.stream) {
      if (uploadProbe.chunks++ === 0) uploadProbe.firstChunkAt = Date.now()
      hash.update(chunk)
      bytes += chunk.length
    }
    return { status_code: 200, body: { sha256: hash.digest('hex'), bytes, content_type: req.headers['content-type'] } }
  })
  iii.registerTrigger({ type: 'http', function_id: 'upload::digest', config: { api_path: 'upload', http_method: 'POST' } })

  iii.registerFunction('json::echo', async (req: { body: unknown; query_params: unknown; path_params: unknown; method: string; path: string }) => ({
    status_code: 201,
    headers: { 'x-echo': 'yes' },
    body: { body: req.body, query: req.query_params, params: req.path_params, method: req.method, path: req.path },
  }))
  iii.registerTrigger({ type: 'http', function_id: 'json::echo', config: { api_path: 'echo/:kind', http_method: 'POST' } })

  iii.registerFunction('fails::always', async () => {
    throw new Error('database on fire')
  })
  iii.registerTrigger({ type: 'http', function_id: 'fails::always', config: { api_path: 'fail' } })

  iii.registerFunction(
    'files::endless',
    http(async (_req, res) => {
      res.status(200)
      res.headers({ 'content-type': 'application/octet-stream' })
      const chunk = Buffer.alloc(64 * 1024, 1)
      for (let i = 0; i < 2000 && !abortProbe.failed; i++) {
        await new Promise<void>((resolve) => {
          res.stream.write(chunk, (err) => {
            if (err) abortProbe.failed = err.message
            else abortProbe.written++
            resolve()
          })
          res.stream.once('close', () => {
            abortProbe.failed ??= 'stream closed'
            resolve()
          })
        })
        await new Promise((r) => setTimeout(r, 10))
      }
    }),
  )
  iii.registerTrigger({ type: 'http', function_id: 'files::endless', config: { api_path: 'endless' } })

  // Registration is asynchronous: wait until the last route answers something other than 404.
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`${dev.baseUrl}/fail`)).status !== 404) break
    await new Promise((r) => setTimeout(r, 100))
  }
})

afterAll(async () => {
  await iii?.shutdown()
  await dev?.stop()
})

describe('http triggers', () => {
  it('serves the seed download example: 50 MiB byte-exact, headers from res.status/res.headers', async () => {
    const started = Date.now()
    const res = await fetch(`${dev.baseUrl}/files/quarterly-report.pdf`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="quarterly-report.pdf"')
    const hash = createHash('sha256')
    let bytes = 0
    for await (const chunk of res.body!) {
      hash.update(chunk)
      bytes += chunk.byteLength
    }
    console.log(`e2e http download 50 MiB: ${(bytes / 1e6 / ((Date.now() - started) / 1000)).toFixed(1)} MB/s`)
    expect(bytes).toBe(DOWNLOAD_BYTES)
    expect(hash.digest('hex')).toBe(patternSha(DOWNLOAD_BYTES))
  })

  it('streams the seed SSE example: six events, each reaching the client before the next is written', async () => {
    sse.log.length = 0
    const res = await fetch(`${dev.baseUrl}/events/stream`)
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const ids: number[] = []
    let text = ''
    const decoder = new TextDecoder()
    for await (const chunk of res.body!) {
      text += decoder.decode(chunk, { stream: true })
      for (const [, id] of text.matchAll(/^id: (\d+)$/gm)) {
        if (ids.includes(Number(id))) continue
        ids.push(Number(id))
        sse.saw(Number(id))
      }
    }
    expect(ids).toEqual([1, 2, 3, 4, 5, 6])
    expect(text).toContain('event: done\ndata: {"message":"complete"}')
    // Order and cause: the function wrote each event only after the client saw the one before, so
    // every event reached the client while the later ones were not written yet (nothing buffered).
    expect(sse.log).toEqual(['wrote 1', 'saw 1', 'wrote 2', 'saw 2', 'wrote 3', 'saw 3', 'wrote 4', 'saw 4', 'wrote 5', 'saw 5', 'wrote 6', 'saw 6'])
  })

  it('streams a 20 MiB upload to a function that reads it incrementally', async () => {
    const total = 20 * MiB
    let lastSentAt = 0
    const body = Readable.toWeb(
      Readable.from(
        (async function* () {
          for (const piece of pattern(total)) {
            yield piece
            await new Promise((r) => setTimeout(r, 2))
          }
          lastSentAt = Date.now()
        })(),
      ),
    ) as ReadableStream<Uint8Array>
    const res = await fetch(`${dev.baseUrl}/upload`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/csv' },
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ sha256: patternSha(total), bytes: total, content_type: 'text/csv' })
    expect(uploadProbe.chunks).toBeGreaterThan(1)
    // The function started reading before the client finished sending: nothing held the body whole.
    expect(uploadProbe.firstChunkAt).toBeLessThan(lastSentAt)
  })

  it('answers with the returned {status_code, headers, body}; JSON bodies are parsed into body', async () => {
    const res = await fetch(`${dev.baseUrl}/echo/json?x=1&y=two`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ hello: 'world', n: [1, 2] }),
    })
    expect(res.status).toBe(201)
    expect(res.headers.get('x-echo')).toBe('yes')
    expect(await res.json()).toEqual({
      body: { hello: 'world', n: [1, 2] },
      query: { x: '1', y: 'two' },
      params: { kind: 'json' },
      method: 'POST',
      path: '/echo/:kind',
    })
  })

  it('answers 500 with a short JSON error when the function throws', async () => {
    const res = await fetch(`${dev.baseUrl}/fail`)
    expect(res.status).toBe(500)
    // With the id of the log line that says what happened, as the engine's 5xx bodies have it.
    expect(await res.json()).toEqual({ error: { code: 'invocation_failed', message: 'database on fire', error_id: expect.stringMatching(/^[0-9a-f]{12}$/) } })
  })

  it('answers 404 with a clear error for a path nobody serves, and for a method not registered', async () => {
    for (const [method, path] of [['GET', '/nobody/here'], ['DELETE', '/events/stream']] as const) {
      const res = await fetch(`${dev.baseUrl}${path}`, { method })
      expect(res.status).toBe(404)
      expect((await res.json()).error.code).toBe('NOT_FOUND')
    }
  })

  it('makes the function\'s writes fail when the client aborts a download', async () => {
    const abort = new AbortController()
    const res = await fetch(`${dev.baseUrl}/endless`, { signal: abort.signal })
    const reader = res.body!.getReader()
    let received = 0
    while (received < 512 * 1024) received += (await reader.read()).value?.byteLength ?? 0
    abort.abort()
    for (let i = 0; i < 100 && !abortProbe.failed; i++) await new Promise((r) => setTimeout(r, 50))
    expect(abortProbe.failed).not.toBeNull()
    expect(abortProbe.written).toBeLessThan(2000)
  })
})

describe('a worker that went away', () => {
  it('answers 503 with Retry-After at once for its routes (it may be back after a deploy), not a hang', async () => {
    const gone = registerWorker(dev.wsUrl, { workerName: 'short-lived', otel: { enabled: false } })
    gone.registerFunction('brief::fn', async () => ({ status_code: 200, headers: { 'content-type': 'text/plain' }, body: 'here' }))
    gone.registerTrigger({ type: 'http', function_id: 'brief::fn', config: { api_path: 'brief' } })
    for (let i = 0; i < 100 && (await fetch(`${dev.baseUrl}/brief`)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50))
    expect(await (await fetch(`${dev.baseUrl}/brief`)).text()).toBe('here')
    await gone.shutdown()
    let res = await fetch(`${dev.baseUrl}/brief`)
    for (let i = 0; i < 100 && res.status === 200; i++) {
      await new Promise((r) => setTimeout(r, 50))
      res = await fetch(`${dev.baseUrl}/brief`)
    }
    expect(res.status).toBe(503)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    expect((await res.json()).error.code).toBe('UNAVAILABLE')
  })
})
