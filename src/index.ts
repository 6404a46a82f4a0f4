// The one front door: routes only. Checks that need no state happen here, before any object wakes.
// Which object serves what, and why, is in docs/architecture.md. Every error answers in one shape
// (protocol/http-errors.ts); who may use the engine is decided by one middleware (http/guard.ts).

import { type Context, Hono } from 'hono'
import { except } from 'hono/combine'
import { HTTPException } from 'hono/http-exception'
import { streamSSE } from 'hono/streaming'
import { connectEnd } from './channel/connect'
import { keySigned } from './channel/keys'
import { mintChannel } from './channel/mint'
import { signingKey } from './engine/signing'
import { NAMESPACE_HEADER } from './engine/session-object'
import { connectExchange, notFound, serveHttpTrigger } from './http/bridge'
import { serveOtelSocket } from './http/otel-socket'
import { httpTriggerCors } from './http/cors'
import { refuse } from './http/errors'
import { httpError } from './protocol/http-errors'
import { engineGuard } from './http/guard'
import { API_PATH, CHANNEL_SOCKET_PATH, CHANNELS_PATH, OTEL_PATH, PAGE_ASSETS_PATH, STREAMS_PATH } from './paths'
import { DEFAULT_NAMESPACE, namespaceOfEnginePath, parseNamespace } from './protocol/namespace'
import { type Parsed, parseChannelSocketTarget, parseCreateChannelBody } from './protocol/refs'
import { namespaceCounters, namespaceStatus } from './http/status'
import { newSessionId } from './engine/stubs'
import { streamStub } from './data/stubs'
import { NAME_MAX_BYTES, utf8Bytes } from './data/state'
import { StreamGroupObject, subscriberHeaders } from './data/stream-object'
import { streamAuth } from './data/stream-auth'
import { dataEngine } from './engine/data-engine'
import { streamHub } from './data/stream-hub'
import { FifoGroupObject } from './data/queue/group-object'
import { consumeBatch } from './data/queue/consumer'
import { ENDPOINT_HEADER, RIGHTS_HEADER, endpointOf, workerEndpoints } from './engine/worker-endpoints'
import { serveWorkerEndpoint } from './http/worker-endpoint'

export { ChannelObject } from './channel/object'
export { CronObject } from './engine/cron-object'
export { StateObject } from './data/state-object'
export { ConfigurationObject } from './data/configuration-object'
export { DirectoryObject } from './data/directory-object'
export { RegistryObject } from './engine/registry-object'
export { SessionObject } from './engine/session-object'
export { StatusObject } from './status/object'
export { QueueObject } from './data/queue/queue-object'

/**
 * A stream group's object, given the engine it invokes functions through (data/engine-port.ts):
 * bound here, where both layers are in view, so that data/ imports nothing of the engine.
 */
export class StreamObject extends StreamGroupObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, dataEngine(env))
  }
}

/** A FIFO queue's message group, given the engine it invokes through (as StreamObject). */
export class QueueGroupObject extends FifoGroupObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, dataEngine(env))
  }
}

type App = { Bindings: Env }

const app = new Hono<App>()

const STATUS_INTERVAL_MS = 1000
const STATUS_STREAM_PATH = `${API_PATH}/status/stream`

const isUpgrade = (c: Context<App>) => c.req.header('upgrade')?.toLowerCase() === 'websocket'
const isChannelSocketPath = (path: string) => /(^|\/)ws\/channels(\/|$)/.test(path)
/** `[/<namespace>]/streams[/…]`: stream subscribers (their joins are decided by `stream:join` functions). */
const isStreamsPath = (path: string) => new RegExp(`^(/[^/]+)?${STREAMS_PATH}(/|$)`).test(path)
/** An upgrade to the engine: the main socket or the SDK's telemetry socket (not a channel socket or a stream subscriber). */
const isEngineUpgrade = (c: Context<App>) => isUpgrade(c) && !isChannelSocketPath(c.req.path) && !isStreamsPath(c.req.path)

/** A parsed input, or the route stops with its status and message. */
const valueOr = <T,>(parsed: Parsed<T>): T => (parsed.ok ? parsed.value : refuse(parsed.status as 400, parsed.message))

/** `?namespace=` of the channels and status APIs (absent: the default namespace). */
const queryNamespace = (c: Context<App>) => valueOr(parseNamespace(c.req.query('namespace') ?? DEFAULT_NAMESPACE))

// A request whose address does not parse (a Host such as `localhost:99999`, or two Host values) is
// refused before anything reads its URL. (Under `wrangler dev`, miniflare's own entry Worker already
// answers such a request with a plain 500 before this Worker runs: docs/platform.md.)
app.use('*', async (c, next) => {
  if (!URL.canParse(c.req.url)) refuse(400, 'the request address does not parse: send one valid Host header (host[:port], port ≤ 65535)')
  await next()
})

