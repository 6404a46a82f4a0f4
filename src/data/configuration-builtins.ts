// `configuration::register`, `::set`, `::get`, `::list`, `::schema`, run in the caller's session like
// the other data builtins: parse the input here, ask the namespace's ConfigurationObject, answer,
// then fire the matching `configuration` triggers one way in the background (data/builtins.ts).

import { EngineError } from '../protocol/outcome'
import type { ConfigurationEvent, ConfigurationEntry, SchemaView } from './configuration'
import { invalidId, isValidId, notFound, parseGet, parseRegister, parseSchemaId, parseSet } from './configuration'
import type { Answer } from './configuration-object'
import { configurationStub } from './stubs'
import { type DataTrigger, configurationTriggersFor } from './triggers'

export interface ConfigurationContext {
  env: Env
  namespace(): string
}

/** How data/builtins.ts lends its trigger plumbing: look the triggers up now, fire them later. */
export interface Firing {
  lookup(): Promise<DataTrigger[]>
  fire(triggers: Promise<DataTrigger[]>, data: unknown): void
}

type Builtin = (data: unknown) => Promise<unknown>

/** The object's answer, or its error with the engine's code. */
function ok<T>(answer: unknown): T {
  const a = answer as Answer<T> // an RPC answer's type loses `unknown` fields
  if ('error' in a) throw new EngineError(a.error.code, a.error.message)
  return a.ok
}

export function configurationBuiltins(ctx: ConfigurationContext, firing: Firing): Record<string, Builtin> {
  const stub = () => configurationStub(ctx.env, ctx.namespace())
  const fire = (triggers: Promise<DataTrigger[]>, event: ConfigurationEvent) =>
    firing.fire(
      triggers.then((all) => configurationTriggersFor(all, event.id, event.event_type)),
      event,
    )
  return {
    'configuration::register': async (data) => {
      const input = parseRegister(data)
      // Refused before any object wakes: no entry can have such an id.
      if (!isValidId(input.id)) throw invalidId(input.id)
      const triggers = firing.lookup() // looked up while the write happens
      const { entry, event } = ok<{ entry: ConfigurationEntry; event: ConfigurationEvent }>(await stub().register(ctx.namespace(), input))
      fire(triggers, event)
      return entry
    },
    'configuration::set': async (data) => {
      const { id, value } = parseSet(data)
      if (!isValidId(id)) throw invalidId(id)
      const triggers = firing.lookup()
      const { old_value, new_value, event } = ok<{ old_value: unknown; new_value: unknown; event: ConfigurationEvent }>(await stub().set(ctx.namespace(), id, value))
      fire(triggers, event)
      return { old_value, new_value }
    },
    'configuration::get': async (data) => {
      const { id, raw } = parseGet(data)
      if (!isValidId(id)) throw notFound(id)
      return ok(await stub().get(ctx.namespace(), id, raw))
    },
    // The engine's input is `{}`; anything else is read as that, as the other data builtins do.
    'configuration::list': async () => stub().list(),
    'configuration::schema': async (data) => {
      const id = parseSchemaId(data)
      if (!isValidId(id)) throw notFound(id)
      return ok<SchemaView>(await stub().schema(id))
    },
  }
}
