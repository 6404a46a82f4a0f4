// What the data modules need of the engine: to invoke a function of a namespace wherever it is
// served, and to read the namespace's registry view. Defined here, by the side that needs it, and
// implemented by the engine (engine/data-engine.ts), so that a data module never knows how the
// engine finds a function (its view cache, its sessions, their stubs) and the engine may change
// that without touching data/ (docs/architecture.md, "Layers").

import type { EngineCall, Outcome } from '../protocol/outcome'
import type { DataTrigger } from './triggers'

/** What the data modules read of the namespace's registry view. */
export interface DataView {
  dataTriggers: DataTrigger[]
  /** The functions that exist (a custom stream's take its items over: custom-stream.ts). */
  functions: { has(id: string): boolean }
}

export interface DataEngine {
  /** Invokes a function of `namespace`; a void call resolves `{accepted: true}` once it was handed over. */
  invoke(namespace: string, call: EngineCall): Promise<Outcome | { accepted: true }>
  /**
   * The namespace's view, refreshed first when this isolate's last refresh is older than
   * `maxAgeMs`: for an object that hears no registry notices (a stream group deciding a join).
   */
  recentView(namespace: string, maxAgeMs: number): Promise<DataView>
}

/** What the data modules' functions get from the caller's session (data/builtins.ts, queue/builtins.ts). */
export interface DataContext {
  env: Env
  /** How the data modules reach functions. */
  engine: DataEngine
  namespace(): string
  /** The namespace's view, as fresh as the last trigger or custom-stream change this session heard of. */
  view(): Promise<DataView>
  waitUntil(promise: Promise<unknown>): void
}
