// Session-to-session links: a WebSocket from a caller's session to a callee's session, opened on the
// first call and reused, so an invocation costs the two objects a message each way instead of an
// RPC (docs/architecture.md, "One invocation"; measured there: a round trip over a link is about
// twice as cheap as an RPC under local workerd, and incoming WebSocket messages are billed at 1/20
// of a request). The callee keeps its end hibernatable; the caller's end is an ordinary client
// socket, closed after LINK_IDLE_MS without calls so the caller can hibernate too.
//
// Frames (JSON text):
//   caller → callee  {"t":"call","k":<n>,"c":IncomingCall}
//   callee → caller  {"t":"answer","k":<n>,"a":CallAnswer}
// One-way results (session.ts) go by RPC instead: a link may still look open for a moment after
// its caller was evicted, and those results are the ones that must survive that.

import type { InvocationResult } from '../protocol/messages'
import type { CallAnswer, IncomingCall } from './session'

/**
 * A caller closes a link this long after its last call finished. While it holds a link (a client
 * socket) the caller's session stays in memory; then it may hibernate (III_LINK_IDLE_MS overrides).
 */
export const LINK_IDLE_MS = 10_000

/** Path of the upgrade that opens a link. */
export const LINK_PATH = '/link'

export type LinkFrame = { t: 'call'; k: number; c: IncomingCall } | { t: 'answer'; k: number; a: CallAnswer }

interface PendingCall {
  resolve(answer: CallAnswer): void
  reject(err: Error): void
  invocationId?: string
}

class Link {
  readonly pending = new Map<number, PendingCall>()
  #next = 0
  #idle: ReturnType<typeof setTimeout> | undefined

  constructor(
    readonly ws: WebSocket,
    private readonly idleMs: number,
    private readonly onIdle: () => void,
  ) {}

  call(call: IncomingCall): Promise<CallAnswer> {
    this.#stopIdle()
    const k = this.#next++
    return new Promise((resolve, reject) => {
      this.pending.set(k, { resolve, reject, invocationId: call.invocation_id })
      this.ws.send(JSON.stringify({ t: 'call', k, c: call } satisfies LinkFrame))
    })
  }

  answer(k: number, answer: CallAnswer): void {
    const pending = this.pending.get(k)
    this.pending.delete(k)
    pending?.resolve(answer)
    this.#startIdle()
  }

  /** A result came one way: its call (if it still waits here) needs no answer any more. */
  settled(invocationId: string): void {
    for (const [k, pending] of this.pending) {
      if (pending.invocationId !== invocationId) continue
      this.pending.delete(k)
      pending.resolve({ status: 'accepted' })
    }
    this.#startIdle()
  }

  broken(reason: string): void {
    this.#stopIdle()
    for (const pending of this.pending.values()) pending.reject(new Error(reason))
    this.pending.clear()
  }

  #startIdle(): void {
    if (this.pending.size > 0 || this.#idle !== undefined) return
    this.#idle = setTimeout(() => {
      this.#idle = undefined
      if (this.pending.size === 0) this.onIdle()
    }, this.idleMs)
  }

  #stopIdle(): void {
    if (this.#idle !== undefined) clearTimeout(this.#idle)
    this.#idle = undefined
  }
}

/** The caller's side: one link per callee session, opened on demand. */
export class Links {
  readonly #links = new Map<string, Promise<Link | null>>()

  constructor(
    /** Opens the upgrade to a callee session; null when that session cannot be reached. */
    private readonly open: (callee: string) => Promise<WebSocket | null>,
    private readonly idleMs = LINK_IDLE_MS,
  ) {}

  /** Sends a call over the callee's link; answers `gone` when the callee cannot be reached at all. */
  async call(callee: string, call: IncomingCall): Promise<CallAnswer> {
    const link = await this.#linkTo(callee)
    return link ? link.call(call) : { status: 'gone' }
  }

  /** Results that came by RPC instead: calls still waiting for them on a link need no answer. */
  settled(results: InvocationResult[]): void {
    for (const linked of this.#links.values()) void linked.then((link) => link && results.forEach((r) => link.settled(r.invocation_id)))
  }

  closeAll(): void {
    for (const [callee, linked] of this.#links) void linked.then((link) => link && this.#close(callee, link, 'session closed'))
  }

  #linkTo(callee: string): Promise<Link | null> {
    const existing = this.#links.get(callee)
    if (existing) return existing
    const linked = this.open(callee).then((ws) => {
      if (!ws) {
        this.#links.delete(callee)
        return null
      }
      const link = new Link(ws, this.idleMs, () => this.#close(callee, link, 'idle'))
      ws.addEventListener('message', (event) => this.#frame(link, event.data))
      ws.addEventListener('close', () => this.#gone(callee, link, 'link closed'))
      ws.addEventListener('error', () => this.#gone(callee, link, 'link failed'))
      ws.accept()
      return link
    })
    linked.catch(() => this.#links.delete(callee))
    this.#links.set(callee, linked)
    return linked
  }

  #frame(link: Link, data: unknown): void {
    if (typeof data !== 'string') return
    const frame = JSON.parse(data) as LinkFrame
    if (frame.t === 'answer') link.answer(frame.k, frame.a)
  }

  #close(callee: string, link: Link, reason: string): void {
    this.#gone(callee, link, reason)
    try {
      link.ws.close(1000, reason)
    } catch {
      // already closed
    }
  }

  #gone(callee: string, link: Link, reason: string): void {
    void this.#links.get(callee)?.then((current) => current === link && this.#links.delete(callee))
    link.broken(reason)
  }
}
