// Stream groups in workerd: a subscriber's socket and its subscriptions survive the object's
// eviction (hibernation keeps the socket, the attachment keeps the subscriptions), items persist,
// and a change after the eviction still reaches the subscriber.
import { env } from 'cloudflare:workers'
import { evictDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Where } from '../../src/data/state-object'
import { frontDoor, waitFor } from './support'

const groupOf = (stream: string, group: string) => ({
  stub: env.STREAM.get(env.STREAM.idFromName(`stream:${JSON.stringify(['', stream, group])}`)),
  where: { namespace: '', kind: 'stream', parent: stream, name: group } satisfies Where,
})

async function subscribe(stream: string, group: string) {
  const res = await frontDoor(`http://localhost/streams/${stream}/${group}`, { headers: { Upgrade: 'websocket' } })
  expect(res.status).toBe(101)
  const ws = res.webSocket!
  const frames: { id: string | null; event: { type: string; data?: unknown } }[] = []
  ws.addEventListener('message', (e) => frames.push(JSON.parse(e.data as string)))
  ws.accept()
  ws.send(JSON.stringify({ type: 'join', data: { subscriptionId: 'sub', streamName: stream, groupId: group } }))
  await waitFor(() => frames.length >= 1, 'the sync')
  return { ws, frames }
}

describe('a stream group object', () => {
  it('keeps its subscriber and items across an eviction, and broadcasts after it', async () => {
    const { stub, where } = groupOf('evict', 'g')
    await stub.set(where, 'a', '1')
    const sub = await subscribe('evict', 'g')
    expect(sub.frames[0]!.event).toEqual({ type: 'sync', data: [1] })
    expect(await stub.subscriberCount()).toBe(1)
    await evictDurableObject(stub)
    expect(await stub.list()).toEqual([1])
    expect(await stub.subscriberCount()).toBe(1)
    await stub.set(where, 'b', '2')
    await waitFor(() => sub.frames.length >= 2, 'the change after the eviction')
    expect(sub.frames[1]).toMatchObject({ id: 'b', event: { type: 'create', data: 2 } })
    sub.ws.close(1000)
  })

  it('refuses an oversize item and stores nothing (no broadcast either)', async () => {
    const { stub, where } = groupOf('big', 'g')
    const sub = await subscribe('big', 'g')
    const answer = (await stub.set(where, 'k', JSON.stringify('x'.repeat(2_000_000)))) as { written: unknown; message: unknown }
    expect(answer).toEqual({ written: { error: expect.objectContaining({ code: 'VALUE_TOO_LARGE' }) }, message: null })
    expect(await stub.list()).toEqual([])
    await new Promise((r) => setTimeout(r, 50))
    expect(sub.frames).toHaveLength(1)
  })
})
