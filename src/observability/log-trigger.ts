// The engine's `log` trigger type: a function subscribed to log records, with a level filter.
// Pure: which records a trigger's config takes, and the payload it gets (docs/engine-compat.md,
// "Logs").

import { asObject } from '../protocol/json'
import { type StoredLog, recordLevel } from './log-record'

export const LOG_TRIGGER = 'log'

/** Why the engine would refuse a `log` trigger's config (`{level?}`), or null. */
export function logTriggerProblem(config: unknown): string | null {
  const level = asObject(config).level
  return level === undefined || level === null || typeof level === 'string' ? null : 'Failed to parse trigger config: invalid type for `level`, expected a string'
}

/**
 * Does a trigger with this config take the record? As the engine's code does it, `level` is an
 * exact match, not a minimum (`all` or absent takes every record); unlike the engine, a record
 * without a severity text (the SDK's Logger sends none) counts as its severity number's level, so
 * `level: "error"` takes `logger.error(…)` (the engine would give it only to `all`), and the level
 * is compared without regard to case.
 */
export function logTriggerTakes(config: unknown, record: StoredLog): boolean {
  const level = asObject(config).level
  if (typeof level !== 'string' || level.toLowerCase() === 'all') return true
  return level.toLowerCase() === recordLevel(record)
}

/** What the function of a `log` trigger gets: the stored record, every field (nulls kept), as the engine sends it. */
export function logTriggerPayload(record: StoredLog): Record<string, unknown> {
  return {
    timestamp_unix_nano: record.timestamp_unix_nano,
    observed_timestamp_unix_nano: record.observed_timestamp_unix_nano,
    severity_number: record.severity_number,
    severity_text: record.severity_text,
    body: record.body,
    attributes: record.attributes,
    trace_id: record.trace_id,
    span_id: record.span_id,
    resource: record.resource,
    service_name: record.service_name,
    instrumentation_scope_name: record.instrumentation_scope_name ?? null,
    instrumentation_scope_version: record.instrumentation_scope_version ?? null,
  }
}
