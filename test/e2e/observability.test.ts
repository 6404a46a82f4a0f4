// What an app's operator sees (issue 25), with the real iii-sdk and its OpenTelemetry left on, as
// apps run it: a Logger record reaches the Worker's log as one JSON line, the page's log,
// `engine::logs::list` and `log` triggers; with III_OTLP_ENDPOINT, logs and spans reach a collector
// (a local HTTP server here) in one trace across two worker processes and the edge's own spans;
// HTTP results are mapped as the engine maps them, at once; every 5xx carries an error_id that its
// log line carries too.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Logger } from '@iii-dev/helpers/observability'
import { registerWorker } from 'iii-sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { type Iii, sdkSuite } from './support/sdk'
import { until } from './support/wait'
import { type WranglerDev, startWrangler } from './support/wrangler'

// III_HTTP_TIMEOUT_MS below the old 3 s wait for a response writer: an answer that still waited
// for one would be a 504 here, never a 200.
const suite = sdkSuite({ logLevel: 'info', vars: { III_HTTP_TIMEOUT_MS: '2000' } })
const { worker } = suite

/** The Worker log lines (JSON) wrangler printed so far. */
const workerLogLines = (dev: WranglerDev): Record<string, any>[] =>
  dev
    .output()
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .flatMap((line) => {
      const at = line.indexOf('{"log":')
      if (at < 0) return []
      try {
        return [JSON.parse(line.slice(at))]
      } catch {
        return []
      }
    })

