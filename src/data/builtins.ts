// The data modules' functions (`state::*`, `stream::*`, `publish`), run in the caller's session like
// the other builtins. Each parses its input here (the edge), calls the one object holding the data
// (a state scope, a stream group), answers, and then fires the matching reactive triggers itself,
// one way and in the background, as the engine does after a successful write. Triggers come from the session's
// registry view, refreshed first when the registry said a data trigger changed since it was loaded.

import { EngineError } from '../engine/introspection'
import { invokeFunction } from '../engine/invoke'
import { asObject } from '../protocol/json'
import { directoryStub, stateStub, streamStub } from '../stubs'
import type { Written } from './scope'
import { type StateEventType, type StateTarget, badInput, nameField, parseSetValue, parseTarget, stateEvent, storedText } from './state'
import type { Where } from './state-object'
import { type GroupTarget, type StreamMessage, parseGroup, parseItem } from './stream'
import type { StreamWritten } from './stream-object'
import { type DataTrigger, conditionOf, stateTriggersFor, streamTriggersFor, subscribersOf } from './triggers'
import { parseOps } from './update-ops'

export interface DataContext {
  env: Env
  namespace(): string
  /** The data triggers of the namespace, as fresh as the last trigger change this session heard of. */
  dataTriggers(): Promise<DataTrigger[]>
  waitUntil(promise: Promise<unknown>): void
}

type Builtin = (data: unknown) => Promise<unknown>

export function dataBuiltins(ctx: DataContext): Record<string, Builtin> {
  const scope = (target: { scope: string }) => ({
    stub: stateStub(ctx.env, ctx.namespace(), target.scope),
    where: { namespace: ctx.namespace(), kind: 'state', parent: '', name: target.scope } satisfies Where,
  })
  /** A write's answer, or its error with the engine's code (an Error's fields do not cross RPC). */
  const ok = (answer: unknown): Exclude<Written, { error: unknown }> => {
    const w = answer as Written // an RPC answer's type loses `unknown` fields
    if ('error' in w) throw new EngineError(w.error.code, w.error.message)
    return w
  }
  const fireState = (target: StateTarget, triggers: Promise<DataTrigger[]>, type: StateEventType, old_value: unknown, new_value: unknown) =>
    fire(ctx, triggers.then((all) => stateTriggersFor(all, target.scope, target.key)), stateEvent(target, type, old_value, new_value))

  return {
    'state::set': async (data) => {
      const target = parseTarget('state::set', data)
      const text = storedText(parseSetValue(data))
      const triggers = lookup(ctx) // looked up while the write happens
      const { stub, where } = scope(target)
      const w = ok(await stub.set(where, target.key, text))
      fireState(target, triggers, w.existed ? 'state:updated' : 'state:created', w.old_value, w.new_value)
      return { old_value: w.old_value, new_value: w.new_value }
    },
    'state::get': async (data) => {
      const target = parseTarget('state::get', data)
      // Undefined when there is no value: the result field is left out, as the engine leaves it out.
      return scope(target).stub.get(target.key)
    },
    'state::delete': async (data) => {
      const target = parseTarget('state::delete', data)
      const triggers = lookup(ctx)
      const { stub, where } = scope(target)
      const w = (await stub.delete(where, target.key)) as { existed: boolean; old_value: unknown }
      // The engine fires `state:deleted` even for a key that was not there (old value null).
      fireState(target, triggers, 'state:deleted', w.old_value, null)
      return w.existed ? w.old_value : undefined
    },
    'state::update': async (data) => {
      const target = parseTarget('state::update', data)
      const ops = parseOps(asObject(data).ops)
      if (typeof ops === 'string') throw badInput('state::update', asObject(data).ops === undefined ? 'missing field `ops`' : ops)
      const triggers = lookup(ctx)
      const { stub, where } = scope(target)
      const w = ok(await stub.update(where, target.key, ops))
      fireState(target, triggers, w.existed ? 'state:updated' : 'state:created', w.old_value, w.new_value)
      return { old_value: w.old_value, new_value: w.new_value, ...(w.errors ? { errors: w.errors } : {}) }
    },
    'state::list': async (data) => {
      const name = nameField('state::list', asObject(data), 'scope')
      return stateStub(ctx.env, ctx.namespace(), name).list()
    },
    'state::list_groups': async () => ({ groups: await directoryStub(ctx.env, ctx.namespace()).names('state', '') }),
    ...streamBuiltins(ctx, ok),
    publish: async (data) => {
      const input = asObject(data)
      if (input.topic === undefined || input.topic === null) throw badInput('publish', 'missing field `topic`')
      if (typeof input.topic !== 'string') throw badInput('publish', 'invalid type for field `topic`: expected a string')
      if (!('data' in input)) throw badInput('publish', 'missing field `data`')
      if (input.topic === '') throw new EngineError('topic_not_set', 'Topic is not set')
      const topic = input.topic
      // Every subscriber gets the raw data, no envelope, no condition, nobody waits (as in the engine).
      fire(ctx, ctx.dataTriggers().then((all) => subscribersOf(all, topic)), input.data, false)
      return undefined
    },
  }
}

