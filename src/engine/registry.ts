// The registry of one namespace, free of Workers APIs: the control plane (docs/architecture.md).
// Workers (one session each), the functions, triggers and trigger types they registered, and the
// HTTP routes of workers that just left. Sessions send their workers' registrations here; the hot
// path never asks: it reads a versioned snapshot cached in sessions and Worker isolates.
//
// Every change bumps `version`. A change to the HTTP route table (or to a data module trigger:
// state, subscribe, stream…, or to a function that takes a stream over) also sets `routeVersion` and is
// announced to every session (a notice), so a session can tell a front door that its cached table
// is older than the last route change. A function taken over by another worker is announced to
// its old owner (`lost`), so the old owner stops accepting invocations for it.
//
// A default-namespace route always wins over a namespace's (registry-shadow.ts): a namespace's
// registry refuses an http trigger that a route of the default namespace would serve, and the
// default's registry says which routes it added (an effect), so the namespaces they reach into log
// the routes now shadowed and announce a new route version. A namespace's snapshot says which
// default version its routes were last checked against (`defaultVersion`), so a front door whose
// default view is older looks at the default namespace again before serving the namespace.

import { isQueueProviderFunction } from '../data/queue/names'
import { type HttpRoute, compileRoute, httpTriggerProblem } from './routes'
import { asObject } from '../protocol/json'
import { parseCron } from './cron'
import { isCustomStreamFunction } from '../data/custom-stream'
import { DATA_TRIGGER_TYPES, type DataTrigger, dataTriggerProblem } from '../data/triggers'
import { DEFAULT_LIMITS, type LimitKind, type WorkerLimits, limitExceeded } from './limits'
import type { FunctionEntry, TriggerEntry, TriggerTypeEntry, WorkerEntry } from './registry-entries'
import { RegistryIndex } from './registry-index'
import { servedByDefault, shadowRefusal, shadowWarning, shadowedRoutes } from './registry-shadow'
import type {
  EngineMessage,
  RegisterFunction,
  RegisterTrigger,
  RegisterTriggerType,
  TriggerRegistrationResult,
  UnregisterFunction,
  UnregisterTrigger,
  UnregisterTriggerType,
} from '../protocol/messages'

/** Functions whose arrival changes what a builtin does (a custom stream's, a queue provider's): announced as routes are. */
const isAnnounced = (id: string) => isCustomStreamFunction(id) || isQueueProviderFunction(id)

/** An HTTP route whose worker left: answered 503 with Retry-After for DEPARTED_ROUTE_MS, not 404. */
export interface DepartedRoute {
  /** `METHOD /path` of the route. */
  id: string
  config: unknown
  function_id: string
  leftAt: number
}

/** How long a route whose worker left answers 503 (a deploy or a reconnect brings it back). */
export const DEPARTED_ROUTE_MS = 30_000

/** What a session sends on behalf of its worker: the worker's own messages, plus two of ours. */
export type Change =
  /** `door`: the worker endpoint it came through (absent: the plain engine socket). */
  | { type: 'connect'; at: number; door?: string }
  | { type: 'metadata'; metadata: Record<string, unknown> }
  | RegisterFunction
  | UnregisterFunction
  | RegisterTrigger
  | UnregisterTrigger
  | RegisterTriggerType
  | UnregisterTriggerType
  | TriggerRegistrationResult

/** What one session is told after a change: messages for its worker, functions it lost, the route version. */
export interface Notice {
  messages: EngineMessage[]
  lost: string[]
  routeVersion?: number
}

export type Notices = Map<string, Notice>

/**
 * What the registry's object must do after a change, outside the registry: cron schedules to
 * start or stop (one cron object per trigger), and the engine's own trigger types to fire.
 */
