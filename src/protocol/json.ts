// Small helpers for JSON values that arrive from the network.

/** The value as a plain object, or an empty one when it is not an object. */
export function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
}
