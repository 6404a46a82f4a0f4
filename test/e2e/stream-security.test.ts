// The stream subscriber sockets fail closed (issue 21), with the real iii-sdk and a browser-style
// subscriber (ws) against `wrangler dev` with an engine token and STREAM_AUTH_FUNCTION set: a
// join function that throws, hangs or lost its worker refuses the join; an auth function that
// throws, hangs or has no worker refuses the upgrade; a binary frame closes a subscriber socket
// with 1003 and nothing else; one `/streams` socket holds at most 50 live subscriptions.
//
// Each test has a namespace of its own: the auth function is looked up in the socket's namespace,
// so a test registers the one it needs (or none) without touching the others.
import { registerWorker } from 'iii-sdk'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { sleep, unique, until } from './support/wait'
import { type WranglerDev, startWrangler } from './support/wrangler'

type Iii = ReturnType<typeof registerWorker>

const TOKEN = 'stream-security-token'
const AUTH_FUNCTION = 'security::auth'
/** A group object reads the namespace's join triggers with a view at most 1 s old. */
const JOIN_VIEW_MS = 1_200

let dev: WranglerDev
const workers: Iii[] = []
const sockets: WebSocket[] = []

beforeAll(async () => {
  dev = await startWrangler({ copy: true, vars: { III_ENGINE_TOKEN: TOKEN, STREAM_AUTH_FUNCTION: AUTH_FUNCTION } })
})
afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate()
  await Promise.allSettled(workers.splice(0).map((w) => w.shutdown()))
})
afterAll(async () => {
  await dev?.stop()
})

/** A worker of namespace `ns`, with the engine token (shut down after the test). */
function worker(ns: string, name: string): Iii {
  const w = registerWorker(`${dev.wsUrl}/${ns}`, { workerName: name, otel: { enabled: false }, headers: { authorization: `Bearer ${TOKEN}` } })
  workers.push(w)
  return w
}

/** Waits until `iii`'s own calls see `function_id` registered (or, with `gone`, no longer). */
async function functionListed(iii: Iii, function_id: string, gone = false): Promise<void> {
  const listed = async () => {
    const { functions } = (await iii.trigger({ function_id: 'engine::functions::list', payload: {} })) as { functions: { function_id: string }[] }
    return functions.some((f) => f.function_id === function_id) !== gone
  }
  await until(`${function_id} ${gone ? 'gone' : 'listed'}`, listed, 10_000, 100)
}

/** Lets anonymous handshakes of namespace `ns` through (`{context: null}`), as a deployer would. */
async function anonymousAuth(iii: Iii): Promise<void> {
  iii.registerFunction(AUTH_FUNCTION, async () => ({ context: null }))
  await functionListed(iii, AUTH_FUNCTION)
}

interface Frame {
  streamName: string
  groupId: string
  id: string | null
  event: { type: string; data?: unknown }
}

/** A subscriber socket at `path` (under the namespace): its frames, its close, join and leave. */
async function subscriber(ns: string, path: string) {
  const ws = new WebSocket(`${dev.wsUrl}/${ns}${path}`)
  sockets.push(ws)
  const frames: Frame[] = []
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame))
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  const frame = (type: 'join' | 'leave', subscriptionId: string, streamName: string, groupId: string) => ws.send(JSON.stringify({ type, data: { subscriptionId, streamName, groupId } }))
  return {
    ws,
    frames,
    closed,
    join: (subscriptionId: string, streamName: string, groupId: string) => frame('join', subscriptionId, streamName, groupId),
    leave: (subscriptionId: string, streamName: string, groupId: string) => frame('leave', subscriptionId, streamName, groupId),
  }
}

/** The status and body of an upgrade the front door refused. */
function refusedUpgrade(url: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url)
    ws.once('unexpected-response', (req, res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => (text += chunk.toString()))
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) })
        req.destroy()
      })
    })
    ws.once('open', () => {
      ws.terminate()
      reject(new Error(`upgrade of ${url} unexpectedly accepted`))
    })
    ws.on('error', () => {})
  })
}

/** Joins `group` of `stream` on a fresh socket at `path` and gives the first frame it gets. */
async function firstFrameOfJoin(ns: string, path: string, stream: string, group: string): Promise<Frame> {
  const sub = await subscriber(ns, path)
  sub.join(unique('sub'), stream, group)
  return until('a first frame', () => sub.frames[0], 15_000)
}