// Worker endpoints (III_WORKER_ENDPOINTS, docs/rbac.md): their own doors to the engine socket, where
// an auth function of the deployment decides, not the engine token. Their paths win over a namespace's.
app.use('*', async (c, next) => {
  if (!isUpgrade(c)) return next()
  const endpoints = workerEndpoints(c.env.III_WORKER_ENDPOINTS, (message) => console.warn(message))
  const door = endpoints.length > 0 ? endpointOf(endpoints, c.req.path) : null
  if (!door) return next()
  return serveWorkerEndpoint(c.env, door.endpoint, door.otel, c.req.raw, (p) => c.executionCtx.waitUntil(p))
})

// The engine: the main socket, the channels API and the status API (EventSource cannot send
// headers: the stream also takes `?token=`). HTTP triggers and channel sockets are not guarded here.
app.use(CHANNELS_PATH, engineGuard())
app.use(`${API_PATH}/*`, engineGuard({ tokenInQuery: [STATUS_STREAM_PATH] }))
app.use('*', except((c) => !isEngineUpgrade(c), engineGuard()))

/** Makes a channel: its id and keys are computed here, no object is touched (it is born on first connect). */
app.post(CHANNELS_PATH, async (c) => {
  const namespace = queryNamespace(c)
  const body = valueOr(parseCreateChannelBody(await c.req.text()))
  const refs = await mintChannel(await signingKey(c.env), { bufferSize: body.bufferSize, namespace, now: Date.now() })
  return c.json(refs, 201)
})

/** `…/ws/channels/:id?key=…&dir=read|write`; the SDK keeps the path prefix of its engine address. */
async function channelSocket(c: Context<App>): Promise<Response> {
  if (!isUpgrade(c)) refuse(426, 'expected a WebSocket upgrade')
  const { channelId, exchange, end, key, window } = valueOr(parseChannelSocketTarget(c.req.param('id')!, c.req.query('key'), c.req.query('dir'), c.req.query('window')))
  // A forged or wrong-direction key is refused here: no object wakes for it.
  if (!(await keySigned(key, channelId, end === 'writer' ? 'write' : 'read', await signingKey(c.env)))) {
    refuse(404, 'channel not found or wrong key')
  }
  // A channel of an HTTP request lives in the session serving it (engine/exchange.ts).
  if (exchange) return connectExchange(c.env, exchange, c.req.raw) ?? refuse(404, 'channel not found or wrong key')
  return connectEnd(c.env, { channelId, end, window }, c.req.raw)
}

app.get(`${CHANNEL_SOCKET_PATH}/:id`, channelSocket)
app.get(`/:prefix{.+}${CHANNEL_SOCKET_PATH}/:id`, channelSocket)

/**
 * The SDK's OpenTelemetry socket (`<address>/otel`, the namespace's address): its log records become
 * the namespace's, and go on to a collector with its spans and metrics (http/otel-socket.ts). The
 * SDK sends it no headers: a deployed engine's token reaches it in the address (README "Observability").
 */
function otelSocket(c: Context<App>): Response {
  if (!isUpgrade(c)) refuse(426, 'expected a WebSocket upgrade')
  const namespace = valueOr(namespaceOfEnginePath(c.req.path.slice(0, -OTEL_PATH.length)))
  return serveOtelSocket(c.env, namespace, (p) => c.executionCtx.waitUntil(p))
}

app.get(OTEL_PATH, otelSocket)
app.get(`/:prefix{.+}${OTEL_PATH}`, otelSocket)

/**
 * The context the deployment's auth function (`STREAM_AUTH_FUNCTION`) gives this handshake, or the
 * route stops: 401 when the function did not let it in, 503 when it could not be asked
 * (data/stream-auth.ts). No auth function: null.
 */
async function handshakeContext(c: Context<App>, namespace: string): Promise<string | null> {
  const auth = await streamAuth(c.env, dataEngine(c.env), namespace, c.req.raw)
  return 'status' in auth ? refuse(auth.status, auth.message) : auth.context
}

/**
 * A stream subscriber's socket (a browser's): `/streams/<stream>/<group>`, or under
 * `/<namespace>/`, served by that group's object. Open like the engine's stream port: the
 * namespace's `stream:join` functions decide each join.
 */
