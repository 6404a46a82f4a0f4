// Cron triggers as Durable Object alarms: registered through the engine socket, fired by the cron
// object's alarm (once per run), surviving an eviction of that object, stopped when the trigger goes.
import { env } from 'cloudflare:workers'
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { CronObject } from '../../src/engine/cron-object'
import { ofType, openWorker, settle } from './engine-support'

const cronOf = (triggerId: string) => env.CRON.get(env.CRON.idFromName(`cron:${''}:${triggerId}`)) as DurableObjectStub<CronObject>

/** Waits until the registry has told the cron object (it does so in the background). */
async function scheduled(triggerId: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const next = await cronOf(triggerId).nextRun()
    if (next) return next
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`cron ${triggerId} never scheduled`)
}

describe('cron triggers', () => {
  it('fire through the alarm with the engine payload, also after the cron object was evicted', async () => {
    const worker = await openWorker()
    worker.send({ type: 'registerfunction', id: 'cron::job' })
    worker.send({ type: 'registertrigger', id: 'nightly', trigger_type: 'cron', function_id: 'cron::job', config: { expression: '0 0 3 * * *' }, metadata: { team: 'ops' } })
    await settle(worker)
    const next = await scheduled('nightly')
    expect(next).toMatch(/T03:00:00\+00:00$/)

    await evictDurableObject(cronOf('nightly'))
    // The alarm waits for the run to finish (runs never overlap): answer it while it waits.
    const fired = runDurableObjectAlarm(cronOf('nightly'))
    const call = await worker.next(ofType('invokefunction', { function_id: 'cron::job' }))
    expect(call.data).toEqual({ trigger: 'cron', job_id: 'nightly', scheduled_time: next, actual_time: expect.stringMatching(/\+00:00$/) })
    expect(call.metadata).toEqual({ team: 'ops' })
    worker.send({ type: 'invocationresult', invocation_id: call.invocation_id, result: null })
    expect(await fired).toBe(true)
    // The next run is set again after the run (the alarm ran early here: it is the same 03:00 or the next day's).
    await runInDurableObject(cronOf('nightly'), async (_obj, state) => {
      for (let i = 0; i < 200 && (await state.storage.getAlarm()) === null; i++) await new Promise((r) => setTimeout(r, 10))
      expect(await state.storage.getAlarm()).not.toBeNull()
    })
    worker.ws.close(1000)
  })

  it('stops when the trigger is unregistered, and when its worker leaves', async () => {
    const worker = await openWorker()
    worker.send({ type: 'registerfunction', id: 'cron::a' })
    worker.send({ type: 'registertrigger', id: 'every-minute', trigger_type: 'cron', function_id: 'cron::a', config: { expression: '0 * * * * *' } })
    worker.send({ type: 'registertrigger', id: 'hourly', trigger_type: 'cron', function_id: 'cron::a', config: { expression: '@hourly' } })
    await settle(worker)
    await scheduled('every-minute')
    await scheduled('hourly')
    worker.send({ type: 'unregistertrigger', id: 'every-minute' })
    await settle(worker)
    for (let i = 0; i < 200 && (await cronOf('every-minute').nextRun()) !== null; i++) await new Promise((r) => setTimeout(r, 10))
    expect(await cronOf('every-minute').nextRun()).toBeNull()
    expect(await runDurableObjectAlarm(cronOf('every-minute'))).toBe(false)
    worker.ws.close(1000)
    await worker.closed
    for (let i = 0; i < 300 && (await cronOf('hourly').nextRun()) !== null; i++) await new Promise((r) => setTimeout(r, 10))
    expect(await cronOf('hourly').nextRun()).toBeNull()
  })

  it('a run whose function is gone is skipped and the schedule stays', async () => {
    const stub = cronOf('orphan')
    await stub.schedule({ namespace: '', trigger_id: 'orphan', function_id: 'nobody::serves', expression: '* * * * * *' })
    expect(await runDurableObjectAlarm(stub)).toBe(true)
    expect(await stub.nextRun()).not.toBeNull()
    await stub.cancel()
  })
})
