// Typed errors of the channel client: HTTP refusals (createChannel, upgrades) and how a channel ended.

/** Why a channel socket was closed by the other side, from its Close code. */
export type ChannelCloseKind =
  | 'writer_lost' // 4001: the writer went away without a clean Close
  | 'reader_gone' // 4002: the reader went away; nobody reads what follows
  | 'end_taken' // 1008: that end of the channel is already connected or finished
  | 'frame_too_large' // 1009
  | 'quota' // 1013: undelivered data would pass the channel's storage quota
  | 'expired' // 4008: the other end never connected in time
  | 'error' // anything else (1011, a lost connection: 1006, ...)

const KINDS: Record<number, ChannelCloseKind> = {
  4001: 'writer_lost',
  4002: 'reader_gone',
  1008: 'end_taken',
  1009: 'frame_too_large',
  1013: 'quota',
  4008: 'expired',
}

export function closeKind(code: number): ChannelCloseKind {
  return KINDS[code] ?? 'error'
}

/** Base class: every error this client throws or errors a stream with. */
export class ChannelError extends Error {
  override name = 'ChannelError'
}

/** The channel ended other than cleanly: carries the Close code and reason the server sent. */
export class ChannelClosedError extends ChannelError {
  override name = 'ChannelClosedError'
  readonly code: number
  readonly reason: string
  readonly kind: ChannelCloseKind
  constructor(code: number, reason: string) {
    super(`channel closed: ${code}${reason ? ` ${reason}` : ''} (${closeKind(code)})`)
    this.code = code
    this.reason = reason
    this.kind = closeKind(code)
  }
}

/** An HTTP refusal (POST /channels, or an upgrade whose status the runtime lets us see). */
export class ChannelHttpError extends ChannelError {
  override name = 'ChannelHttpError'
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** 400: a malformed request (bad ref, bad `dir` or `window`, a bad `buffer_size`). */
export class ChannelRequestError extends ChannelHttpError {
  override name = 'ChannelRequestError'
  constructor(message: string) {
    super(400, message)
  }
}

/** 401: the server has an engine token and this request did not carry it. */
export class ChannelUnauthorizedError extends ChannelHttpError {
  override name = 'ChannelUnauthorizedError'
  constructor(message = 'engine token required: pass { token }') {
    super(401, message)
  }
}

/**
 * 404: no such channel, a wrong key, or a channel that already ended. A browser cannot see the
 * status of a refused upgrade; the client reports a socket that fails before it opens as this
 * (the only refusal that depends on state), after checking that the server can be reached at all.
 */
export class ChannelNotFoundError extends ChannelHttpError {
  override name = 'ChannelNotFoundError'
  constructor(message = 'channel not found or wrong key') {
    super(404, message)
  }
}

/** The typed error for an HTTP status (what `createChannel` and fetch-based upgrades throw). */
export function errorForStatus(status: number, message: string): ChannelHttpError {
  if (status === 400) return new ChannelRequestError(message)
  if (status === 401) return new ChannelUnauthorizedError(message)
  if (status === 404) return new ChannelNotFoundError(message)
  return new ChannelHttpError(status, message)
}
