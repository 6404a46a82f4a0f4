#!/usr/bin/env node
// Baseline (b): a plain Node `ws` relay. ws://127.0.0.1:<port>/ws/<id>?dir=write|read pairs a
// writer and a reader by channel id; every writer frame is sent on to the reader as it comes
// (the reader connects first). Writer Close 1000 -> reader Close 1000 once everything is sent.
// The writer's TCP socket is paused while the reader's send queue is above 8 MiB, which is what a
// reasonable Node relay does (and what keeps its memory flat).
// Usage: node bench/node-relay.mjs [port]   (0 = any free port; prints "listening <port>")
import { WebSocketServer } from 'ws'

const HIGH = 8 << 20
const channels = new Map() // id -> { reader, writer, backlog: [] }
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0), perMessageDeflate: false, maxPayload: 0 })

wss.on('connection', (ws, req) => {
  const url = new URL(req.url, 'http://x')
  const id = url.pathname.replace(/^\/ws\//, '')
  const dir = url.searchParams.get('dir') === 'write' ? 'writer' : 'reader'
  let ch = channels.get(id)
  if (!ch) channels.set(id, (ch = { reader: null, writer: null, backlog: [] }))
  ch[dir] = ws
  ws.on('error', () => {})
  if (dir === 'reader') {
    for (const [d, b] of ch.backlog) ws.send(d, { binary: b })
    ch.backlog = []
    ws.on('close', () => {
      if (ch.writer) ch.writer.close(4002, 'reader gone')
      channels.delete(id)
    })
    return
  }
  ws.on('message', (data, isBinary) => {
    const r = ch.reader
    if (!r) return void ch.backlog.push([data, isBinary])
    r.send(data, { binary: isBinary })
    if (r.bufferedAmount > HIGH && !ws.isPaused) {
      ws.pause()
      const check = () => (r.bufferedAmount > HIGH / 2 && r.readyState === 1 ? setTimeout(check, 1) : ws.resume())
      setTimeout(check, 1)
    }
  })
  ws.on('close', (code) => {
    const r = ch.reader
    if (!r) return
    const end = () => (r.bufferedAmount > 0 && r.readyState === 1 ? setTimeout(end, 1) : r.close(code === 1000 ? 1000 : 4001, 'stream_complete'))
    end()
  })
})
wss.on('listening', () => console.log(`listening ${wss.address().port}`))
