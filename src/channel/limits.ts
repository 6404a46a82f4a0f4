// Channel limits from `[vars]` (wrangler.toml), read once per object and checked at start.

import type { ChannelLimits } from './core'

export interface LimitVars {
  CHANNEL_MAX_FRAME_BYTES: string
  CHANNEL_BUFFER_BYTES: string
  CHANNEL_STORAGE_QUOTA_BYTES: string
  CHANNEL_TTL_SECONDS: string
}

/** Backlog bytes sent to a reader per drain turn: large enough for throughput, small for memory. */
export const DRAIN_SLICE_BYTES = 1 << 20

function positiveInt(vars: LimitVars, name: keyof LimitVars): number {
  const value = Number(vars[name])
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive whole number, got ${JSON.stringify(vars[name])}`)
  }
  return value
}

export function channelLimits(vars: LimitVars, bufferSize: number): ChannelLimits {
  return {
    bufferSize,
    bufferBytes: positiveInt(vars, 'CHANNEL_BUFFER_BYTES'),
    maxFrameBytes: positiveInt(vars, 'CHANNEL_MAX_FRAME_BYTES'),
    storageQuotaBytes: positiveInt(vars, 'CHANNEL_STORAGE_QUOTA_BYTES'),
    drainSliceBytes: DRAIN_SLICE_BYTES,
  }
}

export function ttlSeconds(vars: LimitVars): number {
  return positiveInt(vars, 'CHANNEL_TTL_SECONDS')
}
