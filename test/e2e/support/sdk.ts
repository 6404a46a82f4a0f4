// Helpers for iii-sdk functions in the end-to-end tests.

import { createHash } from 'node:crypto'
import type { ChannelReader } from 'iii-sdk/channel'

export interface Digest {
  sha256: string
  bytes: number
  texts: string[]
}

/** Reads a channel to its end: sha256 and size of the binary stream, text messages in order. */
export async function digestChannel(reader: ChannelReader): Promise<Digest> {
  const texts: string[] = []
  reader.onMessage((m) => texts.push(m))
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of reader.stream) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), bytes, texts }
}
