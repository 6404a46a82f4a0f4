// The engine in workerd: sessions (one per worker), the registry, invocation routing between
// sessions, disconnects, eviction of either session or of the registry, namespaces, bad input.
import { env } from 'cloudflare:workers'
import { evictDurableObject, listDurableObjectIds } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { type RawWorker, ofType, openWorker, settle } from './engine-support'
import { frontDoor } from './support'

const sessionOf = (worker: RawWorker) => env.SESSION.get(env.SESSION.idFromString(worker.id))
const registry = (namespace = '') => env.REGISTRY.get(env.REGISTRY.idFromName(`registry:${namespace}`))
/** Messages and requests the registry of a namespace has handled since it woke (bench S2 reads the same). */
const registryEvents = async (namespace = '') => {
  const counters = await (await frontDoor(`http://localhost/api/counters?namespace=${namespace}`)).json<{ registry: number; registryInstance: string }>()
  return { events: counters.registry, instance: counters.registryInstance }
}

describe('routing', () => {
  it('routes an invocation to the registering worker and its result back, data untouched', async () => {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: 'math::add', description: 'adds' })
    await settle(callee)
    const data = { a: 1, b: 2, reader: { channel_id: 'c', access_key: 'k', direction: 'read' }, deep: [{ x: null }] }
    caller.send({ type: 'invokefunction', invocation_id: 'inv-1', function_id: 'math::add', data })
    const invoke = await callee.next(ofType('invokefunction', { function_id: 'math::add' }))
    expect(invoke.data).toEqual(data)
    expect(invoke.invocation_id).toEqual(expect.any(String))
    callee.send({ type: 'invocationresult', invocation_id: invoke.invocation_id, function_id: 'math::add', result: { sum: 3 } })
    const result = await caller.next(ofType('invocationresult', { invocation_id: 'inv-1' }))
    expect(result).toMatchObject({ function_id: 'math::add', result: { sum: 3 } })
    expect(result.error).toBeUndefined()
  })

  it('answers an unknown function with function_not_found at once', async () => {
    const caller = await openWorker()
    caller.send({ type: 'invokefunction', invocation_id: 'x', function_id: 'nobody::here', data: {} })
    const result = await caller.next(ofType('invocationresult', { invocation_id: 'x' }))
    expect(result.error).toMatchObject({ code: 'function_not_found' })
  })

  it('forwards void invocations without an id and sends nothing back', async () => {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: 'log::it' })
    await settle(callee)
    caller.send({ type: 'invokefunction', function_id: 'log::it', data: 1, action: { type: 'void' } })
    const invoke = await callee.next(ofType('invokefunction'))
    expect(invoke.invocation_id).toBeUndefined()
    expect(invoke.action).toBeUndefined()
    await settle(caller)
    expect(caller.inbox.filter((m) => m.type === 'invocationresult')).toEqual([])
  })

  it('relays an error result from the callee', async () => {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: 'fail::always' })
    await settle(callee)
    caller.send({ type: 'invokefunction', invocation_id: 'e', function_id: 'fail::always', data: {} })
    const invoke = await callee.next(ofType('invokefunction'))
    const error = { code: 'invocation_failed', message: 'boom', stacktrace: 'at x' }
    callee.send({ type: 'invocationresult', invocation_id: invoke.invocation_id, function_id: 'fail::always', error })
    expect((await caller.next(ofType('invocationresult', { invocation_id: 'e' }))).error).toEqual(error)
  })
})

describe('disconnects', () => {
  it('fails invocations waiting on a worker that leaves, and forgets its functions', async () => {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: 'slow::one' })
    await settle(callee)
    caller.send({ type: 'invokefunction', invocation_id: 'w', function_id: 'slow::one', data: {} })
    await callee.next(ofType('invokefunction'))
    callee.ws.close(1000)
    const result = await caller.next(ofType('invocationresult', { invocation_id: 'w' }))
    expect(result.error).toMatchObject({ code: 'invocation_stopped' })
    caller.send({ type: 'invokefunction', invocation_id: 'again', function_id: 'slow::one', data: {} })
    expect((await caller.next(ofType('invocationresult', { invocation_id: 'again' }))).error.code).toBe('function_not_found')
  })
})

