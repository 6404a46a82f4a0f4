// HTTP triggers in workerd: the front door goes straight to the serving session (no registry call on
// a warm request), a reset mid-request answers 502 at once, a departed worker's route answers 503.
import { env } from 'cloudflare:workers'
import { evictDurableObject, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { type RawWorker, ofType, openWorker, settle } from './engine-support'
import { frontDoor } from './support'

const sessionOf = (worker: RawWorker) => env.SESSION.get(env.SESSION.idFromString(worker.id))
/** Registry events so far; a registry evicted in between (idle) restarts its count, so the instance is returned too. */
const registryEvents = async () => {
  const counters = await (await frontDoor('http://localhost/api/counters')).json<{ registry: number; registryInstance: string }>()
  return { events: counters.registry, instance: counters.registryInstance }
}

/** A raw worker serving `fn` on `GET /<path>`; answers each invocation with `{status_code: 200, body}`. */
async function serve(fn: string, path: string): Promise<RawWorker> {
  const worker = await openWorker()
  worker.send({ type: 'registerfunction', id: fn })
  worker.send({ type: 'registertrigger', id: `${fn}-trigger`, trigger_type: 'http', function_id: fn, config: { api_path: path, http_method: 'GET' } })
  await settle(worker)
  return worker
}

const answer = (worker: RawWorker, inv: Record<string, any>, body: string) =>
  worker.send({ type: 'invocationresult', invocation_id: inv.invocation_id, result: { status_code: 200, body } })

describe('http triggers', () => {
  it('passes the request to the serving session and answers with its result; a warm request asks the registry nothing', async () => {
    const worker = await serve('web::hello', 'hello/:name')
    const request = (name: string) => frontDoor(`http://localhost/hello/${name}`)
    const cold = request('cold')
    const inv = await worker.next(ofType('invokefunction'))
    expect(inv.data).toMatchObject({ path: '/hello/:name', path_params: { name: 'cold' }, method: 'GET', request_body: { direction: 'read' }, response: { direction: 'write' } })
    answer(worker, inv, 'hi cold')
    expect(await (await cold).json()).toBe('hi cold') // a string body with no content type is JSON, as on the engine
    const before = await registryEvents()
    for (let i = 0; i < 10; i++) {
      const warm = request(`n${i}`)
      answer(worker, await worker.next(ofType('invokefunction')), `hi ${i}`)
      expect(await (await warm).json()).toBe(`hi ${i}`)
    }
    const after = await registryEvents()
    expect(after.instance === before.instance ? after.events - before.events : after.events).toBe(0)
  })

  it('answers 502 at once when the serving session is reset mid-request (a crash, a deploy)', async () => {
    const worker = await serve('web::reset', 'reset-me')
    const pending = frontDoor('http://localhost/reset-me')
    await worker.next(ofType('invokefunction'))
    // A session serving a request cannot be evicted (the request pins it); a reset can still take it.
    const resetAt = Date.now()
    await runInDurableObject(sessionOf(worker), (_obj, state) => state.abort('reset by the test')).catch(() => {})
    const res = await pending
    expect(res.status).toBe(502)
    expect(await res.json()).toMatchObject({ error: { code: 'BAD_GATEWAY', message: expect.stringContaining('went away') } })
    expect(Date.now() - resetAt).toBeLessThan(2000)
  })

  it('does not need the registry mid-request: evicting it changes nothing', async () => {
    const worker = await serve('web::steady', 'steady')
    const first = frontDoor('http://localhost/steady')
    answer(worker, await worker.next(ofType('invokefunction')), 'one')
    expect(await (await first).json()).toBe('one')
    const pending = frontDoor('http://localhost/steady')
    const inv = await worker.next(ofType('invokefunction'))
    await evictDurableObject(env.REGISTRY.get(env.REGISTRY.idFromName('registry:')))
    answer(worker, inv, 'two')
    expect(await (await pending).json()).toBe('two')
  })

  it('answers 503 with Retry-After for a route whose worker just left, not 404', async () => {
    const worker = await serve('web::brief', 'brief')
    const first = frontDoor('http://localhost/brief')
    answer(worker, await worker.next(ofType('invokefunction')), 'here')
    expect((await first).status).toBe(200)
    worker.ws.close(1000)
    await worker.closed
    let res = await frontDoor('http://localhost/brief')
    for (let i = 0; i < 50 && res.status === 200; i++) res = await frontDoor('http://localhost/brief')
    expect(res.status).toBe(503)
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
    expect((await frontDoor('http://localhost/never-was')).status).toBe(404)
  })

  it('serves a namespace\'s routes under /<namespace>/ only', async () => {
    const worker = await openWorker('/shop')
    worker.send({ type: 'registerfunction', id: 'shop::cart' })
    worker.send({ type: 'registertrigger', id: 'cart', trigger_type: 'http', function_id: 'shop::cart', config: { api_path: 'cart' } })
    await settle(worker)
    const pending = frontDoor('http://localhost/shop/cart')
    answer(worker, await worker.next(ofType('invokefunction')), 'cart')
    expect(await (await pending).json()).toBe('cart')
    expect((await frontDoor('http://localhost/cart')).status).toBe(404)
  })
})
