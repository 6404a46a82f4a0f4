// One subscriber socket for any number of stream groups, as the engine's stream port serves them:
// `ws(s)://<host>/streams` (or under `/<namespace>/`). The front Worker holds the client's socket
// and opens, on a group's first join, one socket to that group's object, relaying frames both
// ways unchanged. No Durable Object sits in between, so a change costs one more socket send than
// on a group's own path (`/streams/<stream>/<group>`), and nothing is kept here: the group
// objects hold the subscriptions, and a closed client socket closes its group sockets (whose
// subscriptions then leave).

import { streamStub } from '../stubs'
import { echoableCloseCode, isReservedCloseCode } from '../protocol/close-codes'
import { parseSocketMessage } from './stream'
import { STREAM_HEADERS } from './stream-object'

/** Groups one client socket may join (each is a socket from this Worker to the group's object). */
export const GROUPS_PER_HUB_SOCKET = 50

export function streamHub(env: Env, namespace: string, context: string | null): Response {
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
  server.accept()
  /** Group sockets by JSON [stream, group]; a promise while the upgrade is on its way (frames wait for it). */
  const groups = new Map<string, Promise<WebSocket | null>>()
  let open = true

  const close = (code: number, reason: string) => {
    open = false
    for (const pending of groups.values()) void pending.then((ws) => ws?.close(1000, 'subscriber left'))
    groups.clear()
    try {
      server.close(code, reason)
    } catch {
      // already closed
    }
  }

  const connect = async (streamName: string, groupId: string): Promise<WebSocket | null> => {
    const headers = new Headers({ Upgrade: 'websocket' })
    headers.set(STREAM_HEADERS.namespace, namespace)
    headers.set(STREAM_HEADERS.stream, streamName)
    headers.set(STREAM_HEADERS.group, groupId)
    if (context !== null) headers.set(STREAM_HEADERS.context, context)
    const res = await streamStub(env, namespace, streamName, groupId).fetch('https://stream/subscribe', { headers })
    const ws = res.webSocket
    if (!ws) return null
    ws.accept()
    // The group's frames are already in the engine's format: passed on as they are.
    ws.addEventListener('message', (e) => open && server.send(e.data as string))
    ws.addEventListener('close', (e) => {
      // A group closing its socket (a limit it enforces) ends the client's socket with its reason.
      if (open && e.code !== 1000) close(isReservedCloseCode(e.code) ? 1011 : echoableCloseCode(e.code), e.reason)
    })
    return ws
  }

  server.addEventListener('message', (e) => {
    const text = typeof e.data === 'string' ? e.data : new TextDecoder().decode(e.data as ArrayBuffer)
    const message = parseSocketMessage(text)
    if (!message) return // as the engine: a frame it cannot read is dropped
    const key = JSON.stringify([message.streamName, message.groupId])
    let group = groups.get(key)
    if (!group) {
      if (message.type === 'leave') return
      if (groups.size >= GROUPS_PER_HUB_SOCKET) return close(1008, `at most ${GROUPS_PER_HUB_SOCKET} stream groups per socket; open another socket for more`)
      group = connect(message.streamName, message.groupId).catch(() => null)
      groups.set(key, group)
    }
    // In order per group: each send waits for the same upgrade. The request lives as long as its socket.
    void group.then((ws) => {
      if (!ws) return close(1011, `stream ${message.streamName} group ${message.groupId} could not be reached`)
      try {
        ws.send(text)
      } catch {
        // the group's socket is closing: its close handler tells the client
      }
    })
  })
  server.addEventListener('close', (e) => close(isReservedCloseCode(e.code) ? 1000 : echoableCloseCode(e.code), ''))
  server.addEventListener('error', () => close(1011, 'subscriber socket error'))
  return new Response(null, { status: 101, webSocket: client })
}
