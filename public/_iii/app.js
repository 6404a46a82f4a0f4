// The page at `/`: live status (SSE, polling as a fallback) and files through channels, with the
// web-standard client (src/client, bundled to /_iii/client.js by `npm run build:page`).
// Plain DOM, no framework; every value from the server goes in with textContent.

import { Movement, linePath, niceBytes, niceMax } from './movement.js'

const $ = (id) => document.getElementById(id)
const TOKEN_KEY = 'iii-engine-token'
const POLL_MS = 2000

const token = () => sessionStorage.getItem(TOKEN_KEY) || ''
/** The namespace shown (`/?namespace=team-a`): one at a time, as the status API serves them. */
const namespace = () => new URL(location.href).searchParams.get('namespace') || ''
const withNamespace = (path, extra = {}) => {
  const query = new URLSearchParams({ ...(namespace() ? { namespace: namespace() } : {}), ...extra })
  return `${path}${query.size ? `?${query}` : ''}`
}
const authHeaders = () => (token() ? { authorization: `Bearer ${token()}` } : {})

/** The channel client (null when it was not built); the page shows status without it. */
const client = await import('/_iii/client.js').catch(() => null)
const formatBytes = client?.formatBytes ?? ((n) => `${n} B`)
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`

function since(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  return `${Math.floor(s / 3600)} h ago`
}

function showTokenForm(message) {
  const form = $('token-form')
  form.hidden = false
  $('summary').textContent = message
  $('token').focus()
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault()
  sessionStorage.setItem(TOKEN_KEY, $('token').value.trim())
  $('token-form').hidden = true
  startStatus()
})

// ---- Live status -------------------------------------------------------------------------------

/** Fills a table body with rows of cells ({text, num, node}); an empty list gets one explaining row. */
function fill(table, rows, empty) {
  const body = table.tBodies[0]
  const cols = table.tHead.rows[0].cells.length
  const out = rows.map((cells) => {
    const tr = document.createElement('tr')
    for (const cell of cells) {
      const td = document.createElement('td')
      if (cell.node) td.append(cell.node)
      else td.textContent = String(cell.text ?? '')
      if (cell.num) td.className = 'num'
      if (cell.title) td.title = cell.title
      tr.append(td)
    }
    return tr
  })
  if (out.length === 0) {
    const tr = document.createElement('tr')
    const td = document.createElement('td')
    td.colSpan = cols
    td.className = 'empty'
    td.textContent = empty
    tr.append(td)
    out.push(tr)
  }
  body.replaceChildren(...out)
  table.caption.firstChild.textContent = `${table.caption.dataset.label ??= table.caption.textContent} (${rows.length})`
}

function bufferMeter(c) {
  const fill = Math.min(c.backlog_frames, c.buffer_size)
  const meter = document.createElement('meter')
  meter.min = 0
  meter.max = c.buffer_size
  meter.value = fill
  meter.high = Math.ceil(c.buffer_size * 0.75)
  meter.textContent = `${fill} of ${c.buffer_size} frames`
  const wrap = document.createElement('span')
  wrap.append(meter, ` ${fill}/${c.buffer_size}`)
  meter.setAttribute('aria-label', `buffer ${fill} of ${c.buffer_size} frames`)
  return wrap
}

// ---- Live charts: rates from the counters of successive snapshots (movement.js) ------------------

const movement = new Movement()
const SVG = 'http://www.w3.org/2000/svg'
const BOX = { width: 600, height: 140 }

/** A small SVG line in a series' style, for the legend. */
function swatch(cls) {
  const svg = document.createElementNS(SVG, 'svg')
  svg.setAttribute('viewBox', '0 0 24 8')
  svg.setAttribute('aria-hidden', 'true')
  const path = document.createElementNS(SVG, 'path')
  path.setAttribute('class', `series ${cls}`)
  path.setAttribute('d', 'M1,4L23,4')
  svg.append(path)
  return svg
}

/**
 * Redraws one chart: a dashed line at half scale, one line per series, the top of the scale as a
 * round number, a legend with each series' latest value, and the same in words for screen readers.
 */
function drawChart(id, series, { scale, format, empty }) {
  const figure = $(id)
  const svg = figure.querySelector('.plot svg')
  const now = Date.now()
  const times = movement.points.map((p) => p.at)
  const latest = (values) => values.findLast((v) => v !== null) ?? 0
  const max = scale(Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v !== null))))
  const half = document.createElementNS(SVG, 'path')
  half.setAttribute('class', 'grid-line')
  half.setAttribute('d', `M0,${BOX.height / 2}L${BOX.width},${BOX.height / 2}`)
  const lines = series.map((s, i) => {
    const path = document.createElementNS(SVG, 'path')
    path.setAttribute('class', `series s${i}`)
    path.setAttribute('d', linePath(s.values, times, { now, max, ...BOX }))
    return path
  })
  svg.replaceChildren(half, ...lines)
  figure.querySelector('.top').textContent = format(max)
  const items = series.map((s, i) => {
    const li = document.createElement('li')
    li.append(swatch(`s${i}`), `${s.label} ${format(latest(s.values))}`)
    if (s.id !== 'other') li.title = s.id
    return li
  })
  if (items.length === 0) {
    const li = document.createElement('li')
    li.className = 'hint'
    li.textContent = empty
    items.push(li)
  }
  figure.querySelector('.legend').replaceChildren(...items)
  const words = series.length ? series.map((s) => `${s.label} ${format(latest(s.values))} now`).join(', ') : empty
  svg.setAttribute('aria-label', `${figure.querySelector('figcaption').firstChild.textContent.trim()}, last minute, scale up to ${format(max)}: ${words}`)
}

function drawCharts() {
  const perSecond = (n) => `${formatBytes(Math.round(n))}/s`
  drawChart('chart-bytes', movement.channelSeries(), { scale: niceBytes, format: perSecond, empty: 'No channel moved bytes in the last minute' })
  const calls = movement.invocationSeries()
  const shown = calls.some((v) => v !== null) ? [{ id: 'invocations', label: 'invocations', values: calls }] : []
  const rate = (n) => `${n >= 10 ? Math.round(n) : Math.round(n * 10) / 10}/s`
  drawChart('chart-calls', shown, { scale: (n) => niceMax(n), format: rate, empty: 'Counting starts with the next snapshot' })
}

let lastSnapshot = ''
let lastSummary = ''

function render(status) {
  // Every snapshot counts for the charts, unchanged ones too (they say nothing moved).
  movement.add(status, Date.now())
  drawCharts()
  // Unchanged snapshots are skipped, except every 10 s for the "connected … ago" column.
  const json = `${Math.floor(Date.now() / 10_000)} ${JSON.stringify(status)}`
  if (json === lastSnapshot) return
  lastSnapshot = json
  const { workers = [], functions = [], triggers = [], channels = [], engine = {}, namespaces = [], log = [], data = {} } = status
  showNamespaces(namespaces)
  fill($('workers'), workers.map((w) => [
    { text: w.name || w.id, title: w.id },
    { text: w.runtime },
    { text: since(w.connected_at_ms), title: new Date(w.connected_at_ms).toISOString() },
    { text: w.function_count, num: true },
    { text: w.active_invocations, num: true },
  ]), 'No workers connected')
  fill($('functions'), functions.map((f) => [{ text: f.function_id }, { text: f.worker_name || f.worker_id }, { text: f.description ?? '' }]), 'No functions registered')
  fill($('triggers'), triggers.map((t) => [
    { text: t.id.length > 16 ? `${t.id.slice(0, 8)}…` : t.id, title: t.id },
    { text: t.trigger_type },
    { text: t.function_id },
    { text: JSON.stringify(t.config ?? {}) },
    { text: t.worker_name ?? '' },
    // Cron triggers only: when their object's alarm fires next (UTC).
    { text: t.trigger_type === 'cron' ? (t.next_run ?? 'never') : '', title: t.next_run ?? '' },
  ]), 'No triggers registered')
  fill($('channels'), channels.map((c) => [
    { text: c.channel_id.slice(0, 8), title: c.channel_id },
    { text: c.writer },
    { text: c.reader },
    { text: `${formatBytes(c.bytes_in)} · ${c.frames_in} fr`, num: true },
    { text: `${formatBytes(c.bytes_out)} · ${c.frames_out} fr`, num: true },
    { text: `${formatBytes(c.backlog_bytes)} · ${c.backlog_frames} fr`, num: true },
    { node: bufferMeter(c) },
  ]), 'No open channels')
  fill($('scopes'), (data.state_scopes ?? []).map((s) => [{ text: s }]), 'No state stored (state::set)')
  fill($('streams'), (data.streams ?? []).map((g) => [
    { text: g.stream_name },
    { text: g.group_id },
    // Only the newest groups are asked for a live count on each snapshot.
    { text: g.subscribers ?? '–', num: true },
  ]), 'No stream items stored (stream::set)')
  fill($('topics'), (data.topics ?? []).map((t) => [{ text: t.topic }, { text: t.subscribers, num: true }]), 'No topic subscribers (subscribe triggers)')
  fill($('queues'), (data.queues ?? []).map((q) => [
    { text: q.kind === 'topic' ? `${q.name} (durable topic)` : q.name, title: q.kind === 'topic' ? 'durable:subscriber topic' : `named queue (${q.type})` },
    { text: q.depth ?? '–', num: true },
    { text: q.in_flight ?? '–', num: true },
    { text: q.dead_letters ?? '–', num: true },
  ]), 'No queues')
  fill($('log'), log.map((e) => [
    { text: new Date(e.at).toISOString().slice(11, 19), title: new Date(e.at).toISOString() },
    { text: e.level },
    { text: e.source },
    { text: e.data === undefined ? e.message : `${e.message} ${JSON.stringify(e.data)}` },
  ]), "Nothing logged yet (workers' Logger records, engine::log::*, failed cron runs)")
  $('engine').textContent = `Engine: ${plural(engine.active_invocations ?? 0, 'invocation')} running; registry version ${engine.registry_version ?? '–'}. Channels are listed once they have been open a second.`
  // The live region says only what changed in the counts, not every byte.
  const summary = `${plural(workers.length, 'worker')}, ${plural(functions.length, 'function')}, ${plural(triggers.length, 'trigger')}, ${plural(channels.length, 'open channel')}`
  if (summary !== lastSummary) $('summary').textContent = lastSummary = summary
}

/** Fills the namespace picker from the status (the default namespace's directory). */
function showNamespaces(names) {
  const select = $('namespace')
  const wanted = ['', ...names]
  if (!wanted.includes(namespace())) wanted.push(namespace())
  const have = [...select.options].map((o) => o.value)
  if (have.join('\n') !== wanted.join('\n')) {
    select.replaceChildren(...wanted.map((name) => new Option(name || '(default)', name)))
  }
  select.value = namespace()
}

$('namespace').addEventListener('change', (e) => {
  const url = new URL(location.href)
  if (e.target.value) url.searchParams.set('namespace', e.target.value)
  else url.searchParams.delete('namespace')
  history.replaceState(null, '', url)
  showAddress()
  lastSnapshot = ''
  movement.reset()
  startStatus()
})

function showAddress() {
  $('engine-address').textContent = `${location.origin.replace(/^http/, 'ws')}/${namespace()}`
}
showAddress()

let source = null
let pollTimer = 0

function setNote(text) {
  $('status-note').textContent = text
}

function stopStatus() {
  source?.close()
  source = null
  clearTimeout(pollTimer)
}

function startStatus() {
  stopStatus()
  if (typeof EventSource === 'undefined') return poll()
  // EventSource cannot send headers: the stream takes the token as ?token=.
  const url = withNamespace('/api/status/stream', token() ? { token: token() } : {})
  source = new EventSource(url)
  source.addEventListener('status', (e) => {
    setNote('Live: updated every second.')
    render(JSON.parse(e.data))
  })
  source.addEventListener('error', () => {
    // A refused stream (401, 404, …) is closed for good; a dropped one reconnects by itself.
    if (source?.readyState === EventSource.CLOSED) {
      source = null
      poll()
    }
  })
}

async function poll() {
  clearTimeout(pollTimer)
  let res
  try {
    res = await fetch(withNamespace('/api/status'), { headers: authHeaders(), cache: 'no-store' })
  } catch {
    setNote('Status unavailable: the server did not answer. Retrying…')
    pollTimer = setTimeout(poll, POLL_MS * 2)
    return
  }
  if (res.status === 401) {
    // Nothing is shown without the token. The server says why: a wrong token, or none set up yet.
    const said = (await res.json().catch(() => null))?.error?.message
    setNote(said ? `Refused: ${said}` : 'Status needs the engine token.')
    showTokenForm(token() ? 'That token was refused. Enter the engine token.' : 'This deployment needs its engine token.')
    return
  }
  const isJson = res.ok && (res.headers.get('content-type') || '').includes('json')
  if (!isJson) {
    setNote(`Status unavailable (${res.status}). Retrying…`)
    if (!lastSnapshot) $('summary').textContent = 'Status unavailable'
    pollTimer = setTimeout(poll, POLL_MS * 2)
    return
  }
  setNote(`Polling every ${POLL_MS / 1000} s (the live stream is not available).`)
  render(await res.json())
  pollTimer = setTimeout(poll, POLL_MS)
}

// ---- Files through channels --------------------------------------------------------------------

let chosen = null

function setStatus(text, state = 'busy') {
  const el = $('transfer-status')
  el.textContent = text
  el.dataset.state = state
}

function progress(bar, textEl, done, total) {
  bar.max = Math.max(1, total)
  bar.value = Math.min(done, bar.max)
  textEl.textContent = total ? `${Math.floor((100 * done) / total)} % · ${formatBytes(done)} of ${formatBytes(total)}` : formatBytes(done)
}

async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer())
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

function explain(err) {
  if (err?.name === 'ChannelClosedError') {
    const what = {
      writer_lost: 'the writer went away before finishing',
      reader_gone: 'the reader went away',
      quota: 'the channel is full (storage quota)',
      frame_too_large: 'a frame was too large',
      expired: 'the other end never connected in time',
      end_taken: 'that end of the channel is already in use or finished',
      error: 'the connection failed',
    }[err.kind]
    return `${what} (close ${err.code}${err.reason ? `: ${err.reason}` : ''})`
  }
  return err?.message || String(err)
}

function chooseFile(file) {
  chosen = file || null
  $('file-name').textContent = chosen ? `${chosen.name} · ${formatBytes(chosen.size)}` : 'No file chosen'
  $('send').disabled = !chosen || !client
}

/** Writes the file into an open writer: a header message first, then the bytes; resolves once closed. */
async function sendFile(file, writer, onProgress) {
  await writer.sendMessage(JSON.stringify({ type: 'file', name: file.name, size: file.size, mime: file.type }))
  const w = writer.writable.getWriter()
  const r = file.stream().getReader()
  for (;;) {
    const { done, value } = await r.read()
    if (done) break
    await w.write(value)
    onProgress(writer.bytesSent)
  }
  await w.close()
  onProgress(file.size)
}

/** Reads a channel to its end: the header message (if any) names the file and its size. */
async function receiveFile(reader, onProgress) {
  const meta = { name: 'channel.bin', size: 0, mime: 'application/octet-stream' }
  reader.onMessage((text) => {
    try {
      const m = JSON.parse(text)
      if (m?.type === 'file') Object.assign(meta, { name: String(m.name || meta.name), size: Number(m.size) || 0, mime: m.mime || meta.mime })
    } catch {
      // another message: not ours to read
    }
  })
  const parts = []
  let got = 0
  const r = reader.readable.getReader()
  for (;;) {
    const { done, value } = await r.read()
    if (done) break
    parts.push(value)
    got += value.byteLength
    onProgress(got, meta.size)
  }
  onProgress(got, got)
  return { blob: new Blob(parts, { type: meta.mime }), name: meta.name }
}

async function showResult(blob, name, autoDownload) {
  const link = $('download')
  if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href)
  link.href = URL.createObjectURL(blob)
  link.download = name
  link.textContent = `Download ${name} (${formatBytes(blob.size)})`
  $('result-sha256').textContent = await sha256Hex(blob)
  $('result').hidden = false
  if (autoDownload) link.click()
}

async function createRefs() {
  try {
    return await client.createChannel(location.origin, { token: token() || undefined, namespace: namespace() || undefined })
  } catch (err) {
    if (err.name === 'ChannelUnauthorizedError') showTokenForm('Creating a channel needs the engine token.')
    throw err
  }
}

async function onSend(e) {
  e.preventDefault()
  const file = chosen
  if (!file || !client) return
  const mode = new FormData($('send-form')).get('mode')
  $('send').disabled = true
  $('result').hidden = true
  $('progress').hidden = false
  $('roundtrip-recv').hidden = mode !== 'roundtrip'
  $('reader-box').hidden = true
  progress($('send-progress'), $('send-text'), 0, file.size)
  progress($('back-progress'), $('back-text'), 0, file.size)
  try {
    setStatus('Creating a channel…')
    const refs = await createRefs()
    if (mode === 'roundtrip') {
      const reader = await client.openChannel(location.origin, refs.reader)
      const writer = await client.openChannel(location.origin, refs.writer)
      setStatus(`Sending ${file.name} through channel ${refs.writer.channel_id.slice(0, 8)}…`)
      const received = receiveFile(reader, (n) => progress($('back-progress'), $('back-text'), n, file.size))
      await sendFile(file, writer, (n) => progress($('send-progress'), $('send-text'), n, file.size))
      const { blob } = await received
      const same = (await sha256Hex(blob)) === (await sha256Hex(file))
      await showResult(blob, file.name, false)
      setStatus(same ? `Done: ${formatBytes(blob.size)} read back, identical to the file.` : 'Read back, but the bytes differ!', same ? 'done' : 'error')
    } else {
      const link = `${location.origin}/#read=${encodeURIComponent(JSON.stringify(refs.reader))}`
      $('reader-link').href = link
      $('reader-ref').textContent = JSON.stringify(refs.reader, null, 2)
      $('reader-box').hidden = false
      const writer = await client.openChannel(location.origin, refs.writer)
      setStatus('Sending: the channel keeps what the reader has not read yet.')
      await sendFile(file, writer, (n) => progress($('send-progress'), $('send-text'), n, file.size))
      setStatus(`Done: ${formatBytes(file.size)} sent into the channel; the reader gets it when it connects.`, 'done')
    }
  } catch (err) {
    setStatus(`Failed: ${explain(err)}`, 'error')
  } finally {
    $('send').disabled = !chosen
  }
}