export type Effect =
  | { type: 'cron_schedule'; trigger: TriggerEntry }
  | { type: 'cron_cancel'; id: string }
  | { type: 'functions_changed' }
  | { type: 'worker_event'; event: 'worker_connected' | 'worker_disconnected' | 'worker_metadata_updated'; worker_id: string }
  /** HTTP routes now served that were not (registered, or their function served again), at `version`: in the default namespace they shadow namespaces' routes. */
  | { type: 'http_routes_added'; routes: HttpRoute[]; version: number }

/** Trigger types the engine itself serves: never offered to a worker, never parked. */
export const FUNCTIONS_AVAILABLE = 'engine::functions-available'
export const WORKERS_AVAILABLE = 'engine::workers-available'
export const CRON = 'cron'
const HTTP = 'http'
export const ENGINE_TRIGGER_TYPES = new Set([HTTP, CRON, FUNCTIONS_AVAILABLE, WORKERS_AVAILABLE, ...DATA_TRIGGER_TYPES])

/**
 * Triggers every session's view holds: HTTP routes (front doors match requests) and the data
 * modules' triggers (the session running `state::set` or `publish` fires them). A change to one
 * moves `routeVersion`, so a session can tell its view is older than the last such change.
 */
const inView = (type: string) => type === HTTP || DATA_TRIGGER_TYPES.has(type)

/** An HTTP route as caches see it: the trigger, and the worker serving its function now. */
export interface RouteEntry {
  trigger_id: string
  function_id: string
  /** Session serving the function, or null while no worker does (the route then answers 404). */
  worker: string | null
  config: unknown
  metadata?: unknown
}

/** What caches hold (sessions and Worker isolates), refreshed when the version moved. */
export interface RegistrySnapshot {
  version: number
  routeVersion: number
  /**
   * Function id → worker serving it; `invocation` marks an HTTP-invoked function; `metadata` as
   * registered (a worker endpoint's metadata filters decide on it, docs/rbac.md).
   */
  functions: { id: string; worker: string; invocation?: true; metadata?: unknown }[]
  routes: RouteEntry[]
  departed: DepartedRoute[]
  /** Namespaces that have a registry (the default namespace's registry keeps this directory). */
  namespaces: string[]
  /** Triggers of the data modules' types (state, subscribe, stream…), which the caller's session fires. */
  triggers?: DataTrigger[]
  /**
   * A namespace's: the default registry's version its routes were last checked against (a
   * registration, or default routes announced to it). A default view older than this may miss a
   * default route that wins over one of this namespace's.
   */
  defaultVersion?: number
}

export type Kind = 'worker' | 'function' | 'trigger' | 'trigger_type' | 'departed' | 'namespace'

export interface Saved {
  worker: WorkerEntry[]
  function: FunctionEntry[]
  trigger: TriggerEntry[]
  trigger_type: TriggerTypeEntry[]
  departed: DepartedRoute[]
  namespace: { id: string }[]
  version: number
  routeVersion: number
}

/** Durable copy of the registry. Writes happen on registration and departure only, never per invocation. */
export interface RegistryStore {
  load(): Saved
  put(kind: Kind, entry: { id: string }): void
  remove(kind: Kind, id: string): void
  saveVersions(version: number, routeVersion: number): void
}

/** What a namespace's registry knows of the default namespace when it registers: an http trigger one of these routes would serve is refused. */
export interface DefaultRoutes {
  /** This registry's namespace: its routes are served under `/<namespace>/`. */
  namespace: string
  /** The default namespace's routes: live ones and those whose worker just left. */
  routes: readonly HttpRoute[]
  /** The default registry's version these routes are from. */
  version: number
}

export interface RegistryOptions {
  /** Bounds per worker on triggers and trigger types (limits.ts). */
  limits?: WorkerLimits
  /** Where a refusal by a bound, or a route a default route shadows, is said. */
  log?: (message: string) => void
  /** `defaultVersion` as last stored (the store keeps versions, the registry object this one). */
  defaultVersion?: number
}