describe('eviction', () => {
  /** Registers `fn` on a callee, invokes it from a caller, and returns the invocation as the callee got it. */
  async function inFlight(fn: string) {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: fn })
    await settle(callee)
    caller.send({ type: 'invokefunction', invocation_id: 'flying', function_id: fn, data: { n: 1 } })
    const invoke = await callee.next(ofType('invokefunction'))
    // In flight longer than the persist delay (250 ms): both sessions have written it.
    await new Promise((r) => setTimeout(r, 400))
    return { callee, caller, invoke }
  }

  it('routes the result of an invocation in flight across an eviction of the callee\'s session', async () => {
    const { callee, caller, invoke } = await inFlight('evict::callee')
    await evictDurableObject(sessionOf(callee))
    callee.send({ type: 'invocationresult', invocation_id: invoke.invocation_id, function_id: 'evict::callee', result: 42 })
    expect((await caller.next(ofType('invocationresult', { invocation_id: 'flying' }))).result).toBe(42)
  })

  it("ends a call past its deadline on both sides while the callee's session sleeps: its alarm wakes it", async () => {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: 'evict::hangs' })
    await settle(callee)
    caller.send({ type: 'invokefunction', invocation_id: 'late', function_id: 'evict::hangs', data: {}, timeout_ms: 1_000 })
    const invoke = await callee.next(ofType('invokefunction'))
    await new Promise((r) => setTimeout(r, 400)) // past the persist delay: written, the alarm armed
    await evictDurableObject(sessionOf(callee))
    const answer = await caller.next(ofType('invocationresult', { invocation_id: 'late' }), 5_000)
    expect(answer.error).toMatchObject({ code: 'timeout' })
    // Nothing woke the callee's session but its alarm; it holds nothing now, and its worker's late
    // answer goes nowhere.
    for (let i = 0; (await sessionOf(callee).stats()).active_invocations > 0; i++) {
      if (i > 100) throw new Error('the callee still holds the call')
      await new Promise((r) => setTimeout(r, 50))
    }
    callee.send({ type: 'invocationresult', invocation_id: invoke.invocation_id, function_id: 'evict::hangs', result: 'too late' })
    await settle(caller)
    expect(caller.inbox.filter((m) => m.invocation_id === 'late')).toEqual([])
  })

  it('keeps a caller\'s session in memory while it waits (its link pins it); once idle it can be evicted and calls again', async () => {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: 'evict::caller' })
    await settle(callee)
    const roundTrip = async (invocation_id: string) => {
      caller.send({ type: 'invokefunction', invocation_id, function_id: 'evict::caller', data: {} })
      const inv = await callee.next(ofType('invokefunction'))
      callee.send({ type: 'invocationresult', invocation_id: inv.invocation_id, result: invocation_id })
      expect((await caller.next(ofType('invocationresult', { invocation_id }))).result).toBe(invocation_id)
    }
    await roundTrip('before')
    await new Promise((r) => setTimeout(r, 600)) // III_LINK_IDLE_MS is 300 here: the link is closed
    await evictDurableObject(sessionOf(caller))
    await roundTrip('after')
  })

  it('keeps routing when the registry is evicted mid-invocation: it is not on the invocation\'s path', async () => {
    const { callee, caller, invoke } = await inFlight('evict::registry')
    await evictDurableObject(registry())
    callee.send({ type: 'invocationresult', invocation_id: invoke.invocation_id, function_id: 'evict::registry', result: 'ok' })
    expect((await caller.next(ofType('invocationresult', { invocation_id: 'flying' }))).result).toBe('ok')
    // Registrations survive it too.
    caller.send({ type: 'invokefunction', invocation_id: 'again', function_id: 'evict::registry', data: {} })
    const second = await callee.next(ofType('invokefunction'))
    callee.send({ type: 'invocationresult', invocation_id: second.invocation_id, result: 'still' })
    expect((await caller.next(ofType('invocationresult', { invocation_id: 'again' }))).result).toBe('still')
  })

  it('asks the registry nothing for a warm invocation', async () => {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: 'warm::fn' })
    await settle(callee)
    const call = async (invocation_id: string) => {
      caller.send({ type: 'invokefunction', invocation_id, function_id: 'warm::fn', data: {} })
      const inv = await callee.next(ofType('invokefunction'))
      callee.send({ type: 'invocationresult', invocation_id: inv.invocation_id, result: invocation_id })
      expect((await caller.next(ofType('invocationresult', { invocation_id }))).result).toBe(invocation_id)
    }
    await call('cold') // the first call may refresh the caller's view
    const before = await registryEvents()
    for (let i = 0; i < 20; i++) await call(`warm-${i}`)
    const after = await registryEvents()
    expect(after.instance === before.instance ? after.events - before.events : after.events).toBe(0)
  })
})

