// The rules of the engine's stream module (`stream::*`, the `stream`, `stream:join`, `stream:leave`
// trigger types and the subscriber socket's messages), free of Workers APIs. StreamObject
// (stream-object.ts) keeps one group's items and its subscribers' sockets.
//
// Message format, as the engine's stream socket speaks it:
//   in:  {"type":"join"|"leave","data":{"subscriptionId","streamName","groupId","id"?}}
//   out: {"type":"stream","timestamp","streamName","groupId","id","event":{"type":"sync"|"create"|
//        "update"|"delete","data"} | {"type":"event","event":{"type","data"}} | {"type":"unauthorized"}}
// The same out message is what a `stream` trigger's function receives.

import { asObject, parseJsonOrUndefined } from '../protocol/json'
import { NAME_MAX_BYTES, nameField, utf8Bytes } from './state'

export interface GroupTarget {
  stream_name: string
  group_id: string
}

export interface ItemTarget extends GroupTarget {
  item_id: string
}

export const parseGroup = (functionId: string, data: unknown): GroupTarget => {
  const input = asObject(data)
  return { stream_name: nameField(functionId, input, 'stream_name'), group_id: nameField(functionId, input, 'group_id') }
}

export const parseItem = (functionId: string, data: unknown): ItemTarget => ({
  ...parseGroup(functionId, data),
  item_id: nameField(functionId, asObject(data), 'item_id'),
})

export type OutboundEvent =
  | { type: 'sync' | 'create' | 'update' | 'delete'; data: unknown }
  | { type: 'event'; event: { type: string; data: unknown } }
  | { type: 'unauthorized' }

/** What subscribers receive and `stream` triggers are invoked with. */
export interface StreamMessage {
  type: 'stream'
  timestamp: number
  streamName: string
  groupId: string
  id: string | null
  event: OutboundEvent
}

export const streamMessage = (group: GroupTarget, id: string | null, event: OutboundEvent, now: number): StreamMessage => ({
  type: 'stream',
  timestamp: now,
  streamName: group.stream_name,
  groupId: group.group_id,
  id,
  event,
})

/** One subscription on a socket: the whole group, or one item of it (`id`). */
export interface Subscription {
  subscriptionId: string
  id: string | null
}

export type SocketMessage = { type: 'join' | 'leave'; subscriptionId: string; streamName: string; groupId: string; id: string | null }

/** Half of a UTF-16 surrogate pair without its other half (with the `u` flag a whole pair is one code point). */
const LONE_SURROGATE = /\p{Cs}/u

/** A subscriber's frame, or null for anything the engine would log and drop. */
export function parseSocketMessage(text: string): SocketMessage | null {
  const msg = asObject(parseJsonOrUndefined(text))
  const data = asObject(msg.data)
  if ((msg.type !== 'join' && msg.type !== 'leave') || typeof data.subscriptionId !== 'string') return null
  if (typeof data.streamName !== 'string' || typeof data.groupId !== 'string') return null
  if (data.id !== undefined && data.id !== null && typeof data.id !== 'string') return null
  if (utf8Bytes(data.subscriptionId) > SUBSCRIPTION_ID_MAX_BYTES || (typeof data.id === 'string' && utf8Bytes(data.id) > NAME_MAX_BYTES)) return null
  // No group has a longer name (stream::set refuses one): nothing to join, and no object to wake.
  if (utf8Bytes(data.streamName) > NAME_MAX_BYTES || utf8Bytes(data.groupId) > NAME_MAX_BYTES) return null
  // A lone surrogate ("\ud800") is no text: the engine's JSON parser refuses the frame, and it could not be sent on.
  if ([data.subscriptionId, data.streamName, data.groupId, data.id].some((v) => typeof v === 'string' && LONE_SURROGATE.test(v))) return null
  return { type: msg.type, subscriptionId: data.subscriptionId, streamName: data.streamName, groupId: data.groupId, id: (data.id as string | null | undefined) ?? null }
}

/** Does a subscription receive a message about item `id` (null: about the group, e.g. a send without id)? */
export const receives = (sub: Subscription, id: string | null) => sub.id === null || sub.id === id

/** The payload of `stream:join` / `stream:leave` triggers, as the engine sends it. */
export const joinLeaveEvent = (m: SocketMessage, context: unknown = null) => ({
  subscription_id: m.subscriptionId,
  stream_name: m.streamName,
  group_id: m.groupId,
  id: m.id,
  context: context ?? null,
})

/**
 * A socket's subscriptions and auth context live in its attachment, which holds at most 16 KiB:
 * these bound what one socket may ask for (with names of at most NAME_MAX_BYTES, about 12 KiB).
 */
export const AUTH_CONTEXT_MAX_BYTES = 4_096
export const SUBSCRIPTIONS_PER_SOCKET = 10
export const SUBSCRIPTION_ID_MAX_BYTES = 128

/**
 * Subscriptions one `/streams` socket may hold at once, over all its groups (each group is one
 * socket from the front Worker to the group's object, so this also bounds those).
 */
export const SUBSCRIPTIONS_PER_HUB_SOCKET = 50