export class RegistryCore {
  readonly workers = new Map<string, WorkerEntry>()
  readonly functions = new Map<string, FunctionEntry>()
  readonly triggers = new Map<string, TriggerEntry>()
  readonly triggerTypes = new Map<string, TriggerTypeEntry>()
  readonly departed = new Map<string, DepartedRoute>()
  readonly namespaces = new Set<string>()
  version: number
  routeVersion: number
  /** See RegistrySnapshot.defaultVersion (0 in the default namespace). */
  defaultVersion: number
  #notices: Notices = new Map()
  #effects: Effect[] = []
  #functionIdsChanged = false
  #routesChanged = false
  #changed = false
  /** Http triggers of this batch whose route may now be served (see Effect `http_routes_added`). */
  readonly #routesAdded = new Set<string>()
  /** Set during an `apply` of a namespace's registry. */
  #defaults: DefaultRoutes | null = null
  readonly #index = new RegistryIndex()
  readonly #limits: WorkerLimits
  readonly #log: (message: string) => void
  /** `<worker> <bound>` pairs already logged: a flood would log each refusal otherwise. */
  readonly #refusalsLogged = new Set<string>()

  constructor(
    private readonly store: RegistryStore,
    options: RegistryOptions = {},
  ) {
    this.#limits = options.limits ?? DEFAULT_LIMITS
    this.#log = options.log ?? (() => {})
    const saved = store.load()
    for (const w of saved.worker) this.workers.set(w.id, w)
    for (const f of saved.function) this.functions.set(f.id, f)
    for (const t of saved.trigger) {
      this.triggers.set(t.id, t)
      this.#index.addTrigger(t)
    }
    for (const t of saved.trigger_type) {
      this.triggerTypes.set(t.id, t)
      this.#index.addTriggerType(t)
    }
    for (const d of saved.departed) this.departed.set(d.id, d)
    for (const n of saved.namespace) this.namespaces.add(n.id)
    this.version = saved.version
    this.routeVersion = saved.routeVersion
    this.defaultVersion = options.defaultVersion ?? 0
  }

  /**
   * Applies a session's changes in order; returns what each session must be told. A namespace's
   * registry passes the default namespace's routes when the changes register an http trigger.
   */
  apply(workerId: string, changes: readonly Change[], now: number, defaults: DefaultRoutes | null = null): Notices {
    if (!this.workers.has(workerId)) {
      this.#put('worker', { id: workerId, connectedAt: now })
      this.#effects.push({ type: 'worker_event', event: 'worker_connected', worker_id: workerId })
    }
    this.#defaults = defaults
    try {
      for (const change of changes) this.#applyOne(workerId, change)
    } finally {
      this.#defaults = null
    }
    return this.#finish()
  }

  /**
   * Routes the default namespace now serves (its Effect `http_routes_added`, for this namespace):
   * ours they overlap lose those requests from now on, since a default route always wins. Each is
   * logged for the operator, and every session hears a new route version, so a front door whose
   * cached default view is older than these routes is told its view is stale and looks again.
   */
  defaultRoutesAdded(namespace: string, routes: readonly HttpRoute[], version: number): Notices {
    const ours = [...this.triggers.values()]
      .filter((t) => t.trigger_type === HTTP)
      .map((t) => compileRoute({ id: t.id, function_id: t.function_id, config: t.config }))
    const shadowed = shadowedRoutes(namespace, routes, ours)
    for (const s of shadowed) this.#log(shadowWarning(namespace, s))
    if (shadowed.length > 0) {
      this.defaultVersion = Math.max(this.defaultVersion, version)
      this.#routesChanged = this.#changed = true
    }
    return this.#finish()
  }

