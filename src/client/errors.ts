// Typed errors of the channel client: HTTP refusals (createChannel, upgrades) and how a channel ended.

import { CloseCode } from '../protocol/close-codes'

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
  [CloseCode.WriterLost]: 'writer_lost',
  [CloseCode.ReaderGone]: 'reader_gone',
  [CloseCode.EndTaken]: 'end_taken',
  [CloseCode.FrameTooLarge]: 'frame_too_large',
  [CloseCode.QuotaExceeded]: 'quota',
  [CloseCode.Expired]: 'expired',
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
  /** The server's error code (`UNAUTHORIZED`, `NOT_FOUND`, …), when it sent one. */
  readonly code: string | undefined
  constructor(status: number, message: string, code?: string) {
    super(message)
    this.status = status
    this.code = code
  }
}

/** 400: a malformed request (bad ref, bad `dir` or `window`, a bad `buffer_size`). */
export class ChannelRequestError extends ChannelHttpError {
  override name = 'ChannelRequestError'
  constructor(message: string, code = 'BAD_REQUEST') {
    super(400, message, code)
  }
}

/** 401: the engine wants its token (or, having none, serves only localhost) and this request had none. */
export class ChannelUnauthorizedError extends ChannelHttpError {
  override name = 'ChannelUnauthorizedError'
  constructor(message = 'engine token required: pass { token }', code = 'UNAUTHORIZED') {
    super(401, message, code)
  }
}

/**
 * 404: no such channel, a wrong key, or a channel that already ended. A browser cannot see the
 * status of a refused upgrade; the client reports a socket that fails before it opens as this
 * (the only refusal that depends on state), after checking that the server can be reached at all.
 */
export class ChannelNotFoundError extends ChannelHttpError {
  override name = 'ChannelNotFoundError'
  constructor(message = 'channel not found or wrong key', code = 'NOT_FOUND') {
    super(404, message, code)
  }
}

/** The typed error for an HTTP status (what `createChannel` and fetch-based upgrades throw). */
export function errorForStatus(status: number, message: string, code?: string): ChannelHttpError {
  if (status === 400) return new ChannelRequestError(message, code)
  if (status === 401) return new ChannelUnauthorizedError(message, code)
  if (status === 404) return new ChannelNotFoundError(message, code)
  return new ChannelHttpError(status, message, code)
}

/**
 * The typed error for a refused response. The server answers `{"error": {"code", "message"}}`;
 * anything else (a proxy's page) is kept as text.
 */
export async function errorForResponse(res: Response, context: string): Promise<ChannelHttpError> {
  const text = await res.text().catch(() => '')
  let error: { code?: unknown; message?: unknown } | undefined
  try {
    error = (JSON.parse(text) as { error?: typeof error }).error
  } catch {
    // not JSON
  }
  const message = typeof error?.message === 'string' ? error.message : text || res.statusText
  return errorForStatus(res.status, `${context}: ${res.status} ${message}`.trim(), typeof error?.code === 'string' ? error.code : undefined)
}
