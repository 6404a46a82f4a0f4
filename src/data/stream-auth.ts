// The engine stream worker's `auth_function`, at a subscriber's handshake: when the deployment names
// one (`STREAM_AUTH_FUNCTION`), the front door calls it in the socket's namespace with the
// engine's input, and the `context` it answers is carried to the group's object, which puts it in
// that socket's `stream:join` and `stream:leave` events. As in the engine, a failed or odd answer
// upgrades without a context (the join functions still decide).

import { invokeFunction } from '../engine/invoke'
import { authContext, authInput } from './stream'

/** The context as JSON text, or null when there is no auth function or no usable answer. */
export async function streamAuthContext(env: Env, namespace: string, request: Request): Promise<string | null> {
  const functionId = env.STREAM_AUTH_FUNCTION
  if (!functionId) return null
  const outcome = await invokeFunction(env, namespace, { function_id: functionId, data: authInput(request) }).catch((err) => ({
    error: { code: 'invocation_failed', message: String(err) },
  }))
  if ('error' in outcome) {
    console.warn(`[streams] auth function ${functionId}: ${outcome.error.code}: ${outcome.error.message}`)
    return null
  }
  return 'result' in outcome ? authContext(outcome.result) : null
}
