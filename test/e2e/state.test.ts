// The engine's state and pubsub modules at the edge (issue 13), with the real iii-sdk against
// `wrangler dev`: every state::* function and its answers as iii v0.22.1 gives them, the update
// ops, the reactive `state` trigger with its payload, publish/subscribe with topic isolation, bad
// payloads refused with nothing stored, and namespaces that cannot see each other's data.
import { describe, expect, it } from 'vitest'
import { sdkSuite } from './support/sdk'
import { sleep, unique, until } from './support/wait'

const suite = sdkSuite()
const { worker } = suite

describe('state::*', () => {
  it('set answers old (null) and new value; get, list, list_groups and delete answer as the engine', async () => {
    const iii = worker('state-basics')
    const call = <T = unknown>(function_id: string, payload: unknown) => iii.trigger<unknown, T>({ function_id, payload })
    const scope = unique('scope')
    expect(await call('state::set', { scope, key: 'a', value: { n: 1 } })).toEqual({ old_value: null, new_value: { n: 1 } })
    expect(await call('state::set', { scope, key: 'a', value: { n: 2 } })).toEqual({ old_value: { n: 1 }, new_value: { n: 2 } })
    // `data` is the engine's other name for the value.
    await call('state::set', { scope, key: 'b', data: 'two' })
    expect(await call('state::get', { scope, key: 'a' })).toEqual({ n: 2 })
    expect(await call('state::get', { scope, key: 'missing' })).toBeUndefined()
    expect(await call('state::list', { scope })).toEqual([{ n: 2 }, 'two'])
    expect(await call('state::list', { scope: unique('empty') })).toEqual([])
    expect((await call<{ groups: string[] }>('state::list_groups', {})).groups).toContain(scope)
    expect(await call('state::delete', { scope, key: 'a' })).toEqual({ n: 2 })
    expect(await call('state::delete', { scope, key: 'a' })).toBeUndefined()
    await call('state::delete', { scope, key: 'b' })
    // An emptied scope leaves the list of groups.
    expect((await call<{ groups: string[] }>('state::list_groups', {})).groups).not.toContain(scope)
  })

  it('update applies the ops in order and answers old and new values, with per-op errors', async () => {
    const iii = worker('state-update')
    const call = <T = unknown>(function_id: string, payload: unknown) => iii.trigger<unknown, T>({ function_id, payload })
    const scope = unique('upd')
    await call('state::set', { scope, key: 'k', value: { count: 0, name: 'initial', events: [], transcript: 'hello' } })
    const result = await call('state::update', {
      scope,
      key: 'k',
      ops: [
        { type: 'set', path: 'count', value: 5 },
        { type: 'increment', path: 'count', by: 2 },
        { type: 'decrement', path: 'left', by: 1 },
        { type: 'merge', value: { extra: true } },
        { type: 'append', path: 'events', value: { kind: 'chunk' } },
        { type: 'append', path: 'transcript', value: ' world' },
        { type: 'remove', path: 'name' },
        { type: 'increment', path: 'transcript', by: 1 },
      ],
    })
    const after = { count: 7, left: -1, extra: true, events: [{ kind: 'chunk' }], transcript: 'hello world' }
    expect(result).toEqual({
      old_value: { count: 0, name: 'initial', events: [], transcript: 'hello' },
      new_value: after,
      errors: [expect.objectContaining({ op_index: 7, code: 'increment.not_number' })],
    })
    expect(await call('state::get', { scope, key: 'k' })).toEqual(after)
    // From nothing: the ops start from {} and old_value is null.
    expect(await call('state::update', { scope, key: 'new', ops: [{ type: 'increment', path: 'hits', by: 1 }] })).toEqual({ old_value: null, new_value: { hits: 1 } })
  })

  it('refuses bad payloads with a clear error and stores nothing', async () => {
    const iii = worker('state-fuzz')
    const call = (function_id: string, payload: unknown) => iii.trigger({ function_id, payload })
    const scope = unique('bad')
    const bad: [string, unknown, string][] = [
      ['state::set', { key: 'k', value: 1 }, 'deserialization_error'],
      ['state::set', { scope, value: 1 }, 'deserialization_error'],
      ['state::set', { scope, key: 7, value: 1 }, 'deserialization_error'],
      ['state::set', { scope, key: 'k' }, 'deserialization_error'],
      ['state::set', { scope, key: 'x'.repeat(600), value: 1 }, 'INVALID_ARGUMENTS'],
      ['state::set', { scope, key: 'k', value: 'x'.repeat(2_000_000) }, 'VALUE_TOO_LARGE'],
      ['state::update', { scope, key: 'k', ops: 'nope' }, 'deserialization_error'],
      ['state::update', { scope, key: 'k', ops: [{ type: 'explode', path: 'a' }] }, 'deserialization_error'],
      ['state::update', { scope, key: 'k' }, 'deserialization_error'],
      ['state::get', { scope: null, key: 'k' }, 'deserialization_error'],
      ['state::list', {}, 'deserialization_error'],
      ['publish', { data: 1 }, 'deserialization_error'],
      ['publish', { topic: '', data: 1 }, 'topic_not_set'],
    ]
    for (const [fn, payload, code] of bad) {
      await expect(call(fn, payload), `${fn} ${JSON.stringify(payload).slice(0, 80)}`).rejects.toMatchObject({ code })
    }
    // An update that would grow a value past the limit is refused; the stored value stays.
    await call('state::set', { scope, key: 'big', value: { s: 'x'.repeat(1_900_000) } })
    await expect(call('state::update', { scope, key: 'big', ops: [{ type: 'append', path: 's', value: 'y'.repeat(200_000) }] })).rejects.toMatchObject({
      code: 'VALUE_TOO_LARGE',
      message: expect.stringMatching(/limit of 1990000/),
    })
    expect(((await call('state::get', { scope, key: 'big' })) as { s: string }).s.length).toBe(1_900_000)
    await call('state::delete', { scope, key: 'big' })
    expect(await call('state::list', { scope })).toEqual([])
  })

  it('keeps namespaces apart: the same scope and key (or stream group) in another namespace is another value', async () => {
    const a = worker('ns-default')
    const b = worker('ns-other', '/team-data')
    const scope = unique('shared')
    await a.trigger({ function_id: 'state::set', payload: { scope, key: 'k', value: 'default' } })
    expect(await b.trigger({ function_id: 'state::get', payload: { scope, key: 'k' } })).toBeUndefined()
    await b.trigger({ function_id: 'state::set', payload: { scope, key: 'k', value: 'team' } })
    expect(await a.trigger({ function_id: 'state::get', payload: { scope, key: 'k' } })).toBe('default')
    expect(((await b.trigger({ function_id: 'state::list_groups', payload: {} })) as { groups: string[] }).groups).toEqual([scope])
    // Streams likewise: one namespace's group is not another's.
    const at = { stream_name: scope, group_id: 'g', item_id: 'i' }
    await a.trigger({ function_id: 'stream::set', payload: { ...at, data: 'default' } })
    expect(await b.trigger({ function_id: 'stream::get', payload: at })).toBeUndefined()
    expect(await b.trigger({ function_id: 'stream::list_groups', payload: { stream_name: scope } })).toEqual([])
  })
})

