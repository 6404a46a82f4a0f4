// Sends logs, spans and metrics to an OpenTelemetry collector over OTLP/HTTP with JSON bodies
// (`POST <III_OTLP_ENDPOINT>/v1/logs|traces|metrics`), batched: one request per signal at most
// every FLUSH_MS, or sooner when a batch is full. One exporter per owner that lives long enough
// to flush (a worker's `/otel` socket, a session object); nobody waits for it, so an export never
// slows an invocation. Without III_OTLP_ENDPOINT there is none (docs/observability.md).

import { RESOURCE_FIELD, type Signal } from './otlp'
import { type EngineSpan, resourceSpans } from './spans'
import { ENGINE_VERSION } from '../protocol/version'
import { validHeader } from '../protocol/http-control'

/** A batch waits at most this long for more before it leaves. */
export const FLUSH_MS = 1000

/** A batch leaves at once past this many resource entries or bytes (collectors take ~4 MB bodies). */
const MAX_BATCH_ITEMS = 500
const MAX_BATCH_BYTES = 1 << 20

/** A failing collector is reported in the Worker's log at most this often per exporter. */
const REPORT_EVERY_MS = 60_000


export interface OtlpConfig {
  /** The collector's base URL; each signal goes to `<base>/v1/<signal>`. */
  endpoint: string
  headers: [string, string][]
}

/**
 * The exporter's configuration from the Worker's env: `III_OTLP_ENDPOINT` (an http(s) URL) and the
 * secret `III_OTLP_HEADERS` (`name=value,name2=value2`, percent-encoded as OpenTelemetry's
 * `OTEL_EXPORTER_OTLP_HEADERS`). Null when there is no endpoint or it does not parse (logged).
 */
export function otlpConfig(env: { III_OTLP_ENDPOINT?: string; III_OTLP_HEADERS?: string }): OtlpConfig | null {
  const raw = env.III_OTLP_ENDPOINT?.trim()
  if (!raw) return null
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    warnOnce(`III_OTLP_ENDPOINT is not a URL (${JSON.stringify(raw)}): nothing is exported`)
    return null
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    warnOnce(`III_OTLP_ENDPOINT must be an http(s) URL, not ${url.protocol}: nothing is exported`)
    return null
  }
  return { endpoint: url.href.replace(/\/+$/, '').replace(/\/v1\/(logs|traces|metrics)$/, ''), headers: parseHeaders(env.III_OTLP_HEADERS ?? '') }
}

/** `name=value,name2=value2`, percent-decoded; entries that do not parse are skipped. */
export function parseHeaders(text: string): [string, string][] {
  const out: [string, string][] = []
  for (const entry of text.split(',')) {
    const at = entry.indexOf('=')
    if (at <= 0) continue
    try {
      const header: [string, string] = [decodeURIComponent(entry.slice(0, at).trim()), decodeURIComponent(entry.slice(at + 1).trim())]
      if (validHeader(header)) out.push(header)
    } catch {
      // not percent-encoded properly: skipped
    }
  }
  return out
}

const warned = new Set<string>()
function warnOnce(message: string): void {
  if (warned.has(message)) return
  warned.add(message)
  console.warn(JSON.stringify({ log: 'otlp', level: 'warn', message }))
}

interface Batch {
  items: unknown[]
  bytes: number
}

export interface ExportCounts {
  /** Requests the collector accepted, and those that failed (their items dropped). */
  sent: number
  failed: number
}

export class OtlpExporter {
  readonly #batches = new Map<Signal, Batch>()
  /** Spans of ours, by namespace: one resource entry each when they leave. */
  readonly #spans = new Map<string, EngineSpan[]>()
  #spanCount = 0
  #timer: ReturnType<typeof setTimeout> | null = null
  #lastReport = -Infinity
  readonly counts: ExportCounts = { sent: 0, failed: 0 }

  constructor(
    private readonly config: OtlpConfig,
    /** Keeps a request alive past the event that started it, where the platform needs that (`ctx.waitUntil`). */
    private readonly keepAlive: (p: Promise<unknown>) => void = () => {},
    private readonly send: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  /**
   * Adds resource entries of a signal (`resourceLogs`, `resourceSpans` or `resourceMetrics`
   * items, as an export request holds them). `bytes` is their size, as far as the caller knows it.
   */
  add(signal: Signal, items: readonly unknown[], bytes = 0): void {
    if (items.length === 0) return
    const batch = this.#batches.get(signal) ?? { items: [], bytes: 0 }
    batch.items.push(...items)
    batch.bytes += bytes
    this.#batches.set(signal, batch)
    if (batch.items.length >= MAX_BATCH_ITEMS || batch.bytes >= MAX_BATCH_BYTES) this.flush()
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS)
  }

  /** A finished span of the engine's own (its resource is the engine's: `service.name` iii). */
  addSpan(namespace: string, span: EngineSpan): void {
    const spans = this.#spans.get(namespace) ?? []
    spans.push(span)
    this.#spans.set(namespace, spans)
    if (++this.#spanCount >= MAX_BATCH_ITEMS) this.flush()
    else this.#timer ??= setTimeout(() => this.flush(), FLUSH_MS)
  }

  /** Sends what waits, now (also when its owner goes away). */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    if (this.#spanCount > 0) {
      const items = [...this.#spans].map(([namespace, spans]) => resourceSpans(namespace, ENGINE_VERSION, spans))
      this.#spans.clear()
      this.#spanCount = 0
      const batch = this.#batches.get('traces') ?? { items: [], bytes: 0 }
      batch.items.push(...items)
      this.#batches.set('traces', batch)
    }
    for (const [signal, batch] of this.#batches) this.keepAlive(this.#post(signal, batch.items))
    this.#batches.clear()
  }

  async #post(signal: Signal, items: unknown[]): Promise<void> {
    const url = `${this.config.endpoint}/v1/${signal}`
    try {
      const headers = new Headers(this.config.headers)
      headers.set('content-type', 'application/json')
      const res = await this.send(url, { method: 'POST', headers, body: JSON.stringify({ [RESOURCE_FIELD[signal]]: items }) })
      // The body is read so the connection can be reused; a collector's answer says nothing we act on.
      await res.arrayBuffer().catch(() => {})
      if (res.ok) this.counts.sent++
      else this.#failed(url, `HTTP ${res.status}`)
    } catch (err) {
      this.#failed(url, err instanceof Error ? err.message : String(err))
    }
  }

  #failed(url: string, why: string): void {
    this.counts.failed++
    const now = Date.now()
    if (now - this.#lastReport < REPORT_EVERY_MS) return
    this.#lastReport = now
    console.warn(JSON.stringify({ log: 'otlp', level: 'warn', message: `export to ${url} failed (${why}); its batch was dropped`, failed: this.counts.failed }))
  }
}
