// What a function says about its HTTP response: control frames and result objects.
import { describe, expect, it } from 'vitest'
import { resultResponse } from '../../src/http/response'
import { parseControlFrame } from '../../src/protocol/http-control'

describe('parseControlFrame', () => {
  it('reads set_status and set_headers as the http() helper writes them', () => {
    expect(parseControlFrame('{"type":"set_status","status_code":404}')).toEqual({ type: 'set_status', status_code: 404 })
    expect(parseControlFrame(JSON.stringify({ type: 'set_headers', headers: { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] } }))).toEqual({
      type: 'set_headers',
      headers: [['content-type', 'text/plain'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']],
    })
  })

  it('ignores other text, bad statuses and header injection', () => {
    expect(parseControlFrame('hello')).toBeNull()
    expect(parseControlFrame('{"type":"set_status","status_code":99}')).toBeNull()
    expect(parseControlFrame('{"type":"set_status","status_code":"200"}')).toBeNull()
    expect(parseControlFrame(JSON.stringify({ type: 'set_headers', headers: { 'x-a': 'ok\r\nx-b: evil', 'bad name': 'v' } }))).toEqual({
      type: 'set_headers',
      headers: [],
    })
  })
})

describe('resultResponse', () => {
  it('is null for an empty result (the function used the response channel)', () => {
    expect(resultResponse(undefined)).toBeNull()
    expect(resultResponse({ status: 'done' })).toBeNull()
  })

  it('turns {status_code, headers, body} into a Response, JSON for non-string bodies', async () => {
    const json = resultResponse({ status_code: 201, headers: { 'x-id': 7 }, body: { ok: true } })!
    expect(json.status).toBe(201)
    expect(json.headers.get('x-id')).toBe('7')
    expect(json.headers.get('content-type')).toBe('application/json')
    expect(await json.json()).toEqual({ ok: true })
    const text = resultResponse({ status_code: 200, headers: { 'content-type': 'text/plain' }, body: 'hi' })!
    expect(await text.text()).toBe('hi')
    expect(resultResponse({ status_code: 204, body: 'ignored' })!.body).toBeNull()
  })
})
