// Bounds per connected worker (issue 21, item 6): how much one worker may register and keep in
// flight. Without them one worker's socket could queue 10,000 registrations in a few milliseconds,
// and every object of the deployment waited behind their work (locally all objects share one
// thread). The defaults are far above what an app registers; each is a var, raised per deploy with
// `wrangler deploy --var NAME:<n>` (or `wrangler dev --var`).
//
// The session checks what it owns (functions, the invocations its worker waits for); the registry
// checks triggers and trigger types, which it alone keeps for good.

import type { ErrorBody } from '../protocol/messages'

export interface WorkerLimits {
  /** Functions one worker serves, HTTP-invoked ones included. */
  functions: number
  /** Triggers one worker registered, of every type. */
  triggers: number
  /** Of those, http triggers: every front door holds and matches each route. */
  httpRoutes: number
  /** Trigger types one worker provides. */
  triggerTypes: number
  /** Invocations one worker made and still waits for (void ones wait for nothing and are not counted). */
  invocations: number
}

export type LimitKind = keyof WorkerLimits

/** Each bound's var, its default and how a message names what it counts. */
export const LIMITS: Record<LimitKind, { name: string; default: number; what: string }> = {
  functions: { name: 'III_MAX_FUNCTIONS_PER_WORKER', default: 1000, what: 'functions' },
  triggers: { name: 'III_MAX_TRIGGERS_PER_WORKER', default: 1000, what: 'triggers' },
  httpRoutes: { name: 'III_MAX_HTTP_ROUTES_PER_WORKER', default: 500, what: 'http triggers' },
  triggerTypes: { name: 'III_MAX_TRIGGER_TYPES_PER_WORKER', default: 100, what: 'trigger types' },
  invocations: { name: 'III_MAX_INVOCATIONS_PER_WORKER', default: 5000, what: 'invocations in flight' },
}

export const DEFAULT_LIMITS: WorkerLimits = Object.fromEntries(Object.entries(LIMITS).map(([k, l]) => [k, l.default])) as unknown as WorkerLimits

/**
 * The bounds from the Worker's env. A var that is not a positive integer is ignored (the default
 * holds) and said once through `log`, so a typo does not open the bound.
 */
export function workerLimits(env: (name: string) => unknown, log: (message: string) => void = () => {}): WorkerLimits {
  const limits = { ...DEFAULT_LIMITS }
  for (const [kind, { name, default: fallback }] of Object.entries(LIMITS) as [LimitKind, (typeof LIMITS)[LimitKind]][]) {
    const raw = env(name)
    if (raw === undefined || raw === null || raw === '') continue
    const n = Number(raw)
    if (Number.isSafeInteger(n) && n > 0) limits[kind] = n
    else log(`${name} must be a positive integer, not ${JSON.stringify(String(raw)).slice(0, 40)}: using the default ${fallback}`)
  }
  return limits
}

/** What was refused and why, naming the bound and the var that raises it. */
export function limitMessage(kind: LimitKind, limit: number, refused: string): string {
  const { name, what } = LIMITS[kind]
  return `${refused}: this worker already has ${limit} ${what}, the most one worker may (${name}; raise it with \`--var ${name}:<n>\`)`
}

/** The answer to a trigger refused by a bound. */
export const limitExceeded = (kind: LimitKind, limit: number, refused: string): ErrorBody => ({
  code: 'limit_exceeded',
  message: limitMessage(kind, limit, refused),
})

/** The answer to an invocation past the in-flight bound, sent at once. */
export const tooManyInvocations = (limit: number, functionId: string): ErrorBody => ({
  code: 'too_many_invocations',
  message: `${limitMessage('invocations', limit, `Invocation of ${functionId} refused`)}; wait for some of them to finish`,
})