describe('eviction with many invocations in flight', () => {
  it('routes every result after the sessions are evicted, and errors those whose worker left; none hang', async () => {
    const callee = await openWorker()
    const leaver = await openWorker()
    const callers = await Promise.all([openWorker(), openWorker(), openWorker()])
    callee.send({ type: 'registerfunction', id: 'many::stay' })
    leaver.send({ type: 'registerfunction', id: 'many::leave' })
    await settle(callee)
    await settle(leaver)
    for (let i = 0; i < 60; i++) {
      const fn = i % 3 === 0 ? 'many::leave' : 'many::stay'
      callers[i % 3]!.send({ type: 'invokefunction', invocation_id: `m${i}`, function_id: fn, data: { i } })
    }
    const atCallee = await Promise.all(Array.from({ length: 40 }, () => callee.next(ofType('invokefunction'))))
    await Promise.all(Array.from({ length: 20 }, () => leaver.next(ofType('invokefunction'))))
    await new Promise((r) => setTimeout(r, 400)) // written by now
    // The callees' sessions hold the invocations; the callers' are pinned by their links while they wait.
    for (const worker of [callee, leaver]) await evictDurableObject(sessionOf(worker))
    for (const inv of atCallee) {
      callee.send({ type: 'invocationresult', invocation_id: inv.invocation_id, function_id: 'many::stay', result: inv.data.i })
    }
    leaver.ws.close(1000)
    for (let i = 0; i < 60; i++) {
      const result = await callers[i % 3]!.next(ofType('invocationresult', { invocation_id: `m${i}` }))
      if (i % 3 === 0) expect(result.error.code).toBe('invocation_stopped')
      else expect(result.result).toBe(i)
    }
  })
})

describe('resets', () => {
  it('tells callers invocation_stopped when the serving session is reset (its sockets closed, as by a deploy)', async () => {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: 'reset::callee' })
    await settle(callee)
    caller.send({ type: 'invokefunction', invocation_id: 'r', function_id: 'reset::callee', data: {} })
    await callee.next(ofType('invokefunction'))
    await new Promise((r) => setTimeout(r, 400)) // written
    await evictDurableObject(sessionOf(callee), { webSockets: 'close' })
    expect((await caller.next(ofType('invocationresult', { invocation_id: 'r' }))).error.code).toBe('invocation_stopped')
    // Its functions went with it.
    caller.send({ type: 'invokefunction', invocation_id: 'r2', function_id: 'reset::callee', data: {} })
    expect((await caller.next(ofType('invocationresult', { invocation_id: 'r2' }))).error.code).toBe('function_not_found')
  })

  it('ends with an error, on the new connection, every invocation a reattaching worker was still waiting for', async () => {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: 'slow::reattach' })
    await settle(callee)
    for (const id of ['w1', 'w2']) caller.send({ type: 'invokefunction', invocation_id: id, function_id: 'slow::reattach', data: {} })
    await callee.next(ofType('invokefunction'))
    await callee.next(ofType('invokefunction'))
    caller.ws.close(1000) // the connection drops, the worker comes back on a new one
    await caller.closed
    const again = await openWorker()
    again.send({ type: 'reattach', previous_worker_id: caller.id, reattach_token: caller.token })
    const errors = await Promise.all(['w1', 'w2'].map((invocation_id) => again.next(ofType('invocationresult', { invocation_id }))))
    for (const e of errors) expect(e).toMatchObject({ function_id: 'slow::reattach', error: { code: 'invocation_stopped' } })
    // A wrong token hands nothing over.
    const third = await openWorker()
    third.send({ type: 'reattach', previous_worker_id: again.id, reattach_token: 'wrong' })
    await settle(third)
    expect(again.ws.readyState).toBe(WebSocket.READY_STATE_OPEN)
  })
})

