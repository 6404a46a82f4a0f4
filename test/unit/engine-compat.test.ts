// Where this engine must behave as the iii engine v0.22 does (docs/engine-compat.md), in Node:
// route conflicts, cron expressions and their registration, the engine's own trigger types,
// introspection shapes and errors, middleware answers.
import { describe, expect, it } from 'vitest'
import { parseCron, rfc3339 } from '../../src/engine/cron'
import {
  ENGINE_FUNCTIONS,
  configSummary,
  functionInfo,
  listFunctions,
  listTriggers,
  listTriggerTypes,
  triggerInfo,
  triggerTypeInfo,
  workerInfo,
} from '../../src/engine/introspection'
import { RegistryCore } from '../../src/engine/registry'
import { EngineError } from '../../src/protocol/outcome'
import { middlewareResponse, runGates } from '../../src/http/middleware'
import { matchRoute, compileRoute } from '../../src/engine/routes'
import { engineLogRecord, pageEntry } from '../../src/observability/log-record'
import { MemoryRegistryStore } from './fakes'

const fn = (id: string, extra: Record<string, unknown> = {}) => ({ type: 'registerfunction' as const, id, ...extra })
const trigger = (id: string, trigger_type: string, function_id: string, config: unknown) => ({ type: 'registertrigger' as const, id, trigger_type, function_id, config })
const http = (id: string, function_id: string, api_path: string, http_method = 'GET') => trigger(id, 'http', function_id, { api_path, http_method })
const refusal = (reg: RegistryCore, worker: string, changes: Parameters<RegistryCore['apply']>[1]) =>
  reg.apply(worker, changes, 1).get(worker)?.messages.find((m) => m.type === 'triggerregistrationresult') as { error?: { code: string; message: string } } | undefined

describe('HTTP route conflicts', () => {
  it('refuses a route of the same shape with other parameter names, and nothing else changes', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [fn('a'), fn('b'), http('t1', 'a', 'a/:x/:y')], 1)
    const before = reg.version
    const answer = refusal(reg, 'w2', [http('t2', 'b', 'a/:y/:x')])
    expect(answer?.error).toEqual({
      code: 'trigger_registration_failed',
      message: "Route 'GET a/:y/:x' conflicts with already-registered route 'GET a/:x/:y': routes with identical structure but different path-parameter names are not supported",
    })
    expect([...reg.triggers.keys()]).toEqual(['t1'])
    expect(reg.version).toBe(before + 1) // the worker joined; no trigger was added
    expect(reg.snapshot(2).routes.map((r) => r.trigger_id)).toEqual(['t1'])
  })

  it('accepts another method, a literal segment, and the same path again (the later one serves)', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [fn('a'), fn('b'), fn('c'), http('t1', 'a', 'a/:x')], 1)
    expect(refusal(reg, 'w1', [http('t2', 'b', 'a/:y', 'POST'), http('t3', 'b', 'a/me'), http('t4', 'c', 'a/:x')])).toBeUndefined()
    const routes = reg.snapshot(2).routes.map((r) => ({ ...compileRoute({ id: r.trigger_id, function_id: r.function_id, config: r.config }), worker: r.worker! }))
    expect(matchRoute(routes, 'GET', '/a/1')?.function_id).toBe('c')
    expect(matchRoute(routes, 'GET', '/a/me')?.function_id).toBe('b')
  })

  it('lets a trigger re-register its own route with new names (it conflicts with no other)', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [fn('a'), http('t1', 'a', 'a/:x')], 1)
    expect(refusal(reg, 'w1', [http('t1', 'a', 'a/:y')])).toBeUndefined()
  })
})

