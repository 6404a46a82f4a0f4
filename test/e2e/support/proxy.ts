// A TCP proxy in front of `wrangler dev`, for a network drop the SDK must ride out: `cut` drops
// every connection at once (and with `refuse`, turns new ones away until `accept`).

import { type Server, type Socket, connect as tcpConnect, createServer } from 'node:net'

export interface TcpProxy {
  port: number
  /** ws://127.0.0.1:<port>, for registerWorker. */
  url: string
  cut(opts?: { refuse?: boolean }): void
  accept(): void
  close(): Promise<void>
}

export async function tcpProxy(port: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let refusing = false
  const server: Server = createServer((client) => {
    if (refusing) return void client.destroy()
    const upstream = tcpConnect(port, '127.0.0.1')
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const own = (server.address() as { port: number }).port
  return {
    port: own,
    url: `ws://127.0.0.1:${own}`,
    cut: ({ refuse = false } = {}) => {
      refusing = refuse
      for (const s of sockets) s.destroy()
    },
    accept: () => void (refusing = false),
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
