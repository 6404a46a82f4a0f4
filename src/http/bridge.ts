// HTTP trigger bridge (docs/architecture.md, "One HTTP request"): the route is matched in this
// isolate's registry views, two channels are made here (no object touched until this Worker opens
// its ends, which creates them near it), the session serving the function is called directly, the
// request body streams into one channel and the response is read from the other: `set_status` /
// `set_headers` text frames first, then binary frames as body chunks, passed on as they arrive.

import { mintChannel } from '../channel/mint'
import { connectEnd } from '../channel/connect'
import { signingKey } from '../channel/signing'
import { viewCacheFor } from '../engine/cache'
import type { HttpAnswer } from '../engine/session-object'
import type { Outcome } from '../engine/session'
import { type ChannelRef, DEFAULT_BUFFER_SIZE } from '../protocol/refs'
import { sessionStub } from '../stubs'
import { invokeFunction } from '../engine/invoke'
import { httpError } from './errors'
import { runGates } from './middleware'
import { parseControlFrame, resultResponse } from './response'
import { type Resolution, RETRY_AFTER_S, resolveHttp } from './router'
import type { RouteMatch } from './routes'

/** JSON bodies up to this size are also parsed into `body`; larger ones only stream. */
const JSON_BODY_LIMIT = 1 << 20
/** Request body chunks are cut to the SDK's frame size. */
const FRAME_BYTES = 64 * 1024
/** After an empty result, how long to wait for a response frame before answering 204. */
const EMPTY_RESULT_GRACE_MS = 3000

/** What the bridge learns from the session: the function's outcome, or an answer of its own. */
type Settled = Outcome | { response: () => Response }

const departedResponse = (retryAfterS: number) => () => {
  const res = httpError(503, 'UNAVAILABLE', 'the worker serving this route just left (a deploy or a reconnect); try again shortly')
  res.headers.set('retry-after', String(retryAfterS))
  return res
}

/** Serves `request` through a matching http trigger, or returns null when none matches. */
export async function serveHttpTrigger(env: Env, request: Request, waitUntil: (p: Promise<unknown>) => void): Promise<Response | null> {
  const url = new URL(request.url)
  const views = (namespace: string) => viewCacheFor(env, namespace)
  const resolve = (fresh: boolean) => resolveHttp(views, request.method, url.pathname, { fresh, now: Date.now })
  let resolution: Resolution = await resolve(false)
  if (resolution.kind === 'none') return null
  if (resolution.kind === 'departed') return departedResponse(resolution.retryAfterS)()
  const route = resolution
  const key = await signingKey(env)
  const mint = () => mintChannel(key, { bufferSize: DEFAULT_BUFFER_SIZE, namespace: route.namespace, now: Date.now() })
  const [requestChannel, responseChannel] = await Promise.all([mint(), mint()])
  const [responseReader, requestWriter] = await Promise.all([openEnd(env, responseChannel.reader), openEnd(env, requestChannel.writer)])
  const { body, upload } = await takeBody(request)
  waitUntil(pumpBody(upload, requestWriter))
  const dataFor = (match: RouteMatch) => ({
    query_params: Object.fromEntries(url.searchParams),
    path_params: match.path_params,
    headers: Object.fromEntries(request.headers),
    // As in the iii engine: `path` is the registered path (`/files/:filename`), not the URL's.
    path: match.api_path,
    method: request.method,
    body,
    trigger: { type: 'http', path: match.api_path, method: request.method },
    request_body: requestChannel.reader,
    response: responseChannel.writer,
  })

  /** The trigger's condition and middleware, if it has any: a Response ends the request before the function. */
  const gates = (match: RouteMatch) => {
    if (!match.condition && match.middleware.length === 0) return null
    const { request_body: _, response: _r, ...conditionInput } = dataFor(match)
    const seen = { method: request.method, headers: conditionInput.headers, query_params: conditionInput.query_params, path_params: match.path_params }
    return runGates(match, seen, conditionInput, (call) => invokeFunction(env, route.namespace, call))
  }

  /** Calls the serving session; a stale view (the session says so) is refreshed and tried once more. */
  const settle = async (): Promise<Settled> => {
    const gate = await gates(route.match)
    if (gate) return { response: () => gate }
    for (let attempt = 0; ; attempt++) {
      if (resolution.kind === 'none') return { response: () => notFound(request) }
      if (resolution.kind === 'departed') return { response: departedResponse(resolution.retryAfterS) }
      const { match, view } = resolution
      const stub = sessionStub(env, match.worker)
      let answer: HttpAnswer
      try {
        answer = stub
          ? ((await stub.invokeHttp({ function_id: match.function_id, data: dataFor(match), metadata: match.metadata, viewVersion: view.version })) as HttpAnswer)
          : { status: 'gone' }
      } catch (err) {
        // The session was reset while the function ran: say so at once, don't wait for a TTL.
        return { response: () => httpError(502, 'BAD_GATEWAY', `the worker's session went away mid-request: ${err instanceof Error ? err.message : String(err)}`) }
      }
      if (answer.status === 'done') return answer.outcome
      if (answer.status === 'gone') return { response: departedResponse(RETRY_AFTER_S) }
      if (attempt >= 1) return { response: () => notFound(request) }
      resolution = await resolve(true)
    }
  }
  return assembleResponse(responseReader, settle(), requestWriter)
}

