// The engine's stream module at the edge (issue 13), with the real iii-sdk and a browser-style
// subscriber (ws) against `wrangler dev`: stream::* answers as iii v0.22.1 gives them, live
// changes on the subscriber socket in the engine's message format, the `stream`, `stream:join`
// (which may refuse) and `stream:leave` triggers with their payloads.
import { createStream } from 'iii-sdk/helpers'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { sdkSuite } from './support/sdk'
import { sleep, unique, until } from './support/wait'
import { type WranglerDev, startWrangler } from './support/wrangler'

const suite = sdkSuite()
const { worker } = suite
const sockets: WebSocket[] = []

interface Frame {
  type: string
  timestamp: number
  streamName: string
  groupId: string
  id: string | null
  event: { type: string; data?: unknown; event?: unknown }
}

/** A subscriber as a browser would be: one socket per group, join messages in the engine format. */
async function subscriber(stream: string, group: string) {
  const ws = new WebSocket(`${suite.dev.wsUrl}/streams/${encodeURIComponent(stream)}/${encodeURIComponent(group)}`)
  sockets.push(ws)
  const frames: Frame[] = []
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  const join = (subscriptionId: string, id?: string) => ws.send(JSON.stringify({ type: 'join', data: { subscriptionId, streamName: stream, groupId: group, ...(id ? { id } : {}) } }))
  const leave = (subscriptionId: string) => ws.send(JSON.stringify({ type: 'leave', data: { subscriptionId, streamName: stream, groupId: group } }))
  return { ws, frames, join, leave }
}

afterEach(() => {
  for (const ws of sockets.splice(0)) ws.close()
})

describe('stream::*', () => {
  it('set, get, update, list, list_groups, list_all and delete answer as the engine', async () => {
    const iii = worker('stream-basics')
    const call = <T = unknown>(function_id: string, payload: unknown) => iii.trigger<unknown, T>({ function_id, payload })
    const stream_name = unique('s')
    const at = { stream_name, group_id: 'g1' }
    expect(await call('stream::set', { ...at, item_id: 'a', data: { v: 1 } })).toEqual({ old_value: null, new_value: { v: 1 } })
    expect(await call('stream::set', { ...at, item_id: 'a', data: { v: 2 } })).toEqual({ old_value: { v: 1 }, new_value: { v: 2 } })
    await call('stream::set', { stream_name, group_id: 'g2', item_id: 'b', data: 'x' })
    expect(await call('stream::get', { ...at, item_id: 'a' })).toEqual({ v: 2 })
    expect(await call('stream::get', { ...at, item_id: 'none' })).toBeUndefined()
    expect(await call('stream::update', { ...at, item_id: 'a', ops: [{ type: 'append', path: 'chunks', value: 'hi' }, { type: 'increment', path: 'v', by: 3 }] })).toEqual({
      old_value: { v: 2 },
      new_value: { v: 5, chunks: 'hi' },
    })
    expect(await call('stream::list', at)).toEqual([{ v: 5, chunks: 'hi' }])
    expect(await call('stream::list_groups', { stream_name })).toEqual(['g1', 'g2'])
    const all = await call<{ stream: { id: string; groups: string[] }[]; count: number }>('stream::list_all', {})
    expect(all.stream).toContainEqual({ id: stream_name, groups: ['g1', 'g2'] })
    expect(await call('stream::delete', { ...at, item_id: 'a' })).toEqual({ old_value: { v: 5, chunks: 'hi' } })
    expect(await call('stream::delete', { ...at, item_id: 'a' })).toEqual({ old_value: null })
    expect(await call('stream::list_groups', { stream_name })).toEqual(['g2'])
    await expect(call('stream::set', { ...at, data: 1 })).rejects.toMatchObject({ code: 'deserialization_error' })
    await expect(call('stream::set', { ...at, item_id: 'big', data: 'x'.repeat(2_000_000) })).rejects.toMatchObject({ code: 'VALUE_TOO_LARGE' })
    expect(await call('stream::list', at)).toEqual([])
  })
})

