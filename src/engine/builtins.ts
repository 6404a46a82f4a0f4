// Functions the engine serves itself (`engine::*`), the ones the SDK calls.

import { createChannel } from '../channel/create'
import { parseBufferSize } from '../protocol/refs'
import { asObject } from '../protocol/json'
import type { Builtin, Engine } from './engine'

export function engineBuiltins(env: Env, engine: () => Engine): Record<string, Builtin> {
  return {
    'engine::channels::create': async (data) => {
      const size = parseBufferSize(asObject(data).buffer_size)
      if (!size.ok) throw new Error(size.message)
      return createChannel(env, size.value)
    },
    'engine::workers::register': (data, workerId) => {
      const worker = workerId && engine().registry.workers.get(workerId)
      if (worker) engine().registry.put('worker', { ...worker, metadata: asObject(data) })
      return { success: true }
    },
    'engine::functions::list': () => ({ functions: engine().listFunctions() }),
    'engine::workers::list': () => ({ workers: engine().listWorkers() }),
    'engine::triggers::list': () => ({ triggers: engine().listTriggerTypes() }),
    'engine::registered-triggers::list': () => ({ registered_triggers: engine().listTriggers() }),
  }
}

