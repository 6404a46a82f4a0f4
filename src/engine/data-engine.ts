// The engine as the data modules see it (data/engine-port.ts): invocations go the way every call
// the engine makes goes (invoke.ts), views come from this isolate's cache (cache.ts).

import type { DataEngine } from '../data/engine-port'
import { recentView, viewCacheFor } from './cache'
import { invokeFunction } from './invoke'

export const dataEngine = (env: Env): DataEngine => ({
  invoke: (namespace, call) => invokeFunction(env, namespace, call),
  recentView: (namespace, maxAgeMs) => recentView(viewCacheFor(env, namespace), maxAgeMs),
})
