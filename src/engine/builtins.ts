// Functions the engine serves itself (`engine::*`), the ones the SDK calls. They run in the caller's
// session: creating a channel touches no object at all; the lists read the namespace's registry
// (the control plane), after this worker's own registrations have reached it.

import { mintChannel } from '../channel/mint'
import { signingKey } from '../channel/signing'
import { asObject } from '../protocol/json'
import { parseBufferSize } from '../protocol/refs'
import type { registryStub } from '../stubs'
import type { Change } from './registry'

export type Builtin = (data: unknown) => Promise<unknown>

export interface BuiltinContext {
  env: Env
  namespace: () => string
  register(change: Change): void
  registry(): Promise<ReturnType<typeof registryStub>>
}

export function sessionBuiltins(ctx: BuiltinContext): Record<string, Builtin> {
  const list = (kind: ListKind) => async () => (await ctx.registry()).list(kind)
  return {
    'engine::channels::create': async (data) => {
      const size = parseBufferSize(asObject(data).buffer_size)
      if (!size.ok) throw new Error(size.message)
      return mintChannel(await signingKey(ctx.env), { bufferSize: size.value, namespace: ctx.namespace(), now: Date.now() })
    },
    'engine::workers::register': async (data) => {
      ctx.register({ type: 'metadata', metadata: asObject(data) })
      return { success: true }
    },
    'engine::functions::list': list('functions'),
    'engine::workers::list': list('workers'),
    'engine::triggers::list': list('trigger_types'),
    'engine::registered-triggers::list': list('triggers'),
  }
}

export type ListKind = 'functions' | 'workers' | 'trigger_types' | 'triggers'
