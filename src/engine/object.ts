// EngineObject: the iii engine's main sockets, one object per deployment (all workers must see
// each other's functions; one place also answers HTTP trigger lookups). A thin shell adapting
// hibernatable WebSockets and SQLite to Engine. A worker's id rides in its socket's attachment,
// so it survives the object sleeping; registrations are in SQLite.

import { DurableObject } from 'cloudflare:workers'
import { newRandomKey } from '../channel/keys'
import { echoableCloseCode, isReservedCloseCode } from '../protocol/close-codes'
import { type EngineMessage, type InvokeFunction, parseWorkerMessage } from '../protocol/messages'
import { engineBuiltins } from './builtins'
import { Engine, type EngineHost, type Outcome, type WorkerLink } from './engine'
import type { ChannelSnapshot } from '../channel/object'
import { type HttpRoute, type RouteMatch, compileRoute, matchRoute } from '../http/routes'
import { Registry } from './registry'
import { ENGINE_SCHEMA, SqlitePendingStore, SqliteRegistryStore } from './sqlite-store'

/** A channel silent this long is dropped from the status page (TTL is 5 min; transfers report every second). */
const STALE_CHANNEL_MS = 10 * 60 * 1000

/** How long an invocation may be in flight before it is written to storage. */
const PERSIST_DELAY_MS = 250

/** Path the front door forwards the SDK's OpenTelemetry socket to. */
export const OTEL_PATH = '/otel'

interface WorkerAttachment {
  workerId: string
}

