// HTTP trigger bridge (docs/architecture.md, "One HTTP request"): the route is matched in this
// isolate's registry views and the session serving the function is called directly. That session
// hosts the request's two channels (engine/exchange.ts): their ids name it, so the worker's sockets
// for them reach it through the front door, the body is pulled from here only when the worker reads
// it, and the response comes back as a stream. No channel object is made and nothing is written
// for a request whose function answers with a result or streams to a client that keeps up.

import { RpcTarget } from 'cloudflare:workers'
import { newAccessKey } from '../channel/keys'
import { signingKey } from '../engine/signing'
import { viewCacheFor } from '../engine/cache'
import { type BodySource, EXCHANGE_ID_HEADER, EXCHANGE_PART_HEADER, EXCHANGE_PATH } from '../engine/exchange'
import type { HttpAnswer } from '../engine/session-object'
import { type ChannelRef, type ExchangeChannelId, formatExchangeChannelId } from '../protocol/refs'
import { sessionStub } from '../engine/stubs'
import { invokeFunction } from '../engine/invoke'
import { httpError } from '../protocol/http-errors'
import { runGates } from './middleware'
import { resultResponse } from './response'
import { type Resolution, RETRY_AFTER_S, resolveHttp } from './router'
import type { RouteMatch } from '../engine/routes'

/** JSON bodies up to this size are also parsed into `body`; larger ones only stream. */
const JSON_BODY_LIMIT = 1 << 20

/** How long a request waits for its function's result or the start of its response (III_HTTP_TIMEOUT_MS). */
export const DEFAULT_HTTP_TIMEOUT_MS = 30_000

const NULL_BODY_STATUS = new Set([101, 204, 205, 304])

const departedResponse = (retryAfterS: number, request: Request) => {
  const res = httpError(503, 'UNAVAILABLE', 'the worker serving this route just left (a deploy or a reconnect); try again shortly', seenAs(request))
  res.headers.set('retry-after', String(retryAfterS))
  return res
}

/** What the log line of a 5xx says about the request (never its headers or body). */
const seenAs = (request: Request, function_id?: string) => ({ method: request.method, path: new URL(request.url).pathname, ...(function_id ? { function_id } : {}) })

export const notFound = (request: Request) =>
  httpError(404, 'NOT_FOUND', `no route or http trigger for ${request.method} ${new URL(request.url).pathname}`)

export function httpTimeoutMs(env: Env): number {
  const ms = Number(env.III_HTTP_TIMEOUT_MS)
  return Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_HTTP_TIMEOUT_MS
}

/**
 * The request body as the session pulls it, once, when the worker reads it: nothing crosses for a
 * function that never does, and a retry on another session still has it.
 */
class RequestBody extends RpcTarget implements BodySource {
  #stream: ReadableStream<Uint8Array> | null
  constructor(stream: ReadableStream<Uint8Array>) {
    super()
    this.#stream = stream
  }
  open(): ReadableStream<Uint8Array> | null {
    const stream = this.#stream
    this.#stream = null
    return stream
  }
}

