// StreamObject: one Durable Object per stream group of a namespace. It holds the group's items
// (ScopeShell: the same tables and rules as a state scope) and the sockets of the group's
// subscribers (hibernating: an idle group with open sockets costs nothing), so a change is stored
// and broadcast in one place, with no hop between the write and the fan-out.
//
// Each socket's subscriptions live in its attachment (they survive hibernation); the front door
// names the namespace, stream and group in headers when it forwards the upgrade.

import { DurableObject } from 'cloudflare:workers'
import { closeReason, echoableCloseCode, isReservedCloseCode } from '../protocol/close-codes'
import { socketTag } from '../tags'
import { orAfter } from '../timeout'
import { customStreamFunction } from './custom-stream'
import type { DataEngine, DataView } from './engine-port'
import type { Written } from './scope'
import { ScopeShell, type Where } from './state-object'
import {
  BINARY_FRAME_CLOSE,
  STREAM_GATE_TIMEOUT_MS,
  SUBSCRIPTIONS_PER_SOCKET,
  type GroupTarget,
  type JoinAnswer,
  type OutboundEvent,
  type SocketMessage,
  type StreamMessage,
  type Subscription,
  joinLeaveEvent,
  parseSocketMessage,
  joinAllowed,
  receives,
  streamMessage,
} from './stream'
import { STREAM_JOIN_TRIGGER, STREAM_LEAVE_TRIGGER, joinLeaveTriggers } from './triggers'
import type { UpdateOp } from './update-ops'

/** Headers the front door sets on a subscriber's upgrade. */
const STREAM_HEADERS = { namespace: 'x-iii-namespace', stream: 'x-iii-stream', group: 'x-iii-group', context: 'x-iii-auth-context' } as const

/** Whom a subscriber's upgrade is for, as the front door tells the group's object. */
export interface SubscriberTarget {
  namespace: string
  stream_name: string
  group_id: string
  /** The auth function's context as JSON text, or null. */
  context: string | null
}

/**
 * The upgrade's headers (on top of the client's own, for `base`). Names and the context are
 * URL-encoded: a header value carries bytes, not text, so a name with a newline or a character
 * past U+00FF would not arrive as it was sent. The context header never comes from the client.
 */
export function subscriberHeaders(target: SubscriberTarget, base?: Headers): Headers {
  const headers = new Headers(base)
  headers.set(STREAM_HEADERS.namespace, target.namespace)
  headers.set(STREAM_HEADERS.stream, encodeURIComponent(target.stream_name))
  headers.set(STREAM_HEADERS.group, encodeURIComponent(target.group_id))
  if (target.context !== null) headers.set(STREAM_HEADERS.context, encodeURIComponent(target.context))
  else headers.delete(STREAM_HEADERS.context)
  return headers
}

const decoded = (h: Headers, name: string): string | null => {
  const value = h.get(name)
  return value === null ? null : decodeURIComponent(value)
}

/** A group decides joins with a registry view at most this old (it hears no registry notices). */
const JOIN_VIEW_MAX_AGE_MS = 1_000

interface Attachment {
  namespace: string
  stream_name: string
  group_id: string
  /** What the deployment's auth function answered at the handshake (`STREAM_AUTH_FUNCTION`), or null. */
  context: unknown
  subs: Subscription[]
}

export type StreamWritten = { written: Written; message: StreamMessage | null }

/**
 * The stream group's object, given the engine it reaches functions through (engine-port.ts) by the
 * class the runtime binds, StreamObject in src/index.ts: the one place that sees both layers.
 */
export class StreamGroupObject extends DurableObject<Env> {
  readonly #shell: ScopeShell
  readonly #engine: DataEngine
  /** Each subscriber socket's attachment, read once per wake (a broadcast touches every socket). */
  readonly #subscribers = new Map<WebSocket, Attachment>()

  constructor(ctx: DurableObjectState, env: Env, engine: DataEngine) {
    super(ctx, env)
    this.#engine = engine
    this.#shell = new ScopeShell(ctx, env)
    for (const ws of ctx.getWebSockets('subscriber')) this.#subscribers.set(ws, ws.deserializeAttachment() as Attachment)
  }

  get(key: string): unknown {
    return this.#shell.core.get(key)
  }

  list(): unknown[] {
    return this.#shell.core.list()
  }

