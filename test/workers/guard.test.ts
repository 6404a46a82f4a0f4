// Safe by default: without III_ENGINE_TOKEN the engine (main socket, /otel, POST /channels, /api/*) serves
// only loopback hosts; with a token every host needs it. HTTP triggers and channel sockets (guarded
// by their keys) are not affected. Every refusal comes in the one error shape.
import { env } from 'cloudflare:workers'
import { createExecutionContext } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import app from '../../src/index'
import { createChannel, frontDoor, socketUrl } from './support'

const DEPLOYED = 'https://iii-channels-edge.example.workers.dev'
const LOOPBACK = ['http://localhost', 'http://127.0.0.1:8787', 'http://[::1]:8787']
const upgrade = { headers: { Upgrade: 'websocket' } }

/** Every route the guard covers, as [path, init]. */
const guarded: [string, RequestInit?][] = [
  ['/channels', { method: 'POST' }],
  ['/api/status'],
  ['/api/status/stream'],
  ['/api/counters'],
  ['/api/info'],
  ['/', upgrade],
  ['/team-a', upgrade],
  // The SDK's telemetry socket: its records reach the Worker's log, the page and log triggers.
  ['/otel', upgrade],
  ['/team-a/otel', upgrade],
]

/** The app with other settings (the bindings stay the real ones). */
const withVars = (vars: Partial<Env>) => (url: string, init?: RequestInit) => app.fetch(new Request(url, init), { ...env, ...vars }, createExecutionContext())

/** Reads the body, then lets go of sockets and streams so nothing stays open. */
async function settle(res: Response): Promise<{ status: number; body: any }> {
  res.webSocket?.accept()
  res.webSocket?.close(1000)
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.body?.cancel()
  return { status: res.status, body }
}

describe('without an engine token', () => {
  it('refuses a deployed host on every guarded route, saying how to set the token', async () => {
    for (const [path, init] of guarded) {
      const { status, body } = await settle(await frontDoor(DEPLOYED + path, init))
      expect(status, path).toBe(401)
      expect(body.error.code, path).toBe('UNAUTHORIZED')
      expect(body.error.message, path).toContain('wrangler secret put III_ENGINE_TOKEN')
    }
  })

  it('serves loopback hosts on every guarded route', async () => {
    for (const base of LOOPBACK) {
      for (const [path, init] of guarded) {
        const { status } = await settle(await frontDoor(base + path, init))
        expect([200, 201, 101], `${base}${path}`).toContain(status)
      }
    }
  })

  it('leaves channel sockets (their keys guard them), HTTP triggers and the page alone', async () => {
    const refs = await createChannel()
    const res = await frontDoor(socketUrl(refs.reader).replace('http://localhost', DEPLOYED), upgrade)
    expect(res.status).toBe(101)
    await settle(res)
    const trigger = await settle(await frontDoor(`${DEPLOYED}/some/app/route`))
    expect(trigger).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } })
    expect((await settle(await frontDoor(`${DEPLOYED}/`))).status).toBe(200)
  })

  it('refuses a page of another origin with 403 on every guarded route, loopback host or not; pages of this machine get in', async () => {
    for (const [path, init] of guarded) {
      for (const origin of ['https://evil.example', 'null', 'http://evil.example:8787']) {
        const { status, body } = await settle(await frontDoor(`http://127.0.0.1:8787${path}`, { ...init, headers: { ...(init?.headers as object), origin } }))
        expect(status, `${path} from ${origin}`).toBe(403)
        expect(body.error.code).toBe('FORBIDDEN')
      }
      for (const origin of ['http://127.0.0.1:8787', 'http://localhost:5173', 'http://[::1]:3000']) {
        const { status } = await settle(await frontDoor(`http://127.0.0.1:8787${path}`, { ...init, headers: { ...(init?.headers as object), origin } }))
        expect([200, 201, 101], `${path} from ${origin}`).toContain(status)
      }
    }
  })

  it('III_ALLOW_OPEN=true opens a deployed host (dangerous, and only when asked for)', async () => {
    const open = withVars({ III_ALLOW_OPEN: 'true' })
    for (const [path, init] of guarded) expect((await settle(await open(DEPLOYED + path, init))).status, path).not.toBe(401)
    // A page of another origin still may not (it could ride its visitor's cookies); the engine's own page may.
    expect((await settle(await open(`${DEPLOYED}/api/status`, { headers: { origin: 'https://evil.example' } }))).status).toBe(403)
    expect((await settle(await open(`${DEPLOYED}/api/status`, { headers: { origin: DEPLOYED } }))).status).toBe(200)
    const almost = withVars({ III_ALLOW_OPEN: 'yes' })
    expect((await settle(await almost(`${DEPLOYED}/api/status`))).status).toBe(401)
  })
})

