// Inputs that name a channel are checked at the edge, without state; close reasons must fit a Close frame.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { closeReason } from '../../src/protocol/close-codes'
import { namespaceOfEnginePath, parseNamespace } from '../../src/protocol/namespace'
import {
  MAX_WINDOW,
  MIN_WINDOW,
  formatChannelId,
  formatExchangeChannelId,
  parseExchangeChannelId,
  parseBufferSize,
  parseChannelId,
  parseChannelSocketTarget,
  parseCreateChannelBody,
  parseReaderAck,
} from '../../src/protocol/refs'

const uuid = '123e4567-e89b-42d3-a456-426614174000'
const id = `${uuid}.tpb75a.64`
const channel = { uuid, createdAt: parseInt('tpb75a', 36), bufferSize: 64, namespace: '' }
const key = 'A'.repeat(40) + '_-9' // 43 base64url characters

describe('parseChannelSocketTarget', () => {
  it('maps dir=write to the writer and dir=read to the reader', () => {
    expect(parseChannelSocketTarget(id, key, 'write')).toEqual({ ok: true, value: { channelId: id, channel, exchange: null, end: 'writer', key, window: null } })
    expect(parseChannelSocketTarget(id, key, 'read')).toEqual({ ok: true, value: { channelId: id, channel, exchange: null, end: 'reader', key, window: null } })
  })

  it("names an HTTP request's channels by the session hosting them: the body's read end and the response's write end only", () => {
    const session = 'ab'.repeat(32)
    const exchange = { session, exchange: uuid, part: 'body' as const }
    const bodyId = formatExchangeChannelId(exchange)
    const responseId = formatExchangeChannelId({ ...exchange, part: 'response' })
    expect(bodyId).toBe(`http.${session}.${uuid}.body`)
    expect(parseExchangeChannelId(responseId)).toEqual({ ...exchange, part: 'response' })
    expect(parseChannelSocketTarget(bodyId, key, 'read')).toEqual({ ok: true, value: { channelId: bodyId, channel: null, exchange, end: 'reader', key, window: null } })
    expect(parseChannelSocketTarget(responseId, key, 'write')).toMatchObject({ ok: true, value: { end: 'writer', exchange: { part: 'response' } } })
    // The other ends are the front door's, over RPC: no ref for them exists, and none is accepted.
    expect(parseChannelSocketTarget(bodyId, key, 'write')).toMatchObject({ ok: false, status: 404 })
    expect(parseChannelSocketTarget(responseId, key, 'read')).toMatchObject({ ok: false, status: 404 })
    expect(parseChannelSocketTarget(bodyId, key, 'read', String(MIN_WINDOW))).toMatchObject({ ok: false, status: 404 })
    for (const bad of [`http.${session.slice(1)}.${uuid}.body`, `http.${session}.${uuid}.other`, `http.${session.toUpperCase()}.${uuid}.body`, `${bodyId}.x`, `https.${session}.${uuid}.body`]) {
      expect(parseChannelSocketTarget(bad, key, 'read')).toMatchObject({ ok: false, status: 404 })
      expect(parseChannelId(bad)).toBeNull()
    }
  })

  it('answers 400 for a bad dir or a missing key', () => {
    for (const dir of [undefined, '', 'READ', 'both', 'writer']) {
      expect(parseChannelSocketTarget(id, key, dir)).toMatchObject({ ok: false, status: 400 })
    }
    expect(parseChannelSocketTarget(id, undefined, 'read')).toMatchObject({ ok: false, status: 400, message: 'missing key' })
    expect(parseChannelSocketTarget(id, '', 'write')).toMatchObject({ ok: false, status: 400 })
  })

  it('answers 404, as for an unknown channel, for a malformed id or key', () => {
    const badIds = ['', 'x', uuid, id.toUpperCase(), id + '.', `${id}.bad.ns`, id.replace(/-/g, ''), `${uuid.slice(0, -1)}g.tpb75a.64`, `${uuid}.tpb75a.0`, `${uuid}.tpb75a.1025`, `${uuid}.TPB.64`, `${uuid}.tpb75a.64.-ns`]
    for (const badId of badIds) expect(parseChannelSocketTarget(badId, key, 'read')).toMatchObject({ ok: false, status: 404 })
    const badKeys = [key.slice(1), key + 'A', key.replace('A', '+'), key.replace('A', '='), key.replace('A', ' ')]
    for (const badKey of badKeys) expect(parseChannelSocketTarget(id, badKey, 'write')).toMatchObject({ ok: false, status: 404 })
  })

  it('takes a window from a reader within MIN_WINDOW..MAX_WINDOW only (400 otherwise)', () => {
    expect(parseChannelSocketTarget(id, key, 'read', String(MIN_WINDOW))).toMatchObject({ ok: true, value: { window: MIN_WINDOW } })
    expect(parseChannelSocketTarget(id, key, 'read', String(MAX_WINDOW))).toMatchObject({ ok: true, value: { window: MAX_WINDOW } })
    for (const bad of ['', 'abc', String(MIN_WINDOW - 1), String(MAX_WINDOW + 1), `${MIN_WINDOW}.5`, '-65536']) {
      expect(parseChannelSocketTarget(id, key, 'read', bad), bad).toMatchObject({ ok: false, status: 400 })
    }
    expect(parseChannelSocketTarget(id, key, 'write', String(MIN_WINDOW))).toMatchObject({ ok: false, status: 400 })
  })

  it('accepts every id formatChannelId makes and 43-character base64url keys (property)', () => {
    const keyArb = fc.string({ unit: fc.constantFrom(...'ABCXYZabcxyz0189_-'), minLength: 43, maxLength: 43 })
    const nsArb = fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/))
    fc.assert(
      fc.property(fc.uuid({ version: 4 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 1024 }), nsArb, keyArb, fc.constantFrom('read', 'write'), (u, createdAt, bufferSize, namespace, k, dir) => {
        const parts = { uuid: u, createdAt, bufferSize, namespace }
        const text = formatChannelId(parts)
        expect(parseChannelId(text)).toEqual(parts)
        expect(parseChannelSocketTarget(text, k, dir).ok).toBe(true)
      }),
    )
  })
})

