// A call the engine makes, what an invocation comes to, and the error the engine's own functions
// throw with the engine's code. The engine, the data modules and the front door all speak of
// them, so they live here, below all of them (docs/architecture.md, "Layers").

import type { ErrorBody } from './messages'

/**
 * A call the engine makes with no worker waiting on a socket: a trigger fired, a gate, a cron run,
 * a custom stream's function (engine/invoke.ts).
 */
export interface EngineCall {
  function_id: string
  data: unknown
  metadata?: unknown
  /** Fire and forget: the worker gets the invocation, nobody waits for its result. */
  void?: boolean
  /** How long the call may take before it is answered `timeout` (absent: III_INVOCATION_TIMEOUT_MS). */
  timeout_ms?: number
  traceparent?: string
  baggage?: string
}

export type Outcome = { result: unknown } | { error: ErrorBody }

/** An error a builtin answers with (`invocationresult.error`), with the engine's code. */
export class EngineError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}
