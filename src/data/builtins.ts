// The data modules' functions (`state::*`, `stream::*`, `publish`), run in the caller's session like
// the other builtins. Each parses its input here (the edge), calls the one object holding the data
// (a state scope, a stream group), answers, and then fires the matching reactive triggers itself,
// one way and in the background, as the engine does after a successful write. Triggers come from the session's
// registry view, refreshed first when the registry said a data trigger changed since it was loaded.
// `configuration::*` live in configuration-builtins.ts and fire through the same plumbing.

import { EngineError } from '../protocol/outcome'
import { asObject } from '../protocol/json'
import type { DataContext } from './engine-port'
import { directoryStub, stateStub, streamStub } from './stubs'
import { configurationBuiltins } from './configuration-builtins'
import { queueBuiltins } from './queue/builtins'
import type { Written } from './scope'
import { type StateEventType, type StateTarget, badInput, nameField, parseSetValue, parseTarget, stateEvent, storedText } from './state'
import type { Where } from './state-object'
import { type CustomOutcome, type StreamOp, customDeleteResult, customReadResult, customStreamFunction, customWriteResult } from './custom-stream'
import { type GroupTarget, type ItemTarget, type OutboundEvent, type StreamMessage, parseGroup, parseItem } from './stream'
import type { StreamWritten } from './stream-object'
import { type DataTrigger, conditionOf, stateTriggersFor, streamTriggersFor, subscribersOf } from './triggers'
import { parseOps } from './update-ops'

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
    ...queueBuiltins(ctx),
    ...configurationBuiltins(ctx, { lookup: () => lookup(ctx), fire: (triggers, data) => fire(ctx, triggers, data) }),
    publish: async (data) => {
      const input = asObject(data)
      if (input.topic === undefined || input.topic === null) throw badInput('publish', 'missing field `topic`')
      if (typeof input.topic !== 'string') throw badInput('publish', 'invalid type for field `topic`: expected a string')
      if (!('data' in input)) throw badInput('publish', 'missing field `data`')
      if (input.topic === '') throw new EngineError('topic_not_set', 'Topic is not set')
      const topic = input.topic
      // Every subscriber gets the raw data, no envelope, no condition, nobody waits (as in the engine).
      fire(ctx, ctx.view().then((view) => subscribersOf(view.dataTriggers, topic)), input.data, false)
      return undefined
    },
  }
}

/**
 * `stream::*`: one object per group stores, broadcasts to its subscribers, and answers the message
 * it sent. A stream a worker took over (custom-stream.ts) is read and written by its functions; the
 * group's object then only broadcasts the change.
 */
function streamBuiltins(ctx: DataContext, ok: (answer: unknown) => Exclude<Written, { error: unknown }>): Record<string, Builtin> {
  const group = (target: GroupTarget) => ({
    stub: streamStub(ctx.env, ctx.namespace(), target.stream_name, target.group_id),
    where: { namespace: ctx.namespace(), kind: 'stream', parent: target.stream_name, name: target.group_id } satisfies Where,
  })
  /** The `stream` triggers get the very message the subscribers got (same timestamp). */
  const fireStream = (triggers: Promise<DataTrigger[]>, message: StreamMessage | null) => {
    if (message) fire(ctx, triggers.then((all) => streamTriggersFor(all, message.streamName, message.groupId, message.id)), message)
  }
  /** The function that took `op` of this stream over, if a worker registered one. */
  const custom = async (op: StreamOp, streamName: string) => {
    const id = customStreamFunction(op, streamName)
    return (await ctx.view()).functions.has(id) ? id : null
  }
  const callCustom = async (function_id: string, data: unknown): Promise<CustomOutcome> => {
    const outcome = await ctx.engine.invoke(ctx.namespace(), { function_id, data })
    return 'accepted' in outcome ? {} : outcome
  }
  /** Tells a custom stream's change to the group's subscribers (its object stores nothing of it). */
  const announce = (target: ItemTarget, event: OutboundEvent) => {
    const { stub, where } = group(target)
    return stub.announce(where, target.item_id, event) as Promise<StreamMessage>
  }
  const write = async (fn: 'stream::set' | 'stream::update', data: unknown) => {
    const target = parseItem(fn, data)
    const input = asObject(data)
    const op = fn === 'stream::set' ? 'set' : 'update'
    let call: (g: ReturnType<typeof group>) => Promise<unknown>
    let forward: Record<string, unknown>
    if (op === 'set') {
      if (!('data' in input)) throw badInput(fn, 'missing field `data`')
      forward = { ...target, data: input.data }
      call = ({ stub, where }) => stub.set(where, target.item_id, storedText(input.data))
    } else {
      const ops = parseOps(input.ops)
      if (typeof ops === 'string') throw badInput(fn, input.ops === undefined ? 'missing field `ops`' : ops)
      forward = { ...target, ops }
      call = ({ stub, where }) => stub.update(where, target.item_id, ops)
    }
    const triggers = lookup(ctx)
    const customId = await custom(op, target.stream_name)
    if (customId) {
      const w = customWriteResult(op, await callCustom(customId, forward))
      fireStream(triggers, await announce(target, { type: w.old_value !== null ? 'update' : 'create', data: w.new_value }))
      return w
    }
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
      const customId = await custom('get', target.stream_name)
      if (customId) return customReadResult(await callCustom(customId, target))
      return group(target).stub.get(target.item_id)
    },
    'stream::delete': async (data) => {
      const target = parseItem('stream::delete', data)
      const triggers = lookup(ctx)
      const customId = await custom('delete', target.stream_name)
      if (customId) {
        const removed = customDeleteResult(await callCustom(customId, target))
        // As for a stored item: only a delete that removed something is broadcast.
        if (removed.old_value !== null) fireStream(triggers, await announce(target, { type: 'delete', data: removed.old_value }))
        return removed
      }
      const { stub, where } = group(target)
      const answer = (await stub.delete(where, target.item_id)) as { old_value: unknown; message: StreamMessage | null }
      fireStream(triggers, answer.message)
      return { old_value: answer.old_value }
    },
    'stream::list': async (data) => {
      const target = parseGroup('stream::list', data)
      const customId = await custom('list', target.stream_name)
      if (customId) return customReadResult(await callCustom(customId, target))
      return group(target).stub.list()
    },
    'stream::list_groups': async (data) => {
      const name = nameField('stream::list_groups', asObject(data), 'stream_name')
      const customId = await custom('list_groups', name)
      if (customId) return customReadResult(await callCustom(customId, { stream_name: name }))
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
  const triggers = ctx.view().then((view) => view.dataTriggers)
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
      const outcome = await ctx.engine.invoke(namespace, { function_id: condition, data })
      if ('error' in outcome) return console.warn(`[${t.trigger_type} ${t.id}] condition ${condition} failed: ${outcome.error.code}: ${outcome.error.message}`)
      if ('result' in outcome && outcome.result === false) return
    }
    const outcome = await ctx.engine.invoke(namespace, { function_id: t.function_id, data, metadata: t.metadata, void: true })
    if ('error' in outcome) console.warn(`[${t.trigger_type} ${t.id}] ${t.function_id} not invoked: ${outcome.error.code}: ${outcome.error.message}`)
  }
  ctx.waitUntil(
    triggers
      .then((list) => Promise.all(list.map((t) => one(t).catch((err) => console.warn(`[${t.trigger_type} ${t.id}] ${err}`)))))
      .catch((err) => console.warn(`[${namespace}] triggers not looked up: ${err}`)),
  )
}