describe('namespaces', () => {
  it('keeps namespaces apart: a function of one is function_not_found in another', async () => {
    const inA = await openWorker('/team-a')
    const inDefault = await openWorker()
    const alsoA = await openWorker('/team-a/')
    inA.send({ type: 'registerfunction', id: 'ns::fn' })
    await settle(inA)
    inDefault.send({ type: 'invokefunction', invocation_id: 'x', function_id: 'ns::fn', data: {} })
    expect((await inDefault.next(ofType('invocationresult', { invocation_id: 'x' }))).error.code).toBe('function_not_found')
    alsoA.send({ type: 'invokefunction', invocation_id: 'y', function_id: 'ns::fn', data: {} })
    const inv = await inA.next(ofType('invokefunction'))
    inA.send({ type: 'invocationresult', invocation_id: inv.invocation_id, result: 'team-a' })
    expect((await alsoA.next(ofType('invocationresult', { invocation_id: 'y' }))).result).toBe('team-a')
    // Lists show one namespace only.
    alsoA.send({ type: 'invokefunction', invocation_id: 'l', function_id: 'engine::workers::list', data: {} })
    const workers = (await alsoA.next(ofType('invocationresult', { invocation_id: 'l' }))).result.workers.map((w: { id: string }) => w.id)
    expect(workers.sort()).toEqual([inA.id, alsoA.id].sort())
  })

  it('refuses an engine address that is no namespace', async () => {
    for (const path of ['/a/b', '/api', '/bad.name']) {
      expect((await frontDoor(`http://localhost${path}`, { headers: { Upgrade: 'websocket' } })).status, path).not.toBe(101)
    }
  })
})

describe('sessions', () => {
  it('creates one session object per connection and no other object for it', async () => {
    const before = (await listDurableObjectIds(env.SESSION)).length
    const worker = await openWorker()
    const after = await listDurableObjectIds(env.SESSION)
    expect(after.length).toBe(before + 1)
    expect(after.some((id) => id.toString() === worker.id)).toBe(true)
  })
})

describe('builtins', () => {
  it('creates channels and lists functions, workers, trigger types and triggers', async () => {
    const worker = await openWorker()
    worker.send({ type: 'registerfunction', id: 'listed::fn', description: 'shown in lists' })
    worker.send({ type: 'registertrigger', id: 't1', trigger_type: 'http', function_id: 'listed::fn', config: { api_path: 'a/:b', http_method: 'GET' } })
    worker.send({ type: 'invokefunction', function_id: 'engine::workers::register', data: { runtime: 'node', name: 'w1', pid: 7 }, action: { type: 'void' } })
    const call = async (function_id: string, data: unknown = {}) => {
      const invocation_id = crypto.randomUUID()
      worker.send({ type: 'invokefunction', invocation_id, function_id, data })
      return (await worker.next(ofType('invocationresult', { invocation_id }))).result
    }
    const refs = await call('engine::channels::create', { buffer_size: 8 })
    expect(refs.writer).toMatchObject({ direction: 'write', channel_id: refs.reader.channel_id })
    expect(refs.reader.direction).toBe('read')
    expect(refs.writer.access_key).not.toBe(refs.reader.access_key)
    expect((await call('engine::functions::list')).functions).toContainEqual(
      expect.objectContaining({ function_id: 'listed::fn', description: 'shown in lists', worker_id: worker.id, worker_name: 'w1' }),
    )
    expect((await call('engine::workers::list')).workers).toContainEqual(
      expect.objectContaining({ id: worker.id, runtime: 'node', name: 'w1', pid: 7, function_count: 1, status: 'connected' }),
    )
    expect((await call('engine::triggers::list')).triggers).toContainEqual(expect.objectContaining({ id: 'http' }))
    expect((await call('engine::registered-triggers::list')).registered_triggers).toContainEqual(
      expect.objectContaining({ id: 't1', trigger_type: 'http', function_id: 'listed::fn', worker_name: 'w1' }),
    )
    // Success is silent, as in the iii engine: only failures get a triggerregistrationresult.
    expect(worker.inbox.filter((m) => m.type === 'triggerregistrationresult')).toEqual([])
  })

  it('refuses an http trigger without api_path or on a reserved path', async () => {
    const worker = await openWorker()
    worker.send({ type: 'registertrigger', id: 'h', trigger_type: 'http', function_id: 'f', config: {} })
    expect((await worker.next(ofType('triggerregistrationresult', { id: 'h' }))).error).toMatchObject({
      code: 'trigger_registration_failed',
      message: expect.stringContaining('api_path'),
    })
    worker.send({ type: 'registertrigger', id: 'r', trigger_type: 'http', function_id: 'f', config: { api_path: '/channels', http_method: 'POST' } })
    expect((await worker.next(ofType('triggerregistrationresult', { id: 'r' }))).error.message).toMatch(/reserved/)
  })

  it('keeps a trigger of a type nobody provides yet and hands it to the provider when it registers', async () => {
    const user = await openWorker()
    const provider = await openWorker()
    user.send({ type: 'registertrigger', id: 'cron-1', trigger_type: 'cron::later', function_id: 'job::run', config: { every: '1m' } })
    await settle(user)
    expect(user.inbox.filter((m) => m.type === 'triggerregistrationresult')).toEqual([])
    provider.send({ type: 'registertriggertype', id: 'cron::later', description: 'cron' })
    expect(await provider.next(ofType('registertrigger', { id: 'cron-1' }))).toMatchObject({ function_id: 'job::run', config: { every: '1m' } })
    // The provider refuses it: the user hears about it.
    provider.send({ type: 'triggerregistrationresult', id: 'cron-1', trigger_type: 'cron::later', function_id: 'job::run', error: { code: 'bad_cron', message: 'nope' } })
    expect((await user.next(ofType('triggerregistrationresult', { id: 'cron-1' }))).error.code).toBe('bad_cron')
  })
})

