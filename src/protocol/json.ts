// Small helpers for JSON values that arrive from the network.

/** The value as a plain object, or an empty one when it is not an object. */
export function asObject(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {}
}

/** The text parsed as JSON, or undefined when it is not JSON (for callers that ignore what they cannot read). */
export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
