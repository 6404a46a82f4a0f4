// A worker's main socket without the SDK, as a browser or another client would open it: for tests
// that send what the SDK never sends (an Origin, a `timeout_ms`, a flood) and read every frame.
import WebSocket from 'ws'

/** Opens the engine socket with these headers: the socket, or the status and body of a refusal. */
export function openEngine(url: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket } | { status: number; body: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers })
    ws.once('open', () => resolve({ ws }))
    ws.once('unexpected-response', (req, res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      req.on('error', () => {})
    })
    ws.on('error', () => {})
  })
}

/** A raw worker: every frame it got, and calls whose result it waits for. */
export class RawWorker {
  readonly frames: any[] = []
  readonly #waiters: { match: (m: any) => boolean; resolve: (m: any) => void }[] = []

  constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw))
      this.frames.push(m)
      for (const w of [...this.#waiters]) {
        if (!w.match(m)) continue
        this.#waiters.splice(this.#waiters.indexOf(w), 1)
        w.resolve(m)
      }
    })
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<RawWorker> {
    const opened = await openEngine(url, headers)
    if (!('ws' in opened)) throw new Error(`engine socket refused: ${opened.status} ${opened.body}`)
    return new RawWorker(opened.ws)
  }

  send(message: unknown): void {
    this.ws.send(JSON.stringify(message))
  }

  /** The next frame that matches (or one that already came). */
  next(match: (m: any) => boolean): Promise<any> {
    const seen = this.frames.find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise((resolve) => this.#waiters.push({ match, resolve }))
  }

  /** Invokes a function and resolves with its `invocationresult`. */
  call(function_id: string, data: unknown, extra: Record<string, unknown> = {}): Promise<any> {
    const invocation_id = crypto.randomUUID()
    const result = this.next((m) => m.type === 'invocationresult' && m.invocation_id === invocation_id)
    this.send({ type: 'invokefunction', invocation_id, function_id, data, ...extra })
    return result
  }

  close(): void {
    this.ws.close()
  }
}
