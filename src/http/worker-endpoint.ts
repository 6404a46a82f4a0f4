// A worker endpoint's upgrade (docs/rbac.md): the endpoint's auth function admits the connection
// before any session exists, and what it answered goes with the connection to its new session. The
// engine token plays no part here, except for an endpoint with no auth function: nothing else would
// say who connects, so the engine's own rule applies (http/guard.ts).

import { invokeFunction } from '../engine/invoke'
import { newSessionId } from '../engine/stubs'
import { NAMESPACE_HEADER } from '../engine/session-object'
import { UNAUTHENTICATED_RIGHTS, type WorkerRights } from '../engine/rbac'
import { ENDPOINT_HEADER, RIGHTS_HEADER, type WorkerEndpoint, authInput, encodeRights, parseAuthAnswer, servedPath } from '../engine/worker-endpoints'
import { CloseCode, closeReason } from '../protocol/close-codes'
import { serveOtelSocket } from './otel-socket'
import { engineRefusal, ORIGIN_MESSAGE } from './guard'
import { refuse } from './errors'

/** How long the auth function may take: well inside the SDK's 10 s handshake timeout. */
export const AUTH_TIMEOUT_MS = 5_000

/**
 * Serves a worker endpoint's upgrade: its session's socket, or its telemetry socket (`/otel`,
 * admitted by the same auth, as the engine does). A refused connection hears why on the socket,
 * as the engine tells it: one `{"type":"error","error":{"code":"AUTH_ERROR",…}}` frame, then a
 * close (1008): a browser sees neither an HTTP status nor its body.
 */
export async function serveWorkerEndpoint(env: Env, endpoint: WorkerEndpoint, otel: boolean, request: Request, waitUntil: (p: Promise<unknown>) => void): Promise<Response> {
  const admitted = await admit(env, endpoint, request)
  if ('refused' in admitted) return authError(admitted.refused)
  if (otel) return serveOtelSocket(env, endpoint.namespace, waitUntil)
  const headers = new Headers(request.headers)
  headers.set(NAMESPACE_HEADER, endpoint.namespace)
  headers.set(ENDPOINT_HEADER, servedPath(endpoint))
  headers.set(RIGHTS_HEADER, encodeRights(admitted.rights))
  return env.SESSION.get(newSessionId(env)).fetch('https://session/', { headers })
}

/** The connection's rights, or why it is refused. */
async function admit(env: Env, endpoint: WorkerEndpoint, request: Request): Promise<{ rights: WorkerRights } | { refused: string }> {
  const auth = endpoint.rbac?.auth_function_id
  if (!auth) {
    // No auth function: the engine token (or, without one, this machine) decides, as on the plain socket.
    const refusal = await engineRefusal(env, request)
    if (refusal) refuse(refusal === ORIGIN_MESSAGE ? 403 : 401, refusal)
    return { rights: UNAUTHENTICATED_RIGHTS }
  }
  const url = new URL(request.url)
  const input = authInput(request.headers, url.search, request.headers.get('cf-connecting-ip') ?? '')
  let outcome
  try {
    // The serving session answers `timeout` at the deadline; the race covers a session that cannot answer at all.
    let timer: ReturnType<typeof setTimeout> | null = null
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${AUTH_TIMEOUT_MS} ms`)), AUTH_TIMEOUT_MS + 1_000)))
    outcome = await Promise.race([invokeFunction(env, endpoint.namespace, { function_id: auth, data: input, timeout_ms: AUTH_TIMEOUT_MS }), late]).finally(() => timer && clearTimeout(timer))
  } catch (err) {
    return { refused: `auth function ${auth} could not be asked: ${err instanceof Error ? err.message : String(err)}` }
  }
  if ('accepted' in outcome) return { refused: 'auth function returned no result' }
  if ('error' in outcome) return { refused: outcome.error.message }
  const parsed = parseAuthAnswer(outcome.result)
  return parsed.ok ? { rights: parsed.rights } : { refused: parsed.message }
}

function authError(message: string): Response {
  const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
  server.accept()
  // Answer the client's Close too, or its close handshake waits (docs/platform.md).
  server.addEventListener('close', () => {})
  server.send(JSON.stringify({ type: 'error', error: { code: 'AUTH_ERROR', message } }))
  server.close(CloseCode.AuthRefused, closeReason(`AUTH_ERROR: ${message}`))
  return new Response(null, { status: 101, webSocket: client })
}
