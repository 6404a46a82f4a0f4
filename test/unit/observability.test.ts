// The SDK's telemetry frames read as the iii engine reads them (its StoredLog), the `log` trigger's
// level filter and payload, the records a namespace keeps for `engine::logs::list`, our own spans
// in W3C trace context, and the OTLP/HTTP exporter's batching.
import { describe, expect, it } from 'vitest'
import { OtlpExporter, otlpConfig, parseHeaders } from '../../src/observability/exporter'
import { type StoredLog, bounded, logLine, storedLogLimits } from '../../src/observability/log-record'
import { LogRing, parseLogQuery } from '../../src/observability/log-ring'
import { logTriggerPayload, logTriggerProblem, logTriggerTakes } from '../../src/observability/log-trigger'
import { anyValue, parseTelemetryFrame, spanLinksOf, storedLogsOf } from '../../src/observability/otlp'
import { formatTraceparent, otlpSpan, parseTraceparent, startSpan } from '../../src/observability/spans'

const frame = (prefix: string, payload: unknown) => new Uint8Array([...new TextEncoder().encode(prefix), ...new TextEncoder().encode(JSON.stringify(payload))])

/** What `new Logger(undefined, 'orders-service').info('Order processed', {…})` sends inside a handler (SDK 0.22.1). */
const loggerFrame = {
  resourceLogs: [
    {
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: 'iii-tests' } },
          { key: 'telemetry.sdk.language', value: { stringValue: 'nodejs' } },
          { key: 'service.instance.id', value: { stringValue: '5d0c' } },
        ],
        droppedAttributesCount: 0,
      },
      scopeLogs: [
        {
          scope: { name: 'iii-tests' },
          logRecords: [
            {
              timeUnixNano: '1718000000123000000',
              observedTimeUnixNano: '1718000000123000000',
              severityNumber: 9,
              body: { stringValue: 'Order processed' },
              attributes: [
                { key: 'trace_id', value: { stringValue: '4bf92f3577b34da6a3ce929d0e0e4736' } },
                { key: 'span_id', value: { stringValue: '00f067aa0ba902b7' } },
                { key: 'service.name', value: { stringValue: 'orders-service' } },
                {
                  key: 'log.data',
                  value: { kvlistValue: { values: [{ key: 'orderId', value: { stringValue: 'ord_123' } }, { key: 'amount', value: { doubleValue: 49.99 } }] } },
                },
              ],
              flags: 1,
              traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
              spanId: '00f067aa0ba902b7',
            },
          ],
        },
      ],
    },
  ],
}

const record = (over: Partial<StoredLog> = {}): StoredLog => ({
  timestamp_unix_nano: 1_718_000_000_123_000_000,
  observed_timestamp_unix_nano: 1_718_000_000_123_000_000,
  severity_number: 9,
  severity_text: '',
  body: 'hello',
  attributes: {},
  trace_id: null,
  span_id: null,
  resource: {},
  service_name: 'svc',
  ...over,
})

