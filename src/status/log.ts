// Entries of a namespace's recent log (the page), as `engine::log::*` writes them. Pure.

import { asObject } from '../protocol/json'

/** One entry of the page's recent log. */
export interface LogEntry {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error'
  /** Who wrote it: the service or worker name (or id), or `cron <trigger id>`. */
  source: string
  message: string
  data?: unknown
  trace_id?: string
  span_id?: string
  at: number
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const

/**
 * The entry for `engine::log::<level>` input `{message, data?, trace_id?, span_id?, service_name?}`
 * (other fields are ignored, as in the engine), or null when there is no message.
 */
export function logEntry(level: LogEntry['level'], data: unknown, worker: string, at: number): LogEntry | null {
  const input = asObject(data)
  if (typeof input.message !== 'string') return null
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined)
  return {
    level,
    source: text(input.service_name) ?? worker,
    message: input.message,
    ...(input.data !== undefined ? { data: input.data } : {}),
    ...(text(input.trace_id) ? { trace_id: text(input.trace_id) } : {}),
    ...(text(input.span_id) ? { span_id: text(input.span_id) } : {}),
    at,
  }
}
