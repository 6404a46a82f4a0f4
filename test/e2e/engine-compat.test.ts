// Where the SDK looks at the engine (issue 12), with the real iii-sdk against `wrangler dev`: trigger
// lifecycle, the engine's own trigger types, introspection and log builtins, route conflicts, HTTP
// middleware and cron. Behaviour as the iii engine v0.22.1 (docs/engine-compat.md).
import { describe, expect, it } from 'vitest'
import { type Iii, refusals, sdkSuite } from './support/sdk'
import { sleep, until } from './support/wait'

const suite = sdkSuite()
const { worker } = suite

/** The id the SDK gave a trigger (its handle does not tell): found by function id. */
async function triggerIdOf(w: Iii, functionId: string): Promise<string> {
  return until(`the trigger of ${functionId}`, async () => {
    const { registered_triggers } = await w.trigger<unknown, { registered_triggers: { id: string; function_id: string }[] }>({
      function_id: 'engine::registered-triggers::list',
      payload: { function_id: functionId },
    })
    return registered_triggers[0]?.id
  })
}

describe('trigger lifecycle', () => {
  it('tells the provider to unregister the triggers of a worker that leaves; parked triggers still bind', async () => {
    const consumer = worker('lifecycle-consumer')
    consumer.registerFunction('lifecycle::handler', async () => ({ ok: true }))
    // Parked: no worker provides the type yet.
    consumer.registerTrigger({ type: 'lifecycle::type', function_id: 'lifecycle::handler', config: { tag: 'a' } })
    await sleep(300)
    const provider = worker('lifecycle-provider')
    const bound: string[] = []
    const unbound: string[] = []
    provider.registerTriggerType(
      { id: 'lifecycle::type', description: 'test type' },
      { registerTrigger: async (t) => void bound.push(t.id), unregisterTrigger: async (t) => void unbound.push(t.id) },
    )
    const id = await until('the parked trigger offered to the provider', () => bound[0])
    await consumer.shutdown()
    await until('unregistertrigger at the provider', () => unbound.includes(id))
    expect(unbound).toEqual([id])
  })
})

describe("the engine's own trigger types", () => {
  it('engine::functions-available runs the bound function when functions come and go, and stops once unregistered', async () => {
    const watcher = worker('fa-watcher')
    const events: { event: string; functions: { function_id: string; worker_name: string }[] }[] = []
    watcher.registerFunction('fa::on-change', async (payload: (typeof events)[number]) => {
      events.push(payload)
      return null
    })
    const trigger = watcher.registerTrigger({ type: 'engine::functions-available', function_id: 'fa::on-change', config: {} })
    await sleep(1000) // its own registration may fire once
    events.length = 0
    const other = worker('fa-other')
    other.registerFunction('fa::new-one', async () => 1)
    const seen = await until('functions_changed with the new function', () => events.find((e) => e.functions.some((f) => f.function_id === 'fa::new-one')))
    expect(seen.event).toBe('functions_changed')
    expect(seen.functions).toContainEqual(expect.objectContaining({ function_id: 'fa::new-one', worker_name: 'fa-other' }))
    expect(seen.functions).toContainEqual(expect.objectContaining({ function_id: 'engine::channels::create', worker_name: 'engine' }))
    trigger.unregister()
    await sleep(500)
    const before = events.length
    other.registerFunction('fa::another', async () => 2)
    await sleep(1500)
    expect(events.length).toBe(before)
  })

  it('engine::workers-available tells of a worker connecting and leaving', async () => {
    const watcher = worker('wa-watcher')
    const events: { event: string; worker_id: string }[] = []
    watcher.registerFunction('wa::on-change', async (payload: (typeof events)[number]) => void events.push(payload))
    watcher.registerTrigger({ type: 'engine::workers-available', function_id: 'wa::on-change', config: {} })
    await sleep(500)
    events.length = 0
    const other = worker('wa-other')
    other.registerFunction('wa::x', async () => 1)
    const connected = await until('worker_connected', () => events.find((e) => e.event === 'worker_connected'))
    await other.shutdown()
    await until('worker_disconnected', () => events.find((e) => e.event === 'worker_disconnected' && e.worker_id === connected.worker_id))
  })
})

