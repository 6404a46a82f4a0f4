// Where each Durable Object lives (docs/architecture.md): one session per connected worker (a
// unique id, created near that worker), one registry and one status object per namespace, one
// object per channel id (created near the first socket that connects to it).

/** A new session object for a worker that just connected (its id is the worker id the SDK sees). */
export const newSessionId = (env: Env): DurableObjectId => env.SESSION.newUniqueId()

/** The session of a worker id, or null when the id is not one of ours (ids come from the network). */
export function sessionStub(env: Env, workerId: string): DurableObjectStub<import('./engine/session-object').SessionObject> | null {
  if (!/^[0-9a-f]{64}$/.test(workerId)) return null
  try {
    return env.SESSION.get(env.SESSION.idFromString(workerId))
  } catch {
    return null // well-formed but not an id of this namespace
  }
}

export const registryStub = (env: Env, namespace: string) => env.REGISTRY.get(env.REGISTRY.idFromName(`registry:${namespace}`))

export const statusStub = (env: Env, namespace: string) => env.STATUS.get(env.STATUS.idFromName(`status:${namespace}`))

/** One object per cron trigger of a namespace (engine/cron-object.ts). */
export const cronStub = (env: Env, namespace: string, triggerId: string) => env.CRON.get(env.CRON.idFromName(`cron:${namespace}:${triggerId}`))

export const channelStub = (env: Env, channelId: string) => env.CHANNEL.get(env.CHANNEL.idFromName(channelId))

/** One object per state scope of a namespace (data/state-object.ts); a namespace has no `:`, so names cannot collide. */
export const stateStub = (env: Env, namespace: string, scope: string) => env.STATE.get(env.STATE.idFromName(`state:${namespace}:${scope}`))

/** One object per namespace listing its non-empty state scopes and stream groups (data/directory-object.ts). */
export const directoryStub = (env: Env, namespace: string) => env.DIRECTORY.get(env.DIRECTORY.idFromName(`directory:${namespace}`))

/** One object per stream group of a namespace; a stream name may hold `:`, so the name is JSON. */
export const streamStub = (env: Env, namespace: string, streamName: string, groupId: string) =>
  env.STREAM.get(env.STREAM.idFromName(`stream:${JSON.stringify([namespace, streamName, groupId])}`))
