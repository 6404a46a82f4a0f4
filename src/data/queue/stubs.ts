// Where the queues' Durable Objects live (docs/queues.md). Names are JSON, since a queue, topic or
// group value may hold any character.

/** One object per queue or durable topic of a namespace: its dead letters and its counts (queue-object.ts). */
export const queueStub = (env: Env, namespace: string, queue: string) => env.QUEUE.get(env.QUEUE.idFromName(`queue:${JSON.stringify([namespace, queue])}`))

/** One object per message group of a FIFO queue: its jobs, run one at a time in order (group-object.ts). */
export const queueGroupStub = (env: Env, namespace: string, queue: string, group: string) =>
  env.QUEUE_GROUP.get(env.QUEUE_GROUP.idFromName(`queue-group:${JSON.stringify([namespace, queue, group])}`))
