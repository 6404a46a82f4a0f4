// CORS on HTTP triggers end to end (src/http/cors.ts): a real SDK worker's routes under `wrangler
// dev`, once with no CORS vars (tower-http's permissive layer, as the iii engine without a cors
// config) and once restricted to two origins and two methods. Preflights are answered by the front
// door without waking the function; actual responses (errors too) carry the headers; a refused
// origin never gets `access-control-allow-origin`, even one the function set itself, and
// credentials are never allowed. The engine's own paths get no CORS at all.
import { http } from '@iii-dev/helpers/http'
import { describe, expect, it } from 'vitest'
import { type Iii, sdkSuite } from './support/sdk'
import { unique, until } from './support/wait'
import { corsHeaders } from '../cases/cors-headers'

const PAGE = 'https://app.example'
const DEV_PAGE = 'http://localhost:5173'
const EVIL = 'https://evil.example'
const VARY = 'origin, access-control-request-method, access-control-request-headers'

/**
 * Registers the routes both modes are tried on, under a path of their own per test (a worker that
 * registers the routes of one that left is not what these tests are about); counts how often each
 * function ran. `url(path)`: the address of one of them.
 */
async function serveRoutes(iii: Iii, baseUrl: string) {
  const prefix = unique('cors')
  const url = (path: string) => `${baseUrl}/${prefix}/${path}`
  const calls = { item: 0, remove: 0, options: 0 }
  // Streamed through the response channel; sets CORS headers itself, as a careless or hostile function might.
  iii.registerFunction(
    'cors::item',
    http(async (_req, res) => {
      calls.item++
      res.status(200)
      res.headers({ 'content-type': 'text/plain', 'x-app': 'yes', 'access-control-allow-origin': EVIL, 'access-control-allow-credentials': 'true' })
      res.stream.end(Buffer.from('item'))
    }),
  )
  iii.registerTrigger({ type: 'http', function_id: 'cors::item', config: { api_path: `${prefix}/item`, http_method: 'GET' } })
  iii.registerFunction('cors::remove', async () => {
    calls.remove++
    return { status_code: 200, headers: { 'access-control-allow-origin': '*' }, body: { deleted: true } }
  })
  iii.registerTrigger({ type: 'http', function_id: 'cors::remove', config: { api_path: `${prefix}/item`, http_method: 'DELETE' } })
  iii.registerFunction('cors::options', async () => {
    calls.options++
    return { status_code: 200, headers: { 'content-type': 'text/plain' }, body: 'options served' }
  })
  iii.registerTrigger({ type: 'http', function_id: 'cors::options', config: { api_path: `${prefix}/item`, http_method: 'OPTIONS' } })
  iii.registerFunction('cors::fail', async () => {
    throw new Error('database on fire')
  })
  iii.registerTrigger({ type: 'http', function_id: 'cors::fail', config: { api_path: `${prefix}/fail` } })
  await until('the routes', async () => {
    const [fail, options] = await Promise.all([fetch(url('fail')), fetch(url('item'), { method: 'OPTIONS' })])
    await Promise.all([fail.body?.cancel(), options.body?.cancel()])
    return fail.status === 500 && options.status === 200
  })
  calls.options = 0
  return { calls, url }
}

const preflight = (url: string, origin: string, method: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, ...headers } })

