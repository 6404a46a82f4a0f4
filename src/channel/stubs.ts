// Where a channel lives: one object per channel id, created near the first socket that connects to
// it (docs/architecture.md, "Channels born where they are used"). Its type comes from Env
// (worker-configuration.d.ts).

export const channelStub = (env: Env, channelId: string) => env.CHANNEL.get(env.CHANNEL.idFromName(channelId))
