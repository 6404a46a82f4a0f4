// The SDK's telemetry socket (`<engine address>/otel`), served in the front door: no object holds
// it. Log records become records of the namespace (engine/logs.ts: the Worker's log, the page,
// `engine::logs::list`, `log` triggers); with III_OTLP_ENDPOINT set, logs, spans and metrics also
// go on to that collector as they came (the SDK's resource kept). Records wait here up to
// RECORD_BATCH_MS, so a busy worker costs its namespace's status object one call a second, and so
// the span of the handler that wrote one has time to arrive and name its function
// (docs/observability.md, "The /otel socket").

import { type LogToRecord, engineLogSink, recordLogs } from '../engine/logs'
import { OtlpExporter, otlpConfig } from '../observability/exporter'
import type { StoredLog } from '../observability/log-record'
import { RESOURCE_FIELD, type SpanLink, parseTelemetryFrame, spanLinksOf, storedLogsOf } from '../observability/otlp'
import { echoableCloseCode, isReservedCloseCode } from '../protocol/close-codes'

/** Records wait this long for more (and for their handler's span) before they are recorded. */
export const RECORD_BATCH_MS = 1000
/** …or are recorded at once past this many, or this many bytes (the lines of one call stay far under Workers Logs' 256 KB per invocation). */
const RECORD_BATCH_MAX = 200
const RECORD_BATCH_BYTES = 128 * 1024
/** Records waiting past this many are dropped (a worker sending faster than they are recorded), and counted. */
const RECORDS_HELD_MAX = 5000
/** Spans remembered to name the function of later records (the newest this many). */
const SPANS_KEPT = 2000

/** The function a span ran in: its own `execute <id>` name, or its nearest such ancestor among the spans seen. */
function functionOf(spans: Map<string, SpanLink>, spanId: string | null): string | undefined {
  for (let id = spanId, hops = 0; id && hops < 32; hops++) {
    const span = spans.get(id)
    if (!span) return undefined
    if (span.function_id) return span.function_id
    id = span.parent_span_id
  }
  return undefined
}

/** Accepts the socket (the guard and the namespace were checked by the route). */
export function serveOtelSocket(env: Env, namespace: string, waitUntil: (p: Promise<unknown>) => void): Response {
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
  server.accept()
  server.binaryType = 'arraybuffer' // workerd's default is Blob
  const config = otlpConfig(env)
  const exporter = config ? new OtlpExporter(config, waitUntil) : null
  const spans = new Map<string, SpanLink>()
  let held: StoredLog[] = []
  let heldBytes = 0
  let dropped = 0
  let timer: ReturnType<typeof setTimeout> | null = null
  const warned = new Set<string>()

  const sink = engineLogSink(env, namespace, waitUntil)

  const record = () => {
    if (timer) clearTimeout(timer)
    timer = null
    const batch: LogToRecord[] = held.map((r) => {
      const function_id = functionOf(spans, r.span_id)
      return { record: r, origin: function_id ? { function_id } : {} }
    })
    held = []
    heldBytes = 0
    recordLogs(sink, batch)
    if (dropped > 0) {
      console.warn(JSON.stringify({ log: 'otel', level: 'warn', namespace, message: `${dropped} log records dropped: the worker sent more than ${RECORDS_HELD_MAX} within ${RECORD_BATCH_MS} ms` }))
      dropped = 0
    }
  }

  const warnOnce = (why: string) => {
    if (warned.has(why)) return
    warned.add(why)
    console.warn(JSON.stringify({ log: 'otel', level: 'warn', namespace, message: `telemetry frame dropped: ${why}` }))
  }

  server.addEventListener('message', (event) => {
    // Text frames carry nothing the SDK sends; the engine ignores them too.
    if (typeof event.data === 'string') return
    const bytes = new Uint8Array(event.data as ArrayBuffer)
    const frame = parseTelemetryFrame(bytes)
    if ('error' in frame) return warnOnce(frame.error)
    const { signal, request } = frame
    if (signal === 'logs') {
      const records = storedLogsOf(request)
      const room = RECORDS_HELD_MAX - held.length
      held.push(...records.slice(0, Math.max(0, room)))
      dropped += Math.max(0, records.length - room)
      // A record's line is about its frame's size (the frame was the record's OTLP JSON).
      heldBytes += bytes.byteLength
      if (held.length >= RECORD_BATCH_MAX || heldBytes >= RECORD_BATCH_BYTES) record()
      else if (held.length > 0) timer ??= setTimeout(record, RECORD_BATCH_MS)
    } else if (signal === 'traces') {
      for (const link of spanLinksOf(request)) {
        spans.delete(link.span_id)
        spans.set(link.span_id, link)
      }
      for (const id of spans.keys()) {
        if (spans.size <= SPANS_KEPT) break
        spans.delete(id)
      }
    }
    const entries = request[RESOURCE_FIELD[signal]]
    exporter?.add(signal, Array.isArray(entries) ? entries : [], bytes.byteLength)
  })
  server.addEventListener('close', (event) => {
    record()
    exporter?.flush()
    // Answer the peer's Close ourselves (docs/platform.md).
    if (!isReservedCloseCode(event.code)) server.close(echoableCloseCode(event.code), '')
  })
  server.addEventListener('error', () => {
    record()
    exporter?.flush()
  })
  return new Response(null, { status: 101, webSocket: client })
}
