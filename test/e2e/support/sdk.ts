// Helpers for iii-sdk functions in the end-to-end tests.

import { createHash } from 'node:crypto'
import { registerWorker } from 'iii-sdk'
import type { ChannelReader } from 'iii-sdk/channel'
import { afterAll, afterEach, beforeAll, vi } from 'vitest'
import { type StartOptions, type WranglerDev, startWrangler } from './wrangler'

export type Iii = ReturnType<typeof registerWorker>

export interface Digest {
  sha256: string
  bytes: number
  texts: string[]
}

/** Reads a channel to its end: sha256 and size of the binary stream, text messages in order. */
export async function digestChannel(reader: ChannelReader): Promise<Digest> {
  const texts: string[] = []
  reader.onMessage((m) => texts.push(m))
  const hash = createHash('sha256')
  let bytes = 0
  for await (const chunk of reader.stream) {
    hash.update(chunk as Buffer)
    bytes += (chunk as Buffer).length
  }
  return { sha256: hash.digest('hex'), bytes, texts }
}

/** What the SDK logs when the engine refuses a trigger (it has no other way to surface it); `restore` when done. */
export function refusals() {
  const spy = vi.spyOn(console, 'error').mockImplementation(() => {})
  return {
    messages: () => spy.mock.calls.map((args) => args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')),
    restore: () => spy.mockRestore(),
  }
}

/**
 * One `wrangler dev` for a test file, and the SDK workers its tests open, each shut down after its
 * test. The Worker serves a copy of the source: an edit elsewhere in the checkout would reload
 * wrangler and reset every object mid-test, and `dev.redeploy()` needs the copy.
 */
export function sdkSuite(options: Omit<StartOptions, 'copy' | 'cwd'> = {}) {
  let started: WranglerDev | undefined
  const open: Iii[] = []
  beforeAll(async () => {
    started = await startWrangler({ ...options, copy: true })
  })
  afterEach(async () => {
    await Promise.all(open.splice(0).map((w) => w.shutdown()))
  })
  afterAll(async () => {
    await started?.stop()
  })
  const dev = (): WranglerDev => {
    if (!started) throw new Error('wrangler dev is not up yet: use the suite inside a test')
    return started
  }
  return {
    get dev() {
      return dev()
    },
    /** A worker on this suite's engine (or `on`'s), at `path` (a namespace), shut down after the test. */
    worker(name: string, path = '', on: WranglerDev = dev()): Iii {
      const w = registerWorker(on.wsUrl + path, { workerName: name, otel: { enabled: false } })
      open.push(w)
      return w
    },
  }
}