/** Serves `request` through a matching http trigger, or returns null when none matches. */
export async function serveHttpTrigger(env: Env, request: Request): Promise<Response | null> {
  const url = new URL(request.url)
  const views = (namespace: string) => viewCacheFor(env, namespace)
  const resolve = (fresh: boolean) => resolveHttp(views, request.method, url.pathname, { fresh, now: Date.now })
  let resolution: Resolution = await resolve(false)
  if (resolution.kind === 'none') return null
  if (resolution.kind === 'departed') return departedResponse(resolution.retryAfterS, request)
  const [key, { body, upload }] = await Promise.all([signingKey(env), takeBody(request)])
  const declared = request.headers.get('content-length')
  const bodyLength = declared !== null && /^\d+$/.test(declared) ? Number(declared) : null
  const dataFor = (match: RouteMatch) => ({
    query_params: Object.fromEntries(url.searchParams),
    path_params: match.path_params,
    headers: Object.fromEntries(request.headers),
    // As in the iii engine: `path` is the registered path (`/files/:filename`), not the URL's.
    path: match.api_path,
    method: request.method,
    body,
    trigger: { type: 'http', path: match.api_path, method: request.method },
  })

  /** The trigger's condition and middleware, if it has any: a Response ends the request before the function. */
  const gates = (namespace: string, match: RouteMatch) => {
    if (!match.condition && match.middleware.length === 0) return null
    const conditionInput = dataFor(match)
    const seen = { method: request.method, headers: conditionInput.headers, query_params: conditionInput.query_params, path_params: match.path_params }
    return runGates(match, seen, conditionInput, (call) => invokeFunction(env, namespace, call))
  }

  const timeoutMs = httpTimeoutMs(env)
  let gated: string | null = null
  // Calls the serving session; a stale view (the session says so) is refreshed and tried once more.
  for (let attempt = 0; ; attempt++) {
    if (resolution.kind === 'none') return notFound(request)
    if (resolution.kind === 'departed') return departedResponse(resolution.retryAfterS, request)
    const { match, view, namespace } = resolution
    // A retry may land on another route (its namespace's, or the default's that now wins): its own gates run.
    const route = `${namespace}\n${match.trigger_id}`
    if (gated !== route) {
      gated = route
      const gate = await gates(namespace, match)
      if (gate) return gate
    }
    const stub = sessionStub(env, match.worker)
    let answer: HttpAnswer
    if (!stub) answer = { status: 'gone' }
    else {
      const exchange = crypto.randomUUID()
      const refs = await exchangeRefs(key, match.worker, exchange)
      try {
        answer = (await stub.invokeHttp({
          function_id: match.function_id,
          data: { ...dataFor(match), request_body: refs.body, response: refs.response },
          metadata: match.metadata,
          viewVersion: view.version,
          exchange,
          body: upload,
          bodyLength,
          timeoutMs,
        })) as HttpAnswer
      } catch (err) {
        // The session was reset while the function ran: say so at once, don't wait for a timeout.
        return httpError(502, 'BAD_GATEWAY', `the worker's session went away mid-request: ${err instanceof Error ? err.message : String(err)}`, seenAs(request, match.function_id))
      }
    }
    switch (answer.status) {
      case 'done':
        if ('error' in answer.outcome) return httpError(500, answer.outcome.error.code, answer.outcome.error.message, seenAs(request, match.function_id))
        return resultResponse(answer.outcome.result)
      case 'stream':
        return new Response(NULL_BODY_STATUS.has(answer.status_code) ? null : answer.body, { status: answer.status_code, headers: answer.headers })
      case 'broken':
        return httpError(502, 'BAD_GATEWAY', answer.reason, seenAs(request, match.function_id))
      case 'timeout':
        return httpError(504, 'GATEWAY_TIMEOUT', `the function did not answer within ${answer.timeoutMs} ms (III_HTTP_TIMEOUT_MS)`, seenAs(request, match.function_id))
      case 'empty':
        return new Response(null, { status: 204 })
    }
    // `stale`, `not_here`, `gone`: the view named a session that no longer serves the route (a
    // restart or a reconnect of its worker). Look again, once, before answering anything.
    if (attempt >= 1) return answer.status === 'gone' ? departedResponse(RETRY_AFTER_S, request) : notFound(request)
    resolution = await resolve(true)
    if (answer.status === 'gone' && resolution.kind === 'route' && resolution.match.worker === match.worker) return departedResponse(RETRY_AFTER_S, request)
  }
}

/**
 * A worker's socket for a channel of an HTTP request (its key already checked), to the session
 * hosting it; null when the id names no session of ours. The headers are ours, never the client's.
 */
export function connectExchange(env: Env, id: ExchangeChannelId, upgrade: Request): Promise<Response> | null {
  const stub = sessionStub(env, id.session)
  if (!stub) return null
  const headers = new Headers(upgrade.headers)
  headers.set(EXCHANGE_ID_HEADER, id.exchange)
  headers.set(EXCHANGE_PART_HEADER, id.part)
  return stub.fetch(`https://session${EXCHANGE_PATH}`, { headers })
}

/** The refs the worker gets: the body's read end and the response's write end, hosted by `session`. */
async function exchangeRefs(key: CryptoKey, session: string, exchange: string): Promise<{ body: ChannelRef; response: ChannelRef }> {
  const body = formatExchangeChannelId({ session, exchange, part: 'body' })
  const response = formatExchangeChannelId({ session, exchange, part: 'response' })
  const [bodyKey, responseKey] = await Promise.all([newAccessKey(key, body, 'read'), newAccessKey(key, response, 'write')])
  return {
    body: { channel_id: body, access_key: bodyKey, direction: 'read' },
    response: { channel_id: response, access_key: responseKey, direction: 'write' },
  }
}

/** JSON bodies (small enough) are read whole and parsed; everything else is pulled when the worker reads it. */
async function takeBody(request: Request): Promise<{ body: unknown; upload: Uint8Array | BodySource | null }> {
  if (!request.body) return { body: null, upload: null }
  const isJson = /^application\/([\w.+-]+\+)?json\b/i.test(request.headers.get('content-type') ?? '')
  const length = Number(request.headers.get('content-length') ?? NaN)
  if (!isJson || !(length <= JSON_BODY_LIMIT)) return { body: null, upload: new RequestBody(request.body) }
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(await request.arrayBuffer())
  } catch {
    return { body: null, upload: new Uint8Array(0) } // the client went away: the reader sees a short body (4001)
  }
  try {
    return { body: JSON.parse(new TextDecoder().decode(bytes)), upload: bytes }
  } catch {
    return { body: null, upload: bytes } // not JSON after all: the function still gets the raw body
  }
}
