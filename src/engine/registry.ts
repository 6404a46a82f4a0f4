// What the engine knows: connected workers and the functions, triggers and trigger types they
// registered. Pure data with a write-through store, so a rebuilt EngineObject finds it all again.

export interface WorkerEntry {
  id: string
  reattachToken: string
  connectedAt: number
  /** Runtime metadata a worker sends through `engine::workers::register`. */
  metadata?: Record<string, unknown>
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

export type Kind = 'worker' | 'function' | 'trigger' | 'trigger_type'
type EntryOf<K extends Kind> = K extends 'worker'
  ? WorkerEntry
  : K extends 'function'
    ? FunctionEntry
    : K extends 'trigger'
      ? TriggerEntry
      : TriggerTypeEntry

/** Durable copy of the registry. Writes are rare (registration, disconnect), never per invocation. */
export interface RegistryStore {
  load(): { [K in Kind]: EntryOf<K>[] }
  put<K extends Kind>(kind: K, entry: EntryOf<K>): void
  remove(kind: Kind, id: string): void
}

export class Registry {
  readonly workers = new Map<string, WorkerEntry>()
  readonly functions = new Map<string, FunctionEntry>()
  readonly triggers = new Map<string, TriggerEntry>()
  readonly triggerTypes = new Map<string, TriggerTypeEntry>()
  /** Bumped on every trigger change, so derived tables (HTTP routes) know when to rebuild. */
  triggersVersion = 0

  constructor(private readonly store: RegistryStore) {
    const saved = store.load()
    for (const w of saved.worker) this.workers.set(w.id, w)
    for (const f of saved.function) this.functions.set(f.id, f)
    for (const t of saved.trigger) this.triggers.set(t.id, t)
    for (const t of saved.trigger_type) this.triggerTypes.set(t.id, t)
  }

  private mapOf<K extends Kind>(kind: K): Map<string, EntryOf<K>> {
    const maps = { worker: this.workers, function: this.functions, trigger: this.triggers, trigger_type: this.triggerTypes }
    return maps[kind] as unknown as Map<string, EntryOf<K>>
  }

  put<K extends Kind>(kind: K, entry: EntryOf<K>): void {
    if (kind === 'trigger') this.triggersVersion++
    this.mapOf(kind).set(entry.id, entry)
    this.store.put(kind, entry)
  }

  remove(kind: Kind, id: string): boolean {
    const had = this.mapOf(kind).delete(id)
    if (had && kind === 'trigger') this.triggersVersion++
    if (had) this.store.remove(kind, id)
    return had
  }

  /** Everything a worker registered goes with it. */
  removeWorker(workerId: string): void {
    for (const kind of ['function', 'trigger', 'trigger_type'] as const) {
      for (const entry of [...this.mapOf(kind).values()]) {
        if (entry.workerId === workerId) this.remove(kind, entry.id)
      }
    }
    this.remove('worker', workerId)
  }
}
