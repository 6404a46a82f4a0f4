// The FrameStore cases on the in-memory store the core's unit tests use (the workers tests run the
// same cases on the SQLite store).
import { describe, it } from 'vitest'
import { frameStoreCases } from '../cases/frame-store.cases'
import { MemoryFrameStore } from './fakes'

describe('MemoryFrameStore', () => {
  for (const c of frameStoreCases) {
    it(c.name, () => {
      const store = new MemoryFrameStore()
      c.run({ store, wake: () => store, rowBytes: 100 })
    })
  }
})