describe('a Logger record, as apps write them', () => {
  let writer: Iii
  beforeAll(() => {
    // One worker with OpenTelemetry on: the SDK's telemetry state is one per process.
    writer = registerWorker(suite.dev.wsUrl, { workerName: 'obs-writer', otel: { enabled: true, serviceName: 'obs-writer' } })
    writer.registerFunction('obs::work', async () => {
      new Logger().info('order placed', { order: 7 })
      new Logger(undefined, 'payments').error('payment failed', { code: 'card_declined' })
      return { ok: true }
    })
  })
  afterAll(() => writer.shutdown())

  it('reaches the Worker log, the page, engine::logs::list and log triggers, with its fields', async () => {
    const listener = worker('obs-listener')
    const gotError: any[] = []
    const gotAll: any[] = []
    listener.registerFunction('obs::on-error', async (record: any) => void gotError.push(record))
    listener.registerFunction('obs::on-all', async (record: any) => void gotAll.push(record))
    listener.registerTrigger({ type: 'log', function_id: 'obs::on-error', config: { level: 'error' } })
    listener.registerTrigger({ type: 'log', function_id: 'obs::on-all', config: {} })
    await until('obs::work registered', async () => {
      const fns = (await listener.trigger<unknown, { functions: { function_id: string }[] }>({ function_id: 'engine::functions::list', payload: {} })).functions
      return fns.some((f) => f.function_id === 'obs::work')
    })
    // The triggers reach the /otel socket's view within a second; call until a record reaches one.
    await until('a log trigger fired', async () => {
      await listener.trigger({ function_id: 'obs::work', payload: {} })
      return gotAll.some((r) => r.body === 'order placed')
    }, 20_000, 500)

    // The `log` trigger gets the engine's record, every field; `level: "error"` takes the error only.
    await until('the error record reached the error trigger', () => gotError.some((r) => r.body === 'payment failed'))
    const error = gotError.find((r) => r.body === 'payment failed')
    expect(error).toMatchObject({
      severity_number: 17,
      severity_text: '',
      attributes: { 'service.name': 'payments', 'log.data': { code: 'card_declined' } },
      service_name: 'obs-writer',
      resource: { 'service.name': 'obs-writer' },
      instrumentation_scope_version: null,
    })
    expect(error.trace_id).toMatch(/^[0-9a-f]{32}$/)
    expect(error.span_id).toMatch(/^[0-9a-f]{16}$/)
    expect(gotError.some((r) => r.body === 'order placed')).toBe(false)

    // One JSON line in the Worker's log, naming the function it was written in (from the SDK's span).
    const line = await until('the Worker log line', () => workerLogLines(suite.dev).find((l) => l.log === 'iii' && l.message === 'order placed'))
    expect(line).toMatchObject({ level: 'info', namespace: '', function_id: 'obs::work', service: 'obs-writer', attributes: { 'log.data': { order: 7 } } })
    expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/)

    // The page's recent log.
    const status = await (await fetch(`${suite.dev.baseUrl}/api/status`)).json()
    expect(status.log).toEqual(expect.arrayContaining([expect.objectContaining({ level: 'info', source: 'obs::work', message: 'order placed', data: { order: 7 } })]))
    // Named after the function it was written in (the Logger's own name, `payments`, is in the line's function_name).
    expect(status.log).toEqual(expect.arrayContaining([expect.objectContaining({ level: 'error', source: 'obs::work', message: 'payment failed' })]))

    // engine::logs::list, with the engine's filters.
    const listed = await listener.trigger<unknown, { logs: any[]; total: number; query: Record<string, unknown> }>({
      function_id: 'engine::logs::list',
      payload: { trace_id: error.trace_id },
    })
    expect(listed.logs.map((l) => l.body)).toEqual(expect.arrayContaining(['payment failed', 'order placed']))
    expect(listed.logs.every((l) => l.trace_id === error.trace_id)).toBe(true)
    expect(listed.query).toMatchObject({ trace_id: error.trace_id, limit: null })
    const errors = await listener.trigger<unknown, { logs: any[] }>({ function_id: 'engine::logs::list', payload: { severity_min: 17, limit: 1 } })
    expect(errors.logs).toHaveLength(1)
    expect(errors.logs[0].severity_number).toBeGreaterThanOrEqual(17)
    await expect(listener.trigger({ function_id: 'engine::logs::list', payload: { limit: 'ten' } })).rejects.toMatchObject({ code: 'deserialization_error' })
  })

  it('engine::log::* records go the same way, and a log trigger gets them by their level', async () => {
    const w = worker('obs-engine-log')
    const got: any[] = []
    w.registerFunction('obs::on-warn', async (record: any) => void got.push(record))
    w.registerTrigger({ type: 'log', function_id: 'obs::on-warn', config: { level: 'warn' } })
    // The SDK may send a queued call before it tells its name: wait until the engine knows it.
    await until('the worker named', async () =>
      (await w.trigger<unknown, { workers: { name: string }[] }>({ function_id: 'engine::workers::list', payload: {} })).workers.some((x) => x.name === 'obs-engine-log'),
    )
    await until('a warn record reached the trigger', async () => {
      await w.trigger({ function_id: 'engine::log::warn', payload: { message: 'disk almost full', data: { free: 3 } } })
      return got.some((r) => r.body === 'disk almost full')
    }, 10_000, 300)
    expect(got.find((r) => r.body === 'disk almost full')).toMatchObject({ severity_number: 13, severity_text: 'WARN', attributes: { free: 3 }, service_name: 'unknown' })
    await expect(w.trigger({ function_id: 'engine::log::info', payload: { text: 'no message' } })).rejects.toMatchObject({ code: 'deserialization_error' })
    expect(workerLogLines(suite.dev).find((l) => l.message === 'disk almost full')).toMatchObject({ level: 'warn', worker: 'obs-engine-log' })
  })
})