describe('introspection and log builtins', () => {
  it('registered-triggers::list entries carry every engine field with its type', async () => {
    const w = worker('intro')
    w.registerFunction('intro::fn', async () => 1, { description: 'an intro function' })
    w.registerTrigger({ type: 'http', function_id: 'intro::fn', config: { api_path: 'intro/:id', http_method: 'GET' } })
    await triggerIdOf(w, 'intro::fn')
    const { registered_triggers } = await w.trigger<unknown, { registered_triggers: Record<string, unknown>[] }>({ function_id: 'engine::registered-triggers::list', payload: {} })
    const row = registered_triggers.find((t) => t.function_id === 'intro::fn')!
    expect(row).toMatchObject({ trigger_type: 'http', worker_name: 'intro', config: { api_path: 'intro/:id', http_method: 'GET' } })
    for (const field of ['id', 'trigger_type', 'function_id', 'worker_name', 'config_summary']) expect(typeof row[field], field).toBe('string')
    expect(JSON.parse(row.config_summary as string)).toEqual(row.config)
  })

  it('answers the ::info builtins with the engine shapes, NOT_FOUND for what is not there', async () => {
    const w = worker('info-worker')
    w.registerFunction('info::fn', async () => 1, { description: 'described' })
    w.registerTrigger({ type: 'http', function_id: 'info::fn', config: { api_path: 'info/x' } })
    const t = { id: await triggerIdOf(w, 'info::fn') }
    const call = (function_id: string, payload: unknown) => w.trigger<unknown, Record<string, unknown>>({ function_id, payload })
    expect(await call('engine::functions::info', { function_id: 'info::fn' })).toMatchObject({
      function_id: 'info::fn',
      worker_name: 'info-worker',
      description: 'described',
      registered_triggers: [{ id: t.id, trigger_type: 'http' }],
    })
    expect(await call('engine::workers::info', { name: 'info-worker' })).toMatchObject({ worker: { name: 'info-worker', status: 'connected' }, functions: [{ function_id: 'info::fn' }] })
    expect(await call('engine::triggers::info', { id: 'http' })).toMatchObject({ id: 'http', worker_name: 'iii-http' })
    expect(await call('engine::registered-triggers::info', { id: t.id })).toMatchObject({ id: t.id, trigger: { id: 'http' }, function: { function_id: 'info::fn' } })
    const missing = await call('engine::functions::info', { function_id: 'info::missing' }).catch((err: Error & { code?: string }) => err)
    expect(missing).toMatchObject({ code: 'NOT_FOUND' })
    expect((missing as Error).message).toContain("Function 'info::missing' is not registered.")
    await expect(call('engine::workers::info', { name: 'nobody' })).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('engine::log::* answers no result and the entry shows on the status API', async () => {
    const w = worker('logger')
    await sleep(300) // the SDK tells its name (engine::workers::register) once connected
    const marker = `hello from e2e ${Date.now()}`
    await expect(w.trigger({ function_id: 'engine::log::warn', payload: { message: marker, data: { n: 1 } } })).resolves.toBeUndefined()
    const entry = await until('the entry in /api/status', async () => {
      const status = (await (await fetch(`${suite.dev.baseUrl}/api/status`)).json()) as { log: { message: string; level: string; source: string }[] }
      return status.log.find((e) => e.message === marker)
    })
    expect(entry).toMatchObject({ level: 'warn', source: 'logger' })
  })
})

describe('HTTP triggers as the engine serves them', () => {
  it('refuses a route of the same shape with other parameter names; the first keeps serving', async () => {
    const log = refusals()
    try {
      const w = worker('routes')
      w.registerFunction('routes::first', async (req: { path_params: Record<string, string> }) => ({ status_code: 200, body: req.path_params }))
      w.registerFunction('routes::second', async () => ({ status_code: 200, body: 'second' }))
      w.registerTrigger({ type: 'http', function_id: 'routes::first', config: { api_path: 'shape/:x/:y' } })
      await triggerIdOf(w, 'routes::first')
      w.registerTrigger({ type: 'http', function_id: 'routes::second', config: { api_path: 'shape/:y/:x' } })
      const message = await until('the refusal', () => log.messages().find((m) => m.includes('conflicts with already-registered route')))
      expect(message).toContain("Route 'GET shape/:y/:x' conflicts with already-registered route 'GET shape/:x/:y'")
      const res = await fetch(`${suite.dev.baseUrl}/shape/1/2`)
      expect(await res.json()).toEqual({ x: '1', y: '2' })
    } finally {
      log.restore()
    }
  })

  it('runs middleware in order before the handler; one that responds short-circuits it', async () => {
    const w = worker('mw')
    const order: string[] = []
    let seen: Record<string, unknown> | null = null
    w.registerFunction('mw::first', async (input: Record<string, unknown>) => {
      order.push('first')
      seen = input
      return { action: 'continue' }
    })
    w.registerFunction('mw::guard', async (input: { request: { headers: Record<string, string> } }) => {
      order.push('guard')
      return input.request.headers['x-token'] === 'ok' ? { action: 'continue' } : { action: 'respond', response: { status_code: 403, body: { error: 'Forbidden by middleware' } } }
    })
    w.registerFunction('mw::handler', async () => {
      order.push('handler')
      return { status_code: 200, body: { message: 'handler reached' } }
    })
    w.registerTrigger({ type: 'http', function_id: 'mw::handler', config: { api_path: 'mw/:id', http_method: 'GET', middleware_function_ids: ['mw::first', 'mw::guard'] } })
    await triggerIdOf(w, 'mw::handler')
    const blocked = await fetch(`${suite.dev.baseUrl}/mw/42?q=hello`)
    expect(blocked.status).toBe(403)
    expect(await blocked.json()).toEqual({ error: 'Forbidden by middleware' })
    expect(order).toEqual(['first', 'guard'])
    expect(seen).toMatchObject({ phase: 'preHandler', request: { method: 'GET', path_params: { id: '42' }, query_params: { q: 'hello' } }, context: {} })
    order.length = 0
    const passed = await fetch(`${suite.dev.baseUrl}/mw/42`, { headers: { 'x-token': 'ok' } })
    expect(passed.status).toBe(200)
    expect(await passed.json()).toEqual({ message: 'handler reached' })
    expect(order).toEqual(['first', 'guard', 'handler'])
  })

  it('answers 500 with the error when a middleware fails (here: it does not exist)', async () => {
    const w = worker('mw-missing')
    let ran = false
    w.registerFunction('mwm::handler', async () => {
      ran = true
      return { status_code: 200, body: 'no' }
    })
    w.registerTrigger({ type: 'http', function_id: 'mwm::handler', config: { api_path: 'mwm', middleware_function_ids: ['mwm::nobody'] } })
    await triggerIdOf(w, 'mwm::handler')
    const res = await fetch(`${suite.dev.baseUrl}/mwm`)
    expect(res.status).toBe(500)
    expect(await res.json()).toMatchObject({ error: { code: 'function_not_found' } })
    expect(ran).toBe(false)
  })
})

describe('cron triggers', () => {
  it('fires an every-second schedule once per second with the engine payload', async () => {
    const w = worker('cron')
    const runs: { trigger: string; job_id: string; scheduled_time: string; actual_time: string }[] = []
    w.registerFunction('cron::tick', async (event: (typeof runs)[number]) => void runs.push(event))
    const t = w.registerTrigger({ type: 'cron', function_id: 'cron::tick', config: { expression: '* * * * * *' } })
    const id = await triggerIdOf(w, 'cron::tick')
    await until('a first run', () => runs.length > 0)
    const from = runs.length
    await sleep(4000)
    const counted = runs.length - from
    t.unregister()
    expect(counted, runs.map((r) => `${r.scheduled_time} ran ${r.actual_time}`).join(', ')).toBeGreaterThanOrEqual(3)
    expect(counted).toBeLessThanOrEqual(5)
    const times = runs.map((r) => r.scheduled_time)
    expect(new Set(times).size).toBe(times.length) // each second once
    expect(runs[0]).toMatchObject({ trigger: 'cron', job_id: id })
    expect(runs[0]!.scheduled_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/)
    expect(runs[0]!.actual_time).toMatch(/\+00:00$/)
    await sleep(1500)
    const after = runs.length
    await sleep(1500)
    expect(runs.length).toBe(after) // unregistered: no more runs
  })

  it('refuses an expression that does not parse', async () => {
    const log = refusals()
    try {
      const w = worker('cron-bad')
      w.registerFunction('cronbad::fn', async () => 1)
      w.registerTrigger({ type: 'cron', function_id: 'cronbad::fn', config: { expression: 'every minute please' } })
      const message = await until('the refusal', () => log.messages().find((m) => m.includes('Invalid cron expression')))
      expect(message).toContain("Invalid cron expression 'every minute please'")
      const { registered_triggers } = await w.trigger<unknown, { registered_triggers: { function_id: string }[] }>({ function_id: 'engine::registered-triggers::list', payload: {} })
      expect(registered_triggers.filter((t) => t.function_id === 'cronbad::fn')).toEqual([])
    } finally {
      log.restore()
    }
  })

  it('skips runs when the condition function answers false', async () => {
    const w = worker('cron-cond')
    let ran = 0
    let asked = 0
    w.registerFunction('croncond::check', async () => {
      asked++
      return false
    })
    w.registerFunction('croncond::run', async () => void ran++)
    w.registerTrigger({ type: 'cron', function_id: 'croncond::run', config: { expression: '* * * * * *', condition_function_id: 'croncond::check' } })
    await until('the condition asked twice', () => asked >= 2)
    expect(ran).toBe(0)
  })

  it('shows the next run on the status API', async () => {
    const w = worker('cron-page')
    w.registerFunction('cronpage::fn', async () => 1)
    w.registerTrigger({ type: 'cron', function_id: 'cronpage::fn', config: { expression: '0 0 0 1 1 * 2099' } })
    const t = { id: await triggerIdOf(w, 'cronpage::fn') }
    const row = await until('the trigger on the status API', async () => {
      const status = (await (await fetch(`${suite.dev.baseUrl}/api/status`)).json()) as { triggers: { id: string; next_run?: string }[] }
      return status.triggers.find((x) => x.id === t.id)
    })
    expect(row.next_run).toBe('2099-01-01T00:00:00+00:00')
  })
})