describe('across a deploy', () => {
  it('keeps state and stream items: every object is reset, nothing is lost', async () => {
    const before = worker('deploy-before')
    const scope = unique('deploy')
    const stream_name = unique('deploy-stream')
    await before.trigger({ function_id: 'state::set', payload: { scope, key: 'k', value: { kept: true } } })
    await before.trigger({ function_id: 'state::update', payload: { scope, key: 'n', ops: [{ type: 'increment', path: 'hits', by: 3 }] } })
    await before.trigger({ function_id: 'stream::set', payload: { stream_name, group_id: 'g', item_id: 'i', data: 'item' } })
    suite.dev.redeploy()
    await sleep(3000) // wrangler rebuilds and reloads; the SDK reconnects by itself
    const after = worker('deploy-after')
    const get = () => after.trigger({ function_id: 'state::get', payload: { scope, key: 'k' } })
    let value: unknown
    const deadline = Date.now() + 30_000
    for (;;) {
      value = await get().catch(() => 'not yet')
      if (value !== 'not yet' || Date.now() > deadline) break
      await sleep(500)
    }
    expect(value).toEqual({ kept: true })
    expect(await after.trigger({ function_id: 'state::update', payload: { scope, key: 'n', ops: [{ type: 'increment', path: 'hits', by: 1 }] } })).toMatchObject({ new_value: { hits: 4 } })
    expect(((await after.trigger({ function_id: 'state::list_groups', payload: {} })) as { groups: string[] }).groups).toContain(scope)
    expect(await after.trigger({ function_id: 'stream::list', payload: { stream_name, group_id: 'g' } })).toEqual(['item'])
  })
})

