// How one end's socket is handed to its channel object: the front door (after checking the key) and
// the HTTP bridge (opening ends itself) both go through `connectEnd`, the object reads it back with
// `connectRequest`. The headers are set by our own code only, never taken from the network.

import type { End } from '../protocol/refs'
import { channelStub } from './stubs'

const END_HEADER = 'x-iii-channel-end'
const ID_HEADER = 'x-iii-channel-id'
const WINDOW_HEADER = 'x-iii-channel-window'

export interface EndConnect {
  channelId: string
  end: End
  /** A reader's flow-control window in bytes (already validated), or null. */
  window: number | null
}

/**
 * Forwards a WebSocket upgrade for one end to the channel's object (created by this call if it is
 * the first). `upgrade`: the client's upgrade request, whose headers (Sec-WebSocket-*) go along.
 */
export function connectEnd(env: Env, { channelId, end, window }: EndConnect, upgrade?: Request): Promise<Response> {
  const headers = new Headers(upgrade?.headers)
  headers.set('upgrade', 'websocket')
  headers.set(END_HEADER, end)
  headers.set(ID_HEADER, channelId)
  headers.delete(WINDOW_HEADER)
  if (window !== null) headers.set(WINDOW_HEADER, String(window))
  return channelStub(env, channelId).fetch('https://channel/connect', { headers })
}

/** What `connectEnd` sent, as the channel object reads it. */
export function connectRequest(request: Request): EndConnect {
  const end = request.headers.get(END_HEADER) === 'reader' ? 'reader' : 'writer'
  const window = end === 'reader' && request.headers.has(WINDOW_HEADER) ? Number(request.headers.get(WINDOW_HEADER)) : null
  return { channelId: request.headers.get(ID_HEADER) ?? '', end, window }
}
