// Channel refs and the inputs that name a channel, parsed once at the edge into typed values.

export type Direction = 'read' | 'write'

/** A channel's two ends: the writer's socket and the reader's. */
export type End = 'writer' | 'reader'

/** How far one end got (shown on the status page): not connected yet, connected, gone for good. */
export type EndPhase = 'waiting' | 'open' | 'done'

/** The serializable token of one channel end, exactly as the iii SDK expects it (docs/protocol.md). */
export interface ChannelRef {
  channel_id: string
  access_key: string
  direction: Direction
}

export interface ChannelRefPair {
  writer: ChannelRef
  reader: ChannelRef
}

/**
 * A channel id names everything its object needs before anyone connects, because no object exists
 * until the first socket arrives (docs/architecture.md, "Channels born where they are used"):
 * `<uuid>.<created, unix seconds in base 36>.<buffer_size>[.<namespace>]`. Keys are signed over the
 * whole id, so none of it can be changed by whoever holds a ref.
 */
export interface ChannelId {
  uuid: string
  /** When the refs were made (unix seconds): a first connect must come within the TTL of this. */
  createdAt: number
  bufferSize: number
  /** Whose status page shows it ('' for the default namespace). */
  namespace: string
}

const CHANNEL_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.([0-9a-z]{1,8})\.([1-9][0-9]{0,3})(?:\.([A-Za-z0-9][A-Za-z0-9_-]{0,62}))?$/
/** Access keys are 32 bytes in base64url (256 bits). */
const ACCESS_KEY = /^[A-Za-z0-9_-]{43}$/

export function formatChannelId(id: ChannelId): string {
  return `${id.uuid}.${id.createdAt.toString(36)}.${id.bufferSize}${id.namespace ? `.${id.namespace}` : ''}`
}

/** The parts of a channel id, or null when it is not one (answered as an unknown channel: 404). */
export function parseChannelId(text: string): ChannelId | null {
  const m = CHANNEL_ID.exec(text)
  if (!m) return null
  const bufferSize = Number(m[3])
  if (bufferSize > MAX_BUFFER_SIZE) return null
  return { uuid: m[1]!, createdAt: parseInt(m[2]!, 36), bufferSize, namespace: m[4] ?? '' }
}

export const DEFAULT_BUFFER_SIZE = 64
export const MAX_BUFFER_SIZE = 1024

/**
 * The two channels of one HTTP trigger's request are not objects: the session serving the function
 * hosts them for as long as the request lasts (docs/architecture.md, "One HTTP request"), so their
 * id names that session: `http.<session id, 64 hex>.<exchange uuid>.<body|response>`. The worker
 * reads `body` and writes `response`; the other end of each is the front door, over RPC.
 */
export interface ExchangeChannelId {
  session: string
  exchange: string
  part: 'body' | 'response'
}

const EXCHANGE_CHANNEL_ID = /^http\.([0-9a-f]{64})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(body|response)$/

export const formatExchangeChannelId = (id: ExchangeChannelId) => `http.${id.session}.${id.exchange}.${id.part}`

export function parseExchangeChannelId(text: string): ExchangeChannelId | null {
  const m = EXCHANGE_CHANNEL_ID.exec(text)
  return m ? { session: m[1]!, exchange: m[2]!, part: m[3] as ExchangeChannelId['part'] } : null
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; status: 400 | 404; message: string }

export interface ChannelSocketTarget {
  channelId: string
  /** The parsed id (buffer size, creation time, namespace); null for a channel of an HTTP request. */
  channel: ChannelId | null
  /** A channel an HTTP request's session hosts (the worker reads `body`, writes `response`), or null. */
  exchange: ExchangeChannelId | null
  end: End
  key: string
  /** Flow-control window in bytes asked for by a reader of our own (`&window=`), or null. */
  window: number | null
}

/** Flow-control windows a reader may ask for: at least one SDK frame, at most 64 MiB. */
export const MIN_WINDOW = 64 * 1024
export const MAX_WINDOW = 64 * 1024 * 1024

/** The channel socket address `…/ws/channels/:id?key=…&dir=read|write`, checked without any state. */
export function parseChannelSocketTarget(
  id: string,
  key: string | undefined,
  dir: string | undefined,
  window?: string,
): Parsed<ChannelSocketTarget> {
  if (dir !== 'read' && dir !== 'write') return { ok: false, status: 400, message: 'dir must be read or write' }
  if (!key) return { ok: false, status: 400, message: 'missing key' }
  const windowBytes = window === undefined ? null : Number(window)
  if (windowBytes !== null && (dir !== 'read' || !Number.isSafeInteger(windowBytes) || windowBytes < MIN_WINDOW || windowBytes > MAX_WINDOW)) {
    return { ok: false, status: 400, message: `window is for readers: bytes from ${MIN_WINDOW} to ${MAX_WINDOW}` }
  }
  // A malformed id or key cannot name an existing channel: answer as for an unknown one.
  const channel = parseChannelId(id)
  const exchange = channel ? null : parseExchangeChannelId(id)
  // Of an HTTP request's channels, the worker holds only the body's read end and the response's write end.
  const exchangeEnd = exchange && (exchange.part === 'body' ? 'read' : 'write') === dir && windowBytes === null
  if ((!channel && !exchangeEnd) || !ACCESS_KEY.test(key)) return { ok: false, status: 404, message: 'channel not found or wrong key' }
  return { ok: true, value: { channelId: id, channel, exchange, end: dir === 'write' ? 'writer' : 'reader', key, window: windowBytes } }
}

/** `buffer_size` of `POST /channels` and `engine::channels::create`: frames, default 64, clamped to 1..1024. */
export function parseBufferSize(value: unknown): Parsed<number> {
  if (value === undefined || value === null) return { ok: true, value: DEFAULT_BUFFER_SIZE }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return { ok: false, status: 400, message: 'buffer_size must be a number of frames (1..1024)' }
  }
  return { ok: true, value: Math.min(MAX_BUFFER_SIZE, Math.max(1, Math.floor(value))) }
}

/** Body of `POST /channels`: empty, or a JSON object with an optional `buffer_size`. */
export function parseCreateChannelBody(text: string): Parsed<{ bufferSize: number }> {
  if (text.trim() === '') return { ok: true, value: { bufferSize: DEFAULT_BUFFER_SIZE } }
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    return { ok: false, status: 400, message: 'body must be JSON like {"buffer_size": 64}' }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, status: 400, message: 'body must be a JSON object like {"buffer_size": 64}' }
  }
  const size = parseBufferSize((body as Record<string, unknown>).buffer_size)
  return size.ok ? { ok: true, value: { bufferSize: size.value } } : size
}

/** A reader's acknowledgement (flow control): `{"type":"ack","bytes":<total bytes consumed>}`. */
export function parseReaderAck(text: string): number | null {
  try {
    const value = JSON.parse(text) as { type?: unknown; bytes?: unknown }
    return value?.type === 'ack' && Number.isSafeInteger(value.bytes) && (value.bytes as number) >= 0 ? (value.bytes as number) : null
  } catch {
    return null
  }
}
