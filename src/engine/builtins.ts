// Functions the engine serves itself (`engine::*`, listed in introspection.ts ENGINE_FUNCTIONS;
// the data modules' ones are in data/builtins.ts).
// They run in the caller's session: creating a channel touches no object at all; the lists and
// `::info` read the namespace's registry (the control plane), after this worker's own
// registrations have reached it; log entries go to the Worker's log and the page's recent log.

import { mintChannel } from '../channel/mint'
import { signingKey } from './signing'
import { dataBuiltins } from '../data/builtins'
import type { DataEngine, DataView } from '../data/engine-port'
import { asObject } from '../protocol/json'
import { parseBufferSize } from '../protocol/refs'
import { LOG_LEVELS, type LogEntry, logEntry } from '../status/log'
import type { registryStub } from './stubs'
import type { statusStub } from '../status/stubs'
import { EngineError } from '../protocol/outcome'
import type { Query, QueryAnswer } from './introspection'
import type { Change } from './registry'

export type Builtin = (data: unknown) => Promise<unknown>

export interface BuiltinContext {
  env: Env
  /** How the data modules' functions reach other functions (data-engine.ts). */
  engine: DataEngine
  namespace: () => string
  /** Who writes log entries: the worker's name once it told it, else its id. */
  workerName: () => string
  register(change: Change): void
  registry(): Promise<ReturnType<typeof registryStub>>
  status(): ReturnType<typeof statusStub>
  waitUntil(promise: Promise<unknown>): void
  /**
   * The namespace's view for the data modules' functions: its data triggers (state, subscribe,
   * stream…) and which functions exist (a custom stream's), as new as the last change of either.
   */
  view(): Promise<DataView>
}

export function sessionBuiltins(ctx: BuiltinContext): Record<string, Builtin> {
  const query = (name: Query) => async (data: unknown) => {
    const answer = (await (await ctx.registry()).query(name, asObject(data))) as QueryAnswer
    if (!answer.ok) throw new EngineError(answer.error.code, answer.error.message)
    return answer.value
  }
  const builtins: Record<string, Builtin> = {
    'engine::channels::create': async (data) => {
      const size = parseBufferSize(asObject(data).buffer_size)
      if (!size.ok) throw new Error(size.message)
      return mintChannel(await signingKey(ctx.env), { bufferSize: size.value, namespace: ctx.namespace(), now: Date.now() })
    },
    'engine::workers::register': async (data) => {
      ctx.register({ type: 'metadata', metadata: asObject(data) })
      return { success: true }
    },
    'engine::functions::list': query('functions::list'),
    'engine::functions::info': query('functions::info'),
    'engine::workers::list': query('workers::list'),
    'engine::workers::info': query('workers::info'),
    'engine::triggers::list': query('triggers::list'),
    'engine::triggers::info': query('triggers::info'),
    'engine::registered-triggers::list': query('registered-triggers::list'),
    'engine::registered-triggers::info': query('registered-triggers::info'),
  }
  for (const level of LOG_LEVELS) builtins[`engine::log::${level}`] = async (data) => void log(ctx, level, data)
  return { ...builtins, ...dataBuiltins(ctx) }
}

/**
 * `engine::log::<level>` (`{message, data?, trace_id?, span_id?, service_name?}`): one JSON line in
 * the Worker's log (`wrangler tail`, Workers Logs index its fields) and an entry in the page's
 * recent log. As in the engine it answers no result.
 */
function log(ctx: BuiltinContext, level: LogEntry['level'], data: unknown): void {
  const entry = logEntry(level, data, ctx.workerName(), Date.now())
  if (!entry) throw new EngineError('deserialization_error', `Failed to deserialize input for engine::log::${level}: missing field \`message\``)
  const line = JSON.stringify({ log: 'engine::log', namespace: ctx.namespace(), ...entry })
  if (level === 'trace' || level === 'debug') console.debug(line)
  else console[level](line)
  ctx.waitUntil(ctx.status().log(entry).catch(() => {}))
}