describe('CORS with no vars: permissive, as the engine without a cors config', () => {
  const suite = sdkSuite()

  it('answers preflights itself, for any origin, method and header, without waking the function', async () => {
    const { calls, url } = await serveRoutes(suite.worker('cors-open'), suite.dev.baseUrl)
    // A path nobody serves is answered too, as the engine's layer answers every path of its port.
    for (const [path, method] of [[url('item'), 'DELETE'], [url('item'), 'PUT'], [`${suite.dev.baseUrl}/nobody/serves/this`, 'POST']] as const) {
      const res = await preflight(path, EVIL, method, { 'access-control-request-headers': 'content-type, x-custom' })
      expect(res.status, path).toBe(200)
      expect(await res.text()).toBe('')
      expect(corsHeaders(res), path).toEqual({
        'access-control-allow-origin': '*',
        'access-control-allow-methods': '*',
        'access-control-allow-headers': '*',
        vary: VARY,
      })
    }
    expect(calls).toEqual({ item: 0, remove: 0, options: 0 })
    // An OPTIONS that is no preflight still reaches the trigger that serves OPTIONS.
    const plain = await fetch(url('item'), { method: 'OPTIONS' })
    expect(await plain.text()).toBe('options served')
    expect(calls.options).toBe(1)
  })

  it('puts the headers on actual responses, errors included; never credentials', async () => {
    const { url } = await serveRoutes(suite.worker('cors-open'), suite.dev.baseUrl)
    const item = await fetch(url('item'), { headers: { origin: EVIL } })
    expect(item.status).toBe(200)
    expect(await item.text()).toBe('item')
    expect(item.headers.get('x-app')).toBe('yes')
    // The function's own allow-origin is replaced and its allow-credentials dropped.
    expect(corsHeaders(item)).toEqual({ 'access-control-allow-origin': '*', 'access-control-expose-headers': '*', vary: VARY })

    const noOrigin = await fetch(url('item'))
    expect(noOrigin.headers.get('access-control-allow-origin')).toBe('*') // tower-http sends it either way
    await noOrigin.body?.cancel()

    for (const [path, status] of [[url('fail'), 500], [`${suite.dev.baseUrl}/nobody/serves/this`, 404]] as const) {
      const res = await fetch(path, { headers: { origin: EVIL } })
      expect(res.status, path).toBe(status)
      expect(corsHeaders(res), path).toEqual({ 'access-control-allow-origin': '*', 'access-control-expose-headers': '*', vary: VARY })
      expect((await res.json()).error.message).toBeTruthy()
    }
  })

  it("gives the engine's own paths no CORS: a page cannot be granted the API or the channels", async () => {
    for (const path of ['/api/status', '/channels', '/api/info']) {
      // A page of this machine passes the engine's origin guard; it still gets no grant.
      const res = await preflight(`${suite.dev.baseUrl}${path}`, DEV_PAGE, 'POST', { 'access-control-request-headers': 'content-type' })
      expect(res.status, path).toBe(404)
      expect(corsHeaders(res), path).toEqual({})
      const actual = await fetch(`${suite.dev.baseUrl}${path}`, { headers: { origin: DEV_PAGE } })
      expect(actual.headers.get('access-control-allow-origin'), path).toBeNull()
      await actual.body?.cancel()
    }
    // A page of another origin is refused by the guard before CORS could say anything.
    const evil = await preflight(`${suite.dev.baseUrl}/api/status`, EVIL, 'GET')
    expect(evil.status).toBe(403)
    expect(evil.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('CORS restricted by III_HTTP_CORS_ORIGINS and III_HTTP_CORS_METHODS', () => {
  const suite = sdkSuite({ vars: { III_HTTP_CORS_ORIGINS: `${PAGE}, ${DEV_PAGE}`, III_HTTP_CORS_METHODS: 'GET, POST' } })

  it('grants a preflight of an allowed origin and method, refuses the others with 403, and never wakes the function', async () => {
    const { calls, url } = await serveRoutes(suite.worker('cors-closed'), suite.dev.baseUrl)
    for (const origin of [PAGE, DEV_PAGE]) {
      const res = await preflight(url('item'), origin, 'GET', { 'access-control-request-headers': 'x-custom' })
      expect(res.status).toBe(200)
      expect(corsHeaders(res)).toEqual({
        'access-control-allow-origin': origin,
        'access-control-allow-methods': 'GET,POST',
        'access-control-allow-headers': '*',
        vary: VARY,
      })
    }
    const refused = [
      [EVIL, 'GET'],
      ['null', 'GET'], // sandboxed frames and files: any page can send it
      [`${PAGE}.evil.example`, 'GET'],
      ['http://app.example', 'GET'],
      [PAGE, 'DELETE'], // an allowed page, a method not listed (a DELETE route exists)
    ] as const
    for (const [origin, method] of refused) {
      const res = await preflight(url('item'), origin, method)
      expect(res.status, `${origin} ${method}`).toBe(403)
      expect(corsHeaders(res), `${origin} ${method}`).toEqual({ vary: VARY })
      expect((await res.json()).error.message).toMatch(/^CORS preflight refused: .*III_HTTP_CORS_(ORIGINS|METHODS)/)
    }
    expect(calls).toEqual({ item: 0, remove: 0, options: 0 })
  })

  it('echoes an allowed origin on actual responses; a refused origin or method is served but never granted', async () => {
    const { calls, url } = await serveRoutes(suite.worker('cors-closed'), suite.dev.baseUrl)
    const allowed = await fetch(url('item'), { headers: { origin: PAGE } })
    expect(await allowed.text()).toBe('item')
    // As the engine's configured layer: no expose-headers; the function's own CORS headers never pass.
    expect(corsHeaders(allowed)).toEqual({ 'access-control-allow-origin': PAGE, vary: VARY })

    // The attacker's page: the function answers (CORS is no access control), the browser may not read it,
    // although the function itself said `access-control-allow-origin: https://evil.example`.
    const attacker = await fetch(url('item'), { headers: { origin: EVIL } })
    expect(attacker.status).toBe(200)
    expect(await attacker.text()).toBe('item')
    expect(corsHeaders(attacker)).toEqual({ vary: VARY })

    // An allowed page with a method not listed: served, not granted (here the function said `*`).
    const removed = await fetch(url('item'), { method: 'DELETE', headers: { origin: PAGE } })
    expect(await removed.json()).toEqual({ deleted: true })
    expect(corsHeaders(removed)).toEqual({ vary: VARY })
    expect(calls).toMatchObject({ item: 2, remove: 1 })

    // Errors of the trigger path carry the grant for an allowed page, nothing for another.
    for (const [path, status] of [[url('fail'), 500], [`${suite.dev.baseUrl}/nobody/serves/this`, 404]] as const) {
      const ok = await fetch(path, { headers: { origin: DEV_PAGE } })
      expect(ok.status, path).toBe(status)
      expect(corsHeaders(ok), path).toEqual({ 'access-control-allow-origin': DEV_PAGE, vary: VARY })
      await ok.body?.cancel()
      const no = await fetch(path, { headers: { origin: EVIL } })
      expect(corsHeaders(no), path).toEqual({ vary: VARY })
      await no.body?.cancel()
    }
  })
})
