// What `/api/status` and `/api/counters` answer for one namespace, gathered from its registry (workers,
// functions, triggers), its status object (channels that lived a second or more), for the newest
// open channels the channel objects themselves (live counters, only while someone watches), and
// its directory of state scopes and stream groups (with the newest groups' subscriber counts).

import type { ChannelSnapshot } from '../status/object'
import type { RegistryObject } from '../engine/registry-object'
import { DEFAULT_NAMESPACE } from '../protocol/namespace'
import { channelStub } from '../channel/stubs'
import { directoryStub, streamStub } from '../data/stubs'
import { registryStub } from '../engine/stubs'
import { statusStub } from '../status/stubs'
import type { LogEntry } from '../observability/log-record'
import { queueConfigs } from '../data/queue/config'
import { queueStub } from '../data/queue/stubs'
import { durableTopics } from '../data/triggers'

/** Open channels whose live counters each status snapshot asks for (one call per channel, per second, while a page watches). */
const LIVE_CHANNELS = 20

/** State scopes and stream groups the page lists (from the namespace's directory). */
const LISTED_DATA = 100

/** Stream groups whose subscriber count each snapshot asks for (one call per group, as for channels). */
const LIVE_GROUPS = 20

/** Queues whose counts each snapshot asks for (one call per queue object, as for channels). */
const LIVE_QUEUES = 20

/**
 * The deploy's named queues and the durable topics something subscribes to, with each one's depth,
 * jobs in flight and dead letters (its queue object's counts: data/queue/queue-object.ts).
 */
async function queueStatus(env: Env, namespace: string, triggers: { trigger_type: string; function_id?: string; config?: unknown }[]) {
  const named = [...queueConfigs(env).queues.values()].map((q) => ({ name: q.name, kind: 'queue' as const, type: q.type }))
  const topics = durableTopics(triggers.map((t) => ({ id: '', function_id: t.function_id ?? '', trigger_type: t.trigger_type, config: t.config })))
    .filter((t) => !named.some((n) => n.name === t))
    .sort()
    .map((name) => ({ name, kind: 'topic' as const, type: 'standard' as const }))
  const all = [...named, ...topics]
  const counts = await Promise.all(all.slice(0, LIVE_QUEUES).map((q) => queueStub(env, namespace, q.name).counts().catch(() => null)))
  return all.map((q, i) => ({ ...q, depth: counts[i]?.depth ?? null, in_flight: counts[i]?.in_flight ?? null, dead_letters: counts[i]?.dlq_depth ?? null }))
}

/** What the page shows of the data modules: scopes, stream groups with their subscribers, topics, queues. */
async function dataStatus(env: Env, namespace: string, triggers: { trigger_type: string; function_id?: string; config?: unknown }[]) {
  const directory = directoryStub(env, namespace)
  const [scopes, groups] = await Promise.all([directory.entries('state', LISTED_DATA), directory.entries('stream', LISTED_DATA)])
  const queues = queueStatus(env, namespace, triggers)
  const counts = await Promise.all(
    groups.slice(0, LIVE_GROUPS).map(({ parent, name }) => streamStub(env, namespace, parent, name).subscriberCount().catch(() => null)),
  )
  // Topics are those something subscribes to: publish keeps nothing, as in the engine.
  const topics = new Map<string, number>()
  for (const t of triggers) {
    const topic = (t.config as { topic?: unknown } | null)?.topic
    if (t.trigger_type === 'subscribe' && typeof topic === 'string' && topic !== '') topics.set(topic, (topics.get(topic) ?? 0) + 1)
  }
  return {
    state_scopes: scopes.map((s) => s.name),
    streams: groups.map(({ parent, name }, i) => ({ stream_name: parent, group_id: name, subscribers: counts[i] ?? null })),
    topics: [...topics].sort(([a], [b]) => (a < b ? -1 : 1)).map(([topic, subscribers]) => ({ topic, subscribers })),
    queues: await queues,
  }
}

export async function namespaceStatus(env: Env, namespace: string) {
  // RPC types cannot express the `unknown` fields (configs, metadata): typed from the method itself.
  const status = statusStub(env, namespace)
  const [registry, reported, directory, log] = await Promise.all([
    registryStub(env, namespace).status() as Promise<Awaited<ReturnType<RegistryObject['status']>>>,
    status.channels(),
    namespace === DEFAULT_NAMESPACE ? null : registryStub(env, DEFAULT_NAMESPACE).namespaces(),
    status.logs() as Promise<LogEntry[]>,
  ])
  const live = await Promise.all(
    reported.slice(0, LIVE_CHANNELS).map((c) => (channelStub(env, c.channel_id).stats() as Promise<ChannelSnapshot | null>).catch(() => c)),
  )
  const channels = [...live, ...reported.slice(LIVE_CHANNELS)].filter((c): c is ChannelSnapshot => c !== null && !c.finished)
  const data = await dataStatus(env, namespace, registry.triggers)
  return {
    namespace,
    namespaces: directory ?? registry.namespaces,
    workers: registry.workers,
    functions: registry.functions,
    triggers: registry.triggers,
    channels: channels.map(({ finished: _, ...c }) => c),
    data,
    log,
    engine: {
      active_invocations: registry.workers.reduce((n, w) => n + w.active_invocations, 0),
      // Since each session last started (so not a lifetime total); the page charts its per-second change.
      invocations: registry.workers.reduce((n, w) => n + w.invocations, 0),
      registry_version: registry.version,
    },
  }
}

export async function namespaceCounters(env: Env, namespace: string) {
  return registryStub(env, namespace).counters(namespace)
}