describe('telemetry frames', () => {
  it('reads the signal from the 4-byte prefix and the export request after it', () => {
    expect(parseTelemetryFrame(frame('LOGS', { resourceLogs: [] }))).toEqual({ signal: 'logs', request: { resourceLogs: [] } })
    expect(parseTelemetryFrame(frame('OTLP', {}))).toMatchObject({ signal: 'traces' })
    expect(parseTelemetryFrame(frame('MTRC', {}))).toMatchObject({ signal: 'metrics' })
  })

  it('drops what it cannot read, saying why', () => {
    expect(parseTelemetryFrame(frame('XXXX', {}))).toEqual({ error: expect.stringContaining('unknown signal') })
    expect(parseTelemetryFrame(new Uint8Array([76, 79, 71, 83, 0xff, 0xfe]))).toEqual({ error: 'payload is not UTF-8' })
    expect(parseTelemetryFrame(new TextEncoder().encode('LOGS{not json'))).toEqual({ error: 'payload is not JSON' })
    expect(parseTelemetryFrame(frame('LOGS', [1, 2]))).toEqual({ error: expect.stringContaining('not an OTLP export request') })
    expect(parseTelemetryFrame(new Uint8Array(2 << 20))).toEqual({ error: expect.stringContaining('over') })
    expect(parseTelemetryFrame(new Uint8Array(0))).toEqual({ error: expect.stringContaining('unknown signal') })
  })

  it("makes the engine's StoredLog of a Logger record: the level as a number, no severity text, the resource's service", () => {
    expect(storedLogsOf(loggerFrame)).toEqual([
      {
        timestamp_unix_nano: 1718000000123000000,
        observed_timestamp_unix_nano: 1718000000123000000,
        severity_number: 9,
        severity_text: '',
        body: 'Order processed',
        attributes: {
          trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
          span_id: '00f067aa0ba902b7',
          'service.name': 'orders-service',
          'log.data': { orderId: 'ord_123', amount: 49.99 },
        },
        trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
        span_id: '00f067aa0ba902b7',
        resource: { 'service.name': 'iii-tests', 'telemetry.sdk.language': 'nodejs', 'service.instance.id': '5d0c' },
        service_name: 'iii-tests',
        instrumentation_scope_name: 'iii-tests',
      },
    ])
  })

  it('reads every AnyValue kind as the engine does; all-zero ids and missing fields as the engine leaves them', () => {
    expect(anyValue({ intValue: '42' })).toBe(42)
    expect(anyValue({ intValue: 7 })).toBe(7)
    expect(anyValue({ boolValue: false })).toBe(false)
    expect(anyValue({ arrayValue: { values: [{ stringValue: 'a' }, { doubleValue: 1.5 }] } })).toEqual(['a', 1.5])
    expect(anyValue({})).toBeNull()
    const [r] = storedLogsOf({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ traceId: '0'.repeat(32), spanId: '0'.repeat(16), body: { kvlistValue: { values: [{ key: 'a', value: { intValue: 1 } }] } } }] }] }] })
    expect(r).toMatchObject({ trace_id: null, span_id: null, service_name: 'unknown', body: '{"a":1}', severity_number: 0, timestamp_unix_nano: 0, resource: {} })
    expect(storedLogsOf({ resourceLogs: 'nonsense' })).toEqual([])
  })

  it('takes at most a bounded number of records from one frame', () => {
    const many = { resourceLogs: [{ scopeLogs: [{ logRecords: Array.from({ length: storedLogLimits.perFrame + 5 }, () => ({ body: { stringValue: 'x' } })) }] }] }
    expect(storedLogsOf(many)).toHaveLength(storedLogLimits.perFrame)
  })

  it('finds the function a span ran in from the SDK\'s `execute <function_id>` spans', () => {
    const spans = { resourceSpans: [{ scopeSpans: [{ spans: [
      { spanId: 'aaaaaaaaaaaaaaaa', parentSpanId: 'bbbbbbbbbbbbbbbb', name: 'execute orders::create' },
      { spanId: 'cccccccccccccccc', parentSpanId: 'aaaaaaaaaaaaaaaa', name: 'db query' },
      { name: 'no id' },
    ] }] }] }
    expect(spanLinksOf(spans)).toEqual([
      { span_id: 'aaaaaaaaaaaaaaaa', parent_span_id: 'bbbbbbbbbbbbbbbb', function_id: 'orders::create' },
      { span_id: 'cccccccccccccccc', parent_span_id: 'aaaaaaaaaaaaaaaa', function_id: null },
    ])
  })
})

describe('the Worker log line', () => {
  it('carries level, message, origin, the Logger\'s function name, ids and the other attributes', () => {
    const [r] = storedLogsOf(loggerFrame)
    expect(logLine(r!, { namespace: 'team-a', function_id: 'orders::create' })).toEqual({
      log: 'iii',
      level: 'info',
      message: 'Order processed',
      namespace: 'team-a',
      function_id: 'orders::create',
      function_name: 'orders-service',
      service: 'iii-tests',
      service_instance_id: '5d0c',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      span_id: '00f067aa0ba902b7',
      severity_number: 9,
      attributes: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7', 'log.data': { orderId: 'ord_123', amount: 49.99 } },
      time: '2024-06-10T06:13:20.123Z',
    })
  })

  it('cuts a body past the limit, so one record cannot make a line the log refuses', () => {
    const long = bounded(record({ body: 'x'.repeat(storedLogLimits.bodyChars + 10) }))
    expect(long.body.length).toBeLessThan(storedLogLimits.bodyChars + 100)
    expect(long.body).toContain('cut at')
  })
})

