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

// Baseline (b), the floor of one HTTP trigger (bench H1, H2): a request to the Worker, a call to one
// object, a frame to a Node client on a socket it holds, the client's answer back, the response.
// `/hop`: the client answers on its socket (what a `{status_code, body}` result costs at least).
// `/hop-socket`: the client opens a new socket to the Worker, which the object accepts, and answers
// on it (what the SDK's `http()` helper costs at least: one WebSocket handshake per response).
// The client connects to `/ws-client` first.
export class BareHop extends DurableObject {
  waiting = new Map()
  next = 0

  async fetch(request) {
    const url = new URL(request.url)
    if (url.pathname === '/ws-client') {
      const [client, server] = Object.values(new WebSocketPair())
      this.ctx.acceptWebSocket(server, ['client'])
      return new Response(null, { status: 101, webSocket: client })
    }
    const answer = /^\/ws-answer\/(\d+)$/.exec(url.pathname)
    if (answer) {
      const [client, server] = Object.values(new WebSocketPair())
      server.accept()
      server.addEventListener('message', (e) => {
        this.waiting.get(answer[1])?.(e.data)
        server.close(1000, '')
      })
      server.addEventListener('close', () => {})
      return new Response(null, { status: 101, webSocket: client })
    }
    const socket = this.ctx.getWebSockets('client')[0]
    if (!socket) return new Response('no client', { status: 503 })
    const id = String(this.next++)
    const answered = new Promise((resolve) => this.waiting.set(id, resolve))
    socket.send(JSON.stringify({ id, socket: url.pathname === '/hop-socket' }))
    const body = await answered
    this.waiting.delete(id)
    return new Response(body)
  }

  webSocketMessage(_ws, message) {
    const { id, body } = JSON.parse(message)
    this.waiting.get(id)?.(body)
  }

  webSocketClose(ws, code) {
    try { ws.close(code === 1005 || code === 1006 ? 1000 : code, '') } catch {}
  }
}

export default {
  fetch(request, env) {
    const url = new URL(request.url)
    if (/^\/(hop|hop-socket|ws-client|ws-answer\/\d+)$/.test(url.pathname)) return env.HOP.get(env.HOP.idFromName('hop')).fetch(request)
    const m = /^\/ws\/([\w-]+)$/.exec(url.pathname)
    if (!m) return new Response('bare relay', { status: request.method === 'GET' ? 200 : 404 })
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new Response('upgrade', { status: 426 })
    return env.RELAY.get(env.RELAY.idFromName(m[1])).fetch(request)
  },
}
