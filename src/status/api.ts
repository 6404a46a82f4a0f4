// What `/api/status` and `/api/counters` answer for one namespace, gathered from its registry (workers,
// functions, triggers), its status object (channels that lived a second or more) and, for the
// newest open channels, the channel objects themselves (live counters, only while someone watches).

import type { ChannelSnapshot } from '../channel/object'
import type { RegistryObject } from '../engine/registry-object'
import { DEFAULT_NAMESPACE } from '../protocol/namespace'
import { channelStub, registryStub, statusStub } from '../stubs'
import type { LogEntry } from './log'

/** Open channels whose live counters each status snapshot asks for (one call per channel, per second, while a page watches). */
const LIVE_CHANNELS = 20

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
  return {
    namespace,
    namespaces: directory ?? registry.namespaces,
    workers: registry.workers,
    functions: registry.functions,
    triggers: registry.triggers,
    channels: channels.map(({ finished: _, ...c }) => c),
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
