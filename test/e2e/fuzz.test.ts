// Bad input, generated: the front door, the engine socket and channel frames must answer each case
// with a clear status or close code, never a 5xx or a crash, and leave everyone else working.
import fc from 'fast-check'
import { registerWorker } from 'iii-sdk'
import WebSocket from 'ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { channelUrl, createChannel, openReader, openWriter, refusedUpgradeStatus } from './support/channel'
import { type WranglerDev, startWrangler } from './support/wrangler'

let dev: WranglerDev
let control: ReturnType<typeof registerWorker>
let cases = 0

beforeAll(async () => {
  dev = await startWrangler()
  // A healthy worker that must keep working through all of this.
  control = registerWorker(dev.wsUrl, { workerName: 'control', otel: { enabled: false } })
  control.registerFunction('control::echo', async (x: unknown) => x)
})

afterAll(async () => {
  console.log(`e2e fuzz: ${cases} generated cases`)
  await control?.shutdown()
  await dev?.stop()
})

async function controlStillWorks(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      expect(await control.trigger({ function_id: 'control::echo', payload: { ok: i }, timeoutMs: 2000 })).toEqual({ ok: i })
      return
    } catch (err) {
      if (i === 49) throw err
      await new Promise((r) => setTimeout(r, 100)) // registration may still be on its way
    }
  }
}

describe('front door', () => {
  it('answers malformed channel socket requests with 400/404/426, never 5xx', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 60 })
    await fc.assert(
      fc.asyncProperty(text, fc.option(text), fc.option(text), fc.boolean(), async (id, key, dir, isUpgrade) => {
        cases++
        const query = new URLSearchParams()
        if (key !== null) query.set('key', key)
        if (dir !== null) query.set('dir', dir)
        const path = `/ws/channels/${encodeURIComponent(id)}?${query}`
        // Node's fetch will not send an Upgrade header; `ws` makes the real handshake.
        const status = isUpgrade
          ? await refusedUpgradeStatus(`${dev.wsUrl}${path}`)
          : await fetch(`${dev.baseUrl}${path}`).then(async (res) => (await res.body?.cancel(), res.status))
        // An empty id does not reach the channel route: 404 from the front door either way.
        expect(isUpgrade ? [400, 404] : [404, 426]).toContain(status)
      }),
      { numRuns: 500 },
    )
  })

  it('answers junk paths, methods and POST /channels bodies with 4xx, never 5xx', async () => {
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS')
    await fc.assert(
      fc.asyncProperty(method, fc.webPath(), fc.oneof(fc.string(), fc.json(), fc.constant('{"buffer_size":"9"}')), async (m, path, body) => {
        cases += 2
        const junk = await fetch(`${dev.baseUrl}${path || '/'}x`, { method: m, body: m === 'GET' ? undefined : body })
        await junk.body?.cancel()
        expect(junk.status).toBeLessThan(500)
        const created = await fetch(`${dev.baseUrl}/channels`, { method: 'POST', body })
        await created.body?.cancel()
        expect([201, 400]).toContain(created.status)
      }),
      { numRuns: 300 },
    )
  })
})

describe('engine socket', () => {
  it('survives garbage, wrong-typed messages and huge payloads; the socket and other workers keep working', async () => {
    const ws = new WebSocket(dev.wsUrl)
    const inbox: string[] = []
    ws.on('message', (m) => inbox.push(m.toString()))
    await new Promise((resolve) => ws.once('open', resolve))
    const types = fc.constantFrom('registerfunction', 'invokefunction', 'invocationresult', 'registertrigger', 'unregistertrigger', 'reattach', 'nope', 42, null)
    const garbage = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ type: types, id: fc.anything(), function_id: fc.anything(), invocation_id: fc.anything(), data: fc.anything(), config: fc.anything() }).map((o) => JSON.stringify(o)),
    )
    const samples = fc.sample(garbage, 1000)
    for (const message of samples) ws.send(message)
    ws.send(Buffer.alloc(1024, 0xff)) // binary on the main socket
    ws.send(JSON.stringify({ type: 'invokefunction', invocation_id: 'big', function_id: 'control::echo', data: 'x'.repeat(8 * 1024 * 1024) }))
    cases += samples.length + 2
    ws.send(JSON.stringify({ type: 'ping' }))
    for (let i = 0; i < 200 && !inbox.includes('{"type":"pong"}'); i++) await new Promise((r) => setTimeout(r, 25))
    expect(inbox).toContain('{"type":"pong"}')
    expect(ws.readyState).toBe(WebSocket.OPEN)
    // The 8 MiB payload went through to the echo function and back, untouched.
    for (let i = 0; i < 200 && !inbox.some((m) => m.includes('"invocation_id":"big"')); i++) await new Promise((r) => setTimeout(r, 25))
    const big = JSON.parse(inbox.find((m) => m.includes('"invocation_id":"big"'))!)
    expect(big.result.length).toBe(8 * 1024 * 1024)
    ws.close()
    await controlStillWorks()
  })
})

describe('channel frames', () => {
  it('relays a text frame with invalid UTF-8 as text with U+FFFD (workerd decodes text lossily), nothing hangs', async () => {
    const refs = await createChannel(dev.baseUrl)
    const reader = await openReader(channelUrl(dev.wsUrl, refs.reader))
    const writer = await openWriter(channelUrl(dev.wsUrl, refs.writer))
    writer.ws.send(Buffer.from('fine'))
    writer.ws.send(Buffer.from([0xc3, 0x28, 0xff]), { binary: false })
    writer.ws.close(1000)
    const got = await reader.done
    expect(got).toMatchObject({ code: 1000, binaryBytes: 4 })
    expect(got.texts.map((t: { text: string }) => t.text)).toEqual(['\uFFFD(\uFFFD'])
    cases++
  })

  it('closes a writer whose frame is over the frame limit with 1009; the channel stays consistent', async () => {
    const refs = await createChannel(dev.baseUrl)
    const reader = await openReader(channelUrl(dev.wsUrl, refs.reader))
    const writer = await openWriter(channelUrl(dev.wsUrl, refs.writer))
    writer.ws.send(Buffer.alloc(1000, 1))
    writer.ws.send(Buffer.alloc(2 * 1024 * 1024, 2))
    expect((await writer.closed).code).toBe(1009)
    const got = await reader.done
    expect(got).toMatchObject({ code: 1009, binaryBytes: 1000 })
    cases++
    await controlStillWorks()
  })
})