describe('custom streams (createStream), as the engine consults them', () => {
  it("a stream a worker took over is read and written by its functions; subscribers and triggers still hear each change", async () => {
    const owner = worker('stream-custom-owner')
    const caller = worker('stream-custom-caller')
    const stream = unique('custom')
    const items = new Map<string, unknown>()
    const key = (i: { group_id: string; item_id: string }) => `${i.group_id}::${i.item_id}`
    const seen: unknown[] = []
    createStream(owner, stream, {
      get: async (i) => (seen.push(['get', i]), (items.get(key(i)) as never) ?? null),
      set: async (i) => {
        const old_value = items.get(key(i)) ?? null
        items.set(key(i), i.data)
        return { old_value, new_value: { stored: i.data } } as never // its answer, not the input, is what everyone sees
      },
      delete: async (i) => {
        const old_value = items.get(key(i)) ?? null
        items.delete(key(i))
        return { old_value } as never
      },
      list: async (i) => [...items].filter(([k]) => k.startsWith(`${i.group_id}::`)).map(([, v]) => v as never),
      listGroups: async () => ['from-the-worker'],
      update: async () => {
        throw new Error('not registered by createStream')
      },
    })
    const changes: Frame[] = []
    owner.registerTrigger({ type: 'stream', function_id: owner.registerFunction('custom-test::on-change', async (m: Frame) => void changes.push(m)).id, config: { stream_name: stream } })
    const call = <T = unknown>(function_id: string, payload: unknown) => caller.trigger<unknown, T>({ function_id, payload })
    const at = { stream_name: stream, group_id: 'g', item_id: 'a' }
    // Another worker's registrations reach the caller's session by the registry's notice.
    await expect.poll(() => call('stream::list_groups', { stream_name: stream }), { timeout: 8000 }).toEqual(['from-the-worker'])
    await sleep(1100) // a group refreshes its view at most once a second: the join below must see the custom list

    const sub = await subscriber(stream, 'g')
    items.set('g::before', { x: 0 })
    sub.join('all')
    await until('the sync', () => sub.frames.length >= 1)
    expect(sub.frames[0]!.event).toEqual({ type: 'sync', data: [{ x: 0 }] }) // the worker's list, not our store

    expect(await call('stream::set', { ...at, data: 1 })).toEqual({ old_value: null, new_value: { stored: 1 } })
    expect(await call('stream::set', { ...at, data: 2 })).toEqual({ old_value: 1, new_value: { stored: 2 } })
    expect(items.get('g::a')).toBe(2)
    expect(await call('stream::get', at)).toBe(2)
    expect(seen).toContainEqual(['get', at])
    expect(await call('stream::list', { stream_name: stream, group_id: 'g' })).toEqual([{ x: 0 }, 2])
    expect(await call('stream::delete', at)).toEqual({ old_value: 2 })
    expect(await call('stream::delete', at)).toEqual({ old_value: null }) // nothing there: no event
    await until('three live changes', () => sub.frames.length >= 4)
    expect(sub.frames.slice(1).map((f) => [f.id, f.event])).toEqual([
      ['a', { type: 'create', data: { stored: 1 } }],
      ['a', { type: 'update', data: { stored: 2 } }],
      ['a', { type: 'delete', data: 2 }],
    ])
    await until('the stream trigger for each', () => changes.length >= 3)
    expect(changes.map((c) => c.event.type)).toEqual(['create', 'update', 'delete'])
    // Nothing of it was kept here: the directory lists no group of that stream.
    expect((await call<{ stream: { id: string }[] }>('stream::list_all', {})).stream.map((s) => s.id)).not.toContain(stream)

    // createStream leaves update out: it runs on the engine's own store, as in the engine.
    expect(await call('stream::update', { ...at, ops: [{ type: 'set', path: '', value: { n: 1 } }] })).toEqual({ old_value: null, new_value: { n: 1 } })

    // A custom function that fails: the write answers the engine's error, nothing is broadcast.
    const failing = unique('custom-failing')
    owner.registerFunction(`stream::set(${failing})`, async () => {
      throw new Error('disk full')
    })
    await expect
      .poll(() => call('stream::set', { stream_name: failing, group_id: 'g', item_id: 'a', data: 1 }).then(() => 'stored here', (e: Error) => e.message), { timeout: 8000 })
      .toMatch(/^STREAM_SET_ERROR: Failed to set value: Failed to invoke function: ErrorBody \{ code: ".*", message: "disk full"/)
  })
})

describe('the subscriber socket', () => {
  it('syncs on join, then receives every change of its group live, in the engine format', async () => {
    const iii = worker('stream-live')
    const stream = unique('live')
    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: stream, group_id: 'room', item_id: 'm0', data: { text: 'before' } } })
    const sub = await subscriber(stream, 'room')
    const itemSub = await subscriber(stream, 'room')
    sub.join('sub-1')
    itemSub.join('sub-2', 'm1')
    await until('both syncs', () => sub.frames.length >= 1 && itemSub.frames.length >= 1)
    expect(sub.frames[0]).toMatchObject({ type: 'stream', streamName: stream, groupId: 'room', id: null, event: { type: 'sync', data: [{ text: 'before' }] } })
    expect(itemSub.frames[0]).toMatchObject({ id: 'm1', event: { type: 'sync', data: null } })

    const at = { stream_name: stream, group_id: 'room' }
    await iii.trigger({ function_id: 'stream::set', payload: { ...at, item_id: 'm1', data: { text: 'hello' } } })
    await iii.trigger({ function_id: 'stream::update', payload: { ...at, item_id: 'm1', ops: [{ type: 'set', path: 'text', value: 'edited' }] } })
    await iii.trigger({ function_id: 'stream::set', payload: { ...at, item_id: 'm2', data: { text: 'other' } } })
    expect(await iii.trigger({ function_id: 'stream::send', payload: { ...at, type: 'typing', data: { who: 'ann' } } })).toBeNull()
    await iii.trigger({ function_id: 'stream::delete', payload: { ...at, item_id: 'm1' } })
    await until('five changes on the group subscription', () => sub.frames.length >= 6)
    expect(sub.frames.slice(1).map((f) => [f.id, f.event])).toEqual([
      ['m1', { type: 'create', data: { text: 'hello' } }],
      ['m1', { type: 'update', data: { text: 'edited' } }],
      ['m2', { type: 'create', data: { text: 'other' } }],
      [null, { type: 'event', event: { type: 'typing', data: { who: 'ann' } } }],
      ['m1', { type: 'delete', data: { text: 'edited' } }],
    ])
    // The item subscription saw only its item.
    await until('three changes on the item subscription', () => itemSub.frames.length >= 4)
    expect(itemSub.frames.slice(1).map((f) => f.event.type)).toEqual(['create', 'update', 'delete'])
    // After leave, nothing more arrives.
    sub.leave('sub-1')
    await sleep(200)
    await iii.trigger({ function_id: 'stream::set', payload: { ...at, item_id: 'm3', data: 1 } })
    await sleep(300)
    expect(sub.frames).toHaveLength(6)
  })

  it('refuses a join for another group on a group socket', async () => {
    const sub = await subscriber(unique('x'), 'a')
    const closed = new Promise<number>((resolve) => sub.ws.once('close', resolve))
    sub.ws.send(JSON.stringify({ type: 'join', data: { subscriptionId: 's', streamName: 'other', groupId: 'b' } }))
    expect(await closed).toBe(1008)
  })
})

