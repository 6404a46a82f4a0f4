// The one front door: routes only. Checks that need no state happen here, before any object wakes.
// Which object serves what, and why, is in docs/architecture.md.

import { type Context, Hono } from 'hono'
import { keySigned, sameSecret } from './channel/keys'
import { mintChannel } from './channel/mint'
import { END_HEADER, ID_HEADER, WINDOW_HEADER } from './channel/object'
import { signingKey } from './channel/signing'
import { NAMESPACE_HEADER } from './engine/session-object'
import { notFound, serveHttpTrigger } from './http/bridge'
import { echoableCloseCode, isReservedCloseCode } from './protocol/close-codes'
import { DEFAULT_NAMESPACE, namespaceOfEnginePath, parseNamespace } from './protocol/namespace'
import { parseChannelSocketTarget, parseCreateChannelBody } from './protocol/refs'
import { namespaceCounters, namespaceStatus } from './status/api'
import { channelStub, newSessionId } from './stubs'

export { ChannelObject } from './channel/object'
export { CronObject } from './engine/cron-object'
export { RegistryObject } from './engine/registry-object'
export { SessionObject } from './engine/session-object'
export { StatusObject } from './status/object'

type App = { Bindings: Env }

const app = new Hono<App>()

const isUpgrade = (c: Context<App>) => c.req.header('upgrade')?.toLowerCase() === 'websocket'
const STATUS_INTERVAL_MS = 1000
const OTEL_PATH = '/otel'

/**
 * With III_ENGINE_TOKEN set, the engine, the channels API and the status API want
 * `Authorization: Bearer <token>`; where a header cannot be sent (EventSource), `?token=` may stand in.
 */
async function tokenRefusal(c: Context<App>, allowQuery = false): Promise<Response | null> {
  const expected = c.env.III_ENGINE_TOKEN
  if (!expected) return null
  const header = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1]
  const given = header ?? (allowQuery ? c.req.query('token') : undefined) ?? ''
  if (await sameSecret(given, expected)) return null
  return c.json({ error: 'engine token required: send Authorization: Bearer <token>' }, 401)
}

/** `?namespace=` of the channels and status APIs (absent: the default namespace). */
function queryNamespace(c: Context<App>): { ok: true; value: string } | { ok: false; response: Response } {
  const parsed = parseNamespace(c.req.query('namespace') ?? DEFAULT_NAMESPACE)
  return parsed.ok ? parsed : { ok: false, response: c.json({ error: parsed.message }, parsed.status) }
}

/** The token check, then `?namespace=`: what every status API route wants first. */
async function statusRequest(c: Context<App>, allowQueryToken = false): Promise<{ ok: true; value: string } | { ok: false; response: Response }> {
  const refused = await tokenRefusal(c, allowQueryToken)
  return refused ? { ok: false, response: refused } : queryNamespace(c)
}

/** Makes a channel: its id and keys are computed here, no object is touched (it is born on first connect). */
app.post('/channels', async (c) => {
  const refused = await tokenRefusal(c)
  if (refused) return refused
  const namespace = queryNamespace(c)
  if (!namespace.ok) return namespace.response
  const body = parseCreateChannelBody(await c.req.text())
  if (!body.ok) return c.json({ error: body.message }, body.status)
  const refs = await mintChannel(await signingKey(c.env), { bufferSize: body.value.bufferSize, namespace: namespace.value, now: Date.now() })
  return c.json(refs, 201)
})

/** `…/ws/channels/:id?key=…&dir=read|write`; the SDK keeps the path prefix of its engine address. */
async function channelSocket(c: Context<App>): Promise<Response> {
  if (!isUpgrade(c)) return c.text('expected a WebSocket upgrade', 426)
  const target = parseChannelSocketTarget(c.req.param('id')!, c.req.query('key'), c.req.query('dir'), c.req.query('window'))
  if (!target.ok) return c.text(target.message, target.status)
  const { channelId, end, key, window } = target.value
  // A forged or wrong-direction key is refused here: no object wakes for it.
  if (!(await keySigned(key, channelId, end === 'writer' ? 'write' : 'read', await signingKey(c.env)))) {
    return c.text('channel not found or wrong key', 404)
  }
  const headers = new Headers(c.req.raw.headers)
  headers.set(END_HEADER, end)
  headers.set(ID_HEADER, channelId)
  if (window !== null) headers.set(WINDOW_HEADER, String(window))
  return channelStub(c.env, channelId).fetch('https://channel/connect', { headers })
}

