// A log record as the iii engine keeps it (`StoredLog`), wherever it came from: a worker's
// `/otel` socket (the SDK's Logger) or `engine::log::*`. And what is made of one: the Worker's log
// line, the page's entry, the `log` trigger's payload. Pure (docs/observability.md).

import { asObject } from '../protocol/json'

/** The engine's `StoredLog`, field for field (`engine::logs::list` answers these). */
export interface StoredLog {
  timestamp_unix_nano: number
  observed_timestamp_unix_nano: number
  severity_number: number
  /** As sent: the SDK's Logger sends none (`""`); `engine::log::*` records say `INFO`, `WARN`… */
  severity_text: string
  body: string
  attributes: Record<string, unknown>
  trace_id: string | null
  span_id: string | null
  resource: Record<string, string>
  service_name: string
  instrumentation_scope_name?: string
  instrumentation_scope_version?: string
}

/** What we know of a record's origin beyond the engine's fields (the Worker's log line and the page show it). */
export interface LogOrigin {
  namespace: string
  /** The worker that wrote it, when known (`engine::log::*`: the caller; `/otel`: not said by the SDK). */
  worker?: string
  /** The function it was written in, when known (`/otel`: from the SDK's `execute <function_id>` span). */
  function_id?: string
}

export const storedLogLimits = {
  /** Records taken from one `/otel` frame (the SDK sends one). */
  perFrame: 1000,
  /** A body longer than this is cut (the Worker's log keeps lines of up to 256 KB). */
  bodyChars: 32 * 1024,
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** The engine's severity numbers for `engine::log::<level>`. */
const SEVERITY: Record<LogLevel, number> = { trace: 1, debug: 5, info: 9, warn: 13, error: 17 }

/** A severity number's level, by OpenTelemetry's ranges (1–4 trace … 17–24 error; others info, as the engine prints them). */
export function levelOf(severity: number): LogLevel {
  if (severity >= 1 && severity <= 4) return 'trace'
  if (severity >= 5 && severity <= 8) return 'debug'
  if (severity >= 13 && severity <= 16) return 'warn'
  if (severity >= 17 && severity <= 24) return 'error'
  return 'info'
}

/** Nanoseconds since the epoch, as the engine stamps them (ms precision here: what a Worker's clock gives). */
export const nowNanos = (nowMs: number) => nowMs * 1_000_000

/**
 * The record of `engine::log::<level>` (`{message, data?, trace_id?, span_id?, service_name?}`),
 * as the engine makes it: attributes are `data`'s fields when it is an object, `service_name`
 * `unknown` when not given, scope `iii`. Null when there is no message.
 */
export function engineLogRecord(level: LogLevel, input: unknown, nowMs: number, version: string): StoredLog | null {
  const i = asObject(input)
  if (typeof i.message !== 'string') return null
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null)
  const data = i.data
  return {
    timestamp_unix_nano: nowNanos(nowMs),
    observed_timestamp_unix_nano: nowNanos(nowMs),
    severity_number: SEVERITY[level],
    severity_text: level.toUpperCase(),
    body: i.message,
    attributes: typeof data === 'object' && data !== null && !Array.isArray(data) ? { ...(data as Record<string, unknown>) } : {},
    trace_id: text(i.trace_id),
    span_id: text(i.span_id),
    resource: { 'service.name': 'iii', 'service.version': version },
    service_name: text(i.service_name) ?? 'unknown',
    instrumentation_scope_name: 'iii',
    instrumentation_scope_version: version,
  }
}

/** Bodies past the limit are cut, so one record cannot make a line the Worker's log refuses. */
export function bounded(record: StoredLog): StoredLog {
  if (record.body.length <= storedLogLimits.bodyChars) return record
  return { ...record, body: `${record.body.slice(0, storedLogLimits.bodyChars)}… (cut at ${storedLogLimits.bodyChars} characters)` }
}

/** The level a record counts as: its text when it has one, else its severity number's. */
export const recordLevel = (record: StoredLog): LogLevel => {
  const t = record.severity_text.toLowerCase()
  return (LOG_LEVELS as readonly string[]).includes(t) ? (t as LogLevel) : t === 'fatal' ? 'error' : levelOf(record.severity_number)
}

/**
 * The record as one JSON line of the Worker's log (`wrangler tail` and Workers Logs index its
 * fields): level, message, the worker and function it came from when known, the Logger's own
 * `service.name` (which iii apps set to the step or function name: the engine prints it as
 * `function_name`), trace and span ids, the other attributes, and the SDK's service.
 */
export function logLine(record: StoredLog, origin: LogOrigin): Record<string, unknown> {
  const { 'service.name': fn, ...attributes } = record.attributes
  return {
    log: 'iii',
    level: recordLevel(record),
    message: record.body,
    namespace: origin.namespace,
    ...(origin.worker ? { worker: origin.worker } : {}),
    ...(origin.function_id ? { function_id: origin.function_id } : {}),
    ...(typeof fn === 'string' ? { function_name: fn } : {}),
    service: record.service_name,
    ...(record.resource['service.instance.id'] ? { service_instance_id: record.resource['service.instance.id'] } : {}),
    ...(record.trace_id ? { trace_id: record.trace_id } : {}),
    ...(record.span_id ? { span_id: record.span_id } : {}),
    severity_number: record.severity_number,
    ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
    time: new Date(record.timestamp_unix_nano > 0 ? record.timestamp_unix_nano / 1e6 : Date.now()).toISOString(),
  }
}

/** The console method for a record's level (`wrangler tail` shows the level from it). */
export const consoleMethod = (level: LogLevel): 'debug' | 'info' | 'warn' | 'error' => (level === 'trace' ? 'debug' : level === 'debug' ? 'debug' : level)

/** One entry of the page's recent log. */
export interface LogEntry {
  level: LogLevel
  /** Who wrote it: the function, the worker or its service, or `cron <trigger id>`. */
  source: string
  message: string
  data?: unknown
  trace_id?: string
  span_id?: string
  at: number
}

/** A stored record as the page lists it. */
export function pageEntry(record: StoredLog, origin: Omit<LogOrigin, 'namespace'> = {}): LogEntry {
  const { 'service.name': fn, 'log.data': logData, trace_id: _t, span_id: _s, ...rest } = record.attributes
  const data = logData !== undefined ? logData : Object.keys(rest).length > 0 ? rest : undefined
  // The function, else the name the writer gave (the Logger's own, or `engine::log`'s service_name), else the worker.
  const named = record.service_name !== 'unknown' ? record.service_name : undefined
  const source = origin.function_id ?? (typeof fn === 'string' ? fn : undefined) ?? named ?? origin.worker ?? 'unknown'
  return {
    level: recordLevel(record),
    source,
    message: record.body,
    ...(data !== undefined ? { data } : {}),
    ...(record.trace_id ? { trace_id: record.trace_id } : {}),
    ...(record.span_id ? { span_id: record.span_id } : {}),
    at: record.timestamp_unix_nano > 0 ? Math.floor(record.timestamp_unix_nano / 1e6) : Date.now(),
  }
}
