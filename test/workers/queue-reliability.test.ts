// The queues' reliability promise in workerd, where the vitest plugin runs the wrangler.toml queues
// (miniflare's broker) and the Worker's `queue` handler: an acknowledged Enqueue is never lost.
// 1,000 jobs are enqueued over the raw protocol while the worker serving their function leaves
// holding some of them (its function is gone for a while, then a new worker registers it), and
// every Durable Object (each session, the registry, the queue's object, ...) is reset once with
// enqueues and jobs in flight: evicted (memory gone, storage kept, sockets hibernated), or aborted
// as a deploy or a crash resets an object (`ctx.abort()`: calls broken, sockets closed; workers
// reconnect). Every acknowledged job runs at least once and at most max_retries + 1 times; the dead
// letters (engine::queue::dlq_messages, paged) hold exactly the jobs that always fail.
//
// An abort makes workerd print "uncaught exception ... broken.outputGateBroken; jsg.Error: reset by
// the test ..." for each event it cut: expected. The queue consumer itself is not reset here (no
// test API reaches it); the platform redelivers what a consumer that died did not acknowledge.
//
// The queues are configured in vitest.config.ts (III_QUEUES): 3 attempts, 100 ms backoff (whole
// seconds on Queues: 1 s, 1 s).
import { env } from 'cloudflare:workers'
import { evictDurableObject, listDurableObjectIds, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { Allowance } from '../cases/allowance'
import { type DeadLetter, alwaysFails, expectDeadLetters } from '../cases/dead-letters'
import { sleep, until } from '../e2e/support/wait'
import { BASE, frontDoor } from './support'

const MAX_RETRIES = 3
const JOBS = 1000
/** Enqueues in flight at once. */
const PIPELINE = 20

type Message = Record<string, any>

/** A raw worker on the main socket whose answers are matched by invocation id (no inbox polling). */
interface Peer {
  ws: WebSocket
  id: string
  closed: Promise<void>
  call(function_id: string, data: unknown, extra?: Record<string, unknown>, timeoutMs?: number): Promise<Message | null>
}

async function connectPeer(onMessage?: (m: Message, peer: Peer) => void): Promise<Peer> {
  const res = await frontDoor(BASE, { headers: { Upgrade: 'websocket' } })
  expect(res.status).toBe(101)
  const ws = res.webSocket!
  const waiting = new Map<string, (m: Message) => void>()
  let registered!: (id: string) => void
  const id = new Promise<string>((r) => (registered = r))
  const closed = new Promise<void>((r) =>
    ws.addEventListener('close', () => {
      // Calls the engine never answered: not acknowledged.
      for (const answer of waiting.values()) answer({ type: 'closed' })
      waiting.clear()
      r()
    }),
  )
  const peer: Peer = {
    ws,
    id: '',
    closed,
    call(function_id, data, extra = {}, timeoutMs = 30_000) {
      const invocation_id = crypto.randomUUID()
      return new Promise((resolve) => {
        if (ws.readyState !== WebSocket.OPEN) return resolve(null)
        const timer = setTimeout(() => {
          waiting.delete(invocation_id)
          resolve(null) // no answer: not acknowledged
        }, timeoutMs)
        waiting.set(invocation_id, (m) => {
          clearTimeout(timer)
          resolve(m.type === 'closed' ? null : m)
        })
        ws.send(JSON.stringify({ type: 'invokefunction', invocation_id, function_id, data, ...extra }))
      })
    },
  }
  ws.addEventListener('message', (e) => {
    const m = JSON.parse(e.data as string) as Message
    if (m.type === 'workerregistered') return registered(m.worker_id)
    if (m.type === 'invocationresult' && waiting.has(m.invocation_id)) {
      const answer = waiting.get(m.invocation_id)!
      waiting.delete(m.invocation_id)
      return answer(m)
    }
    onMessage?.(m, peer)
  })
  ws.accept()
  peer.id = await id
  return peer
}

/** Round trip through the engine, so the peer's registrations before it were handled. */
async function settle(peer: Peer): Promise<void> {
  expect(await peer.call('engine::functions::list', {})).toMatchObject({ type: 'invocationresult' })
}

/** What the serving workers of one scenario saw: every run of every job, and which succeeded. */
interface Tally {
  fn: string
  runs: Map<number, number>
  succeeded: Set<number>
}

interface Serving {
  peer: Peer
  /** Invocations it got and has not answered yet. */
  unanswered: () => number
  /** Closes its socket; invocations it still holds are never answered. */
  leave: () => Promise<number>
}

/** A worker serving `tally.fn`: answers each job after a few ms (so some are in flight at any moment). */
async function servingWorker(tally: Tally): Promise<Serving> {
  let unanswered = 0
  let gone = false
  const peer = await connectPeer((m, self) => {
    if (m.type !== 'invokefunction' || m.function_id !== tally.fn) return
    const n = (m.data as { n: number }).n
    tally.runs.set(n, (tally.runs.get(n) ?? 0) + 1)
    unanswered++
    setTimeout(() => {
      if (gone) return // left before answering: the run's outcome is lost, the job is retried
      unanswered--
      const answer = alwaysFails(n) ? { error: { code: 'invocation_failed', message: `job ${n} always fails` } } : { result: { n } }
      self.ws.send(JSON.stringify({ type: 'invocationresult', invocation_id: m.invocation_id, function_id: tally.fn, ...answer }))
      if (!alwaysFails(n)) tally.succeeded.add(n)
    }, 5 + Math.floor(Math.random() * 20))
  })
  void peer.closed.then(() => (gone = true))
  peer.ws.send(JSON.stringify({ type: 'registerfunction', id: tally.fn }))
  await settle(peer)
  return {
    peer,
    unanswered: () => unanswered,
    leave: async () => {
      gone = true
      peer.ws.close(1000, 'leaving')
      await peer.closed
      return unanswered
    },
  }
}

type ResetKind = 'evict' | 'abort'

/**
 * Resets every object the Worker made (every session, the registry, the queue's, ...): memory gone,
 * storage kept. `evict`: as the runtime evicts an idle object (in-flight requests drain first,
 * hibernated sockets stay). `abort`: as a deploy or a crash resets it (`ctx.abort()`: in-flight
 * requests and calls break, its sockets close).
 */
async function resetEveryObject(kind: ResetKind, first: DurableObjectStub[] = []): Promise<{ objects: number; running: number }> {
  let running = 0
  const reset = async (stub: DurableObjectStub) => {
    if (kind === 'abort') {
      // abort() throws its reason into the callback's caller: that is the reset.
      const reason = `reset by the test ${crypto.randomUUID()}`
      await runInDurableObject(stub, (_instance: unknown, state: DurableObjectState) => state.abort(reason)).then(
        () => {
          throw new Error('abort() returned')
        },
        (err: unknown) => {
          if (!String(err).includes(reason)) throw err
          running++
        },
      )
      return
    }
    await evictDurableObject(stub).then(
      () => running++,
      (err: unknown) => {
        if (!String(err).includes('not currently running')) throw err
      },
    )
  }
  // The ones named first at once (they have calls in flight now), then every other object.
  const done = new Set(first.map((stub) => stub.id.toString()))
  const firstResets = Promise.all(first.map(reset))
  const namespaces = [
    env.SESSION, env.REGISTRY, env.QUEUE, env.QUEUE_GROUP, env.STATUS, env.DIRECTORY, env.STATE, env.STREAM, env.CONFIGURATION, env.CRON, env.CHANNEL,
  ] as unknown as DurableObjectNamespace[]
  const rest = (await Promise.all(namespaces.map(async (ns) => (await listDurableObjectIds(ns)).filter((id) => !done.has(id.toString())).map((id) => ns.get(id))))).flat()
  await Promise.all([firstResets, ...rest.map(reset)])
  return { objects: first.length + rest.length, running }
}


/** Every dead letter of the queue, a few per page, as a console pages through them. */
async function deadLetters(caller: Peer, queue: string): Promise<DeadLetter[]> {
  const all: DeadLetter[] = []
  for (let offset = 0; ; offset += 7) {
    const answer = await caller.call('engine::queue::dlq_messages', { topic: queue, offset, limit: 7 })
    expect(answer?.error).toBeUndefined()
    const page = answer!.result as DeadLetter[]
    all.push(...page)
    if (page.length < 7) return all
  }
}

interface Scenario {
  queue: string
  fn: string
  /** How the objects are reset (resetEveryObject); after an abort every worker reconnects, as after a deploy. */
  reset: ResetKind
}

/**
 * 1,000 jobs through `queue`: the serving worker leaves while it holds some of them, its function
 * is gone for a while (jobs keep being acknowledged), a new worker serves it, then every object is
 * reset once with enqueues and jobs in flight. Then every acknowledged job ran once or more, none
 * more than max_retries + 1 times, and the dead letters are exactly the jobs that always fail.
 */
async function scenario({ queue, fn, reset: kind }: Scenario): Promise<void> {
  const started = Date.now()
  const tally: Tally = { fn, runs: new Map(), succeeded: new Set() }
  let serving = await servingWorker(tally)
  let caller = await connectPeer()

  const receipts = new Map<number, string>() // job number → messageReceiptId
  const unanswered: number[] = []
  const refused: { n: number; answer: Message }[] = []
  const events: string[] = []
  // Enqueues go on in the background, PIPELINE at a time, up to the gate's mark (moved on by `allow`, phase by phase).
  let next = 0
  const gate = new Allowance()
  const allow = (upTo: number) => gate.allow(upTo)
  let onSend = (_n: number) => {}
  const enqueuing = Promise.all(
    Array.from({ length: PIPELINE }, async () => {
      while (next < JOBS) {
        if (!gate.allows(next)) {
          await gate.moved()
          continue
        }
        if (caller.ws.readyState !== WebSocket.OPEN) {
          await sleep(20) // a reset closed it: wait for the caller to reconnect
          continue
        }
        const n = next++
        onSend(n)
        const answer = await caller.call(fn, { n }, { action: { type: 'enqueue', queue } })
        const id = answer?.result?.messageReceiptId
        if (typeof id === 'string') receipts.set(n, id)
        else if (answer === null) unanswered.push(n) // its socket closed first: not acknowledged
        else refused.push({ n, answer })
      }
    }),
  )
  const answered = (count: number) => () => receipts.size + unanswered.length + refused.length >= count
  const totalRuns = () => [...tally.runs.values()].reduce((a, b) => a + b, 0)
  const acknowledgedRuns = () => [...receipts.keys()].reduce((a, n) => a + (tally.runs.get(n) ?? 0), 0)

  // 1. Jobs flow; the serving worker leaves while it holds some of them, with enqueues in flight.
  allow(300)
  await until('300 answers', answered(300), 60_000, 10)
  await until('jobs to run', () => tally.succeeded.size >= 100, 60_000, 10)
  await until('the worker to hold an invocation', () => serving.unanswered() > 0, 60_000, 1)
  allow(450)
  const cut = await serving.leave()
  events.push('worker left')
  // 2. Its function is gone for a while: jobs are acknowledged and reach the consumer, nobody serves them.
  await until('450 answers', answered(450), 60_000, 10)
  const duringGap = [...receipts.keys()].filter((n) => n >= 300)
  await sleep(2000)
  // 3. A new worker serves the same function.
  serving = await servingWorker(tally)
  events.push('worker back')
  allow(650)
  await until('the new worker to hold an invocation', () => serving.unanswered() > 0, 60_000, 1)
  // 4. Every object is reset once, with enqueues and jobs in flight.
  // The reset starts as job 700's enqueue is sent (20 enqueues are in flight then).
  const sending700 = new Promise<void>((r) => (onSend = (n) => n === 700 && r()))
  allow(800)
  await sending700
  const inFlight = { enqueues: next - (receipts.size + unanswered.length + refused.length), jobs: serving.unanswered() }
  const sessionOf = (peer: Peer) => env.SESSION.get(env.SESSION.idFromString(peer.id))
  const reset = await resetEveryObject(kind, [sessionOf(caller), sessionOf(serving.peer)])
  const sentDuringReset = next - 700
  events.push('objects reset')
  if (kind === 'abort') {
    // As after a deploy: every worker reconnects, the serving one registers its function again.
    await Promise.all([caller.closed, serving.peer.closed])
    ;[caller, serving] = await Promise.all([connectPeer(), servingWorker(tally)])
    events.push('workers reconnected')
  }
  allow(JOBS)
  await enqueuing

  // Every acknowledged job runs; the failing ones end in the dead letters.
  const failing = [...receipts.keys()].filter(alwaysFails)
  const passing = [...receipts.keys()].filter((n) => !alwaysFails(n))
  await until(
    'every acknowledged job to succeed or be dead-lettered',
    async () => passing.every((n) => tally.succeeded.has(n)) && (await deadLetters(caller, queue)).length >= failing.length,
    75_000,
    500,
  )
  // Then nothing more comes: no acknowledged job runs again, no other letter is filed.
  const settledRuns = acknowledgedRuns()
  await sleep(2500)
  const dead = await deadLetters(caller, queue)

  console.log(
    `queue reliability (${queue}, ${kind}): ${receipts.size} acknowledged, ${unanswered.length} unanswered (${unanswered.filter((n) => tally.runs.has(n)).length} of them ran), ${refused.length} refused; ` +
      `${totalRuns()} runs (max ${Math.max(...tally.runs.values())} of one job); ${cut} held by the worker when it left; ` +
      `${duringGap.length} acknowledged while the function was gone; ${reset.objects} objects reset (${reset.running} running) with ${inFlight.enqueues} enqueues and ${inFlight.jobs} jobs in flight (${sentDuringReset} enqueues sent during it); ` +
      `${dead.length} dead letters; ${Date.now() - started} ms; ${events.join(' → ')}`,
  )
  expect(events.slice(0, 3)).toEqual(['worker left', 'worker back', 'objects reset'])
  expect(cut).toBeGreaterThan(0)
  expect(duringGap.length).toBeGreaterThan(0)
  // An enqueue is refused only for a reason (none here); one unanswered (its socket closed by a reset) is excused from "ran".
  expect(refused).toEqual([])
  expect(receipts.size + unanswered.length).toBe(JOBS)
  if (kind === 'evict') expect(unanswered).toEqual([])
  expect(new Set(receipts.values()).size).toBe(receipts.size)
  for (const n of receipts.keys()) expect(tally.runs.get(n) ?? 0, `runs of job ${n}`).toBeGreaterThanOrEqual(1)
  for (const [n, count] of tally.runs) expect(count, `runs of job ${n}`).toBeLessThanOrEqual(MAX_RETRIES + 1)
  expect(acknowledgedRuns()).toBe(settledRuns)

  // (Attempts cut short by the worker leaving or a reset count as attempts, so a failing job may
  // have run fewer than max_retries times; the letter still says how many were spent.)
  expectDeadLetters(dead, failing, receipts, MAX_RETRIES)
}

describe('an acknowledged Enqueue is never lost', () => {
  it('1,000 jobs while the serving worker leaves and comes back and every object is evicted once (sockets kept)', async () => {
    await scenario({ queue: 'reliable', fn: 'reliable::evicted', reset: 'evict' })
  }, 110_000)

  it('1,000 jobs while the serving worker leaves and comes back and every object is reset abruptly, as by a deploy (calls broken, sockets closed, workers reconnect)', async () => {
    await scenario({ queue: 'reliable-deploy', fn: 'reliable::deployed', reset: 'abort' })
  }, 110_000)
})