describe('the state trigger', () => {
  it('fires on create, update and delete with the engine payload, filtered by scope and key', async () => {
    const iii = worker('state-reactive')
    const scope = unique('watch')
    const events: unknown[] = []
    const scopeOnly: unknown[] = []
    // A write before the triggers exist: the session's registry view is loaded now, without them.
    await iii.trigger({ function_id: 'state::set', payload: { scope, key: 'warm', value: 0 } })
    const fn = iii.registerFunction('state-test::on-change', async (event: unknown) => void events.push(event))
    const fn2 = iii.registerFunction('state-test::on-scope', async (event: unknown) => void scopeOnly.push(event))
    iii.registerTrigger({ type: 'state', function_id: fn.id, config: { scope, key: 'watched' } })
    iii.registerTrigger({ type: 'state', function_id: fn2.id, config: { scope } })
    // No sleep: the session's own registrations reach the registry before its next builtin runs,
    // and the view loaded by the first write is refreshed because the registry moved routeVersion.
    await iii.trigger({ function_id: 'state::set', payload: { scope, key: 'watched', value: { v: 1 } } })
    await until('the created event', () => events.length >= 1)
    await iii.trigger({ function_id: 'state::update', payload: { scope, key: 'watched', ops: [{ type: 'increment', path: 'v', by: 1 }] } })
    await until('the updated event', () => events.length >= 2)
    await iii.trigger({ function_id: 'state::delete', payload: { scope, key: 'watched' } })
    await until('the deleted event', () => events.length >= 3)
    await iii.trigger({ function_id: 'state::set', payload: { scope, key: 'other', value: 1 } })
    await until('the scope-wide event', () => scopeOnly.length >= 4)
    expect(events).toEqual([
      { type: 'state', event_type: 'state:created', scope, key: 'watched', old_value: null, new_value: { v: 1 } },
      { type: 'state', event_type: 'state:updated', scope, key: 'watched', old_value: { v: 1 }, new_value: { v: 2 } },
      { type: 'state', event_type: 'state:deleted', scope, key: 'watched', old_value: { v: 2 }, new_value: null },
    ])
    expect(scopeOnly.map((e) => (e as { key: string }).key)).toEqual(['watched', 'watched', 'watched', 'other'])
  })

  it('fires a trigger another worker registered, and honours its condition function', async () => {
    const watcher = worker('state-watcher')
    const writer = worker('state-writer')
    const scope = unique('cond')
    const seen: unknown[] = []
    watcher.registerFunction('state-test::only-big', async (event: { new_value: { n: number } | null }) => (event.new_value?.n ?? 0) > 10)
    const fn = watcher.registerFunction('state-test::big', async (event: unknown) => void seen.push(event))
    watcher.registerTrigger({ type: 'state', function_id: fn.id, config: { scope, condition_function_id: 'state-test::only-big' } })
    await sleep(500) // another worker's trigger reaches the writer's session by the registry's notice
    await writer.trigger({ function_id: 'state::set', payload: { scope, key: 'k', value: { n: 1 } } })
    await writer.trigger({ function_id: 'state::set', payload: { scope, key: 'k', value: { n: 50 } } })
    await until('the event that passed the condition', () => seen.length >= 1)
    await sleep(300)
    expect(seen).toEqual([expect.objectContaining({ event_type: 'state:updated', new_value: { n: 50 } })])
  })
})

describe('publish and subscribe', () => {
  it('invokes every subscriber of the topic with the raw data, and no other topic', async () => {
    const sub = worker('pubsub-sub')
    const pub = worker('pubsub-pub')
    const topicA = unique('topic.a')
    const topicB = unique('topic.b')
    const a1: unknown[] = []
    const a2: unknown[] = []
    const b: unknown[] = []
    sub.registerTrigger({ type: 'subscribe', function_id: sub.registerFunction('pubsub-test::a1', async (d: unknown) => void a1.push(d)).id, config: { topic: topicA } })
    sub.registerTrigger({ type: 'subscribe', function_id: sub.registerFunction('pubsub-test::a2', async (d: unknown) => void a2.push(d)).id, config: { topic: topicA } })
    sub.registerTrigger({ type: 'subscribe', function_id: sub.registerFunction('pubsub-test::b', async (d: unknown) => void b.push(d)).id, config: { topic: topicB } })
    await sleep(500)
    expect(await pub.trigger({ function_id: 'publish', payload: { topic: topicA, data: { message: 'Hello PubSub!' } } })).toBeUndefined()
    await until('both subscribers of A', () => a1.length >= 1 && a2.length >= 1)
    await sleep(300)
    expect(a1).toEqual([{ message: 'Hello PubSub!' }])
    expect(a2).toEqual([{ message: 'Hello PubSub!' }])
    expect(b).toEqual([])
  })

  it('does not reach a subscriber in another namespace', async () => {
    const other = worker('pubsub-other', '/team-pubsub')
    const pub = worker('pubsub-default')
    const topic = unique('iso')
    const got: unknown[] = []
    other.registerTrigger({ type: 'subscribe', function_id: other.registerFunction('pubsub-test::other', async (d: unknown) => void got.push(d)).id, config: { topic } })
    const mine: unknown[] = []
    pub.registerTrigger({ type: 'subscribe', function_id: pub.registerFunction('pubsub-test::mine', async (d: unknown) => void mine.push(d)).id, config: { topic } })
    await sleep(300)
    await pub.trigger({ function_id: 'publish', payload: { topic, data: 1 } })
    await until('the subscriber in the same namespace', () => mine.length >= 1)
    await sleep(300)
    expect(got).toEqual([])
  })
})
