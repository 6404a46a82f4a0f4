// A registry's snapshot as a cache holds it (in session objects and in Worker isolates), and the
// cache itself: versioned, refreshed only when asked for something fresher than what it has
// (docs/architecture.md, "The registry as a control plane").

import { type HttpRoute, compileRoute } from './routes'
import type { DataTrigger } from '../data/triggers'
import { DEPARTED_ROUTE_MS, type RegistrySnapshot } from './registry'
import type { FunctionTarget } from './session'

export interface RegistryView {
  version: number
  /** Registry version of the last HTTP route change (a session compares a front door's view with it). */
  routeVersion: number
  functions: Map<string, FunctionTarget>
  /** HTTP routes whose function some worker serves (`worker` set). */
  routes: HttpRoute[]
  /** Routes whose worker left lately: 503, not 404, until `leftAt` + DEPARTED_ROUTE_MS. */
  departed: { route: HttpRoute; leftAt: number }[]
  namespaces: Set<string>
  /** The data modules' triggers (state, subscribe, stream…): the session making a change fires them. */
  dataTriggers: DataTrigger[]
  /** A namespace's: a default view older than this is looked at again before it serves (RegistrySnapshot.defaultVersion). */
  defaultVersion: number
}

export function viewOf(snapshot: RegistrySnapshot): RegistryView {
  return {
    version: snapshot.version,
    routeVersion: snapshot.routeVersion,
    functions: new Map(
      snapshot.functions.map((f) => [f.id, { worker: f.worker, ...(f.invocation ? { invocation: true as const } : {}), ...(f.metadata !== undefined ? { metadata: f.metadata } : {}) }]),
    ),
    routes: snapshot.routes
      .filter((r) => r.worker !== null)
      .map((r) => ({ ...compileRoute({ id: r.trigger_id, function_id: r.function_id, config: r.config, metadata: r.metadata }), worker: r.worker! })),
    departed: snapshot.departed.map((d) => ({ route: compileRoute({ id: d.id, function_id: d.function_id, config: d.config }), leftAt: d.leftAt })),
    namespaces: new Set(snapshot.namespaces),
    dataTriggers: snapshot.triggers ?? [],
    defaultVersion: snapshot.defaultVersion ?? 0,
  }
}

/** Routes of `view` whose worker left less than DEPARTED_ROUTE_MS before `now` (answered 503, not 404). */
export const recentlyDeparted = (view: RegistryView, now: number): HttpRoute[] =>
  view.departed.filter((d) => d.leftAt + DEPARTED_ROUTE_MS > now).map((d) => d.route)

/** Fetches a snapshot, or null when `knownVersion` is still current. */
export type SnapshotSource = (knownVersion: number | null) => Promise<RegistrySnapshot | null>

/**
 * One registry's view, cached. `fresher(t)` waits for a refresh that started at or after `t`, so
 * whoever missed at `t` sees every registration that finished before it; concurrent misses share
 * one refresh (at most one in flight and one queued), so a burst of misses costs the registry a
 * call or two, not one each.
 */
export class ViewCache {
  #view: RegistryView | null = null
  #inflight: { startedAt: number; promise: Promise<RegistryView> } | null = null
  #queued: Promise<RegistryView> | null = null

  constructor(
    private readonly source: SnapshotSource,
    private readonly now: () => number,
  ) {}

  get cached(): RegistryView | null {
    return this.#view
  }

  /** The cached view, loading it the first time. */
  current(): Promise<RegistryView> {
    return this.#view ? Promise.resolve(this.#view) : this.fresher(-Infinity)
  }

  /** A view from a refresh that started at or after `since` (unix ms). */
  fresher(since: number): Promise<RegistryView> {
    const inflight = this.#inflight
    if (inflight && inflight.startedAt >= since) return inflight.promise
    if (!inflight) return this.#start()
    this.#queued ??= inflight.promise
      .catch(() => undefined)
      .then(() => {
        this.#queued = null
        return this.#start()
      })
    return this.#queued
  }

  #start(): Promise<RegistryView> {
    const started = { startedAt: this.now(), promise: null as unknown as Promise<RegistryView> }
    started.promise = this.source(this.#view?.version ?? null).then(
      (snapshot) => {
        if (this.#inflight === started) this.#inflight = null
        if (snapshot && (!this.#view || snapshot.version !== this.#view.version)) this.#view = viewOf(snapshot)
        if (!this.#view) throw new Error('registry answered "unchanged" to a first request')
        return this.#view
      },
      (err) => {
        if (this.#inflight === started) this.#inflight = null
        throw err
      },
    )
    this.#inflight = started
    return started.promise
  }
}
