// One subscriber socket for any number of stream groups, as the engine's stream port serves them:
// `ws(s)://<host>/streams` (or under `/<namespace>/`). The front Worker holds the client's socket
// and opens, on a group's first join, one socket to that group's object, relaying frames both
// ways unchanged. No Durable Object sits in between, so a change costs one more socket send than
// on a group's own path (`/streams/<stream>/<group>`). The group objects hold the subscriptions;
// this socket only counts them (HubSubscriptions: at most 50, 10 of one group), and closes a
// group's socket when its last subscription leaves. A closed client socket closes its group
// sockets (whose subscriptions then leave).
//
// Everything here runs in event listeners of the front Worker: an exception would end this socket
// with 1006, so every send and close that can throw is caught.

import { streamStub } from './stubs'
import { closeReason, echoableCloseCode, isReservedCloseCode } from '../protocol/close-codes'
import { BINARY_FRAME_CLOSE, HubSubscriptions, parseSocketMessage } from './stream'
import { subscriberHeaders } from './stream-object'

export function streamHub(env: Env, namespace: string, context: string | null): Response {
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
  server.accept()
  /** Group sockets by JSON [stream, group]; a promise while the upgrade is on its way (frames wait for it). */
  const groups = new Map<string, Promise<WebSocket | null>>()
  const subscriptions = new HubSubscriptions()
  let open = true

  const closeQuietly = (ws: WebSocket | null, code: number, reason: string) => {
    try {
      ws?.close(code, reason)
    } catch {
      // already closed
    }
  }

  const close = (code: number, reason: string) => {
    if (!open) return
    open = false
    for (const pending of groups.values()) void pending.then((ws) => closeQuietly(ws, 1000, 'subscriber left'))
    groups.clear()
    closeQuietly(server, code, closeReason(reason))
  }

  const connect = async (streamName: string, groupId: string): Promise<WebSocket | null> => {
    const headers = subscriberHeaders({ namespace, stream_name: streamName, group_id: groupId, context }, new Headers({ Upgrade: 'websocket' }))
    const res = await streamStub(env, namespace, streamName, groupId).fetch('https://stream/subscribe', { headers })
    const ws = res.webSocket
    if (!ws) return null
    ws.accept()
    // The group's frames are already in the engine's format: passed on as they are.
    ws.addEventListener('message', (e) => {
      if (!open) return
      try {
        server.send(e.data)
      } catch {
        // the client's socket is closing: its close handler ends the rest
      }
    })
    ws.addEventListener('close', (e) => {
      // A group closing its socket (a limit it enforces) ends the client's socket with its reason.
      if (open && e.code !== 1000) close(isReservedCloseCode(e.code) ? 1011 : echoableCloseCode(e.code), e.reason)
    })
    return ws
  }

  const relay = (group: Promise<WebSocket | null>, text: string, what: string, thenClose = false) =>
    void group.then((ws) => {
      if (!ws) return close(1011, `${what} could not be reached`)
      try {
        ws.send(text)
        if (thenClose) ws.close(1000, 'no subscription left')
      } catch {
        // the group's socket is closing: its close handler tells the client
      }
    })

  server.addEventListener('message', (e) => {
    // The engine's stream socket reads text frames only; a binary one is no message of its protocol.
    if (typeof e.data !== 'string') return close(BINARY_FRAME_CLOSE.code, BINARY_FRAME_CLOSE.reason)
    const message = parseSocketMessage(e.data)
    if (!message) return // as the engine: a frame it cannot read is dropped
    const key = JSON.stringify([message.streamName, message.groupId])
    const what = `stream ${message.streamName} group ${message.groupId}`
    let group = groups.get(key)
    if (message.type === 'leave') {
      if (!group) return
      // Its group's last subscription: the group's socket closes after the leave (in order).
      const empty = subscriptions.leave(key, message.subscriptionId)
      if (empty) groups.delete(key)
      return relay(group, e.data, what, empty)
    }
    const over = subscriptions.join(key, message.subscriptionId)
    if (over) return close(1008, over)
    if (!group) {
      group = connect(message.streamName, message.groupId).catch(() => null)
      groups.set(key, group)
    }
    // In order per group: each send waits for the same upgrade. The request lives as long as its socket.
    relay(group, e.data, what)
  })
  server.addEventListener('close', (e) => close(isReservedCloseCode(e.code) ? 1000 : echoableCloseCode(e.code), ''))
  server.addEventListener('error', () => close(1011, 'subscriber socket error'))
  return new Response(null, { status: 101, webSocket: client })
}
