// This isolate's registry views, one per namespace, shared by every session object and every
// request the isolate serves (docs/architecture.md, "The registry as a control plane").

import { registryStub } from '../stubs'
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