describe('stream:join fails closed', () => {
  it('a join function that throws refuses the anonymous subscriber: unauthorized, no sync', async () => {
    const ns = unique('ns-throw')
    const iii = worker(ns, 'security-throwing-join')
    await anonymousAuth(iii)
    const stream = unique('s')
    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: stream, group_id: 'secret', item_id: 'a', data: { pin: 1234 } } })
    const join = iii.registerFunction('security::join', async (e: { context: { user: string } }) => ({ unauthorized: e.context.user !== 'ann' })) // throws: context is null
    iii.registerTrigger({ type: 'stream:join', function_id: join.id, config: {} })
    await sleep(JOIN_VIEW_MS)

    for (const path of [`/streams/${stream}/secret`, '/streams']) {
      const sub = await subscriber(ns, path)
      sub.join('anon', stream, 'secret')
      await until(`the refusal on ${path}`, () => sub.frames.length >= 1)
      await sleep(300)
      expect(sub.frames).toEqual([expect.objectContaining({ streamName: stream, groupId: 'secret', event: { type: 'unauthorized' } })])
    }
  })

  it('a refusing join function whose worker left refuses, on a group socket and through /streams', async () => {
    const ns = unique('ns-gone')
    const keeper = worker(ns, 'security-keeper') // registers the trigger and the auth function, and stays
    const server = worker(ns, 'security-join-server') // serves the join function, then leaves
    await anonymousAuth(keeper)
    server.registerFunction('security::refuse-all', async () => ({ unauthorized: true }))
    await functionListed(keeper, 'security::refuse-all')
    keeper.registerTrigger({ type: 'stream:join', function_id: 'security::refuse-all', config: {} })
    const stream = unique('s')
    await keeper.trigger({ function_id: 'stream::set', payload: { stream_name: stream, group_id: 'g', item_id: 'a', data: 'private' } })
    await sleep(JOIN_VIEW_MS)
    expect((await firstFrameOfJoin(ns, `/streams/${stream}/g`, stream, 'g')).event).toEqual({ type: 'unauthorized' })

    await server.shutdown()
    await functionListed(keeper, 'security::refuse-all', true)
    await sleep(JOIN_VIEW_MS) // the group's view now knows the trigger and no function behind it
    for (const path of [`/streams/${stream}/g`, '/streams']) {
      expect((await firstFrameOfJoin(ns, path, stream, 'g')).event, path).toEqual({ type: 'unauthorized' })
    }
  })

  it('a join function that does not answer within 10 s refuses', async () => {
    const ns = unique('ns-hang')
    const iii = worker(ns, 'security-hanging-join')
    await anonymousAuth(iii)
    const join = iii.registerFunction('security::hang', () => new Promise(() => {}))
    iii.registerTrigger({ type: 'stream:join', function_id: join.id, config: {} })
    await sleep(JOIN_VIEW_MS)
    const stream = unique('s')
    const started = Date.now()
    expect((await firstFrameOfJoin(ns, '/streams', stream, 'g')).event).toEqual({ type: 'unauthorized' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(9_000)
  })
})

describe('STREAM_AUTH_FUNCTION fails closed', () => {
  it('an auth function that throws refuses the upgrade with 401; one nobody serves with 503', async () => {
    const ns = unique('ns-auth')
    const iii = worker(ns, 'security-throwing-auth')
    iii.registerFunction(AUTH_FUNCTION, async () => {
      throw new Error('no such session')
    })
    await functionListed(iii, AUTH_FUNCTION)
    for (const path of ['/streams', '/streams/s/g']) {
      expect(await refusedUpgrade(`${dev.wsUrl}/${ns}${path}`)).toEqual({
        status: 401,
        body: { error: { code: 'UNAUTHORIZED', message: expect.stringContaining('no such session') } },
      })
    }
    // A namespace where no worker serves the auth function: the gate cannot be asked.
    const empty = unique('ns-no-auth')
    for (const path of ['/streams', '/streams/s/g']) {
      expect(await refusedUpgrade(`${dev.wsUrl}/${empty}${path}`)).toEqual({
        status: 503,
        body: { error: { code: 'UNAVAILABLE', message: expect.stringContaining(AUTH_FUNCTION), error_id: expect.stringMatching(/^[0-9a-f]{12}$/) } },
      })
    }
  })

  it('an auth function answering something that is not {context} refuses with 401; one that hangs, 503 after 10 s', async () => {
    const ns = unique('ns-odd')
    const iii = worker(ns, 'security-odd-auth')
    let answer: unknown = 'yes'
    iii.registerFunction(AUTH_FUNCTION, async () => (answer === 'hang' ? new Promise(() => {}) : answer))
    await functionListed(iii, AUTH_FUNCTION)
    expect(await refusedUpgrade(`${dev.wsUrl}/${ns}/streams`)).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } })
    answer = undefined
    expect(await refusedUpgrade(`${dev.wsUrl}/${ns}/streams`)).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } })
    answer = 'hang'
    const started = Date.now()
    expect(await refusedUpgrade(`${dev.wsUrl}/${ns}/streams/s/g`)).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE', message: expect.stringMatching(/did not answer/) } } })
    expect(Date.now() - started).toBeGreaterThanOrEqual(9_000)
  })
})