export class EngineObject extends DurableObject<Env> implements EngineHost {
  private readonly engine: Engine
  private readonly sockets = new Map<string, WebSocket>()
  private persistScheduled = false
  private routes: { version: number; table: HttpRoute[] } = { version: -1, table: [] }
  /** Channels as they last reported themselves (status page only; memory, rebuilt as they report). */
  private readonly channels = new Map<string, ChannelSnapshot>()
  /** OpenTelemetry frames received and dropped since the object last woke. */
  private otelFrames = 0

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    ctx.storage.sql.exec(ENGINE_SCHEMA)
    for (const ws of ctx.getWebSockets('worker')) {
      const attachment = ws.deserializeAttachment() as WorkerAttachment | null
      if (attachment) this.sockets.set(attachment.workerId, ws)
    }
    const registry = new Registry(new SqliteRegistryStore(ctx.storage.sql))
    this.engine = new Engine(registry, new SqlitePendingStore(ctx.storage.sql), this, engineBuiltins(env, () => this.engine))
    // Workers whose sockets are gone (the object was reset, not just asleep) are gone for good.
    for (const id of [...registry.workers.keys()]) if (!this.sockets.has(id)) this.engine.workerClosed(id)
  }

  override async fetch(request: Request): Promise<Response> {
    const [client, server] = Object.values(new WebSocketPair()) as [WebSocket, WebSocket]
    if (new URL(request.url).pathname === OTEL_PATH) {
      this.ctx.acceptWebSocket(server, ['otel'])
      return new Response(null, { status: 101, webSocket: client })
    }
    const workerId = crypto.randomUUID()
    this.ctx.acceptWebSocket(server, ['worker'])
    server.serializeAttachment({ workerId } satisfies WorkerAttachment)
    this.sockets.set(workerId, server)
    this.engine.workerOpened(workerId, newRandomKey(), Date.now())
    return new Response(null, { status: 101, webSocket: client })
  }

  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    const workerId = (ws.deserializeAttachment() as WorkerAttachment | null)?.workerId
    if (!workerId) {
      this.otelFrames++
      return
    }
    if (typeof message !== 'string') return this.log(`worker ${workerId}: binary frame ignored on the main socket`)
    const parsed = parseWorkerMessage(message)
    if (parsed.ok) return this.engine.message(workerId, parsed.message)
    // Only an invocation has someone waiting for an answer; anything else is logged and dropped.
    if (parsed.invocationId) {
      this.link(workerId)?.send({
        type: 'invocationresult',
        invocation_id: parsed.invocationId,
        error: { code: 'invalid_message', message: parsed.reason },
      })
    }
    this.log(`worker ${workerId}: ${parsed.reason}`)
  }

  override webSocketClose(ws: WebSocket, code: number): void {
    if (!isReservedCloseCode(code)) {
      try {
        ws.close(echoableCloseCode(code), '')
      } catch {
        // already closed
      }
    }
    this.socketGone(ws)
  }

  override webSocketError(ws: WebSocket): void {
    this.socketGone(ws)
  }

  /** Invokes a function on behalf of code in this Worker (HTTP triggers); resolves with its outcome. */
  invokeLocal(functionId: string, data: unknown, metadata?: unknown): Promise<Outcome> {
    return new Promise((settle) => {
      const message: InvokeFunction = { type: 'invokefunction', function_id: functionId, data, metadata }
      this.engine.invoke(message, { kind: 'local', settle })
    })
  }

  /** The http trigger serving `method path`, if any (the route table is rebuilt only on change). */
  matchHttp(method: string, path: string): RouteMatch | null {
    const registry = this.engine.registry
    if (this.routes.version !== registry.triggersVersion) {
      const http = [...registry.triggers.values()].filter((t) => t.trigger_type === 'http')
      this.routes = { version: registry.triggersVersion, table: http.map(compileRoute) }
    }
    return matchRoute(this.routes.table, method, path)
  }

  /** A channel's counters, for the status page; a finished channel is forgotten. */
  reportChannel(snapshot: ChannelSnapshot): void {
    if (snapshot.finished) this.channels.delete(snapshot.channel_id)
    else this.channels.set(snapshot.channel_id, snapshot)
  }

  /** Everything the status page shows (`GET /api/status`). */
  status() {
    // A channel object that went away without a last word (reset, expiry) stops reporting.
    const stale = Date.now() - STALE_CHANNEL_MS
    for (const [id, c] of this.channels) if (c.updated_at_ms < stale) this.channels.delete(id)
    const engine = this.engine
    return {
      workers: engine.listWorkers().map(({ id, name, connected_at_ms, function_count, active_invocations, ...metadata }) => ({
        id,
        name,
        runtime: (metadata as Record<string, unknown>).runtime as string | undefined,
        connected_at_ms,
        function_count,
        active_invocations,
      })),
      functions: engine.listFunctions().map(({ function_id, worker_id, worker_name, description }) => ({ function_id, worker_id, worker_name, description })),
      triggers: engine.listTriggers(),
      channels: [...this.channels.values()].map(({ finished: _, ...c }) => c),
      engine: { pending_invocations: engine.pendingCount, otel_frames_dropped: this.otelFrames },
    }
  }

  // EngineHost

  link(workerId: string): WorkerLink | undefined {
    const ws = this.sockets.get(workerId)
    return ws && { send: (message: EngineMessage) => ws.send(JSON.stringify(message)) }
  }

  drop(workerId: string): void {
    const ws = this.sockets.get(workerId)
    this.sockets.delete(workerId)
    try {
      ws?.close(1000, 'replaced by a reattached connection')
    } catch {
      // already closed
    }
  }

  schedulePersist(): void {
    if (this.persistScheduled) return
    this.persistScheduled = true
    // Short invocations finish before this fires and never touch storage (a write would hold back
    // the next outgoing message, the result, until it is confirmed). While the timer is pending the
    // object cannot hibernate, so nothing in flight is only in memory across a sleep.
    setTimeout(() => {
      this.persistScheduled = false
      this.engine.persistPending()
    }, PERSIST_DELAY_MS)
  }

  newId(): string {
    return crypto.randomUUID()
  }

  log(message: string): void {
    console.warn(`[engine] ${message}`)
  }

  private socketGone(ws: WebSocket): void {
    const workerId = (ws.deserializeAttachment() as WorkerAttachment | null)?.workerId
    if (!workerId || !this.sockets.has(workerId)) return
    this.sockets.delete(workerId)
    this.engine.workerClosed(workerId)
  }
}
