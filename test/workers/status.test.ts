// GET /api/status: workers, functions, triggers and open channels with their counters.
import { SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { openWorker, settle } from './engine-support'
import { chunk, connect, createChannel } from './support'

const status = async () => (await SELF.fetch('http://edge/api/status')).json<any>()

describe('status API', () => {
  it('shows workers, functions, triggers and a channel moving data, and forgets the channel once finished', async () => {
    const worker = await openWorker()
    worker.send({ type: 'registerfunction', id: 'status::fn', description: 'listed' })
    worker.send({ type: 'registertrigger', id: 'st', trigger_type: 'http', function_id: 'status::fn', config: { api_path: 'st' } })
    await settle(worker)

    const refs = await createChannel()
    const writer = await connect(refs.writer)
    writer.ws.send(chunk(1, 1000))
    writer.ws.send('text')
    let channel: any
    for (let i = 0; i < 100; i++) {
      channel = (await status()).channels.find((c: any) => c.channel_id === refs.writer.channel_id)
      if (channel?.frames_in === 2) break
      await new Promise((r) => setTimeout(r, 50))
    }
    // Reports are at most once a second while data moves; connect and close always report.
    expect(channel).toMatchObject({ writer: 'open', reader: 'waiting', buffer_size: 64 })
    const s = await status()
    expect(s.functions).toContainEqual(expect.objectContaining({ function_id: 'status::fn', description: 'listed', worker_id: worker.id }))
    expect(s.workers).toContainEqual(expect.objectContaining({ id: worker.id, function_count: 1 }))
    expect(s.triggers).toContainEqual(expect.objectContaining({ id: 'st', trigger_type: 'http' }))
    expect(s.engine).toEqual({ pending_invocations: expect.any(Number), otel_frames_dropped: expect.any(Number) })

    const reader = await connect(refs.reader)
    writer.ws.close(1000)
    await reader.closed
    let gone = false
    for (let i = 0; i < 100 && !gone; i++) {
      gone = !(await status()).channels.some((c: any) => c.channel_id === refs.writer.channel_id)
      if (!gone) await new Promise((r) => setTimeout(r, 20))
    }
    expect(gone).toBe(true)
  })

  it('streams the status as server-sent events', async () => {
    const res = await SELF.fetch('http://edge/api/status/stream')
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    expect(first).toMatch(/^event: status\ndata: \{.*"workers":/)
    await reader.cancel()
  })
})
