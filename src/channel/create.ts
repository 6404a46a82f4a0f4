// Creating a channel: one code path for `POST /channels` and the engine's `engine::channels::create`.

import type { ChannelRefPair } from '../protocol/refs'
import { channelStub } from '../stubs'
import { hashKey, newAccessKey } from './keys'

/** Creates a channel object and returns its two refs; each end gets its own key (signed when a secret is set). */
export async function createChannel(env: Env, bufferSize: number): Promise<ChannelRefPair> {
  const channelId = crypto.randomUUID()
  const writerKey = await newAccessKey(channelId, 'write', env.III_SIGNING_SECRET)
  const readerKey = await newAccessKey(channelId, 'read', env.III_SIGNING_SECRET)
  await channelStub(env, channelId).create({ channelId, bufferSize, writerKeyHash: await hashKey(writerKey), readerKeyHash: await hashKey(readerKey) })
  return {
    writer: { channel_id: channelId, access_key: writerKey, direction: 'write' },
    reader: { channel_id: channelId, access_key: readerKey, direction: 'read' },
  }
}
