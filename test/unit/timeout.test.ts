// orAfter: the one bound on waiting for an answer (the registry asking sessions, HTTP middleware).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { orAfter } from '../../src/timeout'

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('orAfter', () => {
  it('gives the answer when it comes first, and leaves no timer behind', async () => {
    await expect(orAfter(Promise.resolve('yes'), 1000, 'timeout')).resolves.toBe('yes')
    expect(vi.getTimerCount()).toBe(0)
  })

  it('gives the fallback once the bound passes, whatever the answer does later', async () => {
    let answer!: (v: string) => void
    const got = orAfter(new Promise<string>((r) => (answer = r)), 1000, 'timeout')
    await vi.advanceTimersByTimeAsync(999)
    let settled = false
    void got.then(() => (settled = true))
    await Promise.resolve()
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await expect(got).resolves.toBe('timeout')
    answer('too late')
    await expect(got).resolves.toBe('timeout')
  })

  it('passes a rejection through and clears its timer', async () => {
    await expect(orAfter(Promise.reject(new Error('gone')), 1000, null)).rejects.toThrow('gone')
    expect(vi.getTimerCount()).toBe(0)
  })
})