  async set(where: Where, key: string, text: string): Promise<StreamWritten> {
    const written = await this.#shell.written(where, this.#shell.core.set(key, text))
    return { written, message: this.#changed(where, key, written) }
  }

  async update(where: Where, key: string, ops: UpdateOp[]): Promise<StreamWritten> {
    const written = await this.#shell.written(where, this.#shell.core.update(key, ops))
    return { written, message: this.#changed(where, key, written) }
  }

  /** Deletes an item; only a delete that removed something is broadcast (as in the engine). */
  async delete(where: Where, key: string): Promise<{ existed: boolean; old_value: unknown; message: StreamMessage | null }> {
    const removed = await this.#shell.written(where, this.#shell.core.delete(key))
    const message = removed.existed ? this.#broadcast(groupOf(where), key, { type: 'delete', data: removed.old_value }) : null
    return { ...removed, message }
  }

  /** A custom stream's change (its worker's function stored it): told to the subscribers, stored nowhere. */
  announce(where: Where, key: string, event: OutboundEvent): StreamMessage {
    return this.#broadcast(groupOf(where), key, event)
  }

  /** `stream::send`: an event for the subscribers, stored nowhere. */
  send(where: Where, id: string | null, type: string, data: unknown): StreamMessage {
    return this.#broadcast(groupOf(where), id, { type: 'event', event: { type, data } })
  }

  /** Subscriptions open on this group now (the page shows it). */
  subscriberCount(): number {
    let n = 0
    for (const a of this.#subscribers.values()) n += a.subs.length
    return n
  }

  /** A subscriber's socket, forwarded by the front door. */
  override async fetch(request: Request): Promise<Response> {
    const h = request.headers
    const attachment: Attachment = {
      namespace: h.get(STREAM_HEADERS.namespace) ?? '',
      stream_name: decoded(h, STREAM_HEADERS.stream) ?? '',
      group_id: decoded(h, STREAM_HEADERS.group) ?? '',
      context: JSON.parse(decoded(h, STREAM_HEADERS.context) ?? 'null'),
      subs: [],
    }
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
    this.ctx.acceptWebSocket(server, ['subscriber'])
    server.serializeAttachment(attachment)
    this.#subscribers.set(server, attachment)
    return new Response(null, { status: 101, webSocket: client })
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const attachment = this.#subscribers.get(ws)
    if (!attachment || socketTag(this.ctx, ws) !== 'subscriber') return
    // The engine's stream socket reads text frames only; a binary one is no message of its protocol.
    if (typeof data !== 'string') return ws.close(BINARY_FRAME_CLOSE.code, BINARY_FRAME_CLOSE.reason)
    const message = parseSocketMessage(data)
    if (!message) return // the engine logs and drops a frame it cannot read
    if (message.streamName !== attachment.stream_name || message.groupId !== attachment.group_id) {
      // One socket per group here (one object holds a group's sockets): a join for another group
      // cannot be served on this one. Names may be long: the reason is cut to what a Close carries.
      return ws.close(1008, closeReason(`this socket serves stream ${attachment.stream_name} group ${attachment.group_id}; open /streams/<stream>/<group> for another`))
    }
    if (message.type === 'leave') {
      this.#setSubs(ws, attachment, attachment.subs.filter((s) => s.subscriptionId !== message.subscriptionId))
      return this.#fireLeave(attachment, [message])
    }
    if (this.#full(ws, attachment, message)) return
    const view = await this.#engine.recentView(attachment.namespace, JOIN_VIEW_MAX_AGE_MS).catch((err) => {
      console.warn(`[stream ${message.streamName}/${message.groupId}] join refused, join triggers unknown: ${err}`)
      return null
    })
    if (!view || (await this.#joinRefused(view, attachment, message))) {
      return this.#sendTo(ws, streamMessage(groupOf(attachment), message.id, { type: 'unauthorized' }, Date.now()))
    }
    // Closed, or filled by other joins, while this one was decided.
    if (!this.#subscribers.has(ws) || this.#full(ws, attachment, message)) return
    const subs = attachment.subs.filter((s) => s.subscriptionId !== message.subscriptionId)
    this.#setSubs(ws, attachment, [...subs, { subscriptionId: message.subscriptionId, id: message.id }])
    // What is there now, then every change: a sync of the item (null when none) or of the group.
    const custom = customStreamFunction(message.id !== null ? 'get' : 'list', attachment.stream_name)
    // Stored here: read in the same turn as the subscription was added, so no change falls between.
    const now = view.functions.has(custom)
      ? await this.#customCurrent(custom, attachment, message.id)
      : { ok: true as const, data: message.id !== null ? (this.#shell.core.get(message.id) ?? null) : this.#shell.core.list() }
    if (now.ok) this.#sendTo(ws, streamMessage(groupOf(attachment), message.id, { type: 'sync', data: now.data }, Date.now()))
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.#gone(ws)
    if (isReservedCloseCode(code)) return
    try {
      ws.close(echoableCloseCode(code), '')
    } catch {
      // already closed
    }
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.#gone(ws)
  }

  override alarm(): Promise<void> {
    return this.#shell.retry()
  }

  /** A socket went away: each of its subscriptions leaves (the engine fires leave for each). */
  #gone(ws: WebSocket): void {
    const attachment = this.#subscribers.get(ws)
    this.#subscribers.delete(ws)
    if (!attachment) return
    const leaving = attachment.subs.map((s) => ({ type: 'leave' as const, subscriptionId: s.subscriptionId, streamName: attachment.stream_name, groupId: attachment.group_id, id: s.id }))
    this.#fireLeave(attachment, leaving)
  }

  #changed(where: Where, key: string, written: Written): StreamMessage | null {
    if ('error' in written) return null
    return this.#broadcast(groupOf(where), key, { type: written.existed ? 'update' : 'create', data: written.new_value })
  }

  /** Sends a message to every subscription it concerns (once per subscription, as the engine does). */
  #broadcast(group: GroupTarget, id: string | null, event: OutboundEvent): StreamMessage {
    const message = streamMessage(group, id, event, Date.now())
    const text = JSON.stringify(message)
    for (const [ws, attachment] of this.#subscribers) {
      for (const sub of attachment.subs) if (receives(sub, id)) this.#sendText(ws, text)
    }
    return message
  }

  /**
   * What a joining subscriber of a custom stream is synced with: the worker's `get` (the item,
   * null when none) or `list` (the group). A failing function sends no sync, as in the engine (the
   * subscription stays).
   */
  async #customCurrent(function_id: string, { namespace, stream_name, group_id }: Attachment, id: string | null): Promise<{ ok: true; data: unknown } | { ok: false }> {
    const outcome = await this.#engine.invoke(namespace, { function_id, data: { stream_name, group_id, ...(id !== null ? { item_id: id } : {}) } })
    if ('error' in outcome) {
      console.warn(`[stream ${stream_name}] no sync: ${function_id} failed: ${outcome.error.code}: ${outcome.error.message}`)
      return { ok: false }
    }
    return { ok: true, data: ('result' in outcome ? outcome.result : undefined) ?? null }
  }

  /** Runs every `stream:join` function in turn; `joinAllowed` (stream.ts) decides from their answers. */
  async #joinRefused(view: DataView, { namespace, context }: Attachment, message: SocketMessage): Promise<boolean> {
    const answers: JoinAnswer[] = []
    for (const t of joinLeaveTriggers(view.dataTriggers, STREAM_JOIN_TRIGGER)) {
      const call = this.#engine.invoke(namespace, { function_id: t.function_id, data: joinLeaveEvent(message, context), metadata: t.metadata })
      // A join function that never answers must not hold the join open (nor let it in).
      const outcome = await orAfter(call, STREAM_GATE_TIMEOUT_MS, 'timeout' as const).catch((err: unknown) => ({ error: { code: 'invocation_failed', message: String(err) } }))
      const answer: JoinAnswer =
        outcome === 'timeout' ? { failed: `no answer within ${STREAM_GATE_TIMEOUT_MS / 1000} s` }
        : 'error' in outcome ? { failed: `${outcome.error.code}: ${outcome.error.message}` }
        : { result: 'result' in outcome ? outcome.result : undefined }
      if ('failed' in answer) console.warn(`[stream ${message.streamName}/${message.groupId}] join refused: ${t.function_id} failed: ${answer.failed}`)
      answers.push(answer)
    }
    return !joinAllowed(answers, Boolean(this.env.III_ENGINE_TOKEN))
  }

  #fireLeave({ namespace, context }: Attachment, messages: SocketMessage[]): void {
    if (messages.length === 0) return
    const fire = async () => {
      const view = await this.#engine.recentView(namespace, JOIN_VIEW_MAX_AGE_MS)
      for (const t of joinLeaveTriggers(view.dataTriggers, STREAM_LEAVE_TRIGGER)) {
        for (const m of messages) await this.#engine.invoke(namespace, { function_id: t.function_id, data: joinLeaveEvent(m, context), metadata: t.metadata, void: true })
      }
    }
    this.ctx.waitUntil(fire().catch((err) => console.warn(`[stream] leave triggers: ${err}`)))
  }

  /** Would this join pass the per-socket limit? Then the socket is closed, saying so. */
  #full(ws: WebSocket, attachment: Attachment, message: SocketMessage): boolean {
    const others = attachment.subs.filter((s) => s.subscriptionId !== message.subscriptionId).length
    if (others < SUBSCRIPTIONS_PER_SOCKET) return false
    // Its subscriptions live in the socket's attachment, which is small (stream.ts).
    ws.close(1008, `at most ${SUBSCRIPTIONS_PER_SOCKET} subscriptions per socket; open another socket for more`)
    return true
  }

  #setSubs(ws: WebSocket, attachment: Attachment, subs: Subscription[]): void {
    attachment.subs = subs
    ws.serializeAttachment(attachment)
  }

  #sendTo(ws: WebSocket, message: StreamMessage): void {
    this.#sendText(ws, JSON.stringify(message))
  }

  #sendText(ws: WebSocket, text: string): void {
    try {
      ws.send(text)
    } catch {
      // closing: its close handler forgets it
    }
  }
}

const groupOf = (w: Where | Attachment): GroupTarget => ('kind' in w ? { stream_name: w.parent, group_id: w.name } : { stream_name: w.stream_name, group_id: w.group_id })
