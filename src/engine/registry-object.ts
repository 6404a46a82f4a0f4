// RegistryObject: the control plane of one namespace (RegistryCore in registry.ts has the rules).
// Sessions send registrations here and refresh their views from it; no invocation and no warm
// HTTP request comes here. It tells sessions what concerns them (notices), in order per session.
// The default namespace's registry also keeps the namespace directory and, without
// III_SIGNING_SECRET, the deployment's generated signing secret, and tells the namespaces its new
// routes reach into (a default route always wins: registry-shadow.ts).

import { asObject } from '../protocol/json'
import { EngineError } from '../protocol/outcome'
import { DurableObject } from 'cloudflare:workers'
import { newRandomKey } from '../channel/keys'
import { DEFAULT_NAMESPACE } from '../protocol/namespace'
import { cronStub, registryStub, sessionStub } from './stubs'
import { statusStub } from '../status/stubs'
import type { HttpRoute } from './routes'
import { orAfter } from '../timeout'
import { viewCacheFor } from './cache'
import type { CronJob } from './cron-object'
import {
  type Query,
  type QueryAnswer,
  functionInfo,
  functionSummaries,
  listFunctions,
  listTriggers,
  listTriggerTypes,
  listWorkers,
  triggerInfo,
  triggerTypeInfo,
  workerInfo,
} from './introspection'
import { callSession } from './invoke'
import { workerLimits } from './limits'
import { type Change, type DefaultRoutes, type Effect, FUNCTIONS_AVAILABLE, type Notice, type Notices, RegistryCore, type RegistrySnapshot, WORKERS_AVAILABLE } from './registry'
import { namespacesReached } from './registry-shadow'
import { REGISTRY_SCHEMA, SqliteRegistryStore } from './sqlite-store'
import { recentlyDeparted } from './view'

/** After a wake, sessions are asked whether their worker is still there this much later (a deploy resets them all). */
const SWEEP_DELAY_MS = 30_000
/** At most one sweep this often. */
const SWEEP_EVERY_MS = 60_000
/** How long a session has to answer a liveness or stats question. */
const ASK_TIMEOUT_MS = 5_000

/** Changes to the set of functions within this long fire `engine::functions-available` once. */
const FUNCTIONS_CHANGED_DELAY_MS = 500

type SessionStats = { active_invocations: number; invocations: number; events: number; rows_written?: number }


