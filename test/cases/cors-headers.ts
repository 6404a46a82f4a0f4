// Shared by the unit and e2e CORS tests: what a response says about CORS, by header name.

/** The response's CORS headers (and `vary`), by name. */
export function corsHeaders(res: Response): Record<string, string> {
  const found: Record<string, string> = {}
  res.headers.forEach((value, name) => {
    if (name.startsWith('access-control-') || name === 'vary') found[name] = value
  })
  return found
}