/** The longest a `stream:join` function or the auth function may take; past it, the gate is shut. */
export const STREAM_GATE_TIMEOUT_MS = 10_000

/** Subscriber sockets speak JSON text; a binary frame closes the socket with this (1003: unsupported data). */
export const BINARY_FRAME_CLOSE = { code: 1003, reason: 'binary frames are not stream messages; send JSON text' } as const

/**
 * The live subscriptions of one `/streams` socket, by group: a join adds one (a re-join of the
 * same id in the same group is the same one), a leave removes it. A join the group then refuses
 * still counts until it is left: the group's `unauthorized` frame does not name the subscription.
 */
export class HubSubscriptions {
  readonly #groups = new Map<string, Set<string>>()
  #count = 0

  /** Adds a join; gives the reason to close the socket instead when it passes a limit. */
  join(group: string, subscriptionId: string): string | null {
    const subs = this.#groups.get(group)
    if (subs?.has(subscriptionId)) return null
    if ((subs?.size ?? 0) >= SUBSCRIPTIONS_PER_SOCKET) return `at most ${SUBSCRIPTIONS_PER_SOCKET} subscriptions of one group per socket; open another socket for more`
    if (this.#count >= SUBSCRIPTIONS_PER_HUB_SOCKET) return `at most ${SUBSCRIPTIONS_PER_HUB_SOCKET} subscriptions per socket; open another socket for more`
    if (subs) subs.add(subscriptionId)
    else this.#groups.set(group, new Set([subscriptionId]))
    this.#count++
    return null
  }

  /** Removes a subscription; true when its group has none left (its group socket may close). */
  leave(group: string, subscriptionId: string): boolean {
    const subs = this.#groups.get(group)
    if (!subs?.delete(subscriptionId)) return false
    this.#count--
    if (subs.size > 0) return false
    this.#groups.delete(group)
    return true
  }

  get size(): number {
    return this.#count
  }
}

/** What the auth function is given about a handshake, in the engine's shape. */
export function authInput(request: Request): { headers: Record<string, string>; path: string; query_params: Record<string, string[]>; addr: string } {
  const url = new URL(request.url)
  const query_params: Record<string, string[]> = {}
  for (const [k, v] of url.searchParams) (query_params[k] ??= []).push(v)
  const headers: Record<string, string> = {}
  request.headers.forEach((value, name) => (headers[name] = value))
  return {
    headers,
    path: url.pathname,
    query_params,
    addr: request.headers.get('cf-connecting-ip') ?? '',
  }
}

/** What an auth function's answer lets through: the context as JSON text (or null), or why not. */
export type AuthAnswer = { ok: true; context: string | null } | { ok: false; why: string }

/**
 * Reads an auth function's answer. The engine's shape is `{context}`: an object, its `context`
 * optional. Anything else (no answer, a string, an array), or a context too large to carry, lets
 * nobody in: the engine would upgrade without a context, but a gate whose answer cannot be read
 * stays shut here.
 */
export function authAnswer(result: unknown): AuthAnswer {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) {
    return { ok: false, why: `answered ${result === undefined ? 'nothing' : JSON.stringify(result)?.slice(0, 60) ?? typeof result}, not {context}` }
  }
  const context = (result as { context?: unknown }).context
  if (context === undefined || context === null) return { ok: true, context: null }
  const text = JSON.stringify(context)
  if (utf8Bytes(text) > AUTH_CONTEXT_MAX_BYTES) return { ok: false, why: `answered a context of more than ${AUTH_CONTEXT_MAX_BYTES} bytes of JSON` }
  return { ok: true, context: text }
}

/** What one `stream:join` function gave: its answer, or why there is none (an error, no worker, no answer in time). */
export type JoinAnswer = { result: unknown } | { failed: string }

/**
 * Does a `stream:join` function's answer refuse the join? `{unauthorized: true}` does, as in the
 * engine. So does an answer that cannot be read as yes or no (`unauthorized` not a boolean, an
 * answer that is not an object): the engine lets those through, here the gate stays shut. No
 * answer at all (the function returned nothing) and an object without `unauthorized` let through.
 */
export function refusesJoin(result: unknown): boolean {
  if (result === undefined || result === null) return false
  if (typeof result !== 'object' || Array.isArray(result)) return true
  const unauthorized = (result as { unauthorized?: unknown }).unauthorized
  return unauthorized !== undefined && unauthorized !== null && unauthorized !== false
}

/**
 * May a subscriber join? `answers` are what every `stream:join` function gave, or null when the
 * triggers could not be read at all. The gate fails closed: a function that failed (threw,
 * answered an error, had no worker, did not answer in time) refuses, as does one that refused;
 * the engine lets a failed one through. With no join function, the socket is open as the engine's
 * stream port is, unless the deployment set an engine token: then a namespace must register a
 * `stream:join` function to let browsers in.
 */
export function joinAllowed(answers: readonly JoinAnswer[] | null, tokenSet: boolean): boolean {
  if (answers === null) return false
  if (answers.length === 0) return !tokenSet
  return answers.every((a) => 'result' in a && !refusesJoin(a.result))
}
