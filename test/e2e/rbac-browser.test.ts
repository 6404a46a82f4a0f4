// A page of another site calls the engine as its signed-in user, in Debian's Chromium (playwright-core)
// against `wrangler dev`: the worker endpoint `/app` (III_WORKER_ENDPOINTS) lets the page's worker in
// when the auth function, registered by a trusted iii-sdk worker, accepts its token and its origin;
// the page may call what rbac.expose_functions names (through the middleware, which adds the user)
// and gets FORBIDDEN for the rest. Attacks: a wrong token, and the same token from a page of another
// site. The page is test/e2e/fixtures/rbac-page.html, served with a copy of the client bundle.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { type MiddlewareFunctionInput, registerWorker } from 'iii-sdk'
import { type Browser, type BrowserContext, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM_ARGS, requireChromium } from './support/chromium'
import { until } from './support/wait'
import { type WranglerDev, startWrangler } from './support/wrangler'

const ROOT = resolve(import.meta.dirname, '../..')

const executablePath = requireChromium('rbac browser e2e')

/** The user's site and an attacker's, both served here: Chromium resolves them to 127.0.0.1. */
const APP_HOST = 'app.example'
const EVIL_HOST = 'evil.example'
/** What the site's login handed its users (the second needs percent-encoding in an address). */
const USERS: Record<string, string> = { 'alice-token': 'alice', 'b0b+/=': 'bob' }

const ENDPOINTS = [
  {
    path: '/app',
    middleware_function_id: 'app::middleware',
    rbac: { auth_function_id: 'app::auth', expose_functions: ['match("app::public::*")'] },
  },
]

/** The auth function's input (the engine's AuthInput). */
interface AuthInput {
  headers: Record<string, string>
  query_params: Record<string, string[]>
  ip_address: string
}

/** The page's site: the fixture at `/`, and `/client.js`, a copy of the engine's client bundle. */
function servePage(): Promise<Server> {
  const page = readFileSync(join(ROOT, 'test/e2e/fixtures/rbac-page.html'))
  const client = readFileSync(join(ROOT, 'public/_iii/client.js'))
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://site').pathname
    if (path === '/') return res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page)
    if (path === '/client.js') return res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(client)
    res.writeHead(404).end()
  })
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res(server)))
}