describe('parseChannelId', () => {
  it('reads the buffer size, creation time and namespace the id carries', () => {
    expect(parseChannelId(`${uuid}.tpb75a.8.team-a`)).toEqual({ uuid, createdAt: parseInt('tpb75a', 36), bufferSize: 8, namespace: 'team-a' })
    expect(parseChannelId(id)).toEqual(channel)
  })
})

describe('namespaces', () => {
  it('takes the engine path as the namespace: / is the default one, /team-a is "team-a"', () => {
    expect(namespaceOfEnginePath('/')).toEqual({ ok: true, value: '' })
    expect(namespaceOfEnginePath('/team-a')).toEqual({ ok: true, value: 'team-a' })
    expect(namespaceOfEnginePath('/team-a/')).toEqual({ ok: true, value: 'team-a' })
    expect(namespaceOfEnginePath('/a/b')).toMatchObject({ ok: false, status: 404 })
  })

  it('refuses names that are not one segment of letters, digits, _ and -, and our own paths', () => {
    for (const bad of ['-x', 'a.b', 'a b', 'x'.repeat(64), 'api', 'channels', 'ws', 'otel', '_iii']) {
      expect(parseNamespace(bad), bad).toMatchObject({ ok: false, status: 400 })
    }
    expect(parseNamespace('Team_1-b')).toEqual({ ok: true, value: 'Team_1-b' })
  })
})

