// The page at `/` in Debian's Chromium (playwright-core, no downloaded browser) against `wrangler dev`:
// live status, a 5 MiB file from the page to an iii-sdk reader and back from an SDK writer to a
// reader tab, a round trip inside the page, and what the page does without a status API or token.
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { registerWorker } from 'iii-sdk'
import type { ChannelReader } from 'iii-sdk/channel'
import { createChannel } from 'iii-sdk/helpers'
import { type BrowserContext, type Page, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CHROMIUM_ARGS, requireChromium } from './support/chromium'
import { digestChannel } from './support/sdk'
import { type WranglerDev, startWrangler } from './support/wrangler'
import { createChannel as createChannelHttp, channelUrl, openReader, openWriter, sendAll } from './support/channel'

const ROOT = resolve(import.meta.dirname, '../..')
const OUT = join(ROOT, 'test-output')
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex')

const executablePath = requireChromium('browser e2e')

type Iii = ReturnType<typeof registerWorker>

describe.skipIf(!executablePath)('the page, in Chromium', () => {
  let dev: WranglerDev
  let iii: Iii
  let context: BrowserContext
  let profile: string
  const pageErrors: string[] = []

  beforeAll(async () => {
    // The page's bundle of src/client: the same command as `npm run build:page`.
    const build = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['build:page']!
    execFileSync('/bin/sh', ['-c', build], { cwd: ROOT, env: { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` } })
    mkdirSync(OUT, { recursive: true })

    dev = await startWrangler()
    iii = registerWorker(dev.wsUrl, { workerName: 'browser-e2e', otel: { enabled: false } })
    iii.registerFunction('browser::digest', (input: { reader: ChannelReader }) => digestChannel(input.reader))
    iii.registerTrigger({ type: 'http', function_id: 'browser::digest', config: { api_path: 'digest', http_method: 'POST' } })
    for (let i = 0; ; i++) {
      const { functions } = (await iii.trigger({ function_id: 'engine::functions::list', payload: {} })) as { functions: { function_id: string }[] }
      if (functions.some((f) => f.function_id === 'browser::digest')) break
      if (i > 100) throw new Error('browser::digest not registered')
      await new Promise((r) => setTimeout(r, 100))
    }

    profile = mkdtempSync(join(tmpdir(), 'iii-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: executablePath!,
      headless: true,
      acceptDownloads: true,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', ...CHROMIUM_ARGS],
    })
    context.on('page', (page) => page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`)))
  })

  afterAll(async () => {
    await context?.close()
    if (profile) rmSync(profile, { recursive: true, force: true })
    await iii?.shutdown()
    await dev?.stop()
  })

  async function openPage(fragment = ''): Promise<Page> {
    const page = await context.newPage()
    await page.goto(`${dev.baseUrl}/${fragment}`)
    return page
  }

  const progressOf = (page: Page, id: string) =>
    page.locator(`#${id}`).evaluate((el: HTMLProgressElement) => ({ value: el.value, max: el.max }))

  it('serves the page at / with live status over server-sent events', async () => {
    const page = await openPage()
    await expect.poll(() => page.locator('#functions').textContent(), { timeout: 10_000 }).toContain('browser::digest')
    expect(await page.locator('#workers').textContent()).toContain('browser-e2e')
    await expect.poll(() => page.locator('#triggers').textContent()).toContain('{"api_path":"digest","http_method":"POST"}')
    expect(await page.locator('#status-note').textContent()).toMatch(/^Live/)
    expect(await page.locator('#summary').textContent()).toMatch(/1 worker, \d+ functions?, \d+ triggers?, \d+ open channels?/)
    // Landmarks and labels, as a screen reader finds them.
    await expect.poll(() => page.getByRole('main').count()).toBe(1)
    expect(await page.getByRole('banner').count()).toBe(1)
    expect(await page.getByRole('table', { name: /Open channels/ }).count()).toBe(1)
    expect(await page.getByRole('radio', { name: /Round trip/ }).count()).toBe(1)
    await page.close()
  })

  it('shows one namespace at a time, picked from the namespaces the deployment has', async () => {
    const scoped = registerWorker(`${dev.wsUrl}/browser-ns`, { workerName: 'in-a-namespace', otel: { enabled: false } })
    try {
      scoped.registerFunction('scoped::only', async () => 'here')
      await expect.poll(() => scoped.trigger({ function_id: 'scoped::only', payload: {} }).catch(() => null), { timeout: 10_000 }).toBe('here')
      const page = await openPage()
      const picker = page.getByLabel('Namespace')
      await expect.poll(() => picker.locator('option').allTextContents(), { timeout: 10_000 }).toContain('browser-ns')
      expect(await page.locator('#functions').textContent()).not.toContain('scoped::only')
      await picker.selectOption('browser-ns')
      await expect.poll(() => page.locator('#functions').textContent(), { timeout: 10_000 }).toContain('scoped::only')
      expect(await page.locator('#functions').textContent()).not.toContain('browser::digest')
      expect(page.url()).toBe(`${dev.baseUrl}/?namespace=browser-ns`)
      expect(await page.locator('#engine-address').textContent()).toBe(`${dev.wsUrl}/browser-ns`)
      await page.close()
    } finally {
      await scoped.shutdown()
    }
  })

  it('streams a 5 MiB file from the page to an iii-sdk reader, with the progress bar at 100 %', async () => {
    const data = randomBytes(5 * 1024 * 1024)
    const page = await openPage()
    await page.locator('#file').setInputFiles({ name: 'upload.bin', mimeType: 'application/octet-stream', buffer: data })
    await page.getByRole('radio', { name: /To a reader elsewhere/ }).check()
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => page.locator('#reader-ref').textContent()).toMatch(/"direction": "read"/)
    const ref = JSON.parse((await page.locator('#reader-ref').textContent())!)
    expect(await page.locator('#reader-link').getAttribute('href')).toBe(`${dev.baseUrl}/#read=${encodeURIComponent(JSON.stringify(ref))}`)

    const started = Date.now()
    const result = (await iii.trigger({ function_id: 'browser::digest', payload: { reader: ref }, timeoutMs: 60_000 })) as {
      sha256: string
      bytes: number
      texts: string[]
    }
    console.log(`e2e browser -> sdk 5 MiB: ${Date.now() - started} ms after the reader was triggered`)
    expect(result.bytes).toBe(data.length)
    expect(result.sha256).toBe(sha256(data))
    expect(result.texts.map((t) => JSON.parse(t))).toEqual([{ type: 'file', name: 'upload.bin', size: data.length, mime: 'application/octet-stream' }])
    await expect.poll(() => page.locator('#transfer-status').getAttribute('data-state')).toBe('done')
    expect(await progressOf(page, 'send-progress')).toEqual({ value: data.length, max: data.length })
    expect(await page.locator('#send-text').textContent()).toMatch(/^100 %/)
    await page.close()
  })

  it('receives 5 MiB from an iii-sdk writer in a reader tab and downloads it, progress at 100 %', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 77)
    const channel = await createChannel(iii)
    const page = await context.newPage()
    const download = page.waitForEvent('download', { timeout: 60_000 })
    await page.goto(`${dev.baseUrl}/#read=${encodeURIComponent(JSON.stringify(channel.readerRef))}`)
    channel.writer.sendMessage(JSON.stringify({ type: 'file', name: 'from-sdk.bin', size: data.length }))
    await new Promise<void>((res, rej) => channel.writer.stream.end(data, (err?: Error | null) => (err ? rej(err) : res())))

    const file = await download
    expect(file.suggestedFilename()).toBe('from-sdk.bin')
    const saved = join(OUT, 'from-sdk.bin')
    await file.saveAs(saved)
    expect(sha256(readFileSync(saved))).toBe(sha256(data))
    rmSync(saved)
    await expect.poll(() => page.locator('#transfer-status').getAttribute('data-state')).toBe('done')
    expect(await page.locator('#result-sha256').textContent()).toBe(sha256(data))
    expect(await progressOf(page, 'recv-progress')).toEqual({ value: data.length, max: data.length })
    expect(page.url()).toBe(`${dev.baseUrl}/`) // the ref left the address bar
    await page.close()
  })

  it('sends a file through a channel and reads it back inside the page; the status shows an open channel', async () => {
    const data = randomBytes(1024 * 1024 + 5)
    const page = await openPage()
    await page.locator('#file').setInputFiles({ name: 'roundtrip.bin', mimeType: 'application/octet-stream', buffer: data })
    await page.getByRole('button', { name: 'Send' }).click()
    await expect.poll(() => page.locator('#transfer-status').getAttribute('data-state')).toBe('done')
    expect(await page.locator('#transfer-status').textContent()).toMatch(/identical to the file/)
    expect(await page.locator('#result-sha256').textContent()).toBe(sha256(data))
    expect(await progressOf(page, 'back-progress')).toEqual({ value: data.length, max: data.length })

    // A channel whose reader has not come yet, for the status table (and the screenshot).
    const refs = await createChannelHttp(dev.baseUrl)
    const writer = await openWriter(channelUrl(dev.wsUrl, refs.writer))
    await sendAll(writer.ws, [randomBytes(65536), randomBytes(65536), randomBytes(65536)])
    const short = refs.writer.channel_id.slice(0, 8)
    await expect.poll(() => page.locator('#channels').textContent(), { timeout: 10_000 }).toContain('192 KiB · 3 fr')
    expect(await page.locator('#channels').textContent()).toContain(short)
    await page.locator('#file').focus() // show the keyboard focus style too
    const shot = join(OUT, 'page.png')
    await page.screenshot({ path: shot, fullPage: true })
    if (process.env.UPDATE_DOCS_SCREENSHOT) copyFileSync(shot, join(ROOT, 'docs/page.png'))
    writer.ws.close(1000)
    await page.close()
  })

  it('charts bytes/s per channel and invocations/s while they move, and says so in words', async () => {
    iii.registerFunction('browser::tick', async () => 'tock')
    await expect.poll(() => iii.trigger({ function_id: 'browser::tick', payload: {} }).catch(() => null), { timeout: 10_000 }).toBe('tock')
    const page = await openPage()
    const refs = await createChannelHttp(dev.baseUrl)
    const reader = await openReader(channelUrl(dev.wsUrl, refs.reader))
    const writer = await openWriter(channelUrl(dev.wsUrl, refs.writer))
    const short = refs.writer.channel_id.slice(0, 8)
    // ~640 KiB/s through one channel and ~20 invocations/s, for as long as the page needs to see both.
    let moving = true
    const traffic = (async () => {
      while (moving) {
        await sendAll(writer.ws, [randomBytes(65536)])
        await iii.trigger({ function_id: 'browser::tick', payload: {} })
        await iii.trigger({ function_id: 'browser::tick', payload: {} })
        await new Promise((r) => setTimeout(r, 100))
      }
    })()
    try {
      const rateOf = (legend: string, label: string) => {
        const m = new RegExp(`${label} ([\\d.]+) ?(B|KiB|MiB)?/s`).exec(legend)
        return m ? Number(m[1]) * ({ KiB: 1024, MiB: 1024 ** 2 }[m[2] as 'KiB' | 'MiB'] ?? 1) : 0
      }
      const legend = (id: string) => page.locator(`#${id} .legend`).textContent().then((t) => t ?? '')
      await expect.poll(async () => rateOf(await legend('chart-bytes'), short), { timeout: 15_000 }).toBeGreaterThan(64 * 1024)
      await expect.poll(async () => rateOf(await legend('chart-calls'), 'invocations'), { timeout: 15_000 }).toBeGreaterThan(2)
      // A drawn line, not only a legend: the busiest channel's path (ours) joins two points or more.
      const path = () => page.locator('#chart-bytes .plot path.series').first().getAttribute('d')
      await expect.poll(path, { timeout: 10_000 }).toMatch(/^M[\d.]+,[\d.]+l0,0L[\d.]+,[\d.]+/)
      if (process.env.UPDATE_DOCS_SCREENSHOT) {
        await new Promise((r) => setTimeout(r, 6_000)) // a few more points, for the README's picture
        await page.locator('.charts').screenshot({ path: join(ROOT, 'docs/charts.png') })
      }
      expect(await page.getByRole('img', { name: /Bytes delivered per second, by channel, last minute, scale up to/ }).getAttribute('aria-label')).toContain(short)
      expect(await page.getByRole('img', { name: /Invocations per second/ }).getAttribute('aria-label')).toMatch(/invocations [\d.]+\/s now/)
    } finally {
      moving = false
      await traffic
      writer.ws.close(1000)
      await reader.done
      await page.close()
    }
  })

  it('says "status unavailable" without a status API, and asks for the token on 401', async () => {
    const missing = await context.newPage()
    await missing.route('**/api/status**', (route) => route.fulfill({ status: 404, body: 'not here' }))
    await missing.goto(`${dev.baseUrl}/`)
    await expect.poll(() => missing.locator('#summary').textContent()).toBe('Status unavailable')
    await missing.close()

    const guarded = await context.newPage()
    let tokenSeen = ''
    await guarded.route('**/api/status**', (route) => {
      const req = route.request()
      const token = req.headers().authorization ?? new URL(req.url()).searchParams.get('token') ?? ''
      const refusal = { error: { code: 'UNAUTHORIZED', message: 'engine token required: send Authorization: Bearer <token>' } }
      if (!/s3cret/.test(token)) return route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify(refusal) })
      tokenSeen = token
      return route.continue()
    })
    await guarded.goto(`${dev.baseUrl}/`)
    const field = guarded.getByLabel(/Engine token/)
    await expect.poll(() => field.isVisible()).toBe(true)
    // Nothing of the namespace is shown before the token, and the server's reason is.
    expect(await guarded.locator('#functions').textContent()).not.toContain('browser::digest')
    expect(await guarded.locator('#status-note').textContent()).toContain('engine token required')
    await field.fill('s3cret')
    await field.press('Enter')
    await expect.poll(() => guarded.locator('#functions').textContent(), { timeout: 10_000 }).toContain('browser::digest')
    expect(tokenSeen).toMatch(/s3cret/)
    expect(await guarded.evaluate(() => sessionStorage.getItem('iii-engine-token'))).toBe('s3cret')
    await guarded.close()
  })

  it('threw no errors in any page', () => {
    expect(pageErrors).toEqual([])
  })
})