describe('stream triggers', () => {
  it('stream fires with the message subscribers get; stream:join may refuse; stream:leave follows', async () => {
    const iii = worker('stream-triggers')
    const stream = unique('trig')
    const changes: Frame[] = []
    const joins: unknown[] = []
    const leaves: unknown[] = []
    iii.registerTrigger({ type: 'stream', function_id: iii.registerFunction('stream-test::change', async (e: Frame) => void changes.push(e)).id, config: { stream_name: stream, group_id: 'open' } })
    iii.registerTrigger({
      type: 'stream:join',
      function_id: iii.registerFunction('stream-test::join', async (e: { group_id: string }) => {
        joins.push(e)
        return { unauthorized: e.group_id === 'closed' }
      }).id,
      config: {},
    })
    iii.registerTrigger({ type: 'stream:leave', function_id: iii.registerFunction('stream-test::leave', async (e: unknown) => void leaves.push(e)).id, config: {} })
    await sleep(1500) // a group object refreshes its view of join triggers at most once a second

    const refused = await subscriber(stream, 'closed')
    refused.join('no')
    await until('the refusal', () => refused.frames.length >= 1)
    expect(refused.frames[0]).toMatchObject({ type: 'stream', streamName: stream, groupId: 'closed', event: { type: 'unauthorized' } })

    const sub = await subscriber(stream, 'open')
    sub.join('yes')
    await until('the sync', () => sub.frames.length >= 1)
    expect(joins).toContainEqual({ subscription_id: 'yes', stream_name: stream, group_id: 'open', id: null, context: null })

    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: stream, group_id: 'open', item_id: 'i', data: 7 } })
    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: stream, group_id: 'elsewhere', item_id: 'i', data: 8 } })
    await until('the change trigger and the live frame', () => changes.length >= 1 && sub.frames.length >= 2)
    expect(changes[0]).toEqual(sub.frames[1])
    expect(changes[0]).toMatchObject({ type: 'stream', streamName: stream, groupId: 'open', id: 'i', event: { type: 'create', data: 7 } })

    sub.ws.close()
    await until('the leave trigger', () => leaves.length >= 1)
    expect(leaves[0]).toEqual({ subscription_id: 'yes', stream_name: stream, group_id: 'open', id: null, context: null })
    await sleep(300)
    expect(changes).toHaveLength(1) // the other group's change did not reach the group-bound trigger
  })
})