describe('cron expressions (the engine dialect: seconds first, optional year, 1 = Sunday, UTC)', () => {
  const next = (expr: string, from: string) => {
    const parsed = parseCron(expr)
    if (!parsed.ok) throw new Error(parsed.message)
    return parsed.schedule.next(new Date(from))?.toISOString() ?? null
  }

  it('parses 6 and 7 fields, names, shorthands and ? in the day fields', () => {
    expect(next('*/1 * * * * *', '2026-01-01T00:00:00.500Z')).toBe('2026-01-01T00:00:01.000Z')
    expect(next('*/1 * * * * *', '2026-01-01T00:00:01.000Z')).toBe('2026-01-01T00:00:02.000Z') // strictly after
    expect(next('0 30 9 * * MON-FRI', '2026-11-28T00:00:00Z')).toBe('2026-11-30T09:30:00.000Z') // Sat → Mon
    expect(next('0 0 0 * * 1', '2026-11-30T00:00:00Z')).toBe('2026-12-06T00:00:00.000Z') // 1 = Sunday
    expect(next('0 0 0 1 1 * 2030', '2026-01-01T00:00:00Z')).toBe('2030-01-01T00:00:00.000Z')
    expect(next('@daily', '2026-11-30T10:00:00Z')).toBe('2026-12-01T00:00:00.000Z')
    expect(next('@weekly', '2026-11-30T10:00:00Z')).toBe('2026-12-06T00:00:00.000Z')
    expect(next('0 0 12 ? * Wednesday', '2026-11-30T00:00:00Z')).toBe('2026-12-02T12:00:00.000Z')
    expect(next('0 0 0 31 * MON', '2026-01-01T00:00:00Z')).toBe('2026-08-31T00:00:00.000Z') // day of month AND day of week
    expect(next('0 0 0 29 2 * 2025', '2020-01-01T00:00:00Z')).toBeNull() // no such day: no run
  })

  it('refuses what the engine refuses, with its message prefix', () => {
    for (const bad of ['not a cron', '* * * * *', '60 * * * * *', '0 0 0 * * 0', '0 0 0 L * *', '0 0 0 * * 1#2', '? * * * * *', '0 0 0 1 1 * 1969', '@every 5s', '@reboot', '']) {
      const parsed = parseCron(bad)
      expect(parsed.ok, bad).toBe(false)
      if (!parsed.ok) expect(parsed.message).toMatch(bad === '' ? /^Cron expression is required$/ : /^Invalid cron expression '/)
    }
  })

  it('formats times as the engine does (+00:00)', () => {
    expect(rfc3339(new Date('2026-11-30T09:30:00Z'))).toBe('2026-11-30T09:30:00+00:00')
    expect(rfc3339(new Date('2026-11-30T09:30:00.123Z'))).toBe('2026-11-30T09:30:00.123+00:00')
  })
})

describe('cron triggers in the registry', () => {
  it('refuses a bad expression (nothing stored, no schedule) and schedules a good one', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    const answer = refusal(reg, 'w1', [fn('job'), trigger('c1', 'cron', 'job', { expression: 'every minute' })])
    expect(answer?.error?.code).toBe('trigger_registration_failed')
    expect(answer?.error?.message).toMatch(/^Invalid cron expression 'every minute'/)
    expect(reg.triggers.has('c1')).toBe(false)
    expect(reg.takeEffects().filter((e) => e.type.startsWith('cron'))).toEqual([])
    reg.apply('w1', [trigger('c2', 'cron', 'job', { expression: '*/5 * * * * *' })], 2)
    expect(reg.takeEffects()).toContainEqual({ type: 'cron_schedule', trigger: expect.objectContaining({ id: 'c2', function_id: 'job' }) })
  })

  it('cancels the schedule when the trigger is unregistered or its worker leaves', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [fn('job'), trigger('c1', 'cron', 'job', { expression: '@hourly' }), trigger('c2', 'cron', 'job', { expression: '@daily' })], 1)
    reg.takeEffects()
    reg.apply('w1', [{ type: 'unregistertrigger', id: 'c1' }], 2)
    expect(reg.takeEffects()).toEqual([{ type: 'cron_cancel', id: 'c1' }])
    reg.leave('w1', 3)
    expect(reg.takeEffects()).toEqual(expect.arrayContaining([{ type: 'cron_cancel', id: 'c2' }]))
  })
})

