// Waiting helpers shared by the end-to-end tests: things over a socket happen "soon", so a test
// polls for them with a deadline and says what it was waiting for when the deadline passes.

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A name no other test (or earlier run against the same objects) has used. */
export const unique = (prefix: string) => `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`

/**
 * Polls `probe` until it gives a truthy value and returns that value; throws "timed out waiting
 * for <what>" after `ms`. A probe that throws ends the wait with its error; one that should ride
 * out errors (a route not there yet) catches them itself.
 */
export async function until<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ms = 8000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(everyMs)
  }
}
