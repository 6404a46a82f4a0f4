// The stream module's rules, in Node: the subscriber socket's messages as the engine reads them,
// which subscriptions receive a change, and which `stream` triggers it reaches.
import { describe, expect, it } from 'vitest'
import { AUTH_CONTEXT_MAX_BYTES, SUBSCRIPTION_ID_MAX_BYTES, authContext, authInput, joinAllowed, joinLeaveEvent, parseSocketMessage, receives, refusesJoin, streamMessage } from '../../src/data/stream'
import { dataTriggerProblem, joinLeaveTriggers, streamTriggersFor } from '../../src/data/triggers'

describe('the subscriber socket', () => {
  it('reads join and leave in the engine format, with an optional item id', () => {
    expect(parseSocketMessage('{"type":"join","data":{"subscriptionId":"s1","streamName":"chat","groupId":"room"}}')).toEqual({
      type: 'join',
      subscriptionId: 's1',
      streamName: 'chat',
      groupId: 'room',
      id: null,
    })
    expect(parseSocketMessage('{"type":"leave","data":{"subscriptionId":"s1","streamName":"chat","groupId":"room","id":"m1"}}')?.id).toBe('m1')
  })

  it('drops ids too long for the socket\'s attachment', () => {
    const join = (subscriptionId: string, id?: string) => JSON.stringify({ type: 'join', data: { subscriptionId, streamName: 's', groupId: 'g', id } })
    expect(parseSocketMessage(join('x'.repeat(SUBSCRIPTION_ID_MAX_BYTES)))).not.toBeNull()
    expect(parseSocketMessage(join('x'.repeat(SUBSCRIPTION_ID_MAX_BYTES + 1)))).toBeNull()
    expect(parseSocketMessage(join('s', 'i'.repeat(513)))).toBeNull()
  })

  it('gives the auth function the engine input, and carries a small context only', () => {
    const input = authInput(new Request('https://edge/streams/s/g?token=a&token=b&x=1', { headers: { 'cf-connecting-ip': '203.0.113.9', cookie: 'c=1' } }))
    expect(input).toEqual({ headers: expect.objectContaining({ cookie: 'c=1' }), path: '/streams/s/g', query_params: { token: ['a', 'b'], x: ['1'] }, addr: '203.0.113.9' })
    expect(authContext({ context: { user: 'ann' } })).toBe('{"user":"ann"}')
    expect(authContext({ context: null })).toBeNull()
    expect(authContext({ other: 1 })).toBeNull()
    expect(authContext('nope')).toBeNull()
    expect(authContext({ context: 'x'.repeat(AUTH_CONTEXT_MAX_BYTES) })).toBeNull()
    expect(joinLeaveEvent({ type: 'leave', subscriptionId: 's', streamName: 'a', groupId: 'b', id: 'i' }, { user: 'ann' })).toMatchObject({ id: 'i', context: { user: 'ann' } })
  })

  it('drops what the engine cannot read', () => {
    for (const bad of ['', 'nope', '{"type":"join"}', '{"type":"subscribe","data":{"subscriptionId":"s","streamName":"a","groupId":"b"}}', '{"type":"join","data":{"subscriptionId":1,"streamName":"a","groupId":"b"}}', '{"type":"join","data":{"subscriptionId":"s","streamName":"a","groupId":"b","id":5}}']) {
      expect(parseSocketMessage(bad)).toBeNull()
    }
  })

  it('sends the engine wrapper, and a group subscription receives every item, an item subscription its own', () => {
    expect(streamMessage({ stream_name: 's', group_id: 'g' }, 'i', { type: 'create', data: 1 }, 42)).toEqual({
      type: 'stream',
      timestamp: 42,
      streamName: 's',
      groupId: 'g',
      id: 'i',
      event: { type: 'create', data: 1 },
    })
    expect(receives({ subscriptionId: 'a', id: null }, 'x')).toBe(true)
    expect(receives({ subscriptionId: 'a', id: 'x' }, 'x')).toBe(true)
    expect(receives({ subscriptionId: 'a', id: 'x' }, 'y')).toBe(false)
    expect(receives({ subscriptionId: 'a', id: 'x' }, null)).toBe(false)
  })

  it('tells join functions who joins, and reads their refusal', () => {
    expect(joinLeaveEvent({ type: 'join', subscriptionId: 's', streamName: 'a', groupId: 'b', id: null })).toEqual({ subscription_id: 's', stream_name: 'a', group_id: 'b', id: null, context: null })
    expect(refusesJoin({ unauthorized: true })).toBe(true)
    expect(refusesJoin({ unauthorized: 'yes' })).toBe(false)
    expect(refusesJoin(undefined)).toBe(false)
  })

  it('lets a join through unless a join function refuses; shut when the gate cannot be read, or with a token and no gate', () => {
    expect(joinAllowed([], false)).toBe(true) // open, as the engine's stream port
    expect(joinAllowed([], true)).toBe(false) // an engine token is set: a namespace must register stream:join
    expect(joinAllowed([{ unauthorized: false }, undefined], true)).toBe(true) // a failed join function lets through, as in the engine
    expect(joinAllowed([{ unauthorized: false }, { unauthorized: true }], false)).toBe(false)
    expect(joinAllowed(null, false)).toBe(false)
  })
})

describe('stream triggers', () => {
  const t = (id: string, trigger_type: string, config: unknown) => ({ id, trigger_type, function_id: `f::${id}`, config })
  const all = [t('all', 'stream', { stream_name: 's' }), t('group', 'stream', { stream_name: 's', group_id: 'g' }), t('item', 'stream', { stream_name: 's', group_id: '', item_id: 'i' }), t('other', 'stream', { stream_name: 'z' }), t('join', 'stream:join', {})]

  it('a change reaches triggers of its stream whose group and item, when non-empty, match', () => {
    expect(streamTriggersFor(all, 's', 'g', 'i').map((x) => x.id)).toEqual(['all', 'group', 'item'])
    expect(streamTriggersFor(all, 's', 'h', 'j').map((x) => x.id)).toEqual(['all'])
    expect(streamTriggersFor(all, 's', 'g', null).map((x) => x.id)).toEqual(['all', 'group'])
    expect(joinLeaveTriggers(all, 'stream:join').map((x) => x.id)).toEqual(['join'])
  })

  it('a stream trigger needs a stream name', () => {
    expect(dataTriggerProblem('stream', {})).toMatch(/stream_name/)
    expect(dataTriggerProblem('stream', { stream_name: 's', group_id: 3 })).toMatch(/Failed to parse trigger config/)
    expect(dataTriggerProblem('stream:join', {})).toBeNull()
  })
})
