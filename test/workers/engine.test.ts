// The Engine Durable Object in workerd: registry, invocation routing, disconnects, eviction, bad input.
import { env, evictDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { ofType, openWorker, settle } from './engine-support'

const engineStub = () => env.ENGINE.get(env.ENGINE.idFromName('engine'))

describe('routing', () => {
  it('routes an invocation to the registering worker and its result back, data untouched', async () => {
    const callee = await openWorker()
    const caller = await openWorker('/iii')
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
  it('keeps registrations and worker identity when the engine object is evicted', async () => {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: 'survives::eviction' })
    await settle(callee)
    await evictDurableObject(engineStub())
    caller.send({ type: 'invokefunction', invocation_id: 'after', function_id: 'survives::eviction', data: { n: 1 } })
    const invoke = await callee.next(ofType('invokefunction'))
    callee.send({ type: 'invocationresult', invocation_id: invoke.invocation_id, function_id: 'survives::eviction', result: 'ok' })
    expect((await caller.next(ofType('invocationresult', { invocation_id: 'after' }))).result).toBe('ok')
  })

  it('routes the result of an invocation that was in flight across an eviction', async () => {
    const callee = await openWorker()
    const caller = await openWorker()
    callee.send({ type: 'registerfunction', id: 'in::flight' })
    await settle(callee)
    caller.send({ type: 'invokefunction', invocation_id: 'flying', function_id: 'in::flight', data: {} })
    const invoke = await callee.next(ofType('invokefunction'))
    await settle(caller) // a later turn: the pending invocation has been written by now
    await evictDurableObject(engineStub())
    callee.send({ type: 'invocationresult', invocation_id: invoke.invocation_id, function_id: 'in::flight', result: 42 })
    expect((await caller.next(ofType('invocationresult', { invocation_id: 'flying' }))).result).toBe(42)
  })
})

describe('eviction with many invocations in flight', () => {
  it('routes every result after the engine is evicted, and errors those whose worker left; none hang', async () => {
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
    await Promise.all(callers.map(settle)) // a later turn: the in-flight invocations are in storage
    await evictDurableObject(engineStub())
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
    const res = await (await import('cloudflare:test')).SELF.fetch('http://edge/', { headers: { Upgrade: 'websocket' } })
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
