// The engine stream worker's `auth_function`, at a subscriber's handshake: when the deployment names
// one (`STREAM_AUTH_FUNCTION`), the front door calls it in the socket's namespace with the
// engine's input, and the `context` it answers is carried to the group's object, which puts it in
// that socket's `stream:join` and `stream:leave` events.
//
// The engine upgrades without a context when the function fails or answers something else. Here
// the gate fails closed: a deployer who named an auth function meant every socket to pass it, and
// join functions written for its context would then see none. So the upgrade is refused:
//   401 when the function ran and did not let the socket in (it threw, answered an error, or
//       answered something that is not `{context}`): the client's credentials are the question;
//   503 when it could not be asked (no worker serves it, it did not answer within
//       STREAM_GATE_TIMEOUT_MS, the engine could not reach it): trying again later may work.

import { orAfter } from '../timeout'
import type { DataEngine } from './engine-port'
import { STREAM_GATE_TIMEOUT_MS, authAnswer, authInput } from './stream'

/** The handshake may go on with this context (JSON text, or null), or is refused with a status. */
export type StreamAuth = { context: string | null } | { status: 401 | 503; message: string }

/** Error codes that mean nobody could be asked, rather than that the function said no. */
const UNREACHABLE = new Set(['function_not_found', 'invocation_stopped', 'registry_unreachable'])

export async function streamAuth(env: Env, engine: DataEngine, namespace: string, request: Request): Promise<StreamAuth> {
  const functionId = env.STREAM_AUTH_FUNCTION
  if (!functionId) return { context: null }
  const call = engine.invoke(namespace, { function_id: functionId, data: authInput(request) })
  const outcome = await orAfter(call, STREAM_GATE_TIMEOUT_MS, 'timeout' as const).catch((err: unknown) => ({
    error: { code: 'registry_unreachable', message: String(err) },
  }))
  const refused = (status: 401 | 503, why: string): StreamAuth => {
    console.warn(`[streams] handshake refused (${status}): auth function ${functionId} ${why}`)
    // The function's own error message is the deployer's to word (e.g. "session expired"); kept short.
    return { status, message: `stream auth function ${functionId} ${why.slice(0, 300)}` }
  }
  if (outcome === 'timeout') return refused(503, `did not answer within ${STREAM_GATE_TIMEOUT_MS / 1000} s`)
  if ('error' in outcome) {
    const { code, message } = outcome.error
    return UNREACHABLE.has(code) ? refused(503, `could not be called: ${code}: ${message}`) : refused(401, `refused: ${code}: ${message}`)
  }
  const answer = authAnswer('result' in outcome ? outcome.result : undefined)
  return answer.ok ? { context: answer.context } : refused(401, answer.why)
}
