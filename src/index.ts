// The one front door: routes only. Checks that need no state happen here, before any object wakes.

import { type Context, Hono } from 'hono'
import { createChannel } from './channel/create'
import { keySigned, sameSecret } from './channel/keys'
import { END_HEADER, KEY_HEADER, WINDOW_HEADER } from './channel/object'
import { OTEL_PATH } from './engine/object'
import { httpError, serveHttpTrigger } from './http/bridge'
import { parseChannelSocketTarget, parseCreateChannelBody } from './protocol/refs'
import { channelStub, engineStub } from './stubs'

export { ChannelObject } from './channel/object'
export { EngineObject } from './engine/object'

type App = { Bindings: Env }

const app = new Hono<App>()

const isUpgrade = (c: Context<App>) => c.req.header('upgrade')?.toLowerCase() === 'websocket'
const STATUS_INTERVAL_MS = 1000

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

app.post('/channels', async (c) => {
  const refused = await tokenRefusal(c)
  if (refused) return refused
  const body = parseCreateChannelBody(await c.req.text())
  if (!body.ok) return c.json({ error: body.message }, body.status)
  return c.json(await createChannel(c.env, body.value.bufferSize), 201)
})

/** `…/ws/channels/:id?key=…&dir=read|write`; the SDK keeps the path prefix of its engine address. */
async function channelSocket(c: Context<App>): Promise<Response> {
  if (!isUpgrade(c)) return c.text('expected a WebSocket upgrade', 426)
  const target = parseChannelSocketTarget(c.req.param('id')!, c.req.query('key'), c.req.query('dir'), c.req.query('window'))
  if (!target.ok) return c.text(target.message, target.status)
  const { channelId, end, key, window } = target.value
  // With a signing secret, a forged or wrong-direction key is refused here: no object wakes for it.
  const secret = c.env.III_SIGNING_SECRET
  if (secret && !(await keySigned(key, channelId, end === 'writer' ? 'write' : 'read', secret))) {
    return c.text('channel not found or wrong key', 404)
  }
  const headers = new Headers(c.req.raw.headers)
  headers.set(END_HEADER, end)
  headers.set(KEY_HEADER, key)
  if (window !== null) headers.set(WINDOW_HEADER, String(window))
  return channelStub(c.env, channelId).fetch('https://channel/connect', { headers })
}

app.get('/ws/channels/:id', channelSocket)
app.get('/:prefix{.+}/ws/channels/:id', channelSocket)

/** The SDK's OpenTelemetry socket (`<address>/otel`): accepted, frames counted and dropped. */
async function otelSocket(c: Context<App>): Promise<Response> {
  if (!isUpgrade(c)) return c.text('expected a WebSocket upgrade', 426)
  return engineStub(c.env).fetch(`https://engine${OTEL_PATH}`, { headers: c.req.raw.headers })
}

app.get(OTEL_PATH, otelSocket)
app.get(`/:prefix{.+}${OTEL_PATH}`, otelSocket)

/** The main socket: a WebSocket upgrade on the root or any other path (the SDK keeps its prefix). */
app.get('*', async (c, next) => {
  if (!isUpgrade(c)) return next()
  // A channel address that did not parse (e.g. no id) is a bad channel request, not an engine socket.
  if (/(^|\/)ws\/channels(\/|$)/.test(new URL(c.req.url).pathname)) return c.text('channel not found or wrong key', 404)
  const refused = await tokenRefusal(c)
  if (refused) return refused
  return engineStub(c.env).fetch('https://engine/', { headers: c.req.raw.headers })
})

/** Status of the engine and its channels (the page at `/` shows it). */
app.get('/api/status', async (c) => (await tokenRefusal(c)) ?? c.json(await engineStub(c.env).status()))

/** The same status as server-sent events, one snapshot a second, for as long as the client listens. */
app.get('/api/status/stream', async (c) => {
  const refused = await tokenRefusal(c, true)
  if (refused) return refused
  const encoder = new TextEncoder()
  let first = true
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!first) await new Promise((r) => setTimeout(r, STATUS_INTERVAL_MS))
      first = false
      const status = await engineStub(c.env).status()
      controller.enqueue(encoder.encode(`event: status\ndata: ${JSON.stringify(status)}\n\n`))
    },
  })
  return new Response(stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } })
})

const info = (c: Context<App>) =>
  c.json({
    name: 'iii channels at the edge',
    engine: `${new URL(c.req.url).origin.replace(/^http/, 'ws')}/`,
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
  return response ?? httpError(404, 'NOT_FOUND', `no route or http trigger for ${c.req.method} ${new URL(c.req.url).pathname}`)
})
app.onError((err, c) => {
  console.error(err)
  return c.json({ error: 'internal error' }, 500)
})

export default app
