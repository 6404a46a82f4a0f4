// The one shape of every HTTP error this Worker answers, as the iii engine shapes them:
// `{"error": {"code": "NOT_FOUND", "message": "…"}}`. Here, below every layer that answers HTTP (a
// channel's object refusing an upgrade, the front door): http/errors.ts adds the front door's
// `refuse`, which its one `onError` renders (src/index.ts).

/** An error response in the one shape. */
export function httpError(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status })
}