describe.skipIf(!executablePath)('a page of another site on the worker endpoint, in Chromium', () => {
  let dev: WranglerDev
  let iii: ReturnType<typeof registerWorker>
  let site: Server
  let browser: Browser
  let context: BrowserContext
  let appOrigin: string
  let evilOrigin: string
  const authInputs: AuthInput[] = []
  const middlewareCalls: MiddlewareFunctionInput[] = []
  const pageErrors: string[] = []

  beforeAll(async () => {
    // The client bundle: the same command as `npm run build:page`.
    const build = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['build:page']!
    execFileSync('/bin/sh', ['-c', build], { cwd: ROOT, env: { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` } })
    site = await servePage()
    const port = (site.address() as AddressInfo).port
    appOrigin = `http://${APP_HOST}:${port}`
    evilOrigin = `http://${EVIL_HOST}:${port}`

    // A copy of the source: an edit elsewhere in the checkout must not reload the Worker mid-test.
    dev = await startWrangler({ copy: true, vars: { III_WORKER_ENDPOINTS: JSON.stringify(ENDPOINTS) } })
    // The site's own backend: a trusted worker on the plain engine socket.
    iii = registerWorker(dev.wsUrl, { workerName: 'my-app-backend', otel: { enabled: false } })
    iii.registerFunction('app::auth', async (input: AuthInput) => {
      authInputs.push(input)
      if (input.headers.origin !== appOrigin) throw new Error(`origin ${input.headers.origin} is not my app`)
      // Query values arrive as sent (percent-encoded), as on the iii engine.
      const user = USERS[decodeURIComponent(input.query_params.access_token?.[0] ?? '')]
      if (!user) throw new Error('invalid token')
      return { context: { user_id: user } }
    })
    iii.registerFunction('app::middleware', async (input: MiddlewareFunctionInput) => {
      middlewareCalls.push(input)
      return iii.trigger({ function_id: input.function_id, payload: { ...input.payload, user_id: input.context.user_id } })
    })
    iii.registerFunction('app::public::hello', async ({ greeting, user_id }: { greeting: string; user_id: string }) => ({ message: `${greeting}, ${user_id}!` }))
    iii.registerFunction('app::private', async () => ({ secret: 'for trusted workers only' }))
    const wanted = ['app::auth', 'app::middleware', 'app::public::hello', 'app::private']
    await until(
      'the backend functions to be registered',
      async () => {
        const { functions } = (await iii.trigger({ function_id: 'engine::functions::list', payload: {} })) as { functions: { function_id: string }[] }
        return wanted.every((id) => functions.some((f) => f.function_id === id))
      },
      30_000,
      100,
    )

    browser = await chromium.launch({
      executablePath: executablePath!,
      headless: true,
      args: [
        ...CHROMIUM_ARGS,
        `--host-resolver-rules=MAP ${APP_HOST} 127.0.0.1, MAP ${EVIL_HOST} 127.0.0.1`,
      ],
    })
    context = await browser.newContext()
    context.on('page', (page) => page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`)))
  }, 180_000) // a build, wrangler (up to 90 s on a busy machine), registrations and a browser

  afterAll(async () => {
    await context?.close()
    await browser?.close()
    await iii?.shutdown()
    await dev?.stop()
    site?.closeAllConnections()
    await new Promise((r) => (site ? site.close(r) : r(null)))
  })

  /** Opens the page at `origin` with `token`; resolves once it has connected or been refused. */
  async function visit(origin: string, token: string) {
    const page = await context.newPage()
    await page.goto(`${origin}/#${new URLSearchParams({ engine: dev.wsUrl, token })}`)
    const status = page.locator('#status')
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 45_000 }).not.toBe('connecting')
    return page
  }

  it("lets the user's page call an exposed function (as the user, via the middleware), and refuses the rest with FORBIDDEN", async () => {
    const page = await visit(appOrigin, 'alice-token')
    expect(await page.locator('#status').textContent()).toMatch(/^connected \(worker .+\)$/)
    // Plain http on a name that is not this machine: no crypto.randomUUID there, the client's fallback made the ids.
    expect(await page.evaluate(() => isSecureContext)).toBe(false)
    const hello = page.locator('#hello')
    await expect.poll(() => hello.getAttribute('data-state'), { timeout: 30_000 }).toBe('ok')
    expect(JSON.parse((await hello.textContent())!)).toEqual({ message: 'Hello, alice!' })

    const denied = page.locator('#private')
    await expect.poll(() => denied.getAttribute('data-state'), { timeout: 30_000 }).toBe('error')
    expect(await denied.getAttribute('data-code')).toBe('FORBIDDEN')
    expect(await denied.textContent()).toMatch(/^FORBIDDEN: function 'app::private' not allowed/)

    // What the backend saw: the page's origin and token at the upgrade, the user's context on the call.
    expect(authInputs.at(-1)).toMatchObject({ headers: { origin: appOrigin }, query_params: { access_token: ['alice-token'] } })
    expect(authInputs.at(-1)!.ip_address).toEqual(expect.any(String))
    expect(middlewareCalls.map((c) => [c.function_id, c.context])).toEqual([['app::public::hello', { user_id: 'alice' }]])
    await page.close()
  })

  it('hands the auth function the query as sent: a token that needs percent-encoding arrives encoded', async () => {
    const page = await visit(appOrigin, 'b0b+/=')
    await expect.poll(() => page.locator('#hello').textContent(), { timeout: 30_000 }).toBe(JSON.stringify({ message: 'Hello, bob!' }))
    expect(authInputs.at(-1)!.query_params.access_token).toEqual([encodeURIComponent('b0b+/=')])
    await page.close()
  })

  it('refuses a wrong token with AUTH_ERROR and the auth function’s message', async () => {
    const page = await visit(appOrigin, 'mallory-token')
    expect(await page.locator('#status').getAttribute('data-state')).toBe('refused')
    expect(await page.locator('#status').getAttribute('data-code')).toBe('AUTH_ERROR')
    expect(await page.locator('#status').textContent()).toBe('AUTH_ERROR: invalid token')
    expect(await page.locator('#hello').textContent()).toBe('')
    await page.close()
  })

  it("refuses alice's token from a page of another site (the attack): the auth function checks the origin", async () => {
    const calls = middlewareCalls.length
    const page = await visit(evilOrigin, 'alice-token')
    expect(await page.locator('#status').getAttribute('data-code')).toBe('AUTH_ERROR')
    expect(await page.locator('#status').textContent()).toBe(`AUTH_ERROR: origin ${evilOrigin} is not my app`)
    expect(authInputs.at(-1)!.headers.origin).toBe(evilOrigin)
    expect(middlewareCalls.length).toBe(calls)
    await page.close()
  })

  it('threw no errors in any page', () => {
    expect(pageErrors).toEqual([])
  })
})
