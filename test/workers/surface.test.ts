// Each Durable Object's public surface is its RPC surface: only what other objects and the front
// door should call. Host callbacks of the pure cores (schedule, saveEnds, finish, send, …) are
// private fields, so no stub can reach them.
import { env } from 'cloudflare:workers'
import { runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { sessionBuiltins } from '../../src/engine/builtins'
import { dataEngine } from '../../src/engine/data-engine'
import { ENGINE_FUNCTIONS } from '../../src/engine/introspection'

/** Methods a stub could call: the prototype chain's own names up to (not including) DurableObject. */
function publicMethods(obj: object): string[] {
  const names = new Set<string>()
  for (let proto = Object.getPrototypeOf(obj); proto && proto.constructor.name !== 'DurableObject'; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) if (name !== 'constructor') names.add(name)
  }
  for (const name of Object.keys(obj)) if (typeof (obj as Record<string, unknown>)[name] === 'function') names.add(name)
  return [...names].sort()
}

describe('RPC surfaces', () => {
  it("channel: fetch (a socket), stats, and the runtime's handlers", async () => {
    const stub = env.CHANNEL.get(env.CHANNEL.idFromName('surface-check'))
    expect(await runInDurableObject(stub, publicMethods)).toEqual(['alarm', 'fetch', 'stats', 'webSocketClose', 'webSocketError', 'webSocketMessage'])
  })

  it("session: what other sessions, the front door and the registry call, and the runtime's handlers", async () => {
    const stub = env.SESSION.get(env.SESSION.newUniqueId())
    expect(await runInDurableObject(stub, publicMethods)).toEqual(
      ['alarm', 'alive', 'deliver', 'fetch', 'handOver', 'holds', 'invoke', 'invokeHttp', 'notice', 'stats', 'webSocketClose', 'webSocketError', 'webSocketMessage'].sort(),
    )
  })

  it('registry and status: their control-plane and status calls only', async () => {
    const registry = env.REGISTRY.get(env.REGISTRY.idFromName('registry:surface-check'))
    expect(await runInDurableObject(registry, publicMethods)).toEqual(['alarm', 'apply', 'counters', 'defaultRoutesAdded', 'leave', 'namespaces', 'noteNamespace', 'query', 'signingSecret', 'snapshot', 'status'])
    const status = env.STATUS.get(env.STATUS.idFromName('status:surface-check'))
    expect(await runInDurableObject(status, publicMethods)).toEqual(['addLogs', 'channels', 'clearLogs', 'countChannel', 'counters', 'logs', 'queryLogs', 'report'])
  })

  it('builtins: every engine function the introspection lists is served, and every served one is listed', async () => {
    const served = sessionBuiltins({
      env,
      engine: dataEngine(env),
      namespace: () => '',
      workerName: () => 'w',
      register: () => {},
      registry: () => Promise.reject(new Error('unused')),
      status: () => env.STATUS.get(env.STATUS.idFromName('status:surface-check')),
      waitUntil: () => {},
      view: () => Promise.resolve({ dataTriggers: [], functions: new Set<string>() }),
    })
    expect(Object.keys(served).sort()).toEqual(ENGINE_FUNCTIONS.map((f) => f.id).sort())
  })

  it('state scope, stream group, directory and configuration: the data calls builtins make, sockets, and the retry alarm', async () => {
    const state = env.STATE.get(env.STATE.idFromName('state:surface-check:s'))
    expect(await runInDurableObject(state, publicMethods)).toEqual(['alarm', 'delete', 'get', 'list', 'set', 'update'])
    const stream = env.STREAM.get(env.STREAM.idFromName('stream:surface-check'))
    expect(await runInDurableObject(stream, publicMethods)).toEqual(
      ['alarm', 'announce', 'delete', 'fetch', 'get', 'list', 'send', 'set', 'subscriberCount', 'update', 'webSocketClose', 'webSocketError', 'webSocketMessage'].sort(),
    )
    const directory = env.DIRECTORY.get(env.DIRECTORY.idFromName('directory:surface-check'))
    expect(await runInDurableObject(directory, publicMethods)).toEqual(['add', 'entries', 'names', 'remove'])
    const configuration = env.CONFIGURATION.get(env.CONFIGURATION.idFromName('configuration:surface-check'))
    expect(await runInDurableObject(configuration, publicMethods)).toEqual(['get', 'list', 'register', 'schema', 'set'])
  })

  it('cron: what the registry calls, and its alarm', async () => {
    const cron = env.CRON.get(env.CRON.idFromName('cron:surface-check:t'))
    expect(await runInDurableObject(cron, publicMethods)).toEqual(['alarm', 'cancel', 'nextRun', 'schedule'])
  })
})
