// What a function says about its HTTP response: control frames, and results mapped as the iii engine maps them.
import { describe, expect, it } from 'vitest'
import { resultResponse } from '../../src/http/response'
import { isVoidResult, parseControlFrame, resultAsResponse } from '../../src/protocol/http-control'

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

describe("resultAsResponse: the engine's from_function_return cases (iii v0.22.1 rest_api/types.rs)", () => {
  it('a full value: status, header lines in order, body', () => {
    expect(resultAsResponse({ status_code: 201, headers: ['Content-Type: application/json', 'X-Custom: value'], body: { key: 'value' } })).toEqual({
      status: 201,
      headers: [['Content-Type', 'application/json'], ['X-Custom', 'value']],
      body: { key: 'value' },
    })
  })

  it('headers as an object of strings; other values dropped', () => {
    expect(resultAsResponse({ status_code: 200, headers: { 'Content-Type': 'text/xml', 'X-N': 7, 'X-L': ['a'] }, body: '<Response/>' }).headers).toEqual([['Content-Type', 'text/xml']])
  })

  it('defaults: status 200, no headers, body {}', () => {
    expect(resultAsResponse({})).toEqual({ status: 200, headers: [], body: {} })
    expect(resultAsResponse({ status_code: 404 })).toEqual({ status: 404, headers: [], body: {} })
    expect(resultAsResponse({ headers: null }).headers).toEqual([])
    // Any result at all: a value that is not an object is a 200 with `{}`.
    expect(resultAsResponse({ ok: true })).toEqual({ status: 200, headers: [], body: {} })
    expect(resultAsResponse('hello')).toEqual({ status: 200, headers: [], body: {} })
    expect(resultAsResponse([1, 2])).toEqual({ status: 200, headers: [], body: {} })
  })

  it('header lines that are not strings or have no colon are dropped; names and values trimmed', () => {
    expect(resultAsResponse({ headers: ['X-A: one', 123, null, 'no-colon', 'X-B: two', ' : empty', 'X-C:  a:b  '] }).headers).toEqual([
      ['X-A', 'one'],
      ['X-B', 'two'],
      ['X-C', 'a:b'],
    ])
  })

  it('a status that is not a number is 200; one a Worker cannot send is 200 too', () => {
    expect(resultAsResponse({ status_code: 'not_a_number' }).status).toBe(200)
    expect(resultAsResponse({ status_code: 500 }).status).toBe(500)
    expect(resultAsResponse({ status_code: 99 }).status).toBe(200)
    expect(resultAsResponse({ status_code: 700 }).status).toBe(200)
  })

  it('string, array and null bodies as given', () => {
    expect(resultAsResponse({ body: 'plain text' }).body).toBe('plain text')
    expect(resultAsResponse({ body: [1, 2, 3] }).body).toEqual([1, 2, 3])
    expect(resultAsResponse({ body: null }).body).toBeNull()
  })

  it('headers a Response cannot carry are dropped (the engine skips them too)', () => {
    expect(resultAsResponse({ headers: { 'x-a': 'ok\r\nx-b: evil', 'bad name': 'v', 'x-ok': 'fine' } }).headers).toEqual([['x-ok', 'fine']])
  })
})

describe("resultResponse: the engine's into_axum_response content types", () => {
  const read = async (r: Response) => ({ status: r.status, type: r.headers.get('content-type'), text: await r.text() })

  it('no content type: the body is JSON, application/json (a string body too)', async () => {
    expect(await read(resultResponse({ status_code: 201, body: { ok: true } }))).toEqual({ status: 201, type: 'application/json', text: '{"ok":true}' })
    expect(await read(resultResponse({ body: 'plain text' }))).toEqual({ status: 200, type: 'application/json', text: '"plain text"' })
    expect(await read(resultResponse({ ok: true }))).toEqual({ status: 200, type: 'application/json', text: '{}' })
    expect(await read(resultResponse({ body: null }))).toEqual({ status: 200, type: 'application/json', text: 'null' })
  })

  it('its own content type: a string as it is, null as nothing, other values as JSON text', async () => {
    expect(await read(resultResponse({ headers: ['Content-Type: text/xml'], body: '<Response><Say>hi</Say></Response>' }))).toEqual({
      status: 200,
      type: 'text/xml',
      text: '<Response><Say>hi</Say></Response>',
    })
    expect(await read(resultResponse({ headers: { 'content-type': 'text/plain' }, body: null }))).toEqual({ status: 200, type: 'text/plain', text: '' })
    expect(await read(resultResponse({ headers: { 'content-type': 'text/plain' }, body: { a: 1 } }))).toEqual({ status: 200, type: 'text/plain', text: '{"a":1}' })
    expect(await read(resultResponse({ headers: { 'content-type': 'application/json; charset=utf-8' }, body: 'raw' }))).toEqual({
      status: 200,
      type: 'application/json; charset=utf-8',
      text: 'raw',
    })
    expect(await read(resultResponse({ headers: { 'Content-Type': 'application/vnd.api+json' }, body: [1] }))).toEqual({ status: 200, type: 'application/vnd.api+json', text: '[1]' })
  })

  it('keeps custom headers, repeated ones too', () => {
    const r = resultResponse({ headers: ['X-Custom: abc', 'Set-Cookie: a=1', 'Set-Cookie: b=2'], body: 'x' })
    expect(r.headers.get('x-custom')).toBe('abc')
    expect(r.headers.getSetCookie()).toEqual(['a=1', 'b=2'])
  })

  it('204, 205 and 304 have no body', () => {
    expect(resultResponse({ status_code: 204, body: 'ignored' }).body).toBeNull()
    expect(resultResponse({ status_code: 304 }).body).toBeNull()
  })
})

describe('isVoidResult', () => {
  it('only nothing (undefined, or null as the engine reads it) leaves the answer to the response channel', () => {
    expect(isVoidResult(undefined)).toBe(true)
    expect(isVoidResult(null)).toBe(true)
    for (const r of [{}, { ok: true }, { status: 'done' }, 0, '', false, []]) expect(isVoidResult(r)).toBe(false)
  })
})
