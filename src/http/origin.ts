// Which browsers may use an engine that has no token (http/guard.ts). A browser always names the page
// that makes a request in `Origin` (WebSocket handshakes, EventSource, fetch in cors mode, any POST),
// and a page anywhere on the internet may aim at `ws://127.0.0.1:8787`: its `Host` is then loopback,
// so the host check alone would let it in. Without a token, only pages of this machine (or, with
// III_ALLOW_OPEN, of the engine's own origin) may speak to the engine. A request without `Origin`
// is a program, not a page (the SDK, curl): the host check decides (README "Security model").

/** Hostnames of this machine, as they appear in a request URL (URL has normalised them). */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]'])

/** `localhost`, any address of 127.0.0.0/8, or [::1]: a host on this machine. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
}

/**
 * May a page of `origin` (the request's `Origin` header, null when absent) use an engine without a
 * token? `requestOrigin`: the origin the request was addressed to (its own page's origin).
 * `Origin: null` (a sandboxed frame, a file, a redirect across origins) names no page we can trust.
 */
export function originAllowed(origin: string | null, requestOrigin: string): boolean {
  if (origin === null) return true
  if (origin === requestOrigin) return true
  let url: URL
  try {
    url = new URL(origin)
  } catch {
    return false
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === origin && isLoopbackHost(url.hostname)
}