describe('the log trigger', () => {
  it('level is an exact match (not a minimum); absent or all takes every record; the SDK\'s records count by their number', () => {
    const error = record({ severity_number: 17 })
    const warnText = record({ severity_number: 13, severity_text: 'WARN' })
    expect(logTriggerTakes({}, error)).toBe(true)
    expect(logTriggerTakes({ level: 'all' }, warnText)).toBe(true)
    expect(logTriggerTakes({ level: 'error' }, error)).toBe(true)
    expect(logTriggerTakes({ level: 'ERROR' }, error)).toBe(true)
    expect(logTriggerTakes({ level: 'error' }, warnText)).toBe(false) // the engine's own case: ("error", "warn") → false
    expect(logTriggerTakes({ level: 'info' }, record({ severity_number: 5 }))).toBe(false) // ("info", "debug") → false
    expect(logTriggerTakes({ level: 'warn' }, warnText)).toBe(true)
  })

  it('refuses a level of the wrong type at registration', () => {
    expect(logTriggerProblem({ level: 3 })).toContain('`level`')
    expect(logTriggerProblem({ level: 'info' })).toBeNull()
    expect(logTriggerProblem(undefined)).toBeNull()
  })

  it('sends the stored record, every field, nulls kept', () => {
    expect(logTriggerPayload(record())).toEqual({
      timestamp_unix_nano: 1_718_000_000_123_000_000,
      observed_timestamp_unix_nano: 1_718_000_000_123_000_000,
      severity_number: 9,
      severity_text: '',
      body: 'hello',
      attributes: {},
      trace_id: null,
      span_id: null,
      resource: {},
      service_name: 'svc',
      instrumentation_scope_name: null,
      instrumentation_scope_version: null,
    })
  })
})

describe('the records a namespace keeps (engine::logs::list)', () => {
  const at = (ms: number, over: Partial<StoredLog> = {}) => ({ record: record({ timestamp_unix_nano: ms * 1e6, ...over }), origin: {}, at: ms })

  it('lists newest first with the engine\'s filters, then offset and limit; total counts before paging', () => {
    const ring = new LogRing()
    ring.add([at(1000, { body: 'a', trace_id: 't1' }), at(2000, { body: 'b', severity_number: 17, severity_text: 'ERROR' }), at(3000, { body: 'c', trace_id: 't1', span_id: 's1' })], 4000)
    const bodies = (q: Parameters<LogRing['query']>[0]) => ring.query(q, 4000).logs.map((l) => l.body)
    expect(bodies({})).toEqual(['c', 'b', 'a'])
    expect(bodies({ trace_id: 't1' })).toEqual(['c', 'a'])
    expect(bodies({ span_id: 's1' })).toEqual(['c'])
    expect(bodies({ severity_min: 10 })).toEqual(['b'])
    expect(bodies({ severity_text: 'error' })).toEqual(['b'])
    expect(bodies({ start_time: 1500, end_time: 2500 })).toEqual(['b'])
    expect(ring.query({ offset: 1, limit: 1 }, 4000)).toEqual({ logs: [expect.objectContaining({ body: 'b' })], total: 3 })
    ring.clear()
    expect(ring.query({}, 4000)).toEqual({ logs: [], total: 0 })
  })

  it('keeps the newest 1,000, and none older than an hour', () => {
    const ring = new LogRing()
    ring.add(Array.from({ length: 1005 }, (_, i) => at(10_000 + i, { body: String(i) })), 20_000)
    expect(ring.size).toBe(1000)
    expect(ring.newest(1, 20_000)[0]!.record.body).toBe('1004')
    expect(ring.query({}, 10_000 + 3600_000 + 500).total).toBe(505)
  })

  it('parses its input, refusing fields of the wrong type with the engine\'s code', () => {
    expect(parseLogQuery({ trace_id: 't', limit: 5, severity_min: -1, extra: true })).toEqual({ trace_id: 't', limit: 5, severity_min: -1 })
    expect(() => parseLogQuery({ limit: 'ten' })).toThrow(expect.objectContaining({ code: 'deserialization_error' }))
    expect(() => parseLogQuery({ offset: -1 })).toThrow(/offset/)
    expect(() => parseLogQuery({ trace_id: 5 })).toThrow(/trace_id/)
    expect(parseLogQuery(null)).toEqual({})
  })
})

