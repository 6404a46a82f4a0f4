// Issue 21, item 6: one worker must not stall the others. A raw worker socket sends 10,000
// registerfunction and 2,000 http routes in one burst while another SDK worker calls a canary's
// echo over and over: no call may time out, the refusals past the bounds per worker are visible
// (limit_exceeded for triggers, function_not_found past the functions bound) and what was accepted
// works. A bound raised with a var takes more; one invocation past the in-flight bound is answered
// at once. (How long the flood takes is a figure of `npm run bench -- --only=R`, R7.)
//
// wrangler dev runs here without its local trace collector (X_LOCAL_OBSERVABILITY=false): it
// records every event of every object on the engine's own thread, a cost of local development
// only, and 10,000 of them cost others seconds however little the engine does with each. The
// bench measures the flood both ways.
import WebSocket from 'ws'
import { describe, expect, it } from 'vitest'
import { sdkSuite } from './support/sdk'
import { sleep, until } from './support/wait'
import { startWrangler } from './support/wrangler'

const FUNCTIONS = 10_000
const ROUTES = 2_000
/** The documented defaults (src/engine/limits.ts). */
const FUNCTION_BOUND = 1_000
const ROUTE_BOUND = 500
/** Generous: a canary call waits behind whatever the flood left queued; this says "stalled", not "slow". */
const CALL_TIMEOUT_MS = 5_000
/** The flood ends with a trigger every registry refuses: its answer comes after everything before it was applied. */
const MARKER = 'flood-done'

const noCollector = { X_LOCAL_OBSERVABILITY: 'false' }
const suite = sdkSuite({ env: noCollector })

type TriggerError = { id: string; code: string; message: string }
type Answer = { result?: unknown; error?: { code: string; message: string } }

/** A worker without the SDK: its own messages, answering the invocations of its `serves` functions. */
async function rawWorker(url: string, serves: (functionId: string) => boolean = () => true) {
  const ws = new WebSocket(url)
  const triggerErrors: TriggerError[] = []
  const answers = new Map<string, Answer>()
  const order: string[] = []
  const invoked: string[] = []
  let registered = false
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw))
    if (m.type === 'workerregistered') registered = true
    else if (m.type === 'invokefunction' && m.invocation_id) {
      invoked.push(m.function_id)
      if (serves(m.function_id)) {
        ws.send(JSON.stringify({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: m.function_id, result: { status_code: 200, body: { from: 'flood' } } }))
      }
    } else if (m.type === 'triggerregistrationresult' && m.error) triggerErrors.push({ id: m.id, ...m.error })
    else if (m.type === 'invocationresult') {
      answers.set(m.invocation_id, m)
      order.push(m.invocation_id)
    }
  })
  await until('the raw worker to be registered', () => registered, 10_000)
  return { ws, triggerErrors, answers, order, invoked, send: (m: unknown) => ws.send(JSON.stringify(m)) }
}

const registerFunctions = (w: Awaited<ReturnType<typeof rawWorker>>, n: number) => {
  for (let i = 0; i < n; i++) w.send({ type: 'registerfunction', id: `flood::f${i}` })
}

const failure = (p: Promise<unknown>) => p.then(() => null, (err: { code?: string }) => err.code ?? String(err))