export const notFound = (request: Request) =>
  httpError(404, 'NOT_FOUND', `no route or http trigger for ${request.method} ${new URL(request.url).pathname}`)

/** Opens one channel end from inside this Worker, as a WebSocket client of the channel object. */
async function openEnd(env: Env, ref: ChannelRef): Promise<WebSocket> {
  const res = await connectEnd(env, { channelId: ref.channel_id, end: ref.direction === 'read' ? 'reader' : 'writer', window: null })
  const ws = res.webSocket
  if (!ws) throw new Error(`channel ${ref.channel_id} refused the ${ref.direction} end (${res.status})`)
  ws.binaryType = 'arraybuffer'
  // A finished channel drops its object, which the socket reports as an error: its close says enough.
  ws.addEventListener('error', () => {})
  ws.accept()
  return ws
}

/** JSON bodies (small enough) are read whole and parsed; everything else streams untouched. */
async function takeBody(request: Request): Promise<{ body: unknown; upload: ReadableStream<Uint8Array> | Uint8Array | null }> {
  const isJson = /^application\/([\w.+-]+\+)?json\b/i.test(request.headers.get('content-type') ?? '')
  const length = Number(request.headers.get('content-length') ?? NaN)
  if (!request.body || !isJson || !(length <= JSON_BODY_LIMIT)) return { body: null, upload: request.body }
  const bytes = new Uint8Array(await request.arrayBuffer())
  try {
    return { body: JSON.parse(new TextDecoder().decode(bytes)), upload: bytes }
  } catch {
    return { body: null, upload: bytes } // not JSON after all: the function still gets the raw body
  }
}

/** Writes the request body into its channel in ≤ 64 KiB frames, then ends it cleanly. */
async function pumpBody(upload: ReadableStream<Uint8Array> | Uint8Array | null, ws: WebSocket): Promise<void> {
  const send = (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.byteLength; at += FRAME_BYTES) ws.send(bytes.subarray(at, at + FRAME_BYTES))
  }
  try {
    if (upload instanceof Uint8Array) send(upload)
    else if (upload) for await (const chunk of upload) send(chunk)
    ws.close(1000, 'request_complete')
  } catch {
    // The client went away mid-upload: the function's reader sees an abnormal end (4001).
    try {
      ws.close(1011, 'request body aborted')
    } catch {
      // the channel is already gone
    }
  }
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304])

/**
 * Builds the Response from whichever comes first: the first body frame (stream it), the end of
 * the response channel, or the invocation's outcome (an error, or a `{status_code, headers, body}`
 * result for functions that never touch the response channel). A response channel that breaks
 * (its object reset) before anything came answers 502 at once.
 */
function assembleResponse(ws: WebSocket, settled: Promise<Settled>, requestWriter: WebSocket): Promise<Response> {
  return new Promise((resolve) => {
    let status = 200
    const headers = new Headers()
    let sawFrame = false
    let done = false
    let body!: ReadableStreamDefaultController<Uint8Array>
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => void (body = controller),
      // The HTTP client went away: closing our reader end makes the function's writes fail.
      cancel: () => ws.close(1000, 'http client went away'),
    })
    const respond = (response: () => Response) => {
      if (done) return
      done = true
      resolve(response())
    }
    const respondWithStream = () => respond(() => new Response(NULL_BODY_STATUS.has(status) ? null : stream, { status, headers }))
    const closeChannels = () => {
      for (const socket of [ws, requestWriter]) {
        try {
          socket.close(1000)
        } catch {
          // already closed
        }
      }
    }

    ws.addEventListener('message', (event) => {
      sawFrame = true
      if (typeof event.data === 'string') {
        if (done) return // control frames after the body started cannot change it
        const control = parseControlFrame(event.data)
        if (control?.type === 'set_status') status = control.status_code
        else if (control?.type === 'set_headers') for (const [k, v] of control.headers) headers.append(k, v)
        return
      }
      respondWithStream()
      body.enqueue(new Uint8Array(event.data as ArrayBuffer))
    })
    ws.addEventListener('close', (event) => {
      if (event.code !== 1000 && !done) {
        return respond(() => httpError(502, 'BAD_GATEWAY', `the response channel broke before the function answered (${event.code})`))
      }
      respondWithStream()
      try {
        if (event.code === 1000) body.close()
        else body.error(new Error(`response stream ended abnormally (${event.code} ${event.reason})`))
      } catch {
        // already cancelled by the client
      }
    })
    settled.then((o) => {
      if ('response' in o) {
        if (done) return // the body is streaming: the response channel's end decides
        closeChannels()
        return respond(o.response)
      }
      if ('error' in o) {
        if (done) {
          body.error(new Error(o.error.message))
          return ws.close(1000)
        }
        ws.close(1000)
        return respond(() => httpError(500, o.error.code, o.error.message))
      }
      const fromResult = !sawFrame && resultResponse(o.result)
      if (fromResult) {
        ws.close(1000)
        return respond(() => fromResult)
      }
      // The function used the response channel (or will): its end decides. Guard against one
      // that did neither, so no request hangs until the channel expires.
      setTimeout(() => {
        if (sawFrame || done) return
        ws.close(1000)
        respond(() => new Response(null, { status: 204 }))
      }, EMPTY_RESULT_GRACE_MS)
    })
  })
}
