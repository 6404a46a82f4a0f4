// Load: 200 channels and 50 iii-sdk workers at once, 10,000 invocations of mixed sizes; every byte
// is checked and the error count must be 0. Bounded in count and time, on 127.0.0.1 only.
import { createHash, randomBytes } from 'node:crypto'
import { registerWorker } from 'iii-sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { channelUrl, createChannel, openReader, openWriter, sendAll } from './support/channel'
import { type WranglerDev, startWrangler } from './support/wrangler'

const WORKERS = 50
const CHANNELS = Number(process.env.III_LOAD_CHANNELS ?? 200)
const INVOCATIONS = Number(process.env.III_LOAD_INVOCATIONS ?? 10_000)
const CONCURRENCY = 100

let dev: WranglerDev
let workers: ReturnType<typeof registerWorker>[] = []

beforeAll(async () => {
  dev = await startWrangler()
  workers = Array.from({ length: WORKERS }, (_, i) => {
    const iii = registerWorker(dev.wsUrl, { workerName: `load-${i}`, otel: { enabled: false } })
    iii.registerFunction(`load::echo-${i}`, async (input: { text: string; n: number }) => ({ n: input.n, sha: createHash('sha256').update(input.text).digest('hex') }))
    return iii
  })
  // Wait until all 50 functions are registered.
  for (let i = 0; i < 200; i++) {
    const { functions } = (await workers[0]!.trigger({ function_id: 'engine::functions::list', payload: {} })) as { functions: unknown[] }
    if (functions.length >= WORKERS) break
    await new Promise((r) => setTimeout(r, 100))
  }
}, 120_000)

afterAll(async () => {
  await Promise.allSettled(workers.map((w) => w.shutdown()))
  await dev?.stop()
})

describe('load', () => {
  it(`runs ${CHANNELS} channels and ${INVOCATIONS} invocations across ${WORKERS} workers with 0 errors`, async () => {
    const started = Date.now()
    let errors = 0
    const reasons = new Map<string, number>()
    const fail = (why: string) => {
      errors++
      reasons.set(why, (reasons.get(why) ?? 0) + 1)
    }
    let channelBytes = 0

    const channelJob = async (i: number) => {
      const size = [1, 1_000, 65_536, 300_000, 1_500_000][i % 5]! + i
      const data = randomBytes(size)
      const refs = await createChannel(dev.baseUrl)
      const reader = await openReader(channelUrl(dev.wsUrl, refs.reader))
      const writer = await openWriter(channelUrl(dev.wsUrl, refs.writer))
      const frames: (string | Uint8Array)[] = []
      for (let at = 0; at < size; at += 65_536) frames.push(data.subarray(at, at + 65_536))
      frames.splice(1, 0, `text ${i}`)
      await sendAll(writer.ws, frames)
      writer.ws.close(1000)
      const got = await reader.done
      const ok = got.code === 1000 && got.binaryBytes === size && got.sha256 === createHash('sha256').update(data).digest('hex') && got.texts.length === 1
      if (!ok) fail(`channel: close ${got.code} ${got.reason}, ${got.binaryBytes}/${size} bytes, ${got.texts.length} texts`)
      channelBytes += got.binaryBytes
    }

    let next = 0
    let invocationBytes = 0
    const invocationLane = async () => {
      for (let n = next++; n < INVOCATIONS; n = next++) {
        const text = 'x'.repeat([0, 10, 1_000, 20_000, 64_000][n % 5]!) + n
        const worker = workers[n % WORKERS]!
        try {
          const result = (await worker.trigger({ function_id: `load::echo-${(n * 7) % WORKERS}`, payload: { text, n }, timeoutMs: 60_000 })) as { n: number; sha: string }
          if (result.n !== n || result.sha !== createHash('sha256').update(text).digest('hex')) fail('invocation: wrong result')
          invocationBytes += text.length
        } catch (err) {
          fail(`invocation: ${(err as { code?: string }).code ?? ''} ${(err as Error).message.slice(0, 80)}`)
        }
      }
    }

    await Promise.all([
      Promise.all(Array.from({ length: CHANNELS }, (_, i) => channelJob(i))),
      Promise.all(Array.from({ length: CONCURRENCY }, invocationLane)),
    ])
    const seconds = (Date.now() - started) / 1000
    console.log(
      `e2e load: ${CHANNELS} channels (${(channelBytes / 2 ** 20).toFixed(1)} MiB checked) + ${INVOCATIONS} invocations (${(invocationBytes / 2 ** 20).toFixed(1)} MiB of payload) over ${WORKERS} workers in ${seconds.toFixed(1)} s (${Math.round(INVOCATIONS / seconds)} invocations/s), errors ${errors}`,
    )
    if (errors) console.log('e2e load errors:', [...reasons].slice(0, 10))
    expect(errors).toBe(0)
  }, 600_000)
})
