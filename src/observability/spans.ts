// The spans this engine makes itself (an HTTP trigger's request, an invocation that crosses from
// one worker's session to another's), in W3C trace context and as OTLP/JSON. Pure; they are made
// only when traces are exported (III_OTLP_ENDPOINT), so without a collector an invocation costs
// nothing more (docs/observability.md, "Traces").

import { randomHex } from '../protocol/http-errors'

export interface TraceContext {
  trace_id: string
  /** The span the next one is a child of. */
  span_id: string
  flags: string
}

/** A `traceparent` header (version 00), or null when it is not one. */
export function parseTraceparent(value: string | null | undefined): TraceContext | null {
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value?.trim().toLowerCase() ?? '')
  if (!m || m[1] === 'ff' || /^0+$/.test(m[2]!) || /^0+$/.test(m[3]!)) return null
  return { trace_id: m[2]!, span_id: m[3]!, flags: m[4]! }
}

export const formatTraceparent = (c: TraceContext) => `00-${c.trace_id}-${c.span_id}-${c.flags}`

export const newTraceId = () => randomHex(16)
export const newSpanId = () => randomHex(8)

export type SpanKind = 'internal' | 'server' | 'client'
export type SpanStatus = 'unset' | 'ok' | 'error'

/** A span of ours while it runs; `end` fixes its status and closing attributes. */
export interface EngineSpan {
  trace_id: string
  span_id: string
  parent_span_id: string | null
  name: string
  kind: SpanKind
  start_ms: number
  end_ms?: number
  status?: SpanStatus
  status_message?: string
  attributes: Record<string, string | number | boolean>
}

/** A new span under `parent` (or the root of a new trace). */
export function startSpan(name: string, kind: SpanKind, parent: TraceContext | null, attributes: EngineSpan['attributes'], nowMs: number): EngineSpan {
  return { trace_id: parent?.trace_id ?? newTraceId(), span_id: newSpanId(), parent_span_id: parent?.span_id ?? null, name, kind, start_ms: nowMs, attributes }
}

/** The context a span's children carry (what goes on as `traceparent`). */
export const childContext = (span: EngineSpan, flags = '01'): TraceContext => ({ trace_id: span.trace_id, span_id: span.span_id, flags })

const KIND = { internal: 1, server: 2, client: 3 } as const
const STATUS = { unset: 0, ok: 1, error: 2 } as const

const otlpValue = (v: string | number | boolean) =>
  typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : Number.isInteger(v) ? { intValue: v } : { doubleValue: v }

/** A finished span as OTLP/JSON (times in ns as decimal strings, as the SDK sends them). */
export function otlpSpan(span: EngineSpan): Record<string, unknown> {
  const ns = (ms: number) => `${Math.round(ms * 1e6)}`
  return {
    traceId: span.trace_id,
    spanId: span.span_id,
    ...(span.parent_span_id ? { parentSpanId: span.parent_span_id } : {}),
    name: span.name,
    kind: KIND[span.kind],
    startTimeUnixNano: ns(span.start_ms),
    endTimeUnixNano: ns(span.end_ms ?? span.start_ms),
    attributes: Object.entries(span.attributes).map(([key, value]) => ({ key, value: otlpValue(value) })),
    status: { code: STATUS[span.status ?? 'unset'], ...(span.status_message ? { message: span.status_message } : {}) },
  }
}

/** The engine's own resource in what it exports (the SDK's records keep theirs). */
export function engineResource(namespace: string, version: string): Record<string, unknown> {
  return {
    attributes: [
      { key: 'service.name', value: { stringValue: 'iii' } },
      { key: 'service.version', value: { stringValue: version } },
      { key: 'iii.namespace', value: { stringValue: namespace } },
    ],
  }
}

/** Spans of one namespace as the `resourceSpans` entry of an export request. */
export const resourceSpans = (namespace: string, version: string, spans: readonly EngineSpan[]) => ({
  resource: engineResource(namespace, version),
  scopeSpans: [{ scope: { name: 'iii', version }, spans: spans.map(otlpSpan) }],
})
