// One way to stop waiting: whoever asks another object or a worker something it may never answer
// (a session gone quiet, a middleware function that hangs) gets a fallback value after a bound.

/** `promise`'s value, or `fallback` once `ms` pass first. A rejection passes through; the timer is always cleared. */
export function orAfter<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | null = null
  const late = new Promise<F>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))
  return Promise.race([promise, late]).finally(() => timer !== null && clearTimeout(timer))
}
