// Where the data modules' Durable Objects live (docs/data-modules.md). Their types come from Env
// (worker-configuration.d.ts).

/** One object per state scope of a namespace (data/state-object.ts); a namespace has no `:`, so names cannot collide. */
export const stateStub = (env: Env, namespace: string, scope: string) => env.STATE.get(env.STATE.idFromName(`state:${namespace}:${scope}`))

/** One object per namespace listing its non-empty state scopes and stream groups (data/directory-object.ts). */
export const directoryStub = (env: Env, namespace: string) => env.DIRECTORY.get(env.DIRECTORY.idFromName(`directory:${namespace}`))

/** One object per stream group of a namespace; a stream name may hold `:`, so the name is JSON. */
export const streamStub = (env: Env, namespace: string, streamName: string, groupId: string) =>
  env.STREAM.get(env.STREAM.idFromName(`stream:${JSON.stringify([namespace, streamName, groupId])}`))

/** One object per namespace holding its configurations (data/configuration-object.ts), as the engine holds one registry. */
export const configurationStub = (env: Env, namespace: string) => env.CONFIGURATION.get(env.CONFIGURATION.idFromName(`configuration:${namespace}`))
