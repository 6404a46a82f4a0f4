// The one shape of every HTTP error this Worker answers, as the iii engine shapes them:
// `{"error": {"code": "NOT_FOUND", "message": "…"}}`, and on a 5xx also `error_id`, the id of the
// log line that says what happened. Here, below every layer that answers HTTP (a channel's object
// refusing an upgrade, the front door): http/errors.ts adds the front door's `refuse`, which its
// one `onError` renders (src/index.ts).

/** `bytes` random bytes as lowercase hex (error ids here, trace and span ids in observability/spans.ts). */
export const randomHex = (bytes: number): string => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('')

/**
 * A fresh error id: 12 hex digits, the length of the engine's (it takes the low 48 bits of the
 * clock in ns; random bits here, since two isolates may fail in the same nanosecond).
 */
export const newErrorId = (): string => randomHex(6)

/**
 * An error response in the one shape. A 5xx carries a fresh `error_id` and is logged under it
 * (one JSON line in the Worker's log, so `wrangler tail` or Workers Logs find it by that id), as
 * the engine logs every error it answers with; `detail` goes to the log only.
 */
export function httpError(status: number, code: string, message: string, detail?: Record<string, unknown>): Response {
  if (status < 500) return Response.json({ error: { code, message } }, { status })
  const error_id = newErrorId()
  console.error(JSON.stringify({ log: 'http_error', level: 'error', error_id, status, code, message, ...detail }))
  return Response.json({ error: { code, message, error_id } }, { status })
}
