// What a function can say about its HTTP response, as the SDK's `http()` helper says it: control
// frames on the response channel (`set_status`, `set_headers`), or a `{status_code, headers, body}`
// result. Pure: the session reads the frames (engine/exchange.ts), the front door the results
// (http/response.ts).

import { asObject, parseJsonOrUndefined } from './json'

export type ControlFrame =
  | { type: 'set_status'; status_code: number }
  | { type: 'set_headers'; headers: [string, string][] }

/** Header values may come as a string, a number or a list of them (repeated headers); names and values that cannot go into a Response are dropped. */
export function headerPairs(value: unknown): [string, string][] {
  const pairs: [string, string][] = []
  for (const [name, v] of Object.entries(asObject(value))) {
    for (const item of Array.isArray(v) ? v : [v]) {
      if (typeof item === 'string' || typeof item === 'number') pairs.push([name, String(item)])
    }
  }
  return pairs.filter(([name, v]) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) && !/[\r\n\0]/.test(v))
}

export const validStatus = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 200 && n <= 599

/** A text frame on the response channel, or null for text we don't understand (ignored). */
export function parseControlFrame(text: string): ControlFrame | null {
  const frame = asObject(parseJsonOrUndefined(text))
  if (frame.type === 'set_status' && validStatus(frame.status_code)) return { type: 'set_status', status_code: frame.status_code }
  if (frame.type === 'set_headers') return { type: 'set_headers', headers: headerPairs(frame.headers) }
  return null
}

/** A result that is an HTTP response by itself (it names `status_code` or `body`): answered at once. */
export function isResponseResult(result: unknown): boolean {
  const r = asObject(result)
  return 'status_code' in r || 'body' in r
}
