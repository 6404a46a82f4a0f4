// Who may use the engine (the main socket, POST /channels and /api/*): closed by default.
//   III_ENGINE_TOKEN set      -> `Authorization: Bearer <token>`, or HTTP Basic with the token as the
//                                password (an address `wss://iii:<token>@host/`: the SDK sends no
//                                headers on its `/otel` socket, but `ws` sends an address's user and
//                                password), or `?token=` where a browser cannot send headers
//                                (EventSource); whatever the host or origin
//   no token                  -> only requests addressed to a loopback host (`wrangler dev`; a
//                                deployed Worker never sees one, since Cloudflare routes by hostname),
//                                and from a browser only pages of this machine (http/origin.ts)
//   III_ALLOW_OPEN = "true"   -> any host (dangerous: anyone may then register and invoke functions);
//                                from a browser, only pages of this machine or of the engine's origin
// HTTP triggers (the app's own API) and channel sockets (guarded by their keys) never pass here.

import { createMiddleware } from 'hono/factory'
import { sameSecret } from '../channel/keys'
import { refuse } from './errors'
import { isLoopbackHost, originAllowed } from './origin'

export const NO_TOKEN_MESSAGE =
  'this engine has no token yet, so it only serves localhost: set one with `npx wrangler secret put III_ENGINE_TOKEN`, ' +
  'then send Authorization: Bearer <token> (III_ALLOW_OPEN=true would open it to anyone)'
export const TOKEN_MESSAGE = 'engine token required: send Authorization: Bearer <token>'
export const ORIGIN_MESSAGE =
  'this engine has no token, so it serves only pages of this machine: a page of another origin may not use it ' +
  '(set III_ENGINE_TOKEN and send Authorization: Bearer <token>)'

/** The password of an `Authorization: Basic` header (any user name), or undefined. */
function basicPassword(authorization: string): string | undefined {
  const encoded = /^Basic ([A-Za-z0-9+/]+={0,2})$/i.exec(authorization)?.[1]
  if (!encoded) return undefined
  let decoded: string
  try {
    decoded = new TextDecoder().decode(Uint8Array.from(atob(encoded), (ch) => ch.charCodeAt(0)))
  } catch {
    return undefined
  }
  const at = decoded.indexOf(':')
  return at < 0 ? undefined : decoded.slice(at + 1)
}

/** Why `request` may not use the engine, or null when it may. */
export async function engineRefusal(env: Env, request: Request, tokenInQuery = false): Promise<string | null> {
  const url = new URL(request.url)
  const expected = env.III_ENGINE_TOKEN
  if (expected) {
    const authorization = request.headers.get('authorization') ?? ''
    const header = /^Bearer (.+)$/.exec(authorization)?.[1] ?? basicPassword(authorization)
    const given = header ?? (tokenInQuery ? url.searchParams.get('token') : null) ?? ''
    return (await sameSecret(given, expected)) ? null : TOKEN_MESSAGE
  }
  if (env.III_ALLOW_OPEN !== 'true' && !isLoopbackHost(url.hostname)) return NO_TOKEN_MESSAGE
  return originAllowed(request.headers.get('origin'), url.origin) ? null : ORIGIN_MESSAGE
}

/**
 * The check as middleware: 401 in the one error shape when refused (403 for a page of another
 * origin: who asks is known, and may not). `tokenInQuery`: paths where `?token=` may stand in for
 * the header.
 */
export const engineGuard = ({ tokenInQuery = [] as readonly string[] } = {}) =>
  createMiddleware<{ Bindings: Env }>(async (c, next) => {
    const refusal = await engineRefusal(c.env, c.req.raw, tokenInQuery.includes(c.req.path))
    if (refusal === ORIGIN_MESSAGE) refuse(403, refusal)
    if (refusal) refuse(401, refusal)
    await next()
  })
