// Where a log record goes once it is made, whoever made it (a worker's `/otel` socket, the
// `engine::log::*` builtins, a cron run): the namespace's status object, which prints it as one
// JSON line in the Worker's log and keeps it for the page and `engine::logs::list`, and every `log`
// trigger of the namespace that takes it, invoked one way as the engine does
// (docs/observability.md). The status object prints, not the caller: a line written in a Worker's
// WebSocket handler shows in `wrangler tail` only when that socket closes (docs/platform.md).

import { logTriggers } from '../data/triggers'
import type { DataTrigger } from '../data/triggers'
import { type LogOrigin, type StoredLog, bounded, engineLogRecord } from '../observability/log-record'
import { type KeptLog, printLogs } from '../observability/log-ring'
import { logTriggerPayload, logTriggerTakes } from '../observability/log-trigger'
import type { EngineCall } from '../protocol/outcome'
import { ENGINE_VERSION } from '../protocol/version'
import { statusStub } from '../status/stubs'
import { recentView, viewCacheFor } from './cache'
import { invokeFunction } from './invoke'

/** What recording needs of whoever records: its namespace's triggers, a way to invoke, and to outlive the event. */
export interface LogSink {
  env: Env
  namespace: string
  /** The namespace's `log` triggers live here (a registry view's data triggers). */
  triggers(): Promise<readonly DataTrigger[]>
  invoke(call: EngineCall): Promise<unknown>
  waitUntil(promise: Promise<unknown>): void
}

/** A record and what is known of its origin (the namespace is the sink's). */
export interface LogToRecord {
  record: StoredLog
  origin?: Omit<LogOrigin, 'namespace'>
}

/** `log` triggers registered elsewhere reach a sink that hears no registry notices (a cron object, a front door) within this long. */
const TRIGGERS_MAX_AGE_MS = 1000

/**
 * The sink of whoever hears no registry notices (a cron object, a worker's `/otel` socket in the
 * front door): its view of the `log` triggers is at most a second old (one registry call a second
 * at most, and only while records come), and it invokes as the engine's own calls do.
 */
export function engineLogSink(env: Env, namespace: string, waitUntil: (p: Promise<unknown>) => void): LogSink {
  return {
    env,
    namespace,
    triggers: async () => (await recentView(viewCacheFor(env, namespace), TRIGGERS_MAX_AGE_MS)).dataTriggers,
    invoke: (call) => invokeFunction(env, namespace, call),
    waitUntil,
  }
}

/** Records a batch of log records: the status object and the triggers, in the background. */
export function recordLogs(sink: LogSink, logs: readonly LogToRecord[]): void {
  if (logs.length === 0) return
  const now = Date.now()
  const kept: KeptLog[] = logs.map(({ record, origin = {} }) => ({ record: bounded(record), origin, at: now }))
  // Not kept for the page then, but not lost from the Worker's log either.
  sink.waitUntil(statusStub(sink.env, sink.namespace).addLogs(sink.namespace, kept).catch(() => printLogs(sink.namespace, kept)))
  sink.waitUntil(fireLogTriggers(sink, kept))
}

async function fireLogTriggers(sink: LogSink, kept: readonly KeptLog[]): Promise<void> {
  let triggers: DataTrigger[]
  try {
    triggers = logTriggers(await sink.triggers())
  } catch {
    return // the registry could not be asked: these records reach no trigger (the Worker's log has them)
  }
  const calls: Promise<unknown>[] = []
  for (const { record } of kept) {
    for (const t of triggers) {
      if (!logTriggerTakes(t.config, record)) continue
      // One way, its result ignored, as the engine fires them; a failure is not logged as a record
      // (that record would fire the same trigger again).
      calls.push(sink.invoke({ function_id: t.function_id, data: logTriggerPayload(record), ...(t.metadata !== undefined ? { metadata: t.metadata } : {}), void: true }).catch(() => {}))
    }
  }
  await Promise.all(calls)
}

/** A record the engine writes itself (a failed cron run): `service_name` names who. */
export const engineRecord = (level: 'info' | 'warn' | 'error', message: string, service_name: string): StoredLog =>
  engineLogRecord(level, { message, service_name }, Date.now(), ENGINE_VERSION)!
