// Finding 2 of the security review: without a token, any web page could drive the local engine (a
// browser sends `Host: 127.0.0.1` when a page aims there, and always names the page in `Origin`).
// Now a page of another origin is refused on every guarded door; this machine's pages and programs
// (no Origin) keep working. Real SDK worker, raw `ws` sockets as a browser would open them.
import WebSocket from 'ws'
import { describe, expect, it } from 'vitest'
import { sdkSuite } from './support/sdk'
import { until, unique } from './support/wait'

const suite = sdkSuite()

/** Opens the engine socket with these headers; resolves with the socket, or the refused status. */
function engineSocket(url: string, headers: Record<string, string>): Promise<{ ws: WebSocket } | { status: number; body: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers })
    ws.once('open', () => resolve({ ws }))
    ws.once('unexpected-response', (req, res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      req.on('error', () => {})
    })
    ws.on('error', () => {})
  })
}

/** One call on a raw engine socket: sends invokefunction, waits for its result. */
function call(ws: WebSocket, function_id: string, data: unknown): Promise<any> {
  const invocation_id = crypto.randomUUID()
  return new Promise((resolve) => {
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw))
      if (m.type === 'invocationresult' && m.invocation_id === invocation_id) resolve(m)
    })
    ws.send(JSON.stringify({ type: 'invokefunction', invocation_id, function_id, data }))
  })
}

describe('an engine without a token, seen from a web page of another origin', () => {
  it("refuses the page's engine socket, status and channels API with 403; programs and this machine's pages get in", async () => {
    const id = unique('local::secret')
    const local = suite.worker('local')
    local.registerFunction(id, async () => ({ files: ['~/.ssh/id_ed25519'] }))
    // The function is callable by a program on this machine (no Origin), as before.
    const program = await engineSocket(suite.dev.wsUrl, {})
    if (!('ws' in program)) throw new Error(`a program was refused: ${program.status} ${program.body}`)
    const answer = await until('the local function', async () => {
      const m = await call(program.ws, id, {})
      return m.error?.code === 'function_not_found' ? null : m
    })
    expect(answer.result).toEqual({ files: ['~/.ssh/id_ed25519'] })
    program.ws.close()

    // The attack: a page on https://evil.example opens ws://127.0.0.1:<port>/ (Host is loopback).
    for (const origin of ['https://evil.example', 'null', `http://evil.example:${suite.dev.port}`]) {
      const page = await engineSocket(suite.dev.wsUrl, { origin })
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
      const page = await engineSocket(suite.dev.wsUrl, { origin })
      expect('ws' in page, origin).toBe(true)
      if ('ws' in page) page.ws.close()
      const status = await fetch(`${suite.dev.baseUrl}/api/status`, { headers: { origin } })
      expect(status.status, origin).toBe(200)
      await status.body?.cancel()
    }
  })
})