describe('our spans', () => {
  it('reads and writes W3C traceparent, refusing invalid ones', () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    expect(parseTraceparent(tp)).toEqual({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7', flags: '01' })
    expect(formatTraceparent(parseTraceparent(tp)!)).toBe(tp)
    for (const bad of [undefined, '', 'tp', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`, `ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`]) {
      expect(parseTraceparent(bad)).toBeNull()
    }
  })

  it('a child keeps the trace; a root starts one; OTLP/JSON with ns times, kind and status', () => {
    const parent = parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
    const span = startSpan('GET /orders', 'server', parent, { 'http.route': '/orders', n: 2 }, 1000)
    expect(span).toMatchObject({ trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', parent_span_id: '00f067aa0ba902b7' })
    expect(span.span_id).toMatch(/^[0-9a-f]{16}$/)
    expect(startSpan('x', 'internal', null, {}, 0).trace_id).toMatch(/^[0-9a-f]{32}$/)
    expect(otlpSpan({ ...span, end_ms: 1002.5, status: 'error', status_message: 'boom' })).toEqual({
      traceId: span.trace_id,
      spanId: span.span_id,
      parentSpanId: '00f067aa0ba902b7',
      name: 'GET /orders',
      kind: 2,
      startTimeUnixNano: '1000000000',
      endTimeUnixNano: '1002500000',
      attributes: [
        { key: 'http.route', value: { stringValue: '/orders' } },
        { key: 'n', value: { intValue: 2 } },
      ],
      status: { code: 2, message: 'boom' },
    })
  })
})

describe('the OTLP/HTTP exporter', () => {
  it('reads the endpoint and the headers secret; refuses what is not an http(s) URL', () => {
    expect(otlpConfig({})).toBeNull()
    expect(otlpConfig({ III_OTLP_ENDPOINT: 'ftp://x' })).toBeNull()
    expect(otlpConfig({ III_OTLP_ENDPOINT: 'not a url' })).toBeNull()
    expect(otlpConfig({ III_OTLP_ENDPOINT: 'https://otlp.example/otlp/', III_OTLP_HEADERS: 'Authorization=Basic%20abc,x-team=a' })).toEqual({
      endpoint: 'https://otlp.example/otlp',
      headers: [['Authorization', 'Basic abc'], ['x-team', 'a']],
    })
    expect(otlpConfig({ III_OTLP_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' })?.endpoint).toBe('http://127.0.0.1:4318')
    expect(parseHeaders('=x,bad name=1,ok=%ZZ,good=1,inject=a%0Db')).toEqual([['good', '1']])
  })

  it('sends one request per signal per batch, merged, with its headers; a failure is counted, not thrown', async () => {
    const sent: { url: string; body: any; auth: string | null }[] = []
    let fail = false
    const send = (async (url: string, init: RequestInit) => {
      sent.push({ url, body: JSON.parse(init.body as string), auth: new Headers(init.headers).get('authorization') })
      return new Response(null, { status: fail ? 503 : 200 })
    }) as typeof fetch
    const waits: Promise<unknown>[] = []
    const exporter = new OtlpExporter({ endpoint: 'http://collector', headers: [['authorization', 'Bearer k']] }, (p) => waits.push(p), send)
    exporter.add('logs', [{ a: 1 }])
    exporter.add('logs', [{ a: 2 }])
    exporter.add('metrics', [{ m: 1 }])
    exporter.addSpan('ns', startSpan('call x', 'server', null, {}, 0))
    expect(sent).toEqual([]) // batched: nothing left yet
    exporter.flush()
    await Promise.all(waits)
    expect(sent.map((s) => s.url).sort()).toEqual(['http://collector/v1/logs', 'http://collector/v1/metrics', 'http://collector/v1/traces'])
    expect(sent.find((s) => s.url.endsWith('logs'))!.body).toEqual({ resourceLogs: [{ a: 1 }, { a: 2 }] })
    expect(sent.find((s) => s.url.endsWith('traces'))!.body.resourceSpans[0].scopeSpans[0].spans[0].name).toBe('call x')
    expect(sent.every((s) => s.auth === 'Bearer k')).toBe(true)
    expect(exporter.counts).toEqual({ sent: 3, failed: 0 })
    fail = true
    exporter.add('logs', [{ a: 3 }])
    exporter.flush()
    await Promise.all(waits)
    expect(exporter.counts.failed).toBe(1)
  })
})
