// What every state scope store must do, as one model test: any sequence of sets and deletes reads
// back as a plain Map would (values, first-write order, size). The unit tests run it on the memory
// store, the workers tests on SQLite inside a Durable Object, so the fake cannot drift from the real one.
import fc from 'fast-check'
import { expect } from 'vitest'
import type { ScopeCore } from '../../src/data/scope'

/** `fresh` gives an empty scope each time it is called. */
export function scopeMatchesModel(fresh: () => ScopeCore, numRuns?: number): void {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.option(fc.jsonValue(), { nil: undefined }))), (writes) => {
      const core = fresh()
      const model = new Map<string, unknown>()
      for (const [key, value] of writes) {
        if (value === undefined) {
          core.delete(key)
          model.delete(key)
        } else {
          core.set(key, JSON.stringify(value))
          model.set(key, JSON.parse(JSON.stringify(value)))
        }
      }
      expect(core.list()).toEqual([...model.values()])
      expect(core.size).toBe(model.size)
    }),
    numRuns === undefined ? {} : { numRuns },
  )
}
