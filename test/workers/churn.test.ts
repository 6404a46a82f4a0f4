// Cleanup under churn, measured: channels finished or abandoned leave no tables and no alarms once
// their TTL alarms ran, and channels nobody connected to never become objects at all.
// III_CHURN_CHANNELS sets how many (300 by default; .ci/run runs 10,000).
import { env } from 'cloudflare:workers'
import { evictDurableObject, listDurableObjectIds, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { chunk, connect, createChannel } from './support'

const COUNT = Number((env as unknown as { III_CHURN_CHANNELS?: string }).III_CHURN_CHANNELS ?? 300)
const BATCH = 25
const ROUND = 500

type Fate = 'finished' | 'writer-only' | 'untouched'
const fateOf = (i: number): Fate => (['finished', 'finished', 'writer-only', 'untouched'] as const)[i % 4]!

async function churnOne(fate: Fate): Promise<string> {
  const refs = await createChannel(4)
  if (fate === 'untouched') return refs.writer.channel_id
  const writer = await connect(refs.writer)
  writer.ws.send(chunk(1, 2048))
  writer.ws.send('done')
  writer.ws.close(1000)
  if (fate === 'finished') {
    const reader = await connect(refs.reader)
    expect((await reader.closed).code).toBe(1000)
  } else await writer.closed
  return refs.writer.channel_id
}

/** What an object still holds; retried while a finished object is being dropped ("channel finished"). */
async function leftovers(id: DurableObjectId): Promise<{ tables: number; alarm: boolean }> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await runInDurableObject(env.CHANNEL.get(id), async (_obj, state) => ({
        tables: state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%'").toArray().length,
        alarm: (await state.storage.getAlarm()) !== null,
      }))
    } catch (err) {
      if (attempt >= 50 || !String(err).includes('channel finished')) throw err
      await new Promise((r) => setTimeout(r, 10))
    }
  }
}

/** Runs an object's alarm now, if it has one; retried while a finished object is being dropped. */
async function runAlarm(channelId: string): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await runDurableObjectAlarm(env.CHANNEL.get(env.CHANNEL.idFromName(channelId)))
    } catch (err) {
      if (attempt >= 50 || !String(err).includes('channel finished')) throw err
      await new Promise((r) => setTimeout(r, 10))
    }
  }
}

/** Leftovers of one object, then evict it: a live object keeps its SQLite file open, and local
 * workerd runs out of file descriptors long before 10,000 (SQLITE_CANTOPEN). */
async function checkAndEvict(id: DurableObjectId): Promise<{ tables: number; alarm: boolean }> {
  const left = await leftovers(id)
  await evictDurableObject(env.CHANNEL.get(id)).catch(() => {}) // already gone: fine
  return left
}

describe('cleanup under churn', () => {
  it(`leaves no storage and no alarm behind ${COUNT} channels finished or abandoned`, async () => {
    const started = Date.now()
    let finished = 0
    let untouched = 0
    let ranNow = 0
    let tables = 0
    let alarms = 0
    // Rounds of ROUND channels: churn, fire the TTL alarms of the abandoned ones (as after
    // CHANNEL_TTL_SECONDS; in a long run the early ones have fired by themselves), check, evict.
    for (let round = 0; round < COUNT; round += ROUND) {
      const ids: string[] = []
      for (let i = round; i < Math.min(round + ROUND, COUNT); i += BATCH) {
        const fates = Array.from({ length: Math.min(BATCH, round + ROUND - i, COUNT - i) }, (_, j) => fateOf(i + j))
        const made = await Promise.all(fates.map(churnOne))
        made.forEach((id, j) => {
          if (fates[j] === 'finished') finished++
          if (fates[j] === 'untouched') untouched++
          else ids.push(id)
        })
      }
      // Fire every TTL alarm now (as after CHANNEL_TTL_SECONDS): abandoned channels expire, finished
      // ones drop the tombstone that kept their refs from opening them again. An alarm run this early
      // sets one more, for when the refs really expire: run until none is left.
      for (let i = 0; i < ids.length; i += BATCH) {
        for (let pass = 0; pass < 3; pass++) {
          const ran = await Promise.all(ids.slice(i, i + BATCH).map(runAlarm))
          ranNow += ran.filter(Boolean).length
          if (!ran.some(Boolean)) break
        }
      }
      for (let i = 0; i < ids.length; i += BATCH) {
        const batch = ids.slice(i, i + BATCH).map((id) => env.CHANNEL.idFromName(id))
        for (const left of await Promise.all(batch.map(checkAndEvict))) {
          tables += left.tables
          alarms += left.alarm ? 1 : 0
        }
      }
    }
    const objects = await listDurableObjectIds(env.CHANNEL)
    console.log(`churn: ${COUNT} channels (${finished} finished, ${COUNT - finished - untouched} abandoned, ${untouched} never connected) in ${Date.now() - started} ms; TTL alarms run by the test ${ranNow}; objects listed ${objects.length}, tables left ${tables}, alarms left ${alarms}`)
    // A channel nobody connected to never became an object.
    expect(objects.length).toBe(COUNT - untouched)
    expect({ tables, alarms }).toEqual({ tables: 0, alarms: 0 })
  }, 1_800_000)
})
