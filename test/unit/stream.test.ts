// The stream module's rules, in Node: the subscriber socket's messages as the engine reads them,
// which subscriptions receive a change, and which `stream` triggers it reaches.
import { describe, expect, it } from 'vitest'
import { AUTH_CONTEXT_MAX_BYTES, HubSubscriptions, SUBSCRIPTIONS_PER_HUB_SOCKET, SUBSCRIPTIONS_PER_SOCKET, SUBSCRIPTION_ID_MAX_BYTES, authAnswer, authInput, joinAllowed, joinLeaveEvent, parseSocketMessage, receives, refusesJoin, streamMessage } from '../../src/data/stream'
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
    // No group has a longer stream name or group id: nothing to join, no object to wake.
    const named = (streamName: string, groupId: string) => JSON.stringify({ type: 'join', data: { subscriptionId: 's', streamName, groupId } })
    expect(parseSocketMessage(named('é'.repeat(256), 'g'))).not.toBeNull()
    expect(parseSocketMessage(named('é'.repeat(257), 'g'))).toBeNull()
    expect(parseSocketMessage(named('s', 'g'.repeat(513)))).toBeNull()
    // Lone surrogates are no text (the engine's JSON parser refuses them); a whole pair is fine.
    expect(parseSocketMessage(named('\ud83d\ude00', 'g\nü'))).toMatchObject({ streamName: '😀', groupId: 'g\nü' })
    expect(parseSocketMessage(named('\ud83d', 'g'))).toBeNull()
    expect(parseSocketMessage(named('s', 'x\ude00'))).toBeNull()
  })

  it('counts the live subscriptions of a /streams socket: 50 in all, 10 of one group; a re-join is the same one, a leave frees one', () => {
    const hub = new HubSubscriptions()
    for (let g = 0; g < 5; g++) for (let i = 0; i < 10; i++) expect(hub.join(`g${g}`, `s${i}`)).toBeNull()
    expect(hub.size).toBe(SUBSCRIPTIONS_PER_HUB_SOCKET)
    expect(hub.join('g0', 's0')).toBeNull() // the same subscription again
    expect(hub.size).toBe(50)
    expect(hub.join('g5', 's0')).toBe('at most 50 subscriptions per socket; open another socket for more')
    expect(hub.join('g0', 'eleventh')).toBe(`at most ${SUBSCRIPTIONS_PER_SOCKET} subscriptions of one group per socket; open another socket for more`)
    expect(hub.leave('g1', 's0')).toBe(false) // g1 still has nine
    expect(hub.leave('g1', 's0')).toBe(false) // left already: nothing to free
    expect(hub.size).toBe(49)
    expect(hub.join('g5', 's0')).toBeNull()
    expect(hub.join('g6', 's0')).toMatch(/at most 50/)
    for (let i = 1; i < 10; i++) hub.leave('g2', `s${i}`)
    expect(hub.leave('g2', 's0')).toBe(true) // its last: the group's socket may close
    expect(hub.leave('nowhere', 's0')).toBe(false)
    expect(hub.size).toBe(40)
  })

  it('gives the auth function the engine input, and carries a small context only', () => {
    const input = authInput(new Request('https://edge/streams/s/g?token=a&token=b&x=1', { headers: { 'cf-connecting-ip': '203.0.113.9', cookie: 'c=1' } }))
    expect(input).toEqual({ headers: expect.objectContaining({ cookie: 'c=1' }), path: '/streams/s/g', query_params: { token: ['a', 'b'], x: ['1'] }, addr: '203.0.113.9' })
    expect(authAnswer({ context: { user: 'ann' } })).toEqual({ ok: true, context: '{"user":"ann"}' })
    expect(authAnswer({ context: 'é'.repeat((AUTH_CONTEXT_MAX_BYTES - 2) / 2) })).toMatchObject({ ok: true }) // 4,096 bytes with its quotes
    // `{context}` with no context, as the engine reads it: through, anonymous.
    expect(authAnswer({ context: null })).toEqual({ ok: true, context: null })
    expect(authAnswer({ other: 1 })).toEqual({ ok: true, context: null })
  })

  it('lets no handshake through on an auth answer it cannot read (the engine would, without a context)', () => {
    for (const odd of [undefined, null, 'nope', true, 7, [{ context: 1 }]]) expect(authAnswer(odd), JSON.stringify(odd)).toMatchObject({ ok: false, why: expect.stringMatching(/not \{context\}$/) })
    expect(authAnswer(undefined)).toEqual({ ok: false, why: 'answered nothing, not {context}' })
    // A context too large to carry is refused, not dropped: join functions would see an anonymous socket.
    expect(authAnswer({ context: 'é'.repeat(AUTH_CONTEXT_MAX_BYTES / 2) })).toEqual({ ok: false, why: `answered a context of more than ${AUTH_CONTEXT_MAX_BYTES} bytes of JSON` })
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
    // Nothing, or an object that does not refuse: through, as in the engine.
    for (const yes of [undefined, null, {}, { unauthorized: false }, { unauthorized: null }, { ok: true }]) expect(refusesJoin(yes), JSON.stringify(yes)).toBe(false)
    // An answer that is neither yes nor no refuses (the engine lets it through).
    for (const odd of [{ unauthorized: 'yes' }, { unauthorized: 'false' }, { unauthorized: 1 }, 'ok', true, false, 0, []]) expect(refusesJoin(odd), JSON.stringify(odd)).toBe(true)
  })

  it('lets a join through unless a join function refuses or fails; shut when the gate cannot be read, or with a token and no gate', () => {
    const yes = { result: { unauthorized: false } }
    expect(joinAllowed([], false)).toBe(true) // open, as the engine's stream port
    expect(joinAllowed([], true)).toBe(false) // an engine token is set: a namespace must register stream:join
    expect(joinAllowed([yes, { result: undefined }], true)).toBe(true)
    expect(joinAllowed([yes, { result: { unauthorized: true } }], false)).toBe(false)
    expect(joinAllowed(null, false)).toBe(false)
  })

  it('shuts the gate when a join function fails: it threw, had no worker, did not answer in time (the engine lets these through)', () => {
    const yes = { result: { unauthorized: false } }
    for (const failed of ['invocation_failed: Cannot read properties of null', 'function_not_found: Function f not found', 'no answer within 10 s']) {
      for (const tokenSet of [false, true]) {
        expect(joinAllowed([{ failed }], tokenSet)).toBe(false)
        expect(joinAllowed([yes, { failed }], tokenSet)).toBe(false) // one failure is enough, whatever the others said
      }
    }
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
