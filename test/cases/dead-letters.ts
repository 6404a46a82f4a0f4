// Shared by the e2e and workers queue reliability tests: which jobs fail for good, what a dead
// letter looks like, and what the dead letters must be at the end of a run.
import { expect } from 'vitest'

/** Every 50th job always throws: these, and only these, end in the dead letters. */
export const alwaysFails = (n: number) => n % 50 === 0

export interface DeadLetter {
  id: string
  payload: { n: number }
  error: string
  retries: number
}

/**
 * The dead letters are exactly the failing jobs, each once, under its receipt, with its payload and
 * an error, having spent at least `maxRetries` attempts; for at least one of them the last attempt
 * reached its function, whose own error it keeps.
 */
export function expectDeadLetters(letters: DeadLetter[], failing: number[], receipts: Map<number, string>, maxRetries: number): void {
  expect(new Set(letters.map((d) => d.id)).size).toBe(letters.length)
  expect(letters.map((d) => d.id).sort()).toEqual(failing.map((n) => receipts.get(n)!).sort())
  for (const letter of letters) {
    expect(alwaysFails(letter.payload.n)).toBe(true)
    expect(letter.id).toBe(receipts.get(letter.payload.n))
    expect(letter.retries).toBeGreaterThanOrEqual(maxRetries)
    expect(letter.error).toMatch(/./)
  }
  expect(letters.filter((d) => d.error.includes(`job ${d.payload.n} always fails`)).length).toBeGreaterThan(0)
}
