// Where each Durable Object lives: one engine per deployment, one object per channel id.

export const engineStub = (env: Env) => env.ENGINE.get(env.ENGINE.idFromName('engine'))

export const channelStub = (env: Env, channelId: string) => env.CHANNEL.get(env.CHANNEL.idFromName(channelId))