describe('subscriber sockets and bad frames', () => {
  /** A namespace whose handshakes pass and whose one join function lets everyone in. */
  async function openNamespace(prefix: string): Promise<{ ns: string; iii: Iii }> {
    const ns = unique(`ns-${prefix}`)
    const iii = worker(ns, `security-${prefix}`)
    await anonymousAuth(iii)
    iii.registerTrigger({ type: 'stream:join', function_id: iii.registerFunction('security::allow', async () => ({ unauthorized: false })).id, config: {} })
    return { ns, iii }
  }

  it('a binary frame closes the socket with 1003 (on /streams and on a group socket); the Worker serves the next subscriber', async () => {
    const { ns, iii } = await openNamespace('binary')
    const stream = unique('s')
    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: stream, group_id: 'g', item_id: 'a', data: 1 } })
    await sleep(JOIN_VIEW_MS)
    const watching = await subscriber(ns, '/streams')
    watching.join('w', stream, 'g')
    await until('the sync of the one watching', () => watching.frames.length >= 1)

    for (const path of ['/streams', `/streams/${stream}/g`]) {
      const sub = await subscriber(ns, path)
      sub.ws.send(Buffer.from(JSON.stringify({ type: 'join', data: { subscriptionId: 'b', streamName: stream, groupId: 'g' } })), { binary: true })
      const { code, reason } = await sub.closed
      expect([code, reason], path).toEqual([1003, 'binary frames are not stream messages; send JSON text'])
      expect(sub.frames).toEqual([])
    }
    const next = await subscriber(ns, '/streams')
    next.join('n', stream, 'g')
    await until('the next subscriber\'s sync', () => next.frames.length >= 1)
    expect(next.frames[0]!.event).toEqual({ type: 'sync', data: [1] })
    await iii.trigger({ function_id: 'stream::set', payload: { stream_name: stream, group_id: 'g', item_id: 'a', data: 2 } })
    await until('the change on both', () => next.frames.length >= 2 && watching.frames.length >= 2)
    expect(watching.ws.readyState).toBe(WebSocket.OPEN)
  })

  it('one /streams socket holds 50 live subscriptions: a re-join does not count twice, a leave frees one, the 51st closes it with 1008', async () => {
    const { ns, iii } = await openNamespace('cap')
    await sleep(JOIN_VIEW_MS)
    const stream = unique('s')
    const sub = await subscriber(ns, '/streams')
    for (let g = 0; g < 5; g++) for (let i = 0; i < 10; i++) sub.join(`s${g}-${i}`, stream, `g${g}`)
    await until('50 syncs', () => sub.frames.length >= 50, 20_000)
    sub.join('s0-0', stream, 'g0') // the same subscription again: still 50
    await until('its sync again', () => sub.frames.length >= 51)
    sub.leave('s1-0', stream, 'g1')
    sub.join('s5-0', stream, 'g5') // in the place of the one that left
    await until('the sync of the new one', () => sub.frames.some((f) => f.groupId === 'g5'))
    expect(sub.ws.readyState).toBe(WebSocket.OPEN)
    sub.join('s6-0', stream, 'g6')
    expect(await sub.closed).toEqual({ code: 1008, reason: 'at most 50 subscriptions per socket; open another socket for more' })
    expect(sub.frames.some((f) => f.groupId === 'g6')).toBe(false)
  })

  it('ten subscriptions of one group per /streams socket: the 11th closes it with 1008, saying so', async () => {
    const { ns, iii } = await openNamespace('group-cap')
    await sleep(JOIN_VIEW_MS)
    const stream = unique('s')
    const sub = await subscriber(ns, '/streams')
    for (let i = 0; i < 10; i++) sub.join(`s${i}`, stream, 'g')
    await until('10 syncs', () => sub.frames.length >= 10)
    sub.join('eleventh', stream, 'g')
    expect(await sub.closed).toEqual({ code: 1008, reason: 'at most 10 subscriptions of one group per socket; open another socket for more' })
  })
})