describe("the engine's own trigger types", () => {
  it('fires functions_changed when the set of function ids changes, not when one is re-registered', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [fn('a')], 1)
    expect(reg.takeEffects()).toContainEqual({ type: 'functions_changed' })
    reg.apply('w1', [fn('a', { description: 'new words' })], 2)
    expect(reg.takeEffects()).not.toContainEqual({ type: 'functions_changed' })
    reg.apply('w1', [{ type: 'unregisterfunction', id: 'a' }], 3)
    expect(reg.takeEffects()).toContainEqual({ type: 'functions_changed' })
  })

  it('tells of workers connecting, updating metadata and leaving', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [{ type: 'metadata', metadata: { name: 'one' } }], 1)
    expect(reg.takeEffects().filter((e) => e.type === 'worker_event')).toEqual([
      { type: 'worker_event', event: 'worker_connected', worker_id: 'w1' },
      { type: 'worker_event', event: 'worker_metadata_updated', worker_id: 'w1' },
    ])
    reg.leave('w1', 2)
    expect(reg.takeEffects()).toContainEqual({ type: 'worker_event', event: 'worker_disconnected', worker_id: 'w1' })
  })

  it('keeps a trigger on an engine type for itself: never offered to a worker, and no worker can provide the type', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [{ type: 'registertriggertype', id: 'engine::functions-available' }, { type: 'registertriggertype', id: 'cron' }], 1)
    expect(reg.triggerTypes.size).toBe(0)
    const notices = reg.apply('w2', [fn('watch'), trigger('fa', 'engine::functions-available', 'watch', {})], 2)
    expect(notices.get('w1')).toBeUndefined()
    expect(reg.triggers.has('fa')).toBe(true)
  })

  it('sends unregistertrigger to the provider for each trigger of a worker that leaves', () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('provider', [{ type: 'registertriggertype', id: 'queue::jobs' }], 1)
    reg.apply('user', [fn('h'), trigger('q1', 'queue::jobs', 'h', {}), trigger('q2', 'queue::jobs', 'h', {})], 2)
    expect(reg.leave('user', 3).get('provider')?.messages).toEqual([
      { type: 'unregistertrigger', id: 'q1', trigger_type: 'queue::jobs' },
      { type: 'unregistertrigger', id: 'q2', trigger_type: 'queue::jobs' },
    ])
  })
})

