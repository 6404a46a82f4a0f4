// The paths this project serves itself (src/index.ts declares its routes from these). Namespaces and
// HTTP triggers may not take them, so nothing a worker registers can shadow the engine.

export const CHANNELS_PATH = '/channels'
/** Channel sockets: `[<prefix>]/ws/channels/<id>` (the SDK keeps the path of its engine address). */
export const CHANNEL_SOCKET_PATH = '/ws/channels'
export const OTEL_PATH = '/otel'
export const API_PATH = '/api'
/** Stream subscribers' sockets: `[/<namespace>]/streams[/<stream>/<group>]` (data/stream-hub.ts, stream-object.ts). */
export const STREAMS_PATH = '/streams'
/** The page's files (the page itself is `/`). */
export const PAGE_ASSETS_PATH = '/_iii'

/** Exact paths and path prefixes (the path and everything under it) that are the engine's. */
const EXACT = ['/', CHANNELS_PATH, OTEL_PATH]
const PREFIXES = [CHANNEL_SOCKET_PATH, API_PATH, PAGE_ASSETS_PATH, STREAMS_PATH]

/** Whether `path` (with or without its leading "/") is one of the engine's own. */
export function isOwnPath(path: string): boolean {
  const p = `/${path.replace(/^\/+/, '')}`
  return EXACT.includes(p) || PREFIXES.some((prefix) => p === prefix || p.startsWith(`${prefix}/`))
}

/** First path segments of the engine's own paths: a namespace of that name would be shadowed. */
export const RESERVED_SEGMENTS: ReadonlySet<string> = new Set([...EXACT, ...PREFIXES].map((p) => p.split('/')[1]!).filter(Boolean))