describe('the /otel socket under attack', () => {
  it('drops frames it cannot read, keeps the socket open, and still takes the next good record', async () => {
    const ws = new WebSocket(`${suite.dev.wsUrl}/otel`)
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)))
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)))
    const enc = (text: string) => Buffer.from(text)
    const marker = `after the garbage ${Date.now()}`
    const good = { resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'attacker' } }] }, scopeLogs: [{ logRecords: [{ severityNumber: 13, body: { stringValue: marker } }] }] }] }
    for (const frame of [
      'a text frame',
      randomBytes(64),
      enc('LOGS{not json'),
      enc('LOGS[1,2,3]'),
      enc('XXXX{}'),
      Buffer.concat([enc('LOGS'), Buffer.from([0xff, 0xfe, 0xfd])]),
      enc(`LOGS${JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { kvlistValue: { values: 'nope' } }, attributes: 7, severityNumber: 'high' }] }] }] })}`),
      Buffer.concat([enc('LOGS'), Buffer.alloc(1_100_000, 0x20)]), // over the 1 MiB a frame may have
      enc(`LOGS${JSON.stringify(good)}`),
    ]) {
      ws.send(frame)
    }
    const status = async () => (await (await fetch(`${suite.dev.baseUrl}/api/status`)).json()).log as { message: string; level: string; source: string }[]
    const entry = await until('the good record on the page', async () => (await status()).find((e) => e.message === marker))
    expect(entry).toMatchObject({ level: 'warn', source: 'attacker' })
    expect(ws.readyState).toBe(WebSocket.OPEN)
    ws.close(1000)
    expect(await closed).toBe(1000)
  })
})

describe('HTTP results, mapped as the engine maps them', () => {
  it('answers any result at once: status 200, body {} and JSON by default; header lines; its own content type', async () => {
    const w = worker('obs-http')
    w.registerFunction('results::plain', async () => ({ ok: true }))
    w.registerFunction('results::lines', async () => ({ status_code: 201, headers: ['X-Order: 7', 'no-colon'], body: 'raw' }))
    w.registerFunction('results::text', async () => ({ headers: { 'content-type': 'text/plain' }, body: 'plain words' }))
    w.registerFunction('results::fails', async () => {
      throw new Error('database on fire')
    })
    for (const [fn, path] of [['results::plain', 'r/plain'], ['results::lines', 'r/lines'], ['results::text', 'r/text'], ['results::fails', 'r/fails']]) {
      w.registerTrigger({ type: 'http', function_id: fn!, config: { api_path: path, http_method: 'GET' } })
    }
    await until('routes registered', async () => (await fetch(`${suite.dev.baseUrl}/r/fails`)).status !== 404)

    const plain = await fetch(`${suite.dev.baseUrl}/r/plain`)
    expect(plain.status).toBe(200)
    expect(plain.headers.get('content-type')).toBe('application/json')
    expect(await plain.json()).toEqual({})
    const lines = await fetch(`${suite.dev.baseUrl}/r/lines`)
    expect(lines.status).toBe(201)
    expect(lines.headers.get('x-order')).toBe('7')
    expect(await lines.text()).toBe('"raw"')
    const text = await fetch(`${suite.dev.baseUrl}/r/text`)
    expect(text.headers.get('content-type')).toBe('text/plain')
    expect(await text.text()).toBe('plain words')

    // A 5xx carries the id of the log line that says what happened.
    const failed = await fetch(`${suite.dev.baseUrl}/r/fails`)
    expect(failed.status).toBe(500)
    const body = await failed.json()
    expect(body.error).toMatchObject({ code: 'invocation_failed', message: 'database on fire', error_id: expect.stringMatching(/^[0-9a-f]{12}$/) })
    const logged = await until('the error line', () => workerLogLines(suite.dev).find((l) => l.error_id === body.error.error_id))
    expect(logged).toMatchObject({ log: 'http_error', status: 500, code: 'invocation_failed', method: 'GET', path: '/r/fails', function_id: 'results::fails' })
  })
})