describe('a flood of registrations from one worker', () => {
  it('does not make another worker\'s calls time out; refusals past the bounds are visible and what was accepted works', async () => {
    const { dev } = suite
    const canary = suite.worker('canary')
    canary.registerFunction('flood::echo', async (x: unknown) => x)
    const caller = suite.worker('caller')
    const probe = suite.worker('probe')
    await until('the canary echo', () => caller.trigger({ function_id: 'flood::echo', payload: {}, timeoutMs: 2000 }).then(() => true, () => false), 30_000)

    // The canary, called one after the other, every ~20 ms, for as long as the flood lasts.
    let calling = true
    const failures: string[] = []
    let calls = 0
    const canaryLoop = (async () => {
      while (calling) {
        const i = calls++
        const echoed = await caller.trigger({ function_id: 'flood::echo', payload: { i }, timeoutMs: CALL_TIMEOUT_MS }).then(
          (r) => ((r as { i?: number })?.i === i ? null : `wrong echo ${JSON.stringify(r)}`),
          (err: { code?: string; message?: string }) => `${err.code}: ${err.message}`,
        )
        if (echoed) failures.push(echoed)
        await sleep(20)
      }
    })()

    const flood = await rawWorker(dev.wsUrl)
    registerFunctions(flood, FUNCTIONS)
    for (let i = 0; i < ROUTES; i++) {
      flood.send({ type: 'registertrigger', id: `r${i}`, trigger_type: 'http', function_id: `flood::f${i}`, config: { api_path: `flood/${i}`, http_method: 'GET' } })
    }
    flood.send({ type: 'registertrigger', id: MARKER, trigger_type: 'http', function_id: 'flood::f0', config: {} })
    await until('the flood to be applied', () => flood.triggerErrors.some((e) => e.id === MARKER), 60_000, 50)
    // A few canary calls after the flood too: none of them waits on it any more.
    const after = calls + 3
    await until('canary calls after the flood', () => calls > after, 30_000)
    calling = false
    await canaryLoop

    expect(failures).toEqual([])
    // Routes past the bound: one answer each, naming the bound and the var that raises it.
    const refused = flood.triggerErrors.filter((e) => e.id !== MARKER)
    expect(refused.map((e) => e.id)).toEqual(Array.from({ length: ROUTES - ROUTE_BOUND }, (_, i) => `r${ROUTE_BOUND + i}`))
    for (const e of refused) expect(e).toMatchObject({ code: 'limit_exceeded', message: expect.stringContaining('III_MAX_HTTP_ROUTES_PER_WORKER') })
    // The functions accepted answer; the first one past the bound and the last one are not found.
    expect(await probe.trigger({ function_id: `flood::f${FUNCTION_BOUND - 1}`, payload: {}, timeoutMs: CALL_TIMEOUT_MS })).toEqual({ status_code: 200, body: { from: 'flood' } })
    expect(await failure(probe.trigger({ function_id: `flood::f${FUNCTION_BOUND}`, payload: {}, timeoutMs: CALL_TIMEOUT_MS }))).toBe('function_not_found')
    expect(await failure(probe.trigger({ function_id: `flood::f${FUNCTIONS - 1}`, payload: {}, timeoutMs: CALL_TIMEOUT_MS }))).toBe('function_not_found')
    // The routes accepted serve; the first one refused is nobody's.
    const served = await fetch(`${dev.baseUrl}/flood/${ROUTE_BOUND - 1}`)
    expect([served.status, await served.json()]).toEqual([200, { from: 'flood' }])
    expect((await fetch(`${dev.baseUrl}/flood/${ROUTE_BOUND}`)).status).toBe(404)
    // The refused functions were logged once (wrangler tail), not 9,000 times.
    await until('the refusal in the log', () => dev.output().includes(`Function flood::f${FUNCTION_BOUND} not registered`))
    expect(dev.output()).toContain('III_MAX_FUNCTIONS_PER_WORKER')
    expect(dev.output()).not.toContain(`Function flood::f${FUNCTION_BOUND + 1} not registered`)
    flood.ws.close()
  }, 180_000)

  it('takes more with a bound raised by a var, and answers an invocation past the in-flight bound at once', async () => {
    const dev = await startWrangler({ copy: true, env: noCollector, vars: { III_MAX_FUNCTIONS_PER_WORKER: '1500', III_MAX_INVOCATIONS_PER_WORKER: '10' } })
    try {
      const probe = suite.worker('probe', '', dev)
      const flood = await rawWorker(dev.wsUrl)
      registerFunctions(flood, 2_000)
      await until('the 1,500th function', () => probe.trigger({ function_id: 'flood::f1499', payload: {}, timeoutMs: 2000 }).then(() => true, () => false), 60_000)
      expect(await failure(probe.trigger({ function_id: 'flood::f1500', payload: {}, timeoutMs: CALL_TIMEOUT_MS }))).toBe('function_not_found')

      // A worker whose function never answers calls it 11 times: the 11th is refused, the 10 wait.
      const holder = await rawWorker(dev.wsUrl, () => false)
      // Its own calls wait for its own registration (a session looks up after its registrations are in).
      holder.send({ type: 'registerfunction', id: 'hold::forever' })
      for (let i = 0; i <= 10; i++) holder.send({ type: 'invokefunction', invocation_id: `call-${i}`, function_id: 'hold::forever', data: { i } })
      await until('the refusal', () => holder.answers.has('call-10'))
      expect(holder.answers.get('call-10')?.error).toEqual({ code: 'too_many_invocations', message: expect.stringContaining('III_MAX_INVOCATIONS_PER_WORKER') })
      // Every other call reached the function and is still waiting: the refusal was the only answer.
      await until('the ten calls to reach the function', () => holder.invoked.length === 10)
      expect(holder.order).toEqual(['call-10'])
      flood.ws.close()
      holder.ws.close()
    } finally {
      await dev.stop()
    }
  }, 180_000)
})