describe('with an engine token', () => {
  const guardedApp = withVars({ III_ENGINE_TOKEN: 'the-token' })
  const bearer = (init: RequestInit = {}, token = 'the-token') => ({ ...init, headers: { ...(init.headers as object), authorization: `Bearer ${token}` } })

  it('every host needs it, loopback too; a wrong one is refused', async () => {
    for (const base of [DEPLOYED, ...LOOPBACK]) {
      for (const [path, init] of guarded) {
        const without = await settle(await guardedApp(base + path, init))
        expect(without.status, `${base}${path}`).toBe(401)
        expect(without.body.error).toEqual({ code: 'UNAUTHORIZED', message: 'engine token required: send Authorization: Bearer <token>' })
        expect((await settle(await guardedApp(base + path, bearer(init, 'not-it')))).status).toBe(401)
        expect([200, 201, 101], `${base}${path}`).toContain((await settle(await guardedApp(base + path, bearer(init)))).status)
      }
    }
  })

  it('takes the token as the password of HTTP Basic (an address wss://iii:<token>@host/: the SDK sends no headers on /otel)', async () => {
    const basic = (user: string, password: string) => ({ headers: { ...upgrade.headers, authorization: `Basic ${btoa(`${user}:${password}`)}` } })
    for (const path of ['/otel', '/team-a/otel', '/']) {
      expect((await settle(await guardedApp(DEPLOYED + path, basic('iii', 'the-token')))).status, path).toBe(101)
      expect((await settle(await guardedApp(DEPLOYED + path, basic('', 'the-token')))).status, path).toBe(101)
      expect((await settle(await guardedApp(DEPLOYED + path, basic('the-token', '')))).status, path).toBe(401)
      expect((await settle(await guardedApp(DEPLOYED + path, basic('iii', 'not-it')))).status, path).toBe(401)
    }
    const garbage = { headers: { ...upgrade.headers, authorization: 'Basic %%%' } }
    expect((await settle(await guardedApp(`${DEPLOYED}/otel`, garbage))).status).toBe(401)
  })

  it('changes nothing for pages of other origins: the token decides', async () => {
    expect((await settle(await guardedApp(`${DEPLOYED}/api/status`, bearer({ headers: { origin: 'https://evil.example' } })))).status).toBe(200)
    expect((await settle(await guardedApp(`${DEPLOYED}/api/status`, { headers: { origin: 'http://localhost' } }))).status).toBe(401)
  })

  it('takes ?token= only on the event stream (EventSource cannot send headers)', async () => {
    expect((await settle(await guardedApp(`${DEPLOYED}/api/status/stream?token=the-token`))).status).toBe(200)
    expect((await settle(await guardedApp(`${DEPLOYED}/api/status?token=the-token`))).status).toBe(401)
  })
})

describe('one error shape', () => {
  it('answers {error: {code, message}} for refusals of every kind', async () => {
    const refs = await createChannel()
    const cases: [string, RequestInit | undefined, number, string][] = [
      [socketUrl(refs.reader).replace('http://localhost', '').replace('dir=read', 'dir=sideways'), upgrade, 400, 'BAD_REQUEST'],
      ['/ws/channels/nope?key=x&dir=read', upgrade, 404, 'NOT_FOUND'],
      [socketUrl(refs.reader).replace('http://localhost', '').replace(/key=[^&]+/, `key=${'A'.repeat(43)}`), upgrade, 404, 'NOT_FOUND'],
      [socketUrl(refs.reader).replace('http://localhost', ''), undefined, 426, 'UPGRADE_REQUIRED'],
      ['/channels', { method: 'POST', body: '{"buffer_size": "big"}' }, 400, 'BAD_REQUEST'],
      ['/api/status?namespace=bad.name', undefined, 400, 'BAD_REQUEST'],
      ['/a/b', upgrade, 404, 'NOT_FOUND'],
      ['/nothing-here', undefined, 404, 'NOT_FOUND'],
    ]
    // An address that does not parse (`Host: localhost:99999`): no Request can hold one, so a bare
    // object stands in for what the runtime would hand the Worker.
    const odd = { url: 'http://localhost:99999/api/info', method: 'GET', headers: new Headers() } as unknown as Request
    expect(await settle(await app.fetch(odd, env, createExecutionContext()))).toEqual({ status: 400, body: { error: { code: 'BAD_REQUEST', message: expect.stringContaining('Host') } } })
    for (const [path, init, status, code] of cases) {
      const res = await settle(await frontDoor(`http://localhost${path}`, init))
      expect(res, path).toEqual({ status, body: { error: { code, message: expect.any(String) } } })
    }
  })
})
