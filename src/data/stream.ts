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

/** A subscriber's frame, or null for anything the engine would log and drop. */
export function parseSocketMessage(text: string): SocketMessage | null {
  const msg = asObject(parseJsonOrUndefined(text))
  const data = asObject(msg.data)
  if ((msg.type !== 'join' && msg.type !== 'leave') || typeof data.subscriptionId !== 'string') return null
  if (typeof data.streamName !== 'string' || typeof data.groupId !== 'string') return null
  if (data.id !== undefined && data.id !== null && typeof data.id !== 'string') return null
  if (utf8Bytes(data.subscriptionId) > SUBSCRIPTION_ID_MAX_BYTES || (typeof data.id === 'string' && utf8Bytes(data.id) > NAME_MAX_BYTES)) return null
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

/**
 * The context an auth function's result gives (`{context}`), as JSON small enough to carry, or
 * null: the engine upgrades without a context when the function fails or answers something else.
 */
export function authContext(result: unknown): string | null {
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return null
  const context = (result as { context?: unknown }).context
  if (context === undefined || context === null) return null
  const text = JSON.stringify(context)
  return new TextEncoder().encode(text).length <= AUTH_CONTEXT_MAX_BYTES ? text : null
}

/** Did a `stream:join` function answer `{unauthorized: true}`? */
export const refusesJoin = (result: unknown) => asObject(result).unauthorized === true

/**
 * May a subscriber join? `answers` are the results of every `stream:join` function (undefined for
 * one that failed: the engine lets the join through then), or null when the triggers could not be
 * read at all (refused: a gate that cannot be checked stays shut). With no join function, the
 * socket is open as the engine's stream port is, unless the deployment set an engine token: then
 * a namespace must register a `stream:join` function to let browsers in.
 */
export function joinAllowed(answers: readonly unknown[] | null, tokenSet: boolean): boolean {
  if (answers === null) return false
  if (answers.length === 0) return !tokenSet
  return !answers.some(refusesJoin)
}