/** `stream::*`: one object per group stores, broadcasts to its subscribers, and answers the message it sent. */
function streamBuiltins(ctx: DataContext, ok: (answer: unknown) => Exclude<Written, { error: unknown }>): Record<string, Builtin> {
  const group = (target: GroupTarget) => ({
    stub: streamStub(ctx.env, ctx.namespace(), target.stream_name, target.group_id),
    where: { namespace: ctx.namespace(), kind: 'stream', parent: target.stream_name, name: target.group_id } satisfies Where,
  })
  /** The `stream` triggers get the very message the subscribers got (same timestamp). */
  const fireStream = (triggers: Promise<DataTrigger[]>, message: StreamMessage | null) => {
    if (message) fire(ctx, triggers.then((all) => streamTriggersFor(all, message.streamName, message.groupId, message.id)), message)
  }
  const write = async (fn: 'stream::set' | 'stream::update', data: unknown) => {
    const target = parseItem(fn, data)
    const input = asObject(data)
    let call: (g: ReturnType<typeof group>) => Promise<unknown>
    if (fn === 'stream::set') {
      if (!('data' in input)) throw badInput(fn, 'missing field `data`')
      const text = storedText(input.data)
      call = ({ stub, where }) => stub.set(where, target.item_id, text)
    } else {
      const ops = parseOps(input.ops)
      if (typeof ops === 'string') throw badInput(fn, input.ops === undefined ? 'missing field `ops`' : ops)
      call = ({ stub, where }) => stub.update(where, target.item_id, ops)
    }
    const triggers = lookup(ctx)
    const answer = (await call(group(target))) as StreamWritten
    const w = ok(answer.written)
    fireStream(triggers, answer.message)
    return { old_value: w.old_value, new_value: w.new_value, ...(w.errors ? { errors: w.errors } : {}) }
  }
  return {
    'stream::set': (data) => write('stream::set', data),
    'stream::update': (data) => write('stream::update', data),
    'stream::get': async (data) => {
      const target = parseItem('stream::get', data)
      return group(target).stub.get(target.item_id)
    },
    'stream::delete': async (data) => {
      const target = parseItem('stream::delete', data)
      const triggers = lookup(ctx)
      const { stub, where } = group(target)
      const answer = (await stub.delete(where, target.item_id)) as { old_value: unknown; message: StreamMessage | null }
      fireStream(triggers, answer.message)
      return { old_value: answer.old_value }
    },
    'stream::list': async (data) => group(parseGroup('stream::list', data)).stub.list(),
    'stream::list_groups': async (data) => {
      const name = nameField('stream::list_groups', asObject(data), 'stream_name')
      return directoryStub(ctx.env, ctx.namespace()).names('stream', name)
    },
    'stream::list_all': async () => {
      const entries = await directoryStub(ctx.env, ctx.namespace()).entries('stream', LIST_ALL_MAX)
      const streams = new Map<string, string[]>()
      for (const { parent, name } of entries) streams.set(parent, [...(streams.get(parent) ?? []), name])
      const stream = [...streams].map(([id, groups]) => ({ id, groups }))
      return { stream, count: stream.length }
    },
    'stream::send': async (data) => {
      const target = parseGroup('stream::send', data)
      const input = asObject(data)
      if (typeof input.type !== 'string') throw badInput('stream::send', 'missing field `type`')
      if (!('data' in input)) throw badInput('stream::send', 'missing field `data`')
      if (input.id !== undefined && input.id !== null && typeof input.id !== 'string') throw badInput('stream::send', 'invalid type for field `id`: expected a string')
      storedText(input.data) // the same size limit as a stored item: it goes to every subscriber
      const triggers = lookup(ctx)
      const { stub, where } = group(target)
      fireStream(triggers, (await stub.send(where, (input.id as string | undefined) ?? null, input.type, input.data)) as StreamMessage)
      // The engine answers this one with `null` (its unit result), unlike publish's empty result.
      return null
    },
  }
}

/** How many stream groups `stream::list_all` reads from the directory at most. */
const LIST_ALL_MAX = 10_000

/** The triggers, looked up now; a failed lookup is reported by `fire`, never as an unhandled rejection. */
function lookup(ctx: DataContext): Promise<DataTrigger[]> {
  const triggers = ctx.dataTriggers()
  triggers.catch(() => {})
  return triggers
}

/**
 * Invokes each trigger's function with `data`, one way, in the background; a trigger with a
 * condition function runs only when the condition does not answer `false` (as the engine's check).
 * Failures are logged: the write that fired them stands.
 */
export function fire(ctx: DataContext, triggers: Promise<DataTrigger[]>, data: unknown, conditions = true): void {
  const namespace = ctx.namespace()
  const one = async (t: DataTrigger) => {
    const condition = conditions ? conditionOf(t) : undefined
    if (condition) {
      const outcome = await invokeFunction(ctx.env, namespace, { function_id: condition, data })
      if ('error' in outcome) return console.warn(`[${t.trigger_type} ${t.id}] condition ${condition} failed: ${outcome.error.code}: ${outcome.error.message}`)
      if ('result' in outcome && outcome.result === false) return
    }
    const outcome = await invokeFunction(ctx.env, namespace, { function_id: t.function_id, data, metadata: t.metadata, void: true })
    if ('error' in outcome) console.warn(`[${t.trigger_type} ${t.id}] ${t.function_id} not invoked: ${outcome.error.code}: ${outcome.error.message}`)
  }
  ctx.waitUntil(
    triggers
      .then((list) => Promise.all(list.map((t) => one(t).catch((err) => console.warn(`[${t.trigger_type} ${t.id}] ${err}`)))))
      .catch((err) => console.warn(`[${namespace}] triggers not looked up: ${err}`)),
  )
}
