// Where the engine's Durable Objects live (docs/architecture.md, "Objects and where they live"):
// one session per connected worker (a unique id, created near that worker), one registry per
// namespace, one object per cron trigger. A stub's type comes from Env (worker-configuration.d.ts),
// which names every object class, so naming an object here imports nothing above it.

/** A new session object for a worker that just connected (its id is the worker id the SDK sees). */
export const newSessionId = (env: Env): DurableObjectId => env.SESSION.newUniqueId()

/** The session of a worker id, or null when the id is not one of ours (ids come from the network). */
export function sessionStub(env: Env, workerId: string) {
  if (!/^[0-9a-f]{64}$/.test(workerId)) return null
  try {
    return env.SESSION.get(env.SESSION.idFromString(workerId))
  } catch {
    return null // well-formed but not an id of this namespace
  }
}

export const registryStub = (env: Env, namespace: string) => env.REGISTRY.get(env.REGISTRY.idFromName(`registry:${namespace}`))

/** One object per cron trigger of a namespace (engine/cron-object.ts). */
export const cronStub = (env: Env, namespace: string, triggerId: string) => env.CRON.get(env.CRON.idFromName(`cron:${namespace}:${triggerId}`))