describe('registration', () => {
  it('lets a second registration of a function id take it over; the first owner leaving does not remove it', async () => {
    const first = await openWorker()
    const second = await openWorker()
    const caller = await openWorker()
    first.send({ type: 'registerfunction', id: 'shared::fn' })
    await settle(first)
    second.send({ type: 'registerfunction', id: 'shared::fn' })
    await settle(second)
    first.ws.close(1000)
    await first.closed
    caller.send({ type: 'invokefunction', invocation_id: 'dup', function_id: 'shared::fn', data: {} })
    const invoke = await second.next(ofType('invokefunction'))
    second.send({ type: 'invocationresult', invocation_id: invoke.invocation_id, result: 'second' })
    expect((await caller.next(ofType('invocationresult', { invocation_id: 'dup' }))).result).toBe('second')
  })

  it('answers the SDK keepalive {"type":"ping"} with a pong', async () => {
    const worker = await openWorker()
    worker.send({ type: 'ping' })
    expect(await worker.next(ofType('pong'))).toEqual({ type: 'pong' })
  })

  it('retires the previous connection of a worker that reattaches with its token', async () => {
    const res = await frontDoor('http://localhost/', { headers: { Upgrade: 'websocket' } })
    const old = res.webSocket!
    const oldInbox: any[] = []
    old.addEventListener('message', (e) => {
      oldInbox.push(JSON.parse(e.data as string))
    })
    const oldClosed = new Promise<number>((r) => old.addEventListener('close', (e) => r(e.code)))
    old.accept()
    while (oldInbox.length === 0) await new Promise((r) => setTimeout(r, 5))
    const { worker_id, reattach_token } = oldInbox[0]
    old.send(JSON.stringify({ type: 'registerfunction', id: 'old::fn' }))
    const fresh = await openWorker()
    fresh.send({ type: 'reattach', previous_worker_id: worker_id, reattach_token: 'wrong' })
    await settle(fresh)
    fresh.send({ type: 'reattach', previous_worker_id: worker_id, reattach_token })
    expect(await oldClosed).toBe(1000)
    fresh.send({ type: 'invokefunction', invocation_id: 'gone', function_id: 'old::fn', data: {} })
    expect((await fresh.next(ofType('invocationresult', { invocation_id: 'gone' }))).error.code).toBe('function_not_found')
  })
})

describe('bad input', () => {
  it('survives garbage, answers a malformed invocation with an error, and keeps other workers working', async () => {
    const worker = await openWorker()
    const other = await openWorker()
    for (const junk of ['not json', '[]', '{"type":42}', '{"type":"nope"}', '{"type":"registerfunction"}', 'null']) worker.ws.send(junk)
    worker.ws.send(new Uint8Array([1, 2, 3]))
    worker.send({ type: 'invokefunction', invocation_id: 'bad', function_id: 7 })
    expect((await worker.next(ofType('invocationresult', { invocation_id: 'bad' }))).error).toMatchObject({
      code: 'invalid_message',
      message: expect.stringContaining('function_id'),
    })
    await settle(worker)
    await settle(other)
  })
})
