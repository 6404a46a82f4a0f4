// The one front door: routes only. Checks that need no state happen here, before any object wakes.

import { Hono } from 'hono'
import { createChannel } from './channel/create'
import { END_HEADER, KEY_HEADER } from './channel/object'
import { parseChannelSocketTarget, parseCreateChannelBody } from './protocol/refs'
import type { Context } from 'hono'

export { ChannelObject } from './channel/object'

type App = { Bindings: Env }

const app = new Hono<App>()

app.post('/channels', async (c) => {
  const body = parseCreateChannelBody(await c.req.text())
  if (!body.ok) return c.json({ error: body.message }, body.status)
  return c.json(await createChannel(c.env, body.value.bufferSize), 201)
})

/** `…/ws/channels/:id?key=…&dir=read|write`; the SDK keeps the path prefix of its engine address. */
async function channelSocket(c: Context<App>): Promise<Response> {
  if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') return c.text('expected a WebSocket upgrade', 426)
  const target = parseChannelSocketTarget(c.req.param('id')!, c.req.query('key'), c.req.query('dir'))
  if (!target.ok) return c.text(target.message, target.status)
  const { channelId, end, key } = target.value
  const headers = new Headers(c.req.raw.headers)
  headers.set(END_HEADER, end)
  headers.set(KEY_HEADER, key)
  const stub = c.env.CHANNEL.get(c.env.CHANNEL.idFromName(channelId))
  return stub.fetch('https://channel/connect', { headers })
}

app.get('/ws/channels/:id', channelSocket)
app.get('/:prefix{.+}/ws/channels/:id', channelSocket)

app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${new URL(c.req.url).pathname}` }, 404))
app.onError((err, c) => {
  console.error(err)
  return c.json({ error: 'internal error' }, 500)
})

export default app