export class RegistryObject extends DurableObject<Env> {
  readonly #store: SqliteRegistryStore
  readonly #core: RegistryCore
  /** Notices per session, sent one after the other so a session sees them in order. */
  readonly #outbox = new Map<string, { pending: Notice | null; chain: Promise<void> }>()
  /** Messages and requests this object handled since it woke (bench S1, S2), and which wake that was. */
  #events = 0
  readonly #instance = crypto.randomUUID()
  #functionsChangedTimer: ReturnType<typeof setTimeout> | null = null

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    ctx.storage.sql.exec(REGISTRY_SCHEMA)
    this.#store = new SqliteRegistryStore(ctx.storage.sql)
    const log = (message: string) => console.warn(`[registry ${this.#namespace}] ${message}`)
    this.#core = new RegistryCore(this.#store, {
      limits: workerLimits((name) => (env as unknown as Record<string, unknown>)[name], log),
      log,
      defaultVersion: Number(this.#store.meta('default_version') ?? 0),
    })
    if (this.#core.workers.size > 0) void ctx.blockConcurrencyWhile(() => this.#scheduleSweep())
  }

  /** A session's registrations, in order; answers what its own worker must be told. */
  async apply(namespace: string, workerId: string, changes: Change[]): Promise<Notice | null> {
    this.#events++
    const defaults = await this.#defaultRoutes(namespace, changes)
    const notices = this.#core.apply(workerId, changes, Date.now(), defaults)
    this.#saveDefaultVersion()
    await this.#noteNamespace(namespace)
    const mine = notices.get(workerId) ?? null
    notices.delete(workerId)
    this.#send(notices)
    this.#run(this.#core.takeEffects())
    return mine
  }

  /** A worker left (its session says so, or the sweep found it gone). */
  leave(_namespace: string, workerId: string): void {
    this.#events++
    this.#send(this.#core.leave(workerId, Date.now()))
    this.#run(this.#core.takeEffects())
  }

  /** The snapshot caches hold, or null when `knownVersion` is still current. */
  snapshot(_namespace: string, knownVersion: number | null): RegistrySnapshot | null {
    this.#events++
    return knownVersion === this.#core.version ? null : this.#core.snapshot(Date.now())
  }

  /** The introspection builtins (`engine::functions::list` and the like), shaped as the engine shapes them. */
  async query(name: Query, input: Record<string, unknown>): Promise<QueryAnswer> {
    this.#events++
    const core = this.#core
    try {
      const active = async () => {
        const stats = await this.#askSessions()
        return (id: string) => stats.get(id)?.active_invocations ?? 0
      }
      const value = await (async () => {
        switch (name) {
          case 'functions::list': return listFunctions(core, input)
          case 'functions::info': return functionInfo(core, input)
          case 'workers::list': return listWorkers(core, await active(), input)
          case 'workers::info': return workerInfo(core, input, await active())
          case 'triggers::list': return listTriggerTypes(core, input)
          case 'triggers::info': return triggerTypeInfo(core, input)
          case 'registered-triggers::list': return listTriggers(core, input)
          case 'registered-triggers::info': return triggerInfo(core, input)
        }
      })()
      return { ok: true, value }
    } catch (err) {
      if (err instanceof EngineError) return { ok: false, error: { code: err.code, message: err.message } }
      throw err
    }
  }

  /** What the status page shows of this namespace (channels come from its status object). */
  async status() {
    this.#events++
    const stats = await this.#askSessions()
    const core = this.#core
    return {
      // `invocations`: handled by that worker's session since it last started (the page's rate chart).
      workers: listWorkers(core, (id) => stats.get(id)?.active_invocations ?? 0).workers.map(
        ({ id, name, runtime, connected_at_ms, function_count, active_invocations }) => ({
          id, name, runtime, connected_at_ms, function_count, active_invocations, invocations: stats.get(id)?.invocations ?? 0,
        }),
      ),
      // Workers' functions only: the data modules' builtins have tables of their own on the page.
      functions: listFunctions(core)
        .functions.filter((f) => f.worker_id !== undefined)
        .map(({ function_id, worker_id, worker_name, description }) => ({ function_id, worker_id, worker_name, description })),
      triggers: listTriggers(core).registered_triggers,
      namespaces: [...core.namespaces].sort(),
      version: core.version,
    }
  }

  /** The namespace directory (kept by the default namespace's registry). */
  namespaces(): string[] {
    this.#events++
    return [...this.#core.namespaces].sort()
  }

  /** Routes the default namespace now serves that reach into this namespace (called by the default namespace's registry). */
  defaultRoutesAdded(namespace: string, routes: HttpRoute[], version: number): void {
    this.#events++
    const notices = this.#core.defaultRoutesAdded(namespace, routes, version)
    this.#saveDefaultVersion()
    this.#send(notices)
  }

  /** Enters a namespace in the directory (called by that namespace's registry, once). */
  noteNamespace(name: string): void {
    this.#events++
    this.#send(this.#core.noteNamespace(name))
  }

  /** The deployment's channel-signing secret when III_SIGNING_SECRET is not set: made once, then kept. */
  signingSecret(): string {
    this.#events++
    let secret = this.#store.meta('signing_secret')
    if (!secret) this.#store.setMeta('signing_secret', (secret = newRandomKey()))
    return secret
  }

  /** Bench S1: events handled by this registry, each session and the status object (these calls are not counted). */
  async counters(namespace: string) {
    const sessions = await this.#askSessions()
    const status = await statusStub(this.env, namespace).counters()
    return {
      registry: this.#events,
      /** Changes when the registry was evicted and woke again: its count restarted (it was idle). */
      registryInstance: this.#instance,
      sessions: Object.fromEntries([...sessions].map(([id, s]) => [id, s.events])),
      /** Rows each session wrote since it woke (bench H4: an HTTP request should write none). */
      session_rows: Object.fromEntries([...sessions].map(([id, s]) => [id, s.rows_written ?? 0])),
      status,
    }
  }

  /** Finds sessions a reset ended without a word (they would stay listed otherwise). */
  override async alarm(): Promise<void> {
    this.#store.setMeta('last_sweep', String(Date.now()))
    const workers = [...this.#core.workers.keys()]
    const alive = await Promise.all(
      workers.map((id) => orAfter(sessionStub(this.env, id)?.alive() ?? Promise.resolve(false), ASK_TIMEOUT_MS, false).catch(() => false)),
    )
    const now = Date.now()
    workers.forEach((id, i) => {
      if (!alive[i]) this.#send(this.#core.leave(id, now))
    })
  }

  /** Does what the registry's changes ask outside it: cron schedules, the engine's own trigger types. */
  #run(effects: Effect[]): void {
    const namespace = this.#namespace
    for (const effect of effects) {
      switch (effect.type) {
        case 'cron_schedule': {
          const { id, function_id, config, metadata } = effect.trigger
          const { condition_function_id: condition, expression } = asObject(config)
          const job: CronJob = {
            namespace,
            trigger_id: id,
            function_id,
            expression: String(expression),
            ...(typeof condition === 'string' ? { condition_function_id: condition } : {}),
            ...(metadata !== undefined ? { metadata } : {}),
          }
          this.#background(`cron ${id} not scheduled`, cronStub(this.env, namespace, id).schedule(job))
          break
        }
        case 'cron_cancel':
          this.#background(`cron ${effect.id} not cancelled`, cronStub(this.env, namespace, effect.id).cancel())
          break
        case 'functions_changed':
          // A worker registers its functions one message at a time: one firing for the burst.
          this.#functionsChangedTimer ??= setTimeout(() => {
            this.#functionsChangedTimer = null
            this.#fire(FUNCTIONS_AVAILABLE, () => ({ event: 'functions_changed', functions: functionSummaries(this.#core).map(({ worker_id: _, ...f }) => f) }))
          }, FUNCTIONS_CHANGED_DELAY_MS)
          break
        case 'worker_event':
          this.#fire(WORKERS_AVAILABLE, () => ({ event: effect.event, worker_id: effect.worker_id }))
          break
        case 'http_routes_added':
          if (namespace !== DEFAULT_NAMESPACE) break
          for (const [reached, routes] of namespacesReached(effect.routes, this.#core.namespaces)) {
            const announce = registryStub(this.env, reached).defaultRoutesAdded(reached, routes, effect.version)
            this.#background(`new routes not announced to namespace ${reached}`, announce)
          }
          break
      }
    }
  }

  /**
   * Invokes every function bound to one of the engine's trigger types (void: the engine ignores
   * results). The event is made only when someone listens: listing every function is not free.
   */
  #fire(triggerType: string, event: () => unknown): void {
    let data: unknown
    for (const t of this.#core.triggers.values()) {
      if (t.trigger_type !== triggerType) continue
      const worker = this.#core.functions.get(t.function_id)?.workerId
      if (!worker) continue
      data ??= event()
      const call = callSession(this.env, worker, { function_id: t.function_id, data, metadata: t.metadata, void: true })
      this.#background(`${triggerType} not delivered to ${t.function_id}`, call)
    }
  }

  #background(what: string, promise: Promise<unknown>): void {
    this.ctx.waitUntil(promise.catch((err) => console.warn(`[registry ${this.#namespace}] ${what}: ${err}`)))
  }

  /** This registry's namespace (kept from the first registration: the sweep's alarm has no caller to say it). */
  get #namespace(): string {
    return this.#store.meta('namespace') ?? ''
  }

  async #scheduleSweep(): Promise<void> {
    const last = Number(this.#store.meta('last_sweep') ?? 0)
    if (Date.now() - last < SWEEP_EVERY_MS || (await this.ctx.storage.getAlarm()) !== null) return
    await this.ctx.storage.setAlarm(Date.now() + SWEEP_DELAY_MS)
  }

  /**
   * For a namespace's batch that registers an http trigger: the default namespace's routes, from
   * a refresh of this isolate's view started now (one registry call). Without an answer the batch
   * is checked against the cached view, or not at all: the front door still lets the default win.
   */
  async #defaultRoutes(namespace: string, changes: readonly Change[]): Promise<DefaultRoutes | null> {
    if (namespace === DEFAULT_NAMESPACE || !changes.some((c) => c.type === 'registertrigger' && c.trigger_type === 'http')) return null
    const cache = viewCacheFor(this.env, DEFAULT_NAMESPACE)
    const view = await cache.fresher(Date.now()).catch((err) => {
      console.warn(`[registry ${namespace}] the default namespace's routes could not be read; checking against the cached ones: ${err}`)
      return cache.cached
    })
    return view && { namespace, routes: [...view.routes, ...recentlyDeparted(view, Date.now())], version: view.version }
  }

  /** Kept beside the versions the store keeps: snapshots carry it, so it must survive an eviction. */
  #saveDefaultVersion(): void {
    const version = String(this.#core.defaultVersion)
    if (this.#core.defaultVersion > 0 && this.#store.meta('default_version') !== version) this.#store.setMeta('default_version', version)
  }

  /** A namespace's registry enters itself in the default registry's directory, once. */
  async #noteNamespace(namespace: string): Promise<void> {
    if (this.#store.meta('namespace') !== namespace) this.#store.setMeta('namespace', namespace)
    if (namespace === DEFAULT_NAMESPACE || this.#store.meta('noted') === namespace) return
    try {
      await registryStub(this.env, DEFAULT_NAMESPACE).noteNamespace(namespace)
      this.#store.setMeta('noted', namespace)
    } catch (err) {
      console.warn(`[registry ${namespace}] could not enter the namespace directory: ${err}`)
    }
  }

  async #askSessions(): Promise<Map<string, SessionStats>> {
    const ids = [...this.#core.workers.keys()]
    const answers = await Promise.all(
      ids.map((id) => orAfter((sessionStub(this.env, id)?.stats() ?? Promise.resolve(null)) as Promise<SessionStats | null>, ASK_TIMEOUT_MS, null).catch(() => null)),
    )
    const out = new Map<string, SessionStats>()
    ids.forEach((id, i) => answers[i] && out.set(id, answers[i]))
    return out
  }

  /** Queues notices; each session gets them in order, merged while an earlier one is on its way. */
  #send(notices: Notices): void {
    for (const [workerId, notice] of notices) {
      const stub = sessionStub(this.env, workerId)
      if (!stub) continue
      let box = this.#outbox.get(workerId)
      if (!box) this.#outbox.set(workerId, (box = { pending: null, chain: Promise.resolve() }))
      if (box.pending) {
        box.pending.messages.push(...notice.messages)
        box.pending.lost.push(...notice.lost)
        box.pending.routeVersion = Math.max(box.pending.routeVersion ?? 0, notice.routeVersion ?? 0) || undefined
        continue
      }
      box.pending = notice
      const entry = box
      box.chain = box.chain.then(async () => {
        const pending = entry.pending!
        entry.pending = null
        await stub.notice(pending).catch((err) => console.warn(`[registry] notice to ${workerId.slice(0, 12)}… not delivered: ${err}`))
        // A worker that left needs no outbox once its last notice is out.
        if (!entry.pending && !this.#core.workers.has(workerId) && this.#outbox.get(workerId) === entry) this.#outbox.delete(workerId)
      })
      this.ctx.waitUntil(box.chain)
    }
  }
}

