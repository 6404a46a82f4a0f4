// Access keys: 256 random bits each, distinct for the writer and the reader, so a reader ref cannot
// write. Only SHA-256 digests are stored; they are compared in constant time.

export function newAccessKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

export async function hashKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** Does `key` hash to `expectedHash`? Constant time in the content of both. */
export async function keyMatches(key: string, expectedHash: string): Promise<boolean> {
  const actual = new TextEncoder().encode(await hashKey(key))
  const expected = new TextEncoder().encode(expectedHash)
  return actual.byteLength === expected.byteLength && crypto.subtle.timingSafeEqual(actual, expected)
}

/** Do two secrets match? Both are hashed first, so the comparison is constant time whatever their lengths. */
export async function sameSecret(given: string, expected: string): Promise<boolean> {
  return keyMatches(given, await hashKey(expected))
}
