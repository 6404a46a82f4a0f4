// The SDK's telemetry frames, as they arrive on its `/otel` socket: a 4-byte signal prefix
// (`LOGS`, `OTLP` for spans, `MTRC` for metrics) and the OTLP/JSON export request of that signal
// (docs/observability.md, "The /otel socket"). Pure: parsed once here into typed values or a clear
// reason; nothing downstream reads raw OTLP JSON.

import { asObject } from '../protocol/json'
import { type StoredLog, storedLogLimits } from './log-record'

export type Signal = 'logs' | 'traces' | 'metrics'

const PREFIXES: Record<string, Signal> = { LOGS: 'logs', OTLP: 'traces', MTRC: 'metrics' }

/** The field of a signal's export request that holds its entries, one per resource. */
export const RESOURCE_FIELD: Record<Signal, string> = { logs: 'resourceLogs', traces: 'resourceSpans', metrics: 'resourceMetrics' }

/** A frame larger than this is refused (the SDK sends one log record, or one batch of spans, per frame). */
export const MAX_TELEMETRY_FRAME_BYTES = 1 << 20

export type TelemetryFrame = { signal: Signal; request: Record<string, unknown> } | { error: string }

/** A binary frame of the `/otel` socket: its signal and its export request, or why it is dropped. */
export function parseTelemetryFrame(bytes: Uint8Array): TelemetryFrame {
  if (bytes.byteLength > MAX_TELEMETRY_FRAME_BYTES) return { error: `frame of ${bytes.byteLength} bytes is over ${MAX_TELEMETRY_FRAME_BYTES}` }
  const signal = PREFIXES[String.fromCharCode(...bytes.subarray(0, 4))]
  if (!signal) return { error: `unknown signal prefix (expected LOGS, OTLP or MTRC): ${JSON.stringify(String.fromCharCode(...bytes.subarray(0, 4)))}` }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes.subarray(4))
  } catch {
    return { error: 'payload is not UTF-8' }
  }
  let request: unknown
  try {
    request = JSON.parse(text)
  } catch {
    return { error: 'payload is not JSON' }
  }
  if (typeof request !== 'object' || request === null || Array.isArray(request)) return { error: 'payload is not an OTLP export request' }
  return { signal, request: request as Record<string, unknown> }
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])

/** An OTLP AnyValue as plain JSON, as the engine reads it (int64 may come as a decimal string). */
export function anyValue(value: unknown): unknown {
  const v = asObject(value)
  if (typeof v.stringValue === 'string') return v.stringValue
  if (v.intValue !== undefined) {
    const n = typeof v.intValue === 'string' ? Number(v.intValue) : v.intValue
    return typeof n === 'number' && Number.isFinite(n) ? n : null
  }
  if (v.doubleValue !== undefined) return typeof v.doubleValue === 'number' && Number.isFinite(v.doubleValue) ? v.doubleValue : 0
  if (typeof v.boolValue === 'boolean') return v.boolValue
  if (v.kvlistValue !== undefined) return attributes(asObject(v.kvlistValue).values)
  if (v.arrayValue !== undefined) return list(asObject(v.arrayValue).values).map(anyValue)
  return null
}

/** OTLP key-values as an object (later keys win, as a map would). */
export function attributes(kvs: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const kv of list(kvs)) {
    const { key, value } = asObject(kv)
    if (typeof key === 'string') out[key] = anyValue(value)
  }
  return out
}

/** A body as the engine stores it: primitives as text, structures as their JSON. */
function bodyText(body: unknown): string {
  const v = anyValue(body)
  if (v === null || v === undefined) return ''
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v)
}

/** Nanoseconds since the epoch, from a decimal string or a number (0 when absent or not a number). */
function nanos(v: unknown): number {
  const n = typeof v === 'string' ? Number(v) : v
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : 0
}

/** A trace or span id, unless it is empty or all zeros (the engine drops those). */
const hexId = (v: unknown): string | null => (typeof v === 'string' && v !== '' && !/^0+$/.test(v) ? v : null)

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)

/**
 * The log records of an `ExportLogsServiceRequest`, as the engine stores them (its `StoredLog`):
 * resource attributes as text, `service_name` from the resource (`unknown` without one), ids
 * dropped when all zeros, `severity_text` as sent (the SDK's Logger sends none). At most `max`.
 */
export function storedLogsOf(request: Record<string, unknown>, max = storedLogLimits.perFrame): StoredLog[] {
  const out: StoredLog[] = []
  for (const rl of list(request.resourceLogs)) {
    const resource = Object.fromEntries(Object.entries(attributes(asObject(asObject(rl).resource).attributes)).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]))
    const service_name = resource['service.name'] ?? 'unknown'
    for (const sl of list(asObject(rl).scopeLogs)) {
      const scope = asObject(asObject(sl).scope)
      for (const lr of list(asObject(sl).logRecords)) {
        if (out.length >= max) return out
        const r = asObject(lr)
        out.push({
          timestamp_unix_nano: nanos(r.timeUnixNano),
          observed_timestamp_unix_nano: nanos(r.observedTimeUnixNano),
          severity_number: typeof r.severityNumber === 'number' && Number.isInteger(r.severityNumber) ? r.severityNumber : 0,
          severity_text: typeof r.severityText === 'string' ? r.severityText : '',
          body: bodyText(r.body),
          attributes: attributes(r.attributes),
          trace_id: hexId(r.traceId),
          span_id: hexId(r.spanId),
          resource,
          service_name,
          ...(text(scope.name) ? { instrumentation_scope_name: text(scope.name) } : {}),
          ...(text(scope.version) ? { instrumentation_scope_version: text(scope.version) } : {}),
        })
      }
    }
  }
  return out
}

/** What a span tells about where a log record was written: its function (`execute <id>`), or its parent. */
export interface SpanLink {
  span_id: string
  parent_span_id: string | null
  function_id: string | null
}

/**
 * The spans of an `ExportTraceServiceRequest`, reduced to what ties a log record to its function:
 * the SDK runs every handler in a span named `execute <function_id>`, and a record written inside
 * it (or inside a span under it) carries that span's id.
 */
export function spanLinksOf(request: Record<string, unknown>): SpanLink[] {
  const out: SpanLink[] = []
  for (const rs of list(request.resourceSpans)) {
    for (const ss of list(asObject(rs).scopeSpans)) {
      for (const s of list(asObject(ss).spans)) {
        const span = asObject(s)
        const span_id = hexId(span.spanId)
        if (!span_id) continue
        const name = typeof span.name === 'string' ? span.name : ''
        out.push({ span_id, parent_span_id: hexId(span.parentSpanId), function_id: name.startsWith('execute ') ? name.slice(8) : null })
      }
    }
  }
  return out
}
