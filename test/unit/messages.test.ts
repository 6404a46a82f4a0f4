// Main-socket messages are parsed once into typed values; anything else gets a reason, never a throw.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseWorkerMessage } from '../../src/protocol/messages'

describe('parseWorkerMessage', () => {
  it('accepts what the SDK sends, extra fields included', () => {
    const sdk = [
      { type: 'registerfunction', id: 'a::b', description: 'd', message_type: 'registerfunction' },
      { type: 'registertrigger', id: 't', trigger_type: 'http', function_id: 'a::b', config: { api_path: 'x' }, message_type: 'registertrigger' },
      { type: 'invokefunction', invocation_id: 'i', function_id: 'a::b', data: { x: 1 }, traceparent: '00-abc', baggage: '' },
      { type: 'invokefunction', function_id: 'engine::workers::register', data: {}, action: { type: 'void' } },
      { type: 'invocationresult', invocation_id: 'i', function_id: 'a::b', error: { code: 'c', message: 'm' } },
      { type: 'reattach', previous_worker_id: 'w', reattach_token: 'k' },
      { type: 'unregistertrigger', id: 't', trigger_type: 'http' },
      { type: 'ping' },
    ]
    for (const message of sdk) expect(parseWorkerMessage(JSON.stringify(message))).toEqual({ ok: true, message })
  })

  it('names what is wrong, keeping the invocation id so the caller can be answered', () => {
    expect(parseWorkerMessage('{')).toEqual({ ok: false, reason: 'message is not valid JSON' })
    expect(parseWorkerMessage('[1]')).toMatchObject({ ok: false, reason: expect.stringContaining('JSON object') })
    expect(parseWorkerMessage('{"type":"fly"}')).toMatchObject({ ok: false, reason: 'unknown message type "fly"' })
    expect(parseWorkerMessage('{"type":"invokefunction","invocation_id":"q","function_id":3}')).toEqual({
      ok: false,
      reason: 'invokefunction: missing or invalid field "function_id"',
      invocationId: 'q',
    })
  })

  it('never throws and never accepts a message without its required fields (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ type: 'invokefunction', ...Object(v) }))), (text) => {
        const parsed = parseWorkerMessage(text)
        if (parsed.ok && parsed.message.type === 'invokefunction') expect(typeof parsed.message.function_id).toBe('string')
      }),
      { numRuns: 2000 },
    )
  })
})
