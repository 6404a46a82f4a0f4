// WebSocket close codes a channel sends, in one place so the README, the DO and the tests agree.

/** Close codes sent on channel sockets. 4xxx codes are ours (RFC 6455 leaves 4000-4999 to applications). */
export const CloseCode = {
  /** Writer ended cleanly; the reader received everything before this Close. */
  Normal: 1000,
  /** A second socket asked for an end that is already taken (or finished). */
  EndTaken: 1008,
  /** A writer frame was larger than CHANNEL_MAX_FRAME_BYTES. */
  FrameTooLarge: 1009,
  /** Unexpected failure inside the channel. */
  Internal: 1011,
  /** Undelivered data would exceed CHANNEL_STORAGE_QUOTA_BYTES. */
  QuotaExceeded: 1013,
  /** To the reader: the writer went away without a clean Close (crash, network loss, non-1000 code). */
  WriterLost: 4001,
  /** To the writer: the reader went away, nobody will read what follows. */
  ReaderGone: 4002,
  /** The other end never connected within CHANNEL_TTL_SECONDS. */
  Expired: 4008,
  /** A worker endpoint's auth function did not admit the connection (http/worker-endpoint.ts). */
  AuthRefused: 1008,
} as const

/** Codes that must never be sent or echoed in a Close frame (RFC 6455 §7.4.1). */
export function isReservedCloseCode(code: number): boolean {
  return code === 1005 || code === 1006 || code === 1015
}

/** A code we may send back to a peer that sent `code`; reserved or out-of-range codes become 1000. */
export function echoableCloseCode(code: number): number {
  const sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
  return sendable ? code : CloseCode.Normal
}

const encoder = new TextEncoder()

/** Close reasons are limited to 123 bytes of UTF-8; longer ones make `close()` throw. */
export function closeReason(reason: string): string {
  if (encoder.encode(reason).length <= 123) return reason
  let cut = reason.slice(0, 120)
  while (encoder.encode(cut + '...').length > 123) cut = cut.slice(0, -1)
  return cut + '...'
}
