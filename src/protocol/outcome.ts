// What an invocation comes to, and the error the engine's own functions throw with the engine's
// code. The engine, the data modules and the front door all speak of both, so they live here,
// below all of them (docs/architecture.md, "Layers").

import type { ErrorBody } from './messages'

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
