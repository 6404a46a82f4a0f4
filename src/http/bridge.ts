// HTTP trigger bridge (PROTOCOL.md §5): a request that matches an `http` trigger gets two channels,
// the function is invoked with their refs, the request body streams into one and the response is
// read from the other: `set_status` / `set_headers` text frames first, then binary frames as body
// chunks, passed on as they arrive (downloads and SSE are never held whole).

import { END_HEADER, KEY_HEADER } from '../channel/object'
import { createChannel } from '../channel/create'
import type { Outcome } from '../engine/engine'
import { type ChannelRef, DEFAULT_BUFFER_SIZE } from '../protocol/refs'
import { channelStub, engineStub } from '../stubs'
import type { RouteMatch } from './routes'
import { parseControlFrame, resultResponse } from './response'

/** JSON bodies up to this size are also parsed into `body`; larger ones only stream. */
const JSON_BODY_LIMIT = 1 << 20
/** Request body chunks are cut to the SDK's frame size. */
const FRAME_BYTES = 64 * 1024
/** After an empty result, how long to wait for a response frame before answering 204. */
const EMPTY_RESULT_GRACE_MS = 3000

/** Serves `request` through a matching http trigger, or returns null when none matches. */
export async function serveHttpTrigger(env: Env, request: Request, waitUntil: (p: Promise<unknown>) => void): Promise<Response | null> {
  const url = new URL(request.url)
  const engine = engineStub(env)
  // RPC types cannot express `unknown` fields (metadata), so the result is typed here.
  const match = (await engine.matchHttp(request.method, url.pathname)) as RouteMatch | null
  if (!match) return null
  const [requestChannel, responseChannel] = await Promise.all([createChannel(env, DEFAULT_BUFFER_SIZE), createChannel(env, DEFAULT_BUFFER_SIZE)])
  const [responseReader, requestWriter] = await Promise.all([openEnd(env, responseChannel.reader), openEnd(env, requestChannel.writer)])
  const { body, upload } = await takeBody(request)
  waitUntil(pumpBody(upload, requestWriter))
  const data = {
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
  }
  const outcome = engine.invokeLocal(match.function_id, data, match.metadata) as Promise<Outcome>
  return assembleResponse(responseReader, outcome)
}

/** Opens one channel end from inside this Worker, as a WebSocket client of the channel object. */
async function openEnd(env: Env, ref: ChannelRef): Promise<WebSocket> {
  const res = await channelStub(env, ref.channel_id).fetch('https://channel/connect', {
    headers: { Upgrade: 'websocket', [END_HEADER]: ref.direction === 'read' ? 'reader' : 'writer', [KEY_HEADER]: ref.access_key },
  })
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
  } catch (err) {
    // The client went away mid-upload: the function's reader sees an abnormal end (4001).
    ws.close(1011, 'request body aborted')
  }
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304])

/**
 * Builds the Response from whichever comes first: the first body frame (stream it), the end of
 * the response channel, or the invocation's outcome (an error, or a `{status_code, headers, body}`
 * result for functions that never touch the response channel).
 */
function assembleResponse(ws: WebSocket, outcome: Promise<Outcome>): Promise<Response> {
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
      respondWithStream()
      try {
        if (event.code === 1000) body.close()
        else body.error(new Error(`response stream ended abnormally (${event.code} ${event.reason})`))
      } catch {
        // already cancelled by the client
      }
    })
    outcome.then((o) => {
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

/** Error bodies shaped as the iii engine shapes them: `{"error": {"code", "message"}}`. */
export function httpError(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status })
}