describe('with III_OTLP_ENDPOINT: a collector gets logs and spans, one trace across workers and the edge', () => {
  const received: { path: string; body: any }[] = []
  const collector = createServer((req, res) => {
    let data = ''
    req.on('data', (c) => (data += c))
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(data || '{}') })
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  let dev: WranglerDev
  const children: ChildProcess[] = []

  beforeAll(async () => {
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r))
    const port = (collector.address() as AddressInfo).port
    dev = await startWrangler({ copy: true, vars: { III_OTLP_ENDPOINT: `http://127.0.0.1:${port}` } })
  })
  afterAll(async () => {
    for (const c of children) c.kill('SIGTERM')
    await dev?.stop()
    collector.close()
  })

  /** A worker process of its own (OpenTelemetry on), ready once it said so. */
  async function startWorker(role: 'front' | 'back'): Promise<void> {
    const child = spawn(join(import.meta.dirname, '../../node_modules/.bin/node'), [join(import.meta.dirname, 'fixtures/otel-worker.mjs'), dev.wsUrl, role], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    children.push(child)
    let out = ''
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    await until(`${role} worker ready`, () => out.includes('READY'), 30_000)
  }

  const spans = () =>
    received
      .filter((r) => r.path === '/v1/traces')
      .flatMap((r) =>
        (r.body.resourceSpans ?? []).flatMap((rs: any) => {
          const service = rs.resource?.attributes?.find((a: any) => a.key === 'service.name')?.value?.stringValue
          return (rs.scopeSpans ?? []).flatMap((ss: any) => (ss.spans ?? []).map((s: any) => ({ ...s, service })))
        }),
      )

  it('an HTTP request with a traceparent: the edge span, the front worker, the hop, the back worker and its log share one trace', async () => {
    await startWorker('back')
    await startWorker('front')
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const clientSpan = '00f067aa0ba902b7'
    await until('GET /traced served', async () => (await fetch(`${dev.baseUrl}/traced`)).status === 200, 30_000, 300)
    const res = await fetch(`${dev.baseUrl}/traced`, { headers: { traceparent: `00-${traceId}-${clientSpan}-01` } })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ back: { ok: true } })

    const inTrace = () => spans().filter((s) => s.traceId === traceId)
    await until('every span of the trace at the collector', () => {
      const names = inTrace().map((s) => s.name)
      return names.some((n) => n.startsWith('GET ')) && names.includes('execute otel::front') && names.includes('call otel::back') && names.includes('execute otel::back')
    }, 20_000, 200)
    const all = inTrace()
    const http = all.find((s) => s.name.startsWith('GET '))!
    const front = all.find((s) => s.name === 'execute otel::front')!
    const hop = all.find((s) => s.name === 'call otel::back')!
    const back = all.find((s) => s.name === 'execute otel::back')!
    // The edge's spans are the engine's (service iii); the workers' keep their own resource.
    expect(http).toMatchObject({ service: 'iii', parentSpanId: clientSpan, kind: 2 })
    expect(http.attributes).toEqual(expect.arrayContaining([{ key: 'http.response.status_code', value: { intValue: 200 } }]))
    expect(front).toMatchObject({ service: 'otel-front', parentSpanId: http.spanId })
    expect(hop.service).toBe('iii')
    // The hop hangs under whatever span of the front worker made the call, and the back worker's handler under the hop.
    expect(all.filter((s) => s.service === 'otel-front').map((s) => s.spanId)).toContain(hop.parentSpanId)
    expect(back).toMatchObject({ service: 'otel-back', parentSpanId: hop.spanId })

    // The back worker's Logger record went to the collector too, in the same trace.
    const logs = () =>
      received
        .filter((r) => r.path === '/v1/logs')
        .flatMap((r) => (r.body.resourceLogs ?? []).flatMap((rl: any) => (rl.scopeLogs ?? []).flatMap((sl: any) => sl.logRecords ?? [])))
    // (The first requests, made until the route answered, wrote the same record in traces of their own.)
    const record = await until('the back worker\'s log record of this trace at the collector', () => logs().find((l) => l.body?.stringValue === 'in back' && l.traceId === traceId))
    expect(record.spanId).toBe(back.spanId)
  })
})