app.get('/ws/channels/:id', channelSocket)
app.get('/:prefix{.+}/ws/channels/:id', channelSocket)

/**
 * The SDK's OpenTelemetry socket (`<address>/otel`): accepted here in the Worker and its frames
 * dropped. It needs no state, so no object serves it (the SDK opens it before its main socket).
 */
function otelSocket(c: Context<App>): Response {
  if (!isUpgrade(c)) return c.text('expected a WebSocket upgrade', 426)
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
  server.accept()
  server.addEventListener('close', (event) => {
    // Answer the peer's Close ourselves (docs/platform.md).
    if (!isReservedCloseCode(event.code)) server.close(echoableCloseCode(event.code), '')
  })
  return new Response(null, { status: 101, webSocket: client })
}

app.get(OTEL_PATH, otelSocket)
app.get(`/:prefix{.+}${OTEL_PATH}`, otelSocket)

/** The main socket: an upgrade on `/` (default namespace) or `/<namespace>`; a new session object serves it. */
app.get('*', async (c, next) => {
  if (!isUpgrade(c)) return next()
  const pathname = new URL(c.req.url).pathname
  // A channel address that did not parse (e.g. no id) is a bad channel request, not an engine socket.
  if (/(^|\/)ws\/channels(\/|$)/.test(pathname)) return c.text('channel not found or wrong key', 404)
  const namespace = namespaceOfEnginePath(pathname)
  if (!namespace.ok) return c.text(namespace.message, namespace.status)
  const refused = await tokenRefusal(c)
  if (refused) return refused
  const headers = new Headers(c.req.raw.headers)
  headers.set(NAMESPACE_HEADER, namespace.value)
  // A unique id: the object is created near this Worker, that is near the worker that connects.
  return c.env.SESSION.get(newSessionId(c.env)).fetch('https://session/', { headers })
})

/** Status of one namespace: workers, functions, triggers and its channels (the page at `/` shows it). */
app.get('/api/status', async (c) => {
  const namespace = await statusRequest(c)
  return namespace.ok ? c.json(await namespaceStatus(c.env, namespace.value)) : namespace.response
})

/** The same status as server-sent events, one snapshot a second, for as long as the client listens. */
app.get('/api/status/stream', async (c) => {
  const namespace = await statusRequest(c, true)
  if (!namespace.ok) return namespace.response
  const encoder = new TextEncoder()
  let first = true
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!first) await new Promise((r) => setTimeout(r, STATUS_INTERVAL_MS))
      first = false
      const status = await namespaceStatus(c.env, namespace.value)
      controller.enqueue(encoder.encode(`event: status\ndata: ${JSON.stringify(status)}\n\n`))
    },
  })
  return new Response(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } })
})

/** Messages and requests each object of a namespace handled (bench S1, S2). */
app.get('/api/counters', async (c) => {
  const namespace = await statusRequest(c)
  return namespace.ok ? c.json(await namespaceCounters(c.env, namespace.value)) : namespace.response
})

const info = (c: Context<App>) =>
  c.json({
    name: 'iii channels at the edge',
    engine: `${new URL(c.req.url).origin.replace(/^http/, 'ws')}/`,
    namespaces: 'ws://<host>/<namespace> selects a namespace of its own',
    channels_api: 'POST /channels',
    status: '/api/status',
  })
app.get('/api/info', info)

/** The page and its files (public/): served by the Worker, after the upgrade routes above. */
const page = (c: Context<App>) => c.env.ASSETS.fetch(c.req.raw)
app.get('/', page)
app.get('/_iii/*', page)

/** Everything else may be an http trigger registered by a worker. */
app.all('*', async (c) => {
  const response = await serveHttpTrigger(c.env, c.req.raw, (p) => c.executionCtx.waitUntil(p))
  return response ?? notFound(c.req.raw)
})
app.onError((err, c) => {
  console.error(err)
  return c.json({ error: 'internal error' }, 500)
})

export default app
