// Fuzzed payloads for the data modules' builtins, run as a session runs them: anything that is not
// a well-formed call fails with one of the engine's codes and a message naming the problem, and
// leaves nothing stored (no scope, no group, no directory entry) in the fuzzed namespace.
import { env } from 'cloudflare:workers'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { dataBuiltins } from '../../src/data/builtins'
import { dataEngine } from '../../src/engine/data-engine'
import { EngineError } from '../../src/protocol/outcome'

const NAMESPACE = 'fuzz'
const pending: Promise<unknown>[] = []
const builtins = dataBuiltins({ env, engine: dataEngine(env), namespace: () => NAMESPACE, view: async () => ({ dataTriggers: [], functions: new Set<string>() }), waitUntil: (p) => void pending.push(p) })
const directory = env.DIRECTORY.get(env.DIRECTORY.idFromName(`directory:${NAMESPACE}`))
const CODES = ['deserialization_error', 'INVALID_ARGUMENTS', 'VALUE_TOO_LARGE', 'topic_not_set']

/** A field that is wrong: missing, of another type, too long. */
const badName = fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer(), fc.boolean(), fc.array(fc.string(), { maxLength: 2 }), fc.constant('n'.repeat(600)))
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant('x'.repeat(2_000_001)))
const badOps = fc.oneof(fc.constant(undefined), fc.string(), fc.constant([{ type: 'nope', path: 'a' }]), fc.constant([{ type: 'increment', path: 'a', by: 0.5 }]), fc.constant([{ type: 'set' }]))

const writes = fc.oneof(
  fc.record({ fn: fc.constant('state::set'), payload: fc.record({ scope: badName, key: fc.constant('k'), value: anyValue }) }),
  fc.record({ fn: fc.constant('state::set'), payload: fc.record({ scope: fc.constant('s'), key: badName, value: anyValue }) }),
  fc.record({ fn: fc.constant('state::set'), payload: fc.record({ scope: fc.constant('s'), key: fc.constant('k'), value: fc.constant('x'.repeat(2_000_001)) }) }),
  fc.record({ fn: fc.constant('state::set'), payload: fc.constant({ scope: 's', key: 'k' }) }),
  fc.record({ fn: fc.constant('state::update'), payload: fc.record({ scope: fc.constant('s'), key: fc.constant('k'), ops: badOps }) }),
  fc.record({ fn: fc.constant('stream::set'), payload: fc.record({ stream_name: badName, group_id: fc.constant('g'), item_id: fc.constant('i'), data: anyValue }) }),
  fc.record({ fn: fc.constant('stream::set'), payload: fc.record({ stream_name: fc.constant('s'), group_id: fc.constant('g'), item_id: badName, data: anyValue }) }),
  fc.record({ fn: fc.constant('stream::update'), payload: fc.record({ stream_name: fc.constant('s'), group_id: fc.constant('g'), item_id: fc.constant('i'), ops: badOps }) }),
  // A topic is not stored, so any string is one (as in the engine): only a missing, mistyped or empty one is bad.
  fc.record({ fn: fc.constant('publish'), payload: fc.record({ topic: fc.oneof(fc.constant(undefined), fc.constant(null), fc.integer(), fc.boolean(), fc.constant('')), data: fc.jsonValue({ maxDepth: 2 }) }) }),
  fc.record({ fn: fc.constantFrom('state::set', 'state::update', 'stream::set', 'publish'), payload: fc.oneof(fc.constant(null), fc.string(), fc.integer(), fc.array(fc.integer())) }),
)

describe('fuzzed payloads to the data builtins', () => {
  it('fail with an engine code and a message, and store nothing', async () => {
    let refused = 0
    await fc.assert(
      fc.asyncProperty(writes, async ({ fn, payload }) => {
        let error: unknown
        await builtins[fn]!(payload).catch((err: unknown) => (error = err))
        expect(error, `${fn} ${JSON.stringify(payload)?.slice(0, 120)} should be refused`).toBeInstanceOf(EngineError)
        expect(CODES).toContain((error as EngineError).code)
        expect((error as EngineError).message).toMatch(/\S{3,}/)
        refused++
      }),
      { numRuns: 150 },
    )
    expect(refused).toBe(150)
    await Promise.all(pending)
    expect(await directory.names('state', '')).toEqual([])
    expect(await directory.entries('stream', 10)).toEqual([])
    expect(await builtins['state::list']!({ scope: 's' })).toEqual([])
    expect(await builtins['stream::list']!({ stream_name: 's', group_id: 'g' })).toEqual([])
  })
})