describe('introspection, shaped as the engine shapes it', () => {
  const setup = () => {
    const reg = new RegistryCore(new MemoryRegistryStore())
    reg.apply('w1', [{ type: 'metadata', metadata: { name: 'orders', runtime: 'node', pid: 42 } }, fn('orders::create', { description: 'Create' }), fn('orders::hidden', { metadata: { internal: true } })], 1)
    const long = { api_path: `orders/${'x'.repeat(100)}`, http_method: 'POST' }
    reg.apply('w1', [trigger('t-http', 'http', 'orders::create', long), trigger('t-cron', 'cron', 'orders::create', { expression: '@hourly' })], 2)
    return reg
  }

  it('registered-triggers::list: every field, config_summary a string cut at 80 characters, sorted by id', () => {
    const rows = listTriggers(setup(), {}, Date.parse('2026-11-30T10:15:00Z')).registered_triggers
    expect(rows.map((r) => r.id)).toEqual(['t-cron', 't-http'])
    for (const r of rows) {
      expect(typeof r.id).toBe('string')
      expect(typeof r.trigger_type).toBe('string')
      expect(typeof r.function_id).toBe('string')
      expect(r.worker_name).toBe('orders')
      expect(typeof r.config_summary).toBe('string')
    }
    expect(rows[1]!.config_summary).toHaveLength(81)
    expect(rows[1]!.config_summary.endsWith('…')).toBe(true)
    expect(rows[0]).toMatchObject({ config_summary: '{"expression":"@hourly"}', next_run: '2026-11-30T11:00:00+00:00' })
    expect(configSummary({ a: 1 })).toBe('{"a":1}')
  })

  it('functions::list hides engine and internal functions unless asked, and filters', () => {
    const reg = setup()
    // The data modules' functions are not internal: the engine lists them under their own workers.
    const data = ENGINE_FUNCTIONS.filter((f) => f.worker).map((f) => f.id)
    expect(listFunctions(reg).functions.map((f) => f.function_id)).toEqual(['orders::create', ...data].sort())
    expect(listFunctions(reg, { worker: 'iii-state' }).functions.map((f) => f.function_id)).toEqual(data.filter((id) => id.startsWith('state::')).sort())
    const all = listFunctions(reg, { include_internal: true }).functions.map((f) => f.function_id)
    expect(all).toEqual(expect.arrayContaining(['orders::hidden', ...ENGINE_FUNCTIONS.map((f) => f.id)]))
    expect(listFunctions(reg, { search: 'create', include_internal: true }).functions[0]!.function_id).toBe('engine::channels::create')
    expect(listFunctions(reg, { worker: 'engine' }).functions).toEqual([])
  })

  it('triggers::list shows cron, http and the data modules\' types, hides the engine:: types unless asked', () => {
    const reg = setup()
    expect(listTriggerTypes(reg).triggers.map((t) => t.id)).toEqual(['configuration', 'cron', 'durable:subscriber', 'http', 'log', 'state', 'stream', 'stream:join', 'stream:leave', 'subscribe'])
    expect(listTriggerTypes(reg, { include_internal: true }).triggers.map((t) => t.id)).toEqual(['configuration', 'cron', 'durable:subscriber', 'engine::functions-available', 'engine::workers-available', 'http', 'log', 'state', 'stream', 'stream:join', 'stream:leave', 'subscribe'])
  })

  it('the ::info builtins answer the engine shapes and its NOT_FOUND errors', () => {
    const reg = setup()
    expect(functionInfo(reg, { function_id: 'orders::create' })).toMatchObject({
      function_id: 'orders::create',
      worker_name: 'orders',
      description: 'Create',
      registered_triggers: [expect.objectContaining({ id: 't-http', trigger_type: 'http' }), expect.objectContaining({ id: 't-cron' })],
    })
    expect(functionInfo(reg, { function_ids: ['orders::create', 'nope', 'orders::create'] })).toMatchObject({
      functions: [{ function_id: 'orders::create' }, { function_id: 'nope', error: 'not_found' }],
    })
    expect(triggerTypeInfo(reg, { id: 'cron' })).toEqual({ id: 'cron', worker_name: 'iii-cron', description: 'Cron-based scheduled triggers', instance_count: 1 })
    expect(triggerInfo(reg, { id: 't-cron' })).toMatchObject({ id: 't-cron', trigger: { id: 'cron' }, function: { function_id: 'orders::create' } })
    expect(workerInfo(reg, { name: 'orders' }, () => 0)).toMatchObject({ worker: { name: 'orders', pid: 42, internal: false }, functions: [{ function_id: 'orders::create' }, { function_id: 'orders::hidden' }] })
    const errors: [() => unknown, string, string][] = [
      [() => functionInfo(reg, { function_id: 'nope' }), 'NOT_FOUND', "Function 'nope' is not registered."],
      [() => functionInfo(reg, {}), 'INVALID_ARGUMENTS', 'missing field `function_id` (or `function_ids` for a batch)'],
      [() => functionInfo(reg, { function_id: 'a', function_ids: ['a'] }), 'INVALID_ARGUMENTS', 'pass either `function_id` or `function_ids`, not both'],
      [() => functionInfo(reg, { function_ids: Array.from({ length: 33 }, (_, i) => `f${i}`) }), 'INVALID_ARGUMENTS', 'too many function_ids (max 32)'],
      [() => triggerTypeInfo(reg, { id: 'queue' }), 'NOT_FOUND', "Trigger type 'queue' is not registered."],
      [() => triggerInfo(reg, { id: 'nope' }), 'NOT_FOUND', "Registered trigger 'nope' was not found."],
      [() => workerInfo(reg, { name: 'ghost' }, () => 0), 'NOT_FOUND', "Worker 'ghost' is not connected."],
      [() => workerInfo(reg, {}, () => 0), 'deserialization_error', 'Failed to deserialize input for engine::workers::info: missing field `name`'],
    ]
    for (const [call, code, message] of errors) {
      let thrown: unknown
      try {
        call()
      } catch (err) {
        thrown = err
      }
      expect(thrown).toBeInstanceOf(EngineError)
      expect({ code: (thrown as EngineError).code, message: (thrown as EngineError).message }).toEqual({ code, message })
    }
  })

  it('engine::log::* records: the engine\'s StoredLog from its input fields, the message required', () => {
    const record = engineLogRecord('warn', { message: 'disk almost full', data: { free: 3 }, trace_id: 't1', function_name: 'ignored' }, 5, '0.1.0')
    expect(record).toEqual({
      timestamp_unix_nano: 5_000_000,
      observed_timestamp_unix_nano: 5_000_000,
      severity_number: 13,
      severity_text: 'WARN',
      body: 'disk almost full',
      attributes: { free: 3 },
      trace_id: 't1',
      span_id: null,
      resource: { 'service.name': 'iii', 'service.version': '0.1.0' },
      service_name: 'unknown',
      instrumentation_scope_name: 'iii',
      instrumentation_scope_version: '0.1.0',
    })
    // `data` that is not an object gives no attributes, as in the engine.
    expect(engineLogRecord('info', { message: 'm', data: [1, 2] }, 5, 'v')?.attributes).toEqual({})
    expect(engineLogRecord('info', { message: 'm', service_name: 'billing' }, 5, 'v')?.service_name).toBe('billing')
    expect(engineLogRecord('info', { text: 'no message' }, 5, 'v')).toBeNull()
    // The page names who wrote it: the service it gave, else the worker.
    expect(pageEntry(engineLogRecord('info', { message: 'm', data: { n: 1 } }, 5, 'v')!, { worker: 'orders' })).toEqual({ level: 'info', source: 'orders', message: 'm', data: { n: 1 }, at: 5 })
    expect(pageEntry(engineLogRecord('info', { message: 'm', service_name: 'billing' }, 5, 'v')!, { worker: 'orders' }).source).toBe('billing')
  })
})