describe('the auth function (STREAM_AUTH_FUNCTION) and per-socket limits', () => {
  let authed: WranglerDev
  beforeAll(async () => {
    authed = await startWrangler({ copy: true, vars: { STREAM_AUTH_FUNCTION: 'stream-auth::check' } })
  })
  afterAll(async () => {
    await authed?.stop()
  })

  it('runs at the handshake; its context rides in join and leave events', async () => {
    const iii = worker('stream-auth', '', authed)
    const inputs: { path: string; query_params: Record<string, string[]> }[] = []
    const joins: unknown[] = []
    const leaves: unknown[] = []
    iii.registerFunction('stream-auth::check', async (input: { path: string; query_params: Record<string, string[]> }) => {
      inputs.push(input)
      return { context: { user: input.query_params.user?.[0] ?? null } }
    })
    iii.registerTrigger({ type: 'stream:join', function_id: iii.registerFunction('stream-auth::join', async (e: unknown) => void joins.push(e)).id, config: {} })
    iii.registerTrigger({ type: 'stream:leave', function_id: iii.registerFunction('stream-auth::leave', async (e: unknown) => void leaves.push(e)).id, config: {} })
    await sleep(1500)
    const stream = unique('auth')
    const ws = new WebSocket(`${authed.wsUrl}/streams/${stream}/room?user=ann`)
    sockets.push(ws)
    const frames: Frame[] = []
    ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Frame))
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    ws.send(JSON.stringify({ type: 'join', data: { subscriptionId: 'a', streamName: stream, groupId: 'room' } }))
    await until('the sync', () => frames.length >= 1)
    expect(inputs[0]).toMatchObject({ path: `/streams/${stream}/room`, query_params: { user: ['ann'] } })
    expect(joins).toEqual([{ subscription_id: 'a', stream_name: stream, group_id: 'room', id: null, context: { user: 'ann' } }])
    // Ten subscriptions fit on one socket; the eleventh closes it, saying why.
    for (let i = 1; i < 10; i++) ws.send(JSON.stringify({ type: 'join', data: { subscriptionId: `s${i}`, streamName: stream, groupId: 'room' } }))
    await until('ten syncs', () => frames.length >= 10)
    const closed = new Promise<[number, string]>((resolve) => ws.once('close', (code, reason) => resolve([code, String(reason)])))
    ws.send(JSON.stringify({ type: 'join', data: { subscriptionId: 'eleventh', streamName: stream, groupId: 'room' } }))
    const [code, reason] = await closed
    expect(code).toBe(1008)
    expect(reason).toMatch(/at most 10 subscriptions per socket/)
    await until('a leave for each subscription', () => leaves.length >= 10)
    expect(leaves).toContainEqual({ subscription_id: 'a', stream_name: stream, group_id: 'room', id: null, context: { user: 'ann' } })
  })
})