async function streamSocket(c: Context<App>): Promise<Response> {
  if (!isUpgrade(c)) refuse(426, 'expected a WebSocket upgrade')
  const namespace = valueOr(parseNamespace(c.req.param('namespace') ?? DEFAULT_NAMESPACE))
  const stream = c.req.param('stream')!
  const group = c.req.param('group')!
  if (utf8Bytes(stream) > NAME_MAX_BYTES || utf8Bytes(group) > NAME_MAX_BYTES) refuse(414, `a stream name or group id is at most ${NAME_MAX_BYTES} bytes`)
  const context = await handshakeContext(c, namespace)
  const headers = subscriberHeaders({ namespace, stream_name: stream, group_id: group, context }, c.req.raw.headers)
  return streamStub(c.env, namespace, stream, group).fetch('https://stream/subscribe', { headers })
}

app.get(`${STREAMS_PATH}/:stream/:group`, streamSocket)
app.get(`/:namespace${STREAMS_PATH}/:stream/:group`, streamSocket)

/** One socket for any number of groups, as the engine's stream port: `/streams` (data/stream-hub.ts). */
async function streamHubSocket(c: Context<App>): Promise<Response> {
  if (!isUpgrade(c)) refuse(426, 'expected a WebSocket upgrade')
  const namespace = valueOr(parseNamespace(c.req.param('namespace') ?? DEFAULT_NAMESPACE))
  return streamHub(c.env, namespace, await handshakeContext(c, namespace))
}

app.get(STREAMS_PATH, streamHubSocket)
app.get(`/:namespace${STREAMS_PATH}`, streamHubSocket)

/** The main socket: an upgrade on `/` (default namespace) or `/<namespace>`; a new session object serves it. */
app.get('*', async (c, next) => {
  if (!isUpgrade(c)) return next()
  // A channel address that did not parse (e.g. no id) is a bad channel request, not an engine socket.
  if (isChannelSocketPath(c.req.path)) refuse(404, 'channel not found or wrong key')
  const namespace = valueOr(namespaceOfEnginePath(c.req.path))
  const headers = new Headers(c.req.raw.headers)
  headers.set(NAMESPACE_HEADER, namespace)
  // Only a worker endpoint's upgrade carries rules (http/worker-endpoint.ts): none a client sends itself.
  headers.delete(ENDPOINT_HEADER)
  headers.delete(RIGHTS_HEADER)
  // A unique id: the object is created near this Worker, that is near the worker that connects.
  return c.env.SESSION.get(newSessionId(c.env)).fetch('https://session/', { headers })
})

/** Status of one namespace: workers, functions, triggers and its channels (the page at `/` shows it). */
app.get(`${API_PATH}/status`, async (c) => c.json(await namespaceStatus(c.env, queryNamespace(c))))

/** The same status as server-sent events, one snapshot a second, for as long as the client listens. */
app.get(STATUS_STREAM_PATH, (c) => {
  const namespace = queryNamespace(c)
  return streamSSE(c, async (stream) => {
    while (!stream.aborted) {
      await stream.writeSSE({ event: 'status', data: JSON.stringify(await namespaceStatus(c.env, namespace)) })
      await stream.sleep(STATUS_INTERVAL_MS)
    }
  })
})

/** Messages and requests each object of a namespace handled (bench S1, S2). */
app.get(`${API_PATH}/counters`, async (c) => c.json(await namespaceCounters(c.env, queryNamespace(c))))

app.get(`${API_PATH}/info`, (c) =>
  c.json({
    name: 'iii channels at the edge',
    engine: `${new URL(c.req.url).origin.replace(/^http/, 'ws')}/`,
    namespaces: 'ws://<host>/<namespace> selects a namespace of its own',
    channels_api: `POST ${CHANNELS_PATH}`,
    streams: `${new URL(c.req.url).origin.replace(/^http/, 'ws')}${STREAMS_PATH}/<stream_name>/<group_id>`,
    status: `${API_PATH}/status`,
  }),
)

/** The page and its files (public/): served by the Worker, after the upgrade routes above. */
const page = (c: Context<App>) => c.env.ASSETS.fetch(c.req.raw)
app.get('/', page)
app.get(`${PAGE_ASSETS_PATH}/*`, page)

/** Everything else may be an http trigger registered by a worker (with CORS: http/cors.ts). */
app.all('*', httpTriggerCors(), async (c) => {
  const response = await serveHttpTrigger(c.env, c.req.raw)
  return response ?? notFound(c.req.raw)
})

app.onError((err) => {
  if (err instanceof HTTPException) return err.getResponse()
  return httpError(500, 'INTERNAL', 'internal error', { error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
})

/**
 * The front door's HTTP and upgrades (Hono), and the consumer of the jobs waiting in Cloudflare
 * Queues: each runs through the session serving its function (data/queue/consumer.ts).
 */
export default {
  fetch: app.fetch,
  queue: (batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext) => consumeBatch(env, dataEngine(env), batch, (message) => console.warn(message), (p) => ctx.waitUntil(p)),
} satisfies ExportedHandler<Env>
