// Durable Object eviction at random points of a transfer, many trials: every byte arrives exactly
// once and in order, or the reader is told loudly (a non-1000 close). Never silent loss.
import { env } from 'cloudflare:workers'
import { evictDurableObject } from 'cloudflare:test'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { chunk, concat, connect, createChannel } from './support'

const stubOf = (channelId: string) => env.CHANNEL.get(env.CHANNEL.idFromName(channelId))

interface Trial {
  frames: number[]
  evictions: number[]
  readerAt: number
  settleBeforeEvict: boolean
}

const trial = fc.record({
  frames: fc.array(fc.integer({ min: 0, max: 70_000 }), { minLength: 1, maxLength: 40 }),
  evictions: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 4 }),
  readerAt: fc.integer({ min: 0, max: 40 }),
  settleBeforeEvict: fc.boolean(),
})

let loudEnds = 0
let evictionCount = 0

async function run({ frames, evictions, readerAt, settleBeforeEvict }: Trial): Promise<void> {
  const refs = await createChannel(fc.sample(fc.integer({ min: 1, max: 16 }), 1)[0])
  const writer = await connect(refs.writer)
  const sent: Uint8Array[] = []
  let reader: Awaited<ReturnType<typeof connect>> | undefined
  for (let i = 0; i <= frames.length; i++) {
    if (i === Math.min(readerAt, frames.length)) reader = await connect(refs.reader)
    for (const _ of evictions.filter((e) => e === i)) {
      if (settleBeforeEvict) await new Promise((r) => setTimeout(r, 10))
      evictionCount++
      await evictDurableObject(stubOf(refs.writer.channel_id)).catch((err: unknown) => {
        if (!String(err).includes('not currently running')) throw err // already evicted: fine
      })
    }
    if (i < frames.length) {
      const frame = chunk(i + frames.length * 1000, frames[i]!)
      sent.push(frame)
      writer.ws.send(frame)
    }
  }
  writer.ws.close(1000, 'stream_complete')
  const closed = await reader!.closed
  if (closed.code !== 1000) {
    loudEnds++ // loud: allowed, never silent
    console.log('loud end', closed, { frames: frames.length, evictions, readerAt, settleBeforeEvict, got: reader!.frames.length })
    return
  }
  expect(reader!.frames.length).toBe(sent.length)
  expect(concat(reader!.frames)).toEqual(concat(sent))
}

describe('eviction at random points', () => {
  it('delivers byte-exact or ends loudly, over many random trials', async () => {
    await fc.assert(fc.asyncProperty(trial, run), { numRuns: 40 })
    console.log(`eviction trials: 40 transfers, ${evictionCount} evictions, ${loudEnds} loud ends`)
    // Evictions keep the sockets (hibernation): nothing justifies a loud end here.
    expect(loudEnds).toBe(0)
  }, 120_000)
})