  /** A worker left (its socket closed, or its session was found dead): everything it registered goes. */
  leave(workerId: string, now: number): Notices {
    if (!this.workers.has(workerId)) return this.#finish()
    const servedHere = (t: TriggerEntry) => this.functions.get(t.function_id)?.workerId === workerId || t.workerId === workerId
    // Routes it served answer 503 for a while: a deploy or a reconnect brings them back.
    for (const t of this.triggers.values()) {
      if (t.trigger_type !== HTTP || !servedHere(t) || !this.functions.has(t.function_id)) continue
      const id = routeId(t.config)
      this.#put('departed', { id, config: t.config, function_id: t.function_id, leftAt: now } satisfies DepartedRoute)
    }
    for (const t of [...this.triggers.values()]) {
      if (t.workerId !== workerId) continue
      this.#removeTrigger(t)
      // The provider of its type forgets it too (its own triggers went with the worker anyway).
      const provider = this.triggerTypes.get(t.trigger_type)
      if (provider && provider.workerId !== workerId) {
        this.#tell(provider.workerId).messages.push({ type: 'unregistertrigger', id: t.id, trigger_type: t.trigger_type })
      }
    }
    for (const f of [...this.functions.values()]) if (f.workerId === workerId) this.#removeFunction(f.id)
    for (const t of [...this.triggerTypes.values()]) if (t.workerId === workerId) this.#remove('trigger_type', t.id)
    this.#remove('worker', workerId)
    for (const kind of ['triggers', 'httpRoutes', 'triggerTypes'] as const) this.#refusalsLogged.delete(`${workerId} ${kind}`)
    this.#effects.push({ type: 'worker_event', event: 'worker_disconnected', worker_id: workerId })
    return this.#finish()
  }

  /** Adds a namespace to the directory (the default namespace's registry keeps it). */
  noteNamespace(name: string): Notices {
    if (!this.namespaces.has(name)) {
      this.namespaces.add(name)
      this.store.put('namespace', { id: name })
      this.#routesChanged = true // a namespace's routes are served under /<name>/
      this.#changed = true
    }
    return this.#finish()
  }

  snapshot(now: number): RegistrySnapshot {
    this.#expireDeparted(now)
    return {
      version: this.version,
      routeVersion: this.routeVersion,
      functions: [...this.functions.values()].map((f) => ({
        id: f.id,
        worker: f.workerId,
        ...(f.invocation !== undefined ? { invocation: true as const } : {}),
        ...(f.metadata != null ? { metadata: f.metadata } : {}),
      })),
      routes: [...this.triggers.values()]
        .filter((t) => t.trigger_type === HTTP)
        .map((t) => ({
          trigger_id: t.id,
          function_id: t.function_id,
          worker: this.functions.get(t.function_id)?.workerId ?? null,
          config: t.config,
          metadata: t.metadata,
        })),
      departed: [...this.departed.values()],
      namespaces: [...this.namespaces].sort(),
      ...(this.defaultVersion > 0 ? { defaultVersion: this.defaultVersion } : {}),
      triggers: [...this.triggers.values()]
        .filter((t) => DATA_TRIGGER_TYPES.has(t.trigger_type))
        .map(({ id, trigger_type, function_id, config, metadata }) => ({ id, trigger_type, function_id, config, ...(metadata !== undefined ? { metadata } : {}) })),
    }
  }

  workerName(workerId: string): string | undefined {
    const name = this.workers.get(workerId)?.metadata?.name
    return typeof name === 'string' ? name : undefined
  }

