// Making a channel: its id and two signed refs are computed, no object is touched. One code path
// for `POST /channels`, `engine::channels::create` and the HTTP trigger bridge.

import { type ChannelRefPair, formatChannelId } from '../protocol/refs'
import { newAccessKey } from './keys'

export interface MintOptions {
  bufferSize: number
  namespace: string
  /** Unix milliseconds (the id keeps seconds). */
  now: number
}

/** A new channel's two refs; each end has its own key, signed over the whole id. */
export async function mintChannel(key: CryptoKey, { bufferSize, namespace, now }: MintOptions): Promise<ChannelRefPair> {
  const channelId = formatChannelId({ uuid: crypto.randomUUID(), createdAt: Math.floor(now / 1000), bufferSize, namespace })
  const [writerKey, readerKey] = await Promise.all([newAccessKey(key, channelId, 'write'), newAccessKey(key, channelId, 'read')])
  return {
    writer: { channel_id: channelId, access_key: writerKey, direction: 'write' },
    reader: { channel_id: channelId, access_key: readerKey, direction: 'read' },
  }
}