describe('parseBufferSize', () => {
  it('defaults to 64 when absent', () => {
    expect(parseBufferSize(undefined)).toEqual({ ok: true, value: 64 })
    expect(parseBufferSize(null)).toEqual({ ok: true, value: 64 })
  })

  it('clamps to 1..1024 and floors fractions', () => {
    const cases: [number, number][] = [[0, 1], [-5, 1], [1, 1], [7.9, 7], [1024, 1024], [1025, 1024], [1e12, 1024]]
    for (const [input, value] of cases) expect(parseBufferSize(input)).toEqual({ ok: true, value })
  })

  it('answers 400 for anything but a finite number', () => {
    for (const bad of ['64', true, {}, [64], NaN, Infinity, -Infinity]) {
      expect(parseBufferSize(bad)).toMatchObject({ ok: false, status: 400 })
    }
  })

  it('always lands in 1..1024 for any finite number (property)', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        const parsed = parseBufferSize(n)
        expect(parsed.ok && Number.isInteger(parsed.value) && parsed.value >= 1 && parsed.value <= 1024).toBe(true)
      }),
    )
  })
})

describe('parseCreateChannelBody', () => {
  it('takes an empty body or an object, with buffer_size optional', () => {
    expect(parseCreateChannelBody('')).toEqual({ ok: true, value: { bufferSize: 64 } })
    expect(parseCreateChannelBody('  \n')).toEqual({ ok: true, value: { bufferSize: 64 } })
    expect(parseCreateChannelBody('{}')).toEqual({ ok: true, value: { bufferSize: 64 } })
    expect(parseCreateChannelBody('{"buffer_size": 8}')).toEqual({ ok: true, value: { bufferSize: 8 } })
    expect(parseCreateChannelBody('{"buffer_size": 5000, "other": 1}')).toEqual({ ok: true, value: { bufferSize: 1024 } })
  })

  it('answers 400 for invalid JSON, non-objects and a bad buffer_size', () => {
    for (const bad of ['{', 'null', '[]', '64', '"x"', '{"buffer_size": "8"}', '{"buffer_size": true}']) {
      expect(parseCreateChannelBody(bad), bad).toMatchObject({ ok: false, status: 400 })
    }
  })

  it('never throws (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        const parsed = parseCreateChannelBody(text)
        if (!parsed.ok) expect(parsed.status).toBe(400)
      }),
      { numRuns: 500 },
    )
  })
})

describe('parseReaderAck', () => {
  it('reads {"type":"ack","bytes":n} and nothing else', () => {
    expect(parseReaderAck('{"type":"ack","bytes":0}')).toBe(0)
    expect(parseReaderAck('{"type":"ack","bytes":65536}')).toBe(65536)
    for (const bad of ['', '{', 'null', '{"type":"ack"}', '{"type":"ack","bytes":-1}', '{"type":"ack","bytes":1.5}', '{"type":"ack","bytes":"5"}', '{"type":"nack","bytes":5}']) {
      expect(parseReaderAck(bad), bad).toBeNull()
    }
  })
})

describe('closeReason', () => {
  const utf8 = (s: string) => new TextEncoder().encode(s).length

  it('keeps reasons of up to 123 bytes as they are', () => {
    expect(closeReason('')).toBe('')
    expect(closeReason('x'.repeat(123))).toBe('x'.repeat(123))
  })

  it('cuts longer ones to 123 bytes ending in "..."', () => {
    const cut = closeReason('x'.repeat(124))
    expect(cut.endsWith('...')).toBe(true)
    expect(utf8(cut)).toBeLessThanOrEqual(123)
    expect(utf8(closeReason('€'.repeat(60)))).toBeLessThanOrEqual(123) // 180 bytes in
  })

  it('always fits a Close frame, for any string including multi-byte ones (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 400, size: 'max' }), fc.string({ unit: 'binary', maxLength: 200, size: 'max' })), (reason) => {
        const out = closeReason(reason)
        expect(utf8(out)).toBeLessThanOrEqual(123)
        if (utf8(reason) <= 123) expect(out).toBe(reason)
        else expect(out.endsWith('...')).toBe(true)
      }),
      { numRuns: 1000 },
    )
  })
})
