// This isolate's registry views, one per namespace, shared by every session object and every
// request the isolate serves (docs/architecture.md, "The registry as a control plane").

import { registryStub } from './stubs'
import type { RegistrySnapshot } from './registry'
import type { FunctionTarget } from './session'
import { ViewCache } from './view'

const caches = new Map<string, ViewCache>()

export function viewCacheFor(env: Env, namespace: string): ViewCache {
  let cache = caches.get(namespace)
  if (!cache) {
    const source = (known: number | null) => registryStub(env, namespace).snapshot(namespace, known) as Promise<RegistrySnapshot | null>
    caches.set(namespace, (cache = new ViewCache(source, Date.now)))
  }
  return cache
}

/**
 * Where a function is served. A miss refreshes the view before answering null; `stale` (the callee
 * said "not here") skips the cached view.
 */
export async function lookupFunction(cache: ViewCache, functionId: string, stale: boolean): Promise<FunctionTarget | null> {
  const asked = Date.now()
  const view = stale ? await cache.fresher(asked) : await cache.current()
  const hit = view.functions.get(functionId)
  if (hit || stale) return hit ?? null
  return (await cache.fresher(asked)).functions.get(functionId) ?? null
}

const refreshedAt = new WeakMap<ViewCache, number>()

/**
 * The view, refreshed when the last refresh made here is older than `maxAgeMs`: for objects that
 * hear no registry notices (a stream group deciding a join), so a trigger change reaches them
 * within that time, at the cost of at most one registry call per period per isolate.
 */
export async function recentView(cache: ViewCache, maxAgeMs: number) {
  const now = Date.now()
  if (cache.cached && now - (refreshedAt.get(cache) ?? -Infinity) <= maxAgeMs) return cache.cached
  const view = await cache.fresher(now)
  refreshedAt.set(cache, now)
  return view
}
