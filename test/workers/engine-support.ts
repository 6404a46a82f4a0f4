// A raw iii worker on the engine's main socket, speaking the JSON protocol by hand.
import { expect } from 'vitest'
import { BASE, frontDoor } from './support'

export interface RawWorker {
  ws: WebSocket
  id: string
  /** The reattach token the engine gave this connection. */
  token: string
  inbox: Record<string, any>[]
  send(message: Record<string, unknown>): void
  /** Next message matching `match`, waiting up to `timeoutMs`; it is taken out of the inbox. */
  next(match: (m: Record<string, any>) => boolean, timeoutMs?: number): Promise<Record<string, any>>
  closed: Promise<{ code: number }>
}

export async function openWorker(path = '/'): Promise<RawWorker> {
  const res = await frontDoor(`${BASE}${path}`, { headers: { Upgrade: 'websocket' } })
  expect(res.status).toBe(101)
  const ws = res.webSocket!
  const inbox: Record<string, any>[] = []
  const closed = new Promise<{ code: number }>((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code })))
  ws.addEventListener('message', (e) => {
    inbox.push(JSON.parse(e.data as string))
  })
  ws.accept()
  const worker: RawWorker = {
    ws,
    id: '',
    token: '',
    inbox,
    closed,
    send: (message) => ws.send(JSON.stringify(message)),
    async next(match, timeoutMs = 3000) {
      const start = Date.now()
      for (;;) {
        const i = inbox.findIndex(match)
        if (i >= 0) return inbox.splice(i, 1)[0]!
        if (Date.now() - start > timeoutMs) throw new Error(`no matching message; inbox: ${JSON.stringify(inbox).slice(0, 500)}`)
        await new Promise((r) => setTimeout(r, 5))
      }
    },
  }
  const registered = await worker.next((m) => m.type === 'workerregistered')
  worker.id = registered.worker_id
  worker.token = registered.reattach_token
  return worker
}

export const ofType = (type: string, extra: Record<string, unknown> = {}) => (m: Record<string, any>) =>
  m.type === type && Object.entries(extra).every(([k, v]) => m[k] === v)

/** Round trip through the engine so earlier messages from `worker` are processed. */
export async function settle(worker: RawWorker): Promise<void> {
  const invocation_id = crypto.randomUUID()
  worker.send({ type: 'invokefunction', invocation_id, function_id: 'engine::functions::list', data: {} })
  await worker.next(ofType('invocationresult', { invocation_id }))
}
