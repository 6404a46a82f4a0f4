// A worker endpoint's session in workerd (III_WORKER_ENDPOINTS in vitest.config.ts): what its auth
// function answered is the session's, and still rules it after the object is evicted and wakes:
// the check, the prefix added on register and stripped on dispatch.
import { env } from 'cloudflare:workers'
import { evictDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { type RawWorker, ofType, openWorker, settle } from './engine-support'
import { BASE, frontDoor } from './support'

const sessionOf = (worker: RawWorker) => env.SESSION.get(env.SESSION.idFromString(worker.id))

/** Opens the endpoint while the trusted worker answers its auth function's call with `rights`. */
async function admitted(trusted: RawWorker, rights: unknown): Promise<RawWorker> {
  const opening = openWorker('/rbac-evict')
  const auth = await trusted.next(ofType('invokefunction', { function_id: 'evict::auth' }))
  expect(auth.data).toMatchObject({ headers: expect.objectContaining({ upgrade: 'websocket' }), query_params: {} })
  trusted.send({ type: 'invocationresult', invocation_id: auth.invocation_id, function_id: 'evict::auth', result: rights })
  return opening
}

describe('a worker endpoint session', () => {
  it('keeps its rights and prefix across an eviction', async () => {
    const trusted = await openWorker()
    for (const id of ['evict::auth', 'evict::public::x', 'evict::private']) trusted.send({ type: 'registerfunction', id })
    await settle(trusted)
    const worker = await admitted(trusted, { function_registration_prefix: 'p', context: { user: 1 } })
    worker.send({ type: 'registerfunction', id: 'fn' })
    // At the registry once the trusted worker lists it (under the prefix).
    for (let i = 0; ; i++) {
      trusted.send({ type: 'invokefunction', invocation_id: `list-${i}`, function_id: 'engine::functions::list', data: {} })
      const { result } = await trusted.next(ofType('invocationresult', { invocation_id: `list-${i}` }))
      if (result.functions.some((f: { function_id: string }) => f.function_id === 'p::fn')) break
      if (i > 100) throw new Error('p::fn never registered')
      await new Promise((r) => setTimeout(r, 20))
    }

    await evictDurableObject(sessionOf(worker))

    worker.send({ type: 'invokefunction', invocation_id: 'private', function_id: 'evict::private', data: {} })
    expect((await worker.next(ofType('invocationresult', { invocation_id: 'private' }))).error).toEqual({
      code: 'FORBIDDEN',
      message: "function 'evict::private' not allowed (add to rbac.expose_functions)",
    })
    worker.send({ type: 'invokefunction', invocation_id: 'public', function_id: 'evict::public::x', data: 1 })
    const call = await trusted.next(ofType('invokefunction', { function_id: 'evict::public::x' }))
    trusted.send({ type: 'invocationresult', invocation_id: call.invocation_id, function_id: 'evict::public::x', result: 'ok' })
    expect((await worker.next(ofType('invocationresult', { invocation_id: 'public' }))).result).toBe('ok')

    trusted.send({ type: 'invokefunction', invocation_id: 'mine', function_id: 'p::fn', data: 2 })
    const dispatched = await worker.next(ofType('invokefunction'))
    expect(dispatched.function_id).toBe('fn')
    worker.send({ type: 'invocationresult', invocation_id: dispatched.invocation_id, function_id: 'fn', result: 'served' })
    expect((await trusted.next(ofType('invocationresult', { invocation_id: 'mine' }))).result).toBe('served')
    worker.ws.close()
    trusted.ws.close()
  })

  it('answers the upgrade with the AUTH_ERROR frame and a 1008 close when the auth function fails', async () => {
    const trusted = await openWorker()
    trusted.send({ type: 'registerfunction', id: 'evict::auth' })
    await settle(trusted)
    const opening = frontDoor(`${BASE}/rbac-evict`, { headers: { Upgrade: 'websocket' } })
    const auth = await trusted.next(ofType('invokefunction', { function_id: 'evict::auth' }))
    trusted.send({ type: 'invocationresult', invocation_id: auth.invocation_id, function_id: 'evict::auth', error: { code: 'invocation_failed', message: 'who are you' } })
    const res = await opening
    expect(res.status).toBe(101)
    const ws = res.webSocket!
    const frames: unknown[] = []
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })))
    ws.addEventListener('message', (e) => frames.push(JSON.parse(e.data as string)))
    ws.accept()
    expect(await closed).toEqual({ code: 1008, reason: 'AUTH_ERROR: who are you' })
    expect(frames).toEqual([{ type: 'error', error: { code: 'AUTH_ERROR', message: 'who are you' } }])
    trusted.ws.close()
  })
})
