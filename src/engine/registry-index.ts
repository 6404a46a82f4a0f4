// What a registry keeps beside its maps so that one registration costs the same however many there
// are (issue 21, item 6): without it, each http trigger compiled every other route to look for a
// conflict and each function looked through every trigger, so 2,000 routes from one worker cost
// millions of steps, and every other object waited behind them. Pure; RegistryCore keeps it in step.

import { compileRoute, routeConflictMessage, routeShape } from './routes'
import type { TriggerEntry, TriggerTypeEntry } from './registry-entries'

const HTTP = 'http'

/** What one worker registered, counted for its bounds (limits.ts). */
export interface WorkerCounts {
  triggers: number
  httpRoutes: number
  triggerTypes: number
}

export class RegistryIndex {
  /** Route shape (`GET a/:/b`) → registered path → the http triggers on it, with their configs. */
  readonly #byShape = new Map<string, Map<string, Map<string, unknown>>>()
  /** Function id → the http triggers that route to it. */
  readonly #routesTo = new Map<string, Set<string>>()
  readonly #workers = new Map<string, WorkerCounts>()

  /** A trigger now in the registry (one it replaces was taken out first). */
  addTrigger(t: TriggerEntry): void {
    const counts = this.#countsOf(t.workerId)
    counts.triggers++
    if (t.trigger_type !== HTTP) return
    counts.httpRoutes++
    let routes = this.#routesTo.get(t.function_id)
    if (!routes) this.#routesTo.set(t.function_id, (routes = new Set()))
    routes.add(t.id)
    const route = compileRoute({ id: t.id, function_id: t.function_id, config: t.config })
    const shape = routeShape(route)
    let paths = this.#byShape.get(shape)
    if (!paths) this.#byShape.set(shape, (paths = new Map()))
    let triggers = paths.get(route.apiPath)
    if (!triggers) paths.set(route.apiPath, (triggers = new Map()))
    triggers.set(t.id, t.config)
  }

  removeTrigger(t: TriggerEntry): void {
    const counts = this.#countsOf(t.workerId)
    counts.triggers--
    if (t.trigger_type === HTTP) {
      counts.httpRoutes--
      const routes = this.#routesTo.get(t.function_id)
      routes?.delete(t.id)
      if (routes?.size === 0) this.#routesTo.delete(t.function_id)
      const route = compileRoute({ id: t.id, function_id: t.function_id, config: t.config })
      const shape = routeShape(route)
      const paths = this.#byShape.get(shape)
      const triggers = paths?.get(route.apiPath)
      triggers?.delete(t.id)
      if (triggers?.size === 0) paths!.delete(route.apiPath)
      if (paths?.size === 0) this.#byShape.delete(shape)
    }
    this.#dropIfEmpty(t.workerId, counts)
  }

  addTriggerType(t: TriggerTypeEntry): void {
    this.#countsOf(t.workerId).triggerTypes++
  }

  removeTriggerType(t: TriggerTypeEntry): void {
    const counts = this.#countsOf(t.workerId)
    counts.triggerTypes--
    this.#dropIfEmpty(t.workerId, counts)
  }

  /** Does an http trigger route to this function? */
  routesTo(functionId: string): boolean {
    return this.#routesTo.has(functionId)
  }

  /** The ids of the http triggers that route to this function. */
  routesOf(functionId: string): ReadonlySet<string> {
    return this.#routesTo.get(functionId) ?? new Set()
  }

  counts(workerId: string): WorkerCounts {
    return this.#workers.get(workerId) ?? { triggers: 0, httpRoutes: 0, triggerTypes: 0 }
  }

  /**
   * Why an http trigger `id` with `config` conflicts with another route (the same shape on another
   * path: httpRouteConflict's rule), or null. The trigger it would replace does not count.
   */
  conflict(id: string, config: unknown): string | null {
    const route = compileRoute({ id, function_id: '', config })
    // One shape holds one path (a second is refused here), so this looks at a handful of entries.
    for (const [path, triggers] of this.#byShape.get(routeShape(route)) ?? []) {
      if (path === route.apiPath) continue
      for (const [other, otherConfig] of triggers) if (other !== id) return routeConflictMessage(route.method, config, otherConfig)
    }
    return null
  }

  #countsOf(workerId: string): WorkerCounts {
    let counts = this.#workers.get(workerId)
    if (!counts) this.#workers.set(workerId, (counts = { triggers: 0, httpRoutes: 0, triggerTypes: 0 }))
    return counts
  }

  #dropIfEmpty(workerId: string, counts: WorkerCounts): void {
    if (counts.triggers === 0 && counts.triggerTypes === 0) this.#workers.delete(workerId)
  }
}