describe('one socket for many groups (/streams, as the engine stream port)', () => {
  it('joins groups of several streams on one socket and relays each group\'s frames unchanged', async () => {
    const iii = worker('stream-hub')
    const a = unique('hub-a')
    const b = unique('hub-b')
    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: a, group_id: 'g', item_id: 'x', data: 1 } })
    const ws = new WebSocket(`${suite.dev.wsUrl}/streams`)
    sockets.push(ws)
    const frames: Frame[] = []
    ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Frame))
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    const send = (type: string, subscriptionId: string, streamName: string, groupId: string) => ws.send(JSON.stringify({ type, data: { subscriptionId, streamName, groupId } }))
    send('join', 'sa', a, 'g')
    send('join', 'sb', b, 'h')
    await until('both syncs', () => frames.length >= 2)
    expect(frames.map((f) => [f.streamName, f.groupId, f.event.type, f.event.data])).toEqual(
      expect.arrayContaining([
        [a, 'g', 'sync', [1]],
        [b, 'h', 'sync', []],
      ]),
    )
    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: b, group_id: 'h', item_id: 'y', data: 2 } })
    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: a, group_id: 'g', item_id: 'x', data: 3 } })
    await until('both changes', () => frames.length >= 4)
    expect(frames.slice(2).map((f) => [f.streamName, f.id, f.event])).toEqual([
      [b, 'y', { type: 'create', data: 2 }],
      [a, 'x', { type: 'update', data: 3 }],
    ])
    send('leave', 'sa', a, 'g')
    await sleep(300)
    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: a, group_id: 'g', item_id: 'x', data: 4 } })
    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: b, group_id: 'h', item_id: 'y', data: 5 } })
    await until('the change of the group still joined', () => frames.length >= 5)
    await sleep(300)
    expect(frames.slice(4).map((f) => [f.streamName, f.event.data])).toEqual([[b, 5]])
  })
})

describe('names as they are', () => {
  it('a stream name or group id with a newline or characters past U+00FF reaches its group unchanged, on /streams and on its own path', async () => {
    const iii = worker('stream-names')
    const stream = `${unique('naïve')} ✓\tdone`
    const group = 'room\n😀'
    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: stream, group_id: group, item_id: 'x', data: 'here' } })
    for (const path of ['/streams', `/streams/${encodeURIComponent(stream)}/${encodeURIComponent(group)}`]) {
      const ws = new WebSocket(`${suite.dev.wsUrl}${path}`)
      sockets.push(ws)
      const frames: Frame[] = []
      ws.on('message', (d) => frames.push(JSON.parse(String(d)) as Frame))
      const closed = new Promise<number>((resolve) => ws.once('close', resolve))
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
      ws.send(JSON.stringify({ type: 'join', data: { subscriptionId: 's', streamName: stream, groupId: group } }))
      const first = await Promise.race([until('the sync', () => frames[0]), closed.then((code) => ({ closed: code }))])
      expect(first, path).toMatchObject({ streamName: stream, groupId: group, event: { type: 'sync', data: ['here'] } })
    }
  })
})
