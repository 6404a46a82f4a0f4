// Channel limits from `[vars]` (wrangler.toml), read once per object and checked at start.

import type { ChannelLimits, Task } from './core'
import { MAX_STORED_FRAME_BYTES, ROW_PAYLOAD_BYTES } from './packing'

export interface LimitVars {
  CHANNEL_MAX_FRAME_BYTES: string
  CHANNEL_BUFFER_BYTES: string
  CHANNEL_STORAGE_QUOTA_BYTES: string
  CHANNEL_TTL_SECONDS: string
}

/** Backlog bytes sent to a reader per drain turn: large enough for throughput, small for memory. */
export const DRAIN_SLICE_BYTES = 1 << 20

/**
 * Frames are held back while the reader's socket reports more than this queued. Above one drain
 * slice, because workerd counts a slice sent in one go before it leaves JavaScript (docs/platform.md).
 */
export const READER_HIGH_WATER_BYTES = 2 * DRAIN_SLICE_BYTES

/**
 * How long the last, partial batch waits in memory for more frames before it is written. Longer
 * means fuller rows from a slow writer; the timer keeps the object from hibernating meanwhile.
 */
export const FLUSH_DELAY_MS = 250

/** How soon a reader whose socket was backed up is looked at again when nothing else happens. */
export const RECHECK_DELAY_MS = 50

function positiveInt(vars: LimitVars, name: keyof LimitVars): number {
  const value = Number(vars[name])
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive whole number, got ${JSON.stringify(vars[name])}`)
  }
  return value
}

export function channelLimits(vars: LimitVars, bufferSize: number): ChannelLimits {
  const maxFrameBytes = positiveInt(vars, 'CHANNEL_MAX_FRAME_BYTES')
  if (maxFrameBytes > MAX_STORED_FRAME_BYTES) throw new Error(`CHANNEL_MAX_FRAME_BYTES must be at most ${MAX_STORED_FRAME_BYTES}`)
  return {
    bufferSize,
    // A batch is at most one storage row: a larger setting would only split batches into rows.
    bufferBytes: Math.min(positiveInt(vars, 'CHANNEL_BUFFER_BYTES'), ROW_PAYLOAD_BYTES),
    maxFrameBytes,
    storageQuotaBytes: positiveInt(vars, 'CHANNEL_STORAGE_QUOTA_BYTES'),
    drainSliceBytes: DRAIN_SLICE_BYTES,
    readerHighWaterBytes: READER_HIGH_WATER_BYTES,
  }
}

export function ttlSeconds(vars: LimitVars): number {
  return positiveInt(vars, 'CHANNEL_TTL_SECONDS')
}

/**
 * A ChannelCore host's `schedule`: each task runs once after its delay, however often it was asked
 * for meanwhile. A batch waits a little for more frames (fewer, fuller rows); a backed-up reader is
 * looked at again a little later. Pending timers keep a Durable Object in memory meanwhile.
 */
export function taskTimer(run: (task: Task) => void): (task: Task) => void {
  const scheduled = new Set<Task>()
  return (task) => {
    if (scheduled.has(task)) return
    scheduled.add(task)
    const delay = task === 'flush' ? FLUSH_DELAY_MS : task === 'recheck' ? RECHECK_DELAY_MS : 0
    setTimeout(() => {
      scheduled.delete(task)
      run(task)
    }, delay)
  }
}
