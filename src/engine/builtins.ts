// Functions the engine serves itself (`engine::*`, listed in introspection.ts ENGINE_FUNCTIONS;
// the data modules' ones are in data/builtins.ts).
// They run in the caller's session: creating a channel touches no object at all; the lists and
// `::info` read the namespace's registry (the control plane), after this worker's own
// registrations have reached it; log records go where every record goes (logs.ts).

import { mintChannel } from '../channel/mint'
import { signingKey } from './signing'
import { dataBuiltins } from '../data/builtins'
import type { DataEngine, DataView } from '../data/engine-port'
import { asObject } from '../protocol/json'
import { parseBufferSize } from '../protocol/refs'
import { LOG_LEVELS, type LogLevel, engineLogRecord } from '../observability/log-record'
import { parseLogQuery } from '../observability/log-ring'
import { ENGINE_VERSION } from '../protocol/version'
import { recordLogs } from './logs'
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
  builtins['engine::logs::list'] = async (data) => {
    const query = parseLogQuery(data)
    const { logs, total } = await ctx.status().queryLogs(query)
    const echo = { trace_id: null, span_id: null, severity_min: null, severity_text: null, start_time: null, end_time: null, offset: null, limit: null, ...query }
    return { logs, total, query: echo, timestamp: Date.now() }
  }
  builtins['engine::logs::clear'] = async () => {
    await ctx.status().clearLogs()
    return { success: true }
  }
  return { ...builtins, ...dataBuiltins(ctx) }
}

/**
 * `engine::log::<level>` (`{message, data?, trace_id?, span_id?, service_name?}`): a record as the
 * engine makes it, recorded as every record is (logs.ts). As in the engine it answers no result.
 */
function log(ctx: BuiltinContext, level: LogLevel, data: unknown): void {
  const record = engineLogRecord(level, data, Date.now(), ENGINE_VERSION)
  if (!record) throw new EngineError('deserialization_error', `Failed to deserialize input for engine::log::${level}: missing field \`message\``)
  recordLogs(
    {
      env: ctx.env,
      namespace: ctx.namespace(),
      triggers: async () => (await ctx.view()).dataTriggers,
      invoke: (call) => ctx.engine.invoke(ctx.namespace(), call),
      waitUntil: (p) => ctx.waitUntil(p),
    },
    [{ record, origin: { worker: ctx.workerName() } }],
  )
}
