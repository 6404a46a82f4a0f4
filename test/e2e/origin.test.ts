// Finding 2 of the security review: without a token, any web page could drive the local engine (a
// browser sends `Host: 127.0.0.1` when a page aims there, and always names the page in `Origin`).
// Now a page of another origin is refused on every guarded door; this machine's pages and programs
// (no Origin) keep working. Real SDK worker, raw `ws` sockets as a browser would open them.
import { describe, expect, it } from 'vitest'
import { RawWorker, openEngine } from './support/engine'
import { sdkSuite } from './support/sdk'
import { until, unique } from './support/wait'

const suite = sdkSuite()

describe('an engine without a token, seen from a web page of another origin', () => {
  it("refuses the page's engine socket, status and channels API with 403; programs and this machine's pages get in", async () => {
    const id = unique('local::secret')
    const local = suite.worker('local')
    local.registerFunction(id, async () => ({ files: ['~/.ssh/id_ed25519'] }))
    // The function is callable by a program on this machine (no Origin), as before.
    const program = await RawWorker.open(suite.dev.wsUrl)
    const answer = await until('the local function', async () => {
      const m = await program.call(id, {})
      return m.error?.code === 'function_not_found' ? null : m
    })
    expect(answer.result).toEqual({ files: ['~/.ssh/id_ed25519'] })
    program.close()

    // The attack: a page on https://evil.example opens ws://127.0.0.1:<port>/ (Host is loopback).
    for (const origin of ['https://evil.example', 'null', `http://evil.example:${suite.dev.port}`]) {
      const page = await openEngine(suite.dev.wsUrl, { origin })
      expect('status' in page && page.status, origin).toBe(403)
      if ('status' in page) expect(JSON.parse(page.body).error).toMatchObject({ code: 'FORBIDDEN' })
      const status = await fetch(`${suite.dev.baseUrl}/api/status`, { headers: { origin } })
      expect(status.status, `/api/status from ${origin}`).toBe(403)
      expect((await status.json()).error.code).toBe('FORBIDDEN')
      const stream = await fetch(`${suite.dev.baseUrl}/api/status/stream`, { headers: { origin } })
      expect(stream.status).toBe(403)
      await stream.body?.cancel()
      const channels = await fetch(`${suite.dev.baseUrl}/channels`, { method: 'POST', headers: { origin } })
      expect(channels.status).toBe(403)
      await channels.body?.cancel()
    }

    // This machine's own pages (the page at /, a dev server on another port) still get in.
    for (const origin of [suite.dev.baseUrl, 'http://localhost:5173']) {
      const page = await openEngine(suite.dev.wsUrl, { origin })
      expect('ws' in page, origin).toBe(true)
      if ('ws' in page) page.ws.close()
      const status = await fetch(`${suite.dev.baseUrl}/api/status`, { headers: { origin } })
      expect(status.status, origin).toBe(200)
      await status.body?.cancel()
    }
  })
})
