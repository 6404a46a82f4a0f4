// GET /api/status: workers, functions, triggers and open channels with their counters.
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { openWorker, settle } from './engine-support'
import { chunk, connect, createChannel, frontDoor } from './support'

const status = async (namespace = '') => (await frontDoor(`http://localhost/api/status?namespace=${namespace}`)).json<any>()

describe('status API', () => {
  it('shows workers, functions, triggers and a channel moving data, and forgets the channel once finished', async () => {
    const worker = await openWorker()
    worker.send({ type: 'registerfunction', id: 'status::fn', description: 'listed' })
    worker.send({ type: 'registertrigger', id: 'st', trigger_type: 'http', function_id: 'status::fn', config: { api_path: 'st' } })
    await settle(worker)

    const refs = await createChannel()
    const writer = await connect(refs.writer)
    writer.ws.send(chunk(1, 1000))
    writer.ws.send('text')
    let channel: any
    for (let i = 0; i < 100; i++) {
      channel = (await status()).channels.find((c: any) => c.channel_id === refs.writer.channel_id)
      if (channel?.frames_in === 2) break
      await new Promise((r) => setTimeout(r, 50))
    }
    // A channel reports once it has lived a second (then on connect and close); the counters
    // shown are read live from the channel while someone looks.
    expect(channel).toMatchObject({ writer: 'open', reader: 'waiting', buffer_size: 64 })
    const s = await status()
    expect(s.functions).toContainEqual(expect.objectContaining({ function_id: 'status::fn', description: 'listed', worker_id: worker.id }))
    expect(s.workers).toContainEqual(expect.objectContaining({ id: worker.id, function_count: 1 }))
    expect(s.triggers).toContainEqual(expect.objectContaining({ id: 'st', trigger_type: 'http' }))
    expect(s.engine).toEqual({ active_invocations: expect.any(Number), invocations: expect.any(Number), registry_version: expect.any(Number) })
    expect(s.namespace).toBe('')

    const reader = await connect(refs.reader)
    writer.ws.close(1000)
    await reader.closed
    let gone = false
    for (let i = 0; i < 100 && !gone; i++) {
      gone = !(await status()).channels.some((c: any) => c.channel_id === refs.writer.channel_id)
      if (!gone) await new Promise((r) => setTimeout(r, 20))
    }
    expect(gone).toBe(true)
  })

  it('shows one namespace at a time, and lists the namespaces', async () => {
    const scoped = await openWorker('/status-ns')
    scoped.send({ type: 'registerfunction', id: 'scoped::fn' })
    await settle(scoped)
    const inScope = await status('status-ns')
    expect(inScope.namespace).toBe('status-ns')
    expect(inScope.functions.map((f: any) => f.function_id)).toEqual(['scoped::fn'])
    expect(inScope.namespaces).toContain('status-ns')
    const inDefault = await status()
    expect(inDefault.functions.some((f: any) => f.function_id === 'scoped::fn')).toBe(false)
    expect(inDefault.namespaces).toContain('status-ns')
    expect((await frontDoor('http://localhost/api/status?namespace=bad.name')).status).toBe(400)
  })

  it('streams the status as server-sent events', async () => {
    const res = await frontDoor('http://localhost/api/status/stream')
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    expect(first).toMatch(/^event: status\ndata: \{.*"workers":/)
    await reader.cancel()
  })

  it('shows the data modules: state scopes, stream groups with their subscribers, and subscribed topics', async () => {
    const ns = 'status-data'
    const state = env.STATE.get(env.STATE.idFromName(`state:${ns}:orders`))
    await state.set({ namespace: ns, kind: 'state', parent: '', name: 'orders' }, 'o1', '1')
    const group = env.STREAM.get(env.STREAM.idFromName(`stream:${JSON.stringify([ns, 'chat', 'room-1'])}`))
    await group.set({ namespace: ns, kind: 'stream', parent: 'chat', name: 'room-1' }, 'm', '"hi"')
    const res = await frontDoor(`http://localhost/${ns}/streams/chat/room-1`, { headers: { Upgrade: 'websocket' } })
    const ws = res.webSocket!
    ws.accept()
    ws.send(JSON.stringify({ type: 'join', data: { subscriptionId: 'a', streamName: 'chat', groupId: 'room-1' } }))
    const worker = await openWorker(`/${ns}`)
    worker.send({ type: 'registerfunction', id: 'status::on-news' })
    worker.send({ type: 'registertrigger', id: 'sub', trigger_type: 'subscribe', function_id: 'status::on-news', config: { topic: 'news' } })
    await settle(worker)
    let data: any
    for (let i = 0; i < 100; i++) {
      data = (await status(ns)).data
      if (data.streams[0]?.subscribers === 1) break
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(data).toEqual({
      state_scopes: ['orders'],
      streams: [{ stream_name: 'chat', group_id: 'room-1', subscribers: 1 }],
      topics: [{ topic: 'news', subscribers: 1 }],
      // Named queues are listed whether used or not (`default` always exists); nothing ran here.
      queues: expect.arrayContaining([{ name: 'default', kind: 'queue', type: 'standard', depth: 0, in_flight: 0, dead_letters: 0 }]),
    })
    ws.close(1000)
  })
})
