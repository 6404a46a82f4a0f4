// What a namespace's registry holds, one record per worker, function, trigger and trigger type
// (registry.ts keeps them; registry-index.ts and introspection.ts read them).

export interface WorkerEntry {
  /** The worker id: its session object's id. */
  id: string
  connectedAt: number
  /** Runtime metadata a worker sends through `engine::workers::register`. */
  metadata?: Record<string, unknown>
  /** The worker endpoint it connected through (its served path); absent: the plain engine socket. */
  door?: string
}

export interface FunctionEntry {
  id: string
  workerId: string
  description?: string
  request_format?: unknown
  response_format?: unknown
  metadata?: unknown
  /** Set for HTTP-invoked functions (`registerFunction(id, {url, ...})`), which the engine would call. */
  invocation?: unknown
}

export interface TriggerEntry {
  id: string
  /** The worker that registered the trigger (not necessarily the one serving its function). */
  workerId: string
  trigger_type: string
  function_id: string
  config: unknown
  metadata?: unknown
}

export interface TriggerTypeEntry {
  id: string
  workerId: string
  description?: string
}
