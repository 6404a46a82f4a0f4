// The records a namespace keeps for `engine::logs::list` and the page: the newest 1,000, none
// older than an hour, as the engine's in-memory log storage (its defaults `logs_max_count` and
// `logs_retention_seconds`). Pure; the namespace's status object holds one in memory
// (docs/observability.md, "Where records live").

import { EngineError } from '../protocol/outcome'
import { asObject } from '../protocol/json'
import { type LogOrigin, type StoredLog, consoleMethod, logLine, recordLevel } from './log-record'

export const LOG_RING_CAPACITY = 1000
export const LOG_RETENTION_MS = 3600 * 1000

/** A record and what we know of where it came from. */
export interface KeptLog {
  record: StoredLog
  origin: Omit<LogOrigin, 'namespace'>
  /** When it arrived here (retention counts from its own time, or this when it has none). */
  at: number
}

/** Prints each record as its JSON line in the Worker's log, with the console method of its level. */
export function printLogs(namespace: string, logs: readonly KeptLog[]): void {
  for (const { record, origin } of logs) console[consoleMethod(recordLevel(record))](JSON.stringify(logLine(record, { namespace, ...origin })))
}

export interface LogQuery {
  start_time?: number
  end_time?: number
  trace_id?: string
  span_id?: string
  severity_min?: number
  severity_text?: string
  offset?: number
  limit?: number
}

const FUNCTION = 'engine::logs::list'

/** `engine::logs::list`'s input, with the engine's error for a field of the wrong type. */
export function parseLogQuery(input: unknown): LogQuery {
  const i = asObject(input)
  const query: LogQuery = {}
  const bad = (field: string, expected: string) =>
    new EngineError('deserialization_error', `Failed to deserialize input for ${FUNCTION}: invalid type for \`${field}\`, expected ${expected}`)
  for (const field of ['start_time', 'end_time', 'offset', 'limit'] as const) {
    const v = i[field]
    if (v === undefined || v === null) continue
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(field, 'a non-negative integer')
    query[field] = v
  }
  if (i.severity_min !== undefined && i.severity_min !== null) {
    if (typeof i.severity_min !== 'number' || !Number.isInteger(i.severity_min)) throw bad('severity_min', 'an integer')
    query.severity_min = i.severity_min
  }
  for (const field of ['trace_id', 'span_id', 'severity_text'] as const) {
    const v = i[field]
    if (v === undefined || v === null) continue
    if (typeof v !== 'string') throw bad(field, 'a string')
    query[field] = v
  }
  return query
}

const timeOf = (kept: KeptLog) => (kept.record.timestamp_unix_nano > 0 ? kept.record.timestamp_unix_nano / 1e6 : kept.at)

export class LogRing {
  #logs: KeptLog[] = []

  constructor(
    private readonly capacity = LOG_RING_CAPACITY,
    private readonly retentionMs = LOG_RETENTION_MS,
  ) {}

  get size(): number {
    return this.#logs.length
  }

  /** Adds records in arrival order; the oldest go past the capacity. */
  add(logs: readonly KeptLog[], now: number): void {
    this.#logs.push(...logs)
    this.#expire(now)
  }

  clear(): void {
    this.#logs = []
  }

  /** The newest `n`, newest first (the page). */
  newest(n: number, now: number): KeptLog[] {
    this.#expire(now)
    return this.#logs.slice(-n).reverse()
  }

  /** `engine::logs::list`: filtered, newest first, then `offset` and `limit`; `total` counts before paging. */
  query(q: LogQuery, now: number): { logs: StoredLog[]; total: number } {
    this.#expire(now)
    const text = q.severity_text?.toLowerCase()
    const found = this.#logs
      .filter(({ record }) => {
        if (q.trace_id !== undefined && record.trace_id !== q.trace_id) return false
        if (q.span_id !== undefined && record.span_id !== q.span_id) return false
        if (q.severity_min !== undefined && record.severity_number < q.severity_min) return false
        if (text !== undefined && record.severity_text.toLowerCase() !== text) return false
        const ns = record.timestamp_unix_nano
        if (q.start_time !== undefined && ns < q.start_time * 1e6) return false
        if (q.end_time !== undefined && ns > q.end_time * 1e6) return false
        return true
      })
      .reverse()
    const from = q.offset ?? 0
    const page = q.limit === undefined ? found.slice(from) : found.slice(from, from + q.limit)
    return { logs: page.map((k) => k.record), total: found.length }
  }

  #expire(now: number): void {
    if (this.#logs.length > this.capacity) this.#logs.splice(0, this.#logs.length - this.capacity)
    const oldest = now - this.retentionMs
    let drop = 0
    while (drop < this.#logs.length && timeOf(this.#logs[drop]!) < oldest) drop++
    if (drop > 0) this.#logs.splice(0, drop)
  }
}