  #applyOne(workerId: string, change: Change): void {
    switch (change.type) {
      case 'connect': {
        const worker = this.workers.get(workerId)!
        if (worker.connectedAt !== change.at || worker.door !== change.door) this.#put('worker', { ...worker, connectedAt: change.at, ...(change.door ? { door: change.door } : {}) })
        return
      }
      case 'metadata':
        this.#effects.push({ type: 'worker_event', event: 'worker_metadata_updated', worker_id: workerId })
        return this.#put('worker', { ...this.workers.get(workerId)!, metadata: change.metadata })
      case 'registerfunction': {
        const { type: _, ...fields } = change
        const previous = this.functions.get(change.id)
        if (previous && this.#takeover(workerId, previous.workerId, `function ${change.id}`)) return void this.#tell(workerId).lost.push(change.id)
        // A second registration of an id moves it to the new worker (as in the iii engine).
        if (previous && previous.workerId !== workerId) this.#tell(previous.workerId).lost.push(change.id)
        if (this.#index.routesTo(change.id) && previous?.workerId !== workerId) {
          this.#routesChanged = true
          for (const id of this.#index.routesOf(change.id)) this.#routesAdded.add(id)
        }
        if (!previous) this.#functionIdsChanged = true
        return this.#put('function', { ...fields, workerId } satisfies FunctionEntry)
      }
      case 'unregisterfunction':
        if (this.functions.get(change.id)?.workerId === workerId) this.#removeFunction(change.id)
        return
      case 'registertriggertype': {
        // The engine's own types cannot be taken over by a worker.
        if (ENGINE_TRIGGER_TYPES.has(change.id)) return
        const holder = this.triggerTypes.get(change.id)
        if (holder && this.#takeover(workerId, holder.workerId, `trigger type ${change.id}`)) return
        // Past the bound: only logged (the protocol has no answer to registertriggertype).
        const limit = this.#limits.triggerTypes
        if (this.triggerTypes.get(change.id)?.workerId !== workerId && this.#index.counts(workerId).triggerTypes >= limit) {
          return this.#refusedLog(workerId, 'triggerTypes', limitExceeded('triggerTypes', limit, `Trigger type ${change.id} not registered`).message)
        }
        this.#put('trigger_type', { id: change.id, workerId, description: change.description } satisfies TriggerTypeEntry)
        for (const trigger of this.triggers.values()) if (trigger.trigger_type === change.id) this.#offer(trigger)
        return
      }
      case 'unregistertriggertype':
        if (this.triggerTypes.get(change.id)?.workerId === workerId) this.#remove('trigger_type', change.id)
        return
      case 'registertrigger':
        return this.#registerTrigger(workerId, change)
      case 'unregistertrigger': {
        const trigger = this.triggers.get(change.id)
        if (!trigger || trigger.workerId !== workerId) return
        this.#removeTrigger(trigger)
        const provider = this.triggerTypes.get(trigger.trigger_type)
        if (provider) this.#tell(provider.workerId).messages.push({ type: 'unregistertrigger', id: trigger.id, trigger_type: trigger.trigger_type })
        return
      }
      case 'triggerregistrationresult': {
        // From the worker providing a custom trigger type, about a trigger another worker registered.
        const trigger = this.triggers.get(change.id)
        if (trigger && this.triggerTypes.get(trigger.trigger_type)?.workerId === workerId) {
          this.#tell(trigger.workerId).messages.push({ ...change, type: 'triggerregistrationresult' })
        }
        return
      }
    }
  }

  /**
   * Registers a trigger. As in the iii engine, only a failure is answered; a trigger of a type no
   * worker provides yet is kept and handed to the provider when it registers the type.
   */
  #registerTrigger(workerId: string, message: RegisterTrigger): void {
    const entry: TriggerEntry = {
      id: message.id,
      workerId,
      trigger_type: message.trigger_type,
      function_id: message.function_id,
      config: message.config,
      metadata: message.metadata,
    }
    const refuse = (message: string, code = 'trigger_registration_failed') =>
      this.#tell(workerId).messages.push({
        type: 'triggerregistrationresult',
        id: entry.id,
        trigger_type: entry.trigger_type,
        function_id: entry.function_id,
        error: { code, message },
      })
    const held = this.triggers.get(entry.id)
    if (held && this.#takeover(workerId, held.workerId, `trigger ${entry.id}`)) return void refuse(`Trigger ${entry.id} is held by a worker of another door: an endpoint's worker may not take it over`)
    // The bounds first: a refusal costs a flood nothing more than this.
    const bound = this.#triggerBound(workerId, entry)
    if (bound) {
      const { message, code } = limitExceeded(bound, this.#limits[bound], `Trigger ${entry.id} not registered`)
      this.#refusedLog(workerId, bound, message)
      return void refuse(message, code)
    }
    if (entry.trigger_type === HTTP) {
      const problem = httpTriggerProblem(entry.config) ?? this.#index.conflict(entry.id, entry.config) ?? this.#servedByDefault(entry.config)
      if (problem) return void refuse(problem)
      this.#routesChanged = true
      this.#routesAdded.add(entry.id)
      if (this.#defaults) this.defaultVersion = Math.max(this.defaultVersion, this.#defaults.version)
    }
    if (entry.trigger_type === CRON) {
      const parsed = parseCron(asObject(entry.config).expression)
      if (!parsed.ok) return void refuse(parsed.message)
    }
    if (DATA_TRIGGER_TYPES.has(entry.trigger_type)) {
      const problem = dataTriggerProblem(entry.trigger_type, entry.config)
      if (problem) return void refuse(problem)
      this.#routesChanged = true
    }
    const previous = this.triggers.get(entry.id)
    if (previous && inView(previous.trigger_type)) this.#routesChanged = true
    if (previous?.trigger_type === CRON && entry.trigger_type !== CRON) this.#effects.push({ type: 'cron_cancel', id: previous.id })
    this.#put('trigger', entry)
    if (entry.trigger_type === CRON) this.#effects.push({ type: 'cron_schedule', trigger: entry })
    this.#offer(entry)
  }

  /**
   * Would `workerId` take `what` over from a worker of another door? A worker of a worker endpoint
   * may not (docs/rbac.md): it would receive the calls, trigger registrations or events meant for a
   * trusted worker's, or for another endpoint's. Logged; true when refused.
   */
  #takeover(workerId: string, holderId: string, what: string): boolean {
    if (holderId === workerId) return false
    const door = this.workers.get(workerId)?.door
    if (door === undefined || door === this.workers.get(holderId)?.door) return false
    this.#log(`worker ${workerId.slice(0, 12)}… (endpoint ${door}) may not take over ${what}, which a worker of another door holds`)
    return true
  }

  /** Why a namespace may not take this route (a default route serves its path already), or null. */
  #servedByDefault(config: unknown): string | null {
    if (!this.#defaults) return null
    const by = servedByDefault(this.#defaults.routes, this.#defaults.namespace, config)
    return by && shadowRefusal(this.#defaults.namespace, config, by)
  }

  /** The bound a worker's new trigger would pass (a trigger it registers again under its id is not new), or null. */
  #triggerBound(workerId: string, entry: TriggerEntry): 'triggers' | 'httpRoutes' | null {
    const previous = this.triggers.get(entry.id)
    const mine = previous?.workerId === workerId ? previous : undefined
    const counts = this.#index.counts(workerId)
    if (!mine && counts.triggers >= this.#limits.triggers) return 'triggers'
    if (entry.trigger_type === HTTP && mine?.trigger_type !== HTTP && counts.httpRoutes >= this.#limits.httpRoutes) return 'httpRoutes'
    return null
  }

  /** Logs a refusal by a bound, once per worker and bound. */
  #refusedLog(workerId: string, kind: LimitKind, message: string): void {
    const key = `${workerId} ${kind}`
    if (this.#refusalsLogged.has(key)) return
    this.#refusalsLogged.add(key)
    this.#log(`worker ${workerId.slice(0, 12)}…: ${message}; later refusals of this kind for this worker are not logged`)
  }

  /** The worker providing a custom trigger type decides, answering with triggerregistrationresult. */
  #offer(trigger: TriggerEntry): void {
    const provider = this.triggerTypes.get(trigger.trigger_type)
    if (!provider) return
    const { id, trigger_type, function_id, config, metadata } = trigger
    this.#tell(provider.workerId).messages.push({ type: 'registertrigger', id, trigger_type, function_id, config, metadata })
  }

  #removeTrigger(trigger: TriggerEntry): void {
    if (inView(trigger.trigger_type)) this.#routesChanged = true
    if (trigger.trigger_type === CRON) this.#effects.push({ type: 'cron_cancel', id: trigger.id })
    this.#remove('trigger', trigger.id)
  }

  #removeFunction(id: string): void {
    if (this.#index.routesTo(id)) this.#routesChanged = true
    if (this.functions.has(id)) this.#functionIdsChanged = true
    this.#remove('function', id)
  }

  /** Old departures go without a version bump: caches check `leftAt` themselves. */
  #expireDeparted(now: number): void {
    for (const d of [...this.departed.values()]) {
      if (d.leftAt + DEPARTED_ROUTE_MS > now) continue
      this.departed.delete(d.id)
      this.store.remove('departed', d.id)
    }
  }

  #tell(workerId: string): Notice {
    let notice = this.#notices.get(workerId)
    if (!notice) this.#notices.set(workerId, (notice = { messages: [], lost: [] }))
    return notice
  }