describe('HTTP middleware and conditions', () => {
  const route = (extra: Record<string, unknown>) => {
    const compiled = compileRoute({ id: 't', function_id: 'handler', config: { api_path: 'items/:id', ...extra } })
    return matchRoute([compiled], 'GET', '/items/7')!
  }
  const request = { method: 'GET', headers: { 'x-user': 'ann' }, query_params: { q: 'hi' }, path_params: { id: '7' } }

  it('runs middleware in order with the engine input, stops at the first that responds', async () => {
    const calls: { function_id: string; data: unknown }[] = []
    const answers: Record<string, unknown> = { mw1: { action: 'continue' }, mw2: { action: 'respond', response: { status_code: 403, body: { error: 'Forbidden' }, headers: { 'x-why': 'nope' } } } }
    const res = await runGates(route({ middleware_function_ids: ['mw1', 'mw2', 'mw3'] }), request, {}, async (call) => {
      calls.push(call)
      return { result: answers[call.function_id] }
    })
    expect(calls.map((c) => c.function_id)).toEqual(['mw1', 'mw2'])
    expect(calls[0]!.data).toEqual({ phase: 'preHandler', request, context: {} })
    expect(res?.status).toBe(403)
    expect(res?.headers.get('x-why')).toBe('nope')
    expect(await res?.json()).toEqual({ error: 'Forbidden' })
  })

  it('lets the handler run when every middleware continues (or answers something else)', async () => {
    const res = await runGates(route({ middleware_function_ids: ['a', 'b', 'c'] }), request, {}, async (call) =>
      call.function_id === 'a' ? { result: { action: 'continue' } } : call.function_id === 'b' ? { result: 'odd answer' } : { result: undefined },
    )
    expect(res).toBeNull()
  })

  it('answers 500 with the error of a failing middleware, 422 when the condition says false', async () => {
    const failing = await runGates(route({ middleware_function_ids: ['gone'] }), request, {}, async () => ({ error: { code: 'function_not_found', message: 'Function gone not found' } }))
    expect(failing?.status).toBe(500)
    // A 5xx carries the id of the log line that says what happened, as the engine's do.
    expect(await failing?.json()).toEqual({ error: { code: 'function_not_found', message: 'Function gone not found', error_id: expect.stringMatching(/^[0-9a-f]{12}$/) } })
    const skipped = await runGates(route({ condition_function_id: 'cond' }), request, { path_params: { id: '7' } }, async (call) => {
      expect(call.data).toEqual({ path_params: { id: '7' } })
      return { result: false }
    })
    expect(skipped?.status).toBe(422)
    expect(await skipped?.json()).toEqual({ error: { code: 'CONDITION_NOT_MET', message: 'Request condition not met' }, skipped: true })
  })

  it('maps a respond answer as the engine does (defaults, bad headers dropped)', async () => {
    const plain = middlewareResponse({ action: 'respond', response: {} })!
    expect(plain.status).toBe(200)
    expect(await plain.text()).toBe('null')
    const badHeaders = middlewareResponse({ action: 'respond', response: { status_code: 401, headers: { a: 1 } } })!
    expect(badHeaders.status).toBe(401)
    expect(badHeaders.headers.get('a')).toBeNull()
    expect(middlewareResponse({ action: 'continue' })).toBeNull()
  })
})
