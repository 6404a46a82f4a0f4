// Baseline (a): a bare Durable Object relay. One object per channel id; the writer's frames go
// straight to the reader's socket (hibernation API, no buffering, no checks, no storage).
// Sockets: /ws/<id>?dir=write|read. The reader must connect first (frames with no reader are dropped).
import { DurableObject } from 'cloudflare:workers'

export class BareRelay extends DurableObject {
  reader = null
  writer = null

  async fetch(request) {
    const dir = new URL(request.url).searchParams.get('dir') === 'write' ? 'writer' : 'reader'
    const [client, server] = Object.values(new WebSocketPair())
    this.ctx.acceptWebSocket(server, [dir])
    this[dir] = server
    return new Response(null, { status: 101, webSocket: client })
  }

  peerOf(ws) {
    if (ws === this.writer) return (this.reader ??= this.ctx.getWebSockets('reader')[0] ?? null)
    if (ws === this.reader) return null
    // woke from hibernation: find the ends again
    const end = this.ctx.getTags(ws)[0]
    this[end] = ws
    return end === 'writer' ? (this.reader = this.ctx.getWebSockets('reader')[0] ?? null) : null
  }

  webSocketMessage(ws, message) {
    this.peerOf(ws)?.send(message)
  }

  webSocketClose(ws, code, reason) {
    try { ws.close(code === 1005 ? 1000 : code, '') } catch {}
    const peer = this.peerOf(ws)
    if (peer) try { peer.close(1000, reason || 'stream_complete') } catch {}
  }
}

export default {
  fetch(request, env) {
    const url = new URL(request.url)
    const m = /^\/ws\/([\w-]+)$/.exec(url.pathname)
    if (!m) return new Response('bare relay', { status: request.method === 'GET' ? 200 : 404 })
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new Response('upgrade', { status: 426 })
    return env.RELAY.get(env.RELAY.idFromName(m[1])).fetch(request)
  },
}