/** A reader tab: `/#read=<reader ref as JSON>`. The ref leaves the address bar once read. */
async function receiveFromFragment() {
  const m = /^#read=(.+)$/.exec(location.hash)
  if (!m) return
  let ref
  try {
    ref = JSON.parse(decodeURIComponent(m[1]))
  } catch {
    setStatus('This link does not hold a reader ref.', 'error')
    return
  }
  history.replaceState(null, '', location.pathname + location.search)
  $('receive').hidden = false
  try {
    setStatus('Connecting to the channel…')
    const reader = await client.openChannel(location.origin, ref)
    setStatus('Receiving…')
    const { blob, name } = await receiveFile(reader, (n, total) => progress($('recv-progress'), $('recv-text'), n, total))
    await showResult(blob, name, true)
    setStatus(`Received ${name}: ${formatBytes(blob.size)}.`, 'done')
  } catch (err) {
    setStatus(`Failed: ${explain(err)}`, 'error')
  }
}

function setupTransfer() {
  const input = $('file')
  const drop = $('drop')
  input.addEventListener('change', () => chooseFile(input.files[0]))
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (e) => {
      e.preventDefault()
      drop.classList.add('over')
    })
  }
  drop.addEventListener('dragleave', () => drop.classList.remove('over'))
  drop.addEventListener('drop', (e) => {
    e.preventDefault()
    drop.classList.remove('over')
    chooseFile(e.dataTransfer?.files?.[0])
  })
  $('send-form').addEventListener('submit', onSend)
  $('copy-link').addEventListener('click', async () => {
    await navigator.clipboard?.writeText($('reader-link').href)
    $('copy-link').textContent = 'Copied'
  })
}

async function main() {
  startStatus()
  setupTransfer()
  if (!client) {
    $('client-note').textContent = 'The channel client is not built: run `npm run build:page`.'
    return
  }
  chooseFile($('file').files[0])
  await receiveFromFragment()
}

main()
