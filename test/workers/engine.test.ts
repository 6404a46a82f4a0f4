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
    expect(result.error).toMatchObject({ code: 'worker_disconnected' })
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

describe('builtins', () => {
  it('creates channels and lists functions, workers and triggers', async () => {
    const worker = await openWorker()
    worker.send({ type: 'registerfunction', id: 'listed::fn', description: 'shown in lists' })
    worker.send({ type: 'registertrigger', id: 't1', trigger_type: 'http', function_id: 'listed::fn', config: { api_path: 'a/:b', http_method: 'GET' } })
    expect(await worker.next(ofType('triggerregistrationresult', { id: 't1' }))).not.toHaveProperty('error')
    worker.send({ type: 'invokefunction', function_id: 'engine::workers::register', data: { runtime: 'node', name: 'w1' }, action: { type: 'void' } })
    const call = async (function_id: string, data: unknown = {}) => {
      const invocation_id = crypto.randomUUID()
      worker.send({ type: 'invokefunction', invocation_id, function_id, data })
      return (await worker.next(ofType('invocationresult', { invocation_id }))).result
    }
    const refs = await call('engine::channels::create', { buffer_size: 8 })
    expect(refs.writer).toMatchObject({ direction: 'write', channel_id: refs.reader.channel_id })
    expect(refs.reader.direction).toBe('read')
    expect((await call('engine::functions::list')).functions).toContainEqual(
      expect.objectContaining({ function_id: 'listed::fn', description: 'shown in lists', worker_id: worker.id }),
    )
    expect((await call('engine::workers::list')).workers).toContainEqual(
      expect.objectContaining({ worker_id: worker.id, runtime: 'node', name: 'w1', functions: ['listed::fn'] }),
    )
    expect((await call('engine::triggers::list')).triggers).toContainEqual(
      expect.objectContaining({ id: 't1', trigger_type: 'http', function_id: 'listed::fn' }),
    )
  })

  it('rejects a trigger of an unknown type and an http trigger without api_path', async () => {
    const worker = await openWorker()
    worker.send({ type: 'registertrigger', id: 'u', trigger_type: 'nope', function_id: 'f', config: {} })
    expect((await worker.next(ofType('triggerregistrationresult', { id: 'u' }))).error.code).toBe('trigger_type_not_found')
    worker.send({ type: 'registertrigger', id: 'h', trigger_type: 'http', function_id: 'f', config: {} })
    expect((await worker.next(ofType('triggerregistrationresult', { id: 'h' }))).error.code).toBe('invalid_trigger_config')
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