  #put<E extends { id: string }>(kind: Kind, entry: E): void {
    if (kind === 'departed' || (kind === 'function' && isAnnounced(entry.id))) this.#routesChanged = true
    const map = this.#mapOf(kind)
    this.#unindex(kind, map.get(entry.id))
    map.set(entry.id, entry)
    if (kind === 'trigger') this.#index.addTrigger(entry as unknown as TriggerEntry)
    if (kind === 'trigger_type') this.#index.addTriggerType(entry as unknown as TriggerTypeEntry)
    this.store.put(kind, entry)
    this.#changed = true
  }

  #remove(kind: Kind, id: string): void {
    const map = this.#mapOf(kind)
    this.#unindex(kind, map.get(id))
    if (!map.delete(id)) return
    if (kind === 'function' && isAnnounced(id)) this.#routesChanged = true
    this.store.remove(kind, id)
    this.#changed = true
  }

  #unindex(kind: Kind, entry: { id: string } | undefined): void {
    if (entry && kind === 'trigger') this.#index.removeTrigger(entry as TriggerEntry)
    if (entry && kind === 'trigger_type') this.#index.removeTriggerType(entry as TriggerTypeEntry)
  }

  #mapOf(kind: Kind): Map<string, { id: string }> {
    const maps = {
      worker: this.workers,
      function: this.functions,
      trigger: this.triggers,
      trigger_type: this.triggerTypes,
      departed: this.departed,
    } as Record<string, Map<string, { id: string }>>
    return maps[kind]!
  }

  /** Bumps the versions once per batch and tells every worker about a route change. */
  #finish(): Notices {
    if (this.#changed) {
      this.version++
      if (this.#routesChanged) {
        this.routeVersion = this.version
        for (const id of this.workers.keys()) this.#tell(id).routeVersion = this.routeVersion
      }
      this.store.saveVersions(this.version, this.routeVersion)
    }
    if (this.#functionIdsChanged) this.#effects.push({ type: 'functions_changed' })
    const added: HttpRoute[] = []
    for (const id of this.#routesAdded) {
      const t = this.triggers.get(id)
      if (t?.trigger_type === HTTP && this.functions.has(t.function_id)) added.push(compileRoute({ id: t.id, function_id: t.function_id, config: t.config }))
    }
    this.#routesAdded.clear()
    if (added.length > 0) this.#effects.push({ type: 'http_routes_added', routes: added, version: this.version })
    const notices = this.#notices
    this.#notices = new Map()
    this.#changed = this.#routesChanged = this.#functionIdsChanged = false
    return notices
  }

  /** Effects of the changes applied so far (cron schedules, engine trigger types to fire); taken once. */
  takeEffects(): Effect[] {
    const effects = this.#effects
    this.#effects = []
    return effects
  }
}

/** The key of an HTTP route: `METHOD /path` (GET when the trigger gave no method, as in the iii engine). */
export function routeId(config: unknown): string {
  const route = compileRoute({ id: '', function_id: '', config })
  return `${route.method} ${route.apiPath}`
}
