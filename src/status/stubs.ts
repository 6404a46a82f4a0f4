// Where the status object lives: one per namespace (docs/architecture.md, "Status without a funnel").
// Its type comes from Env (worker-configuration.d.ts).

export const statusStub = (env: Env, namespace: string) => env.STATUS.get(env.STATUS.idFromName(`status:${namespace}`))
