// Where the messages of a worker that came through a worker endpoint enter: its invocations are
// checked and may pass the endpoint's middleware, its registrations pass the auth answer's rights
// and the endpoint's hooks, and get its prefix (rbac.ts has the rules, docs/rbac.md the story).
// SessionCore asks this gate; the gate asks the engine for hooks and middleware through its host.

import { isCustomStreamFunction } from '../data/custom-stream'
import { isQueueProviderFunction } from '../data/queue/names'
import { asObject } from '../protocol/json'
import type { ErrorBody, InvokeFunction, RegisterFunction, RegisterTrigger, RegisterTriggerType } from '../protocol/messages'
import type { EngineCall, Outcome } from '../protocol/outcome'
import { type WorkerRules, invocationRefusal, needsMetadata, passesMiddleware, triggerTypeAllowed, withPrefix } from './rbac'

/** A registration hook that has not answered by then refuses (the engine waits forever; a stuck hook would hold the connection). */
export const HOOK_TIMEOUT_MS = 10_000

export interface GateHost {
  /** A call the engine makes itself (no session, no rules): hooks and the middleware. */
  engineCall(call: EngineCall): Promise<Outcome>
  /** The function as the registry view has it (its metadata), or null. */
  lookup(functionId: string): Promise<{ metadata?: unknown } | null>
  log(message: string): void
}

/**
 * Ids a worker of an endpoint may not register (unless its prefix makes them its own): the engine
 * gives them a meaning for everyone (builtins, the queue provider, a custom stream's storage).
 */
const isReserved = (id: string) => id.startsWith('engine::') || isQueueProviderFunction(id) || isCustomStreamFunction(id)

/** Refusals logged per connection; past this a flood of refused registrations logs nothing more. */
const REFUSALS_LOGGED = 20

export class WorkerGate {
  #logged = 0

  constructor(
    readonly rules: WorkerRules,
    private readonly host: GateHost,
  ) {}

  /** Why this worker may not invoke `id` (FORBIDDEN), or null. Metadata is looked up only when a filter needs it. */
  async refusal(id: string): Promise<ErrorBody | null> {
    const metadata = needsMetadata(this.rules, id) ? (await this.host.lookup(id).catch(() => null))?.metadata : undefined
    return invocationRefusal(this.rules, id, metadata)
  }

  /**
   * The middleware's answer for an invocation, or null when none applies. The middleware gets
   * `{function_id, payload, action, context}` instead of the target running: it invokes the target
   * itself (with whatever it changed) or refuses by failing, and its answer is the caller's.
   */
  middleware(message: InvokeFunction, timeoutMs: number): Promise<Outcome> | null {
    const middleware = passesMiddleware(this.rules, message.function_id)
    if (!middleware) return null
    return this.host.engineCall({
      function_id: middleware,
      data: { function_id: message.function_id, payload: message.data ?? null, action: message.action ?? null, context: this.rules.rights.context },
      ...(message.metadata !== undefined ? { metadata: message.metadata } : {}),
      timeout_ms: timeoutMs,
      ...(message.traceparent ? { traceparent: message.traceparent } : {}),
      ...(message.baggage ? { baggage: message.baggage } : {}),
    })
  }

  /** A function registration as it is stored (hook applied, prefixed), or null when refused (silently, as the engine: only logged). */
  async registerFunction(message: RegisterFunction): Promise<RegisterFunction | null> {
    const { rights, rbac } = this.rules
    if (!rights.allow_function_registration) return this.#refused(`function ${message.id}: this connection may not register functions`)
    // An HTTP-invoked function makes the engine fetch a URL with secrets it names: never for an endpoint's worker.
    if (message.invocation !== undefined && message.invocation !== null) return this.#refused(`function ${message.id}: a worker of an endpoint may not register an HTTP-invoked function`)
    let { id, description, metadata } = message
    const hook = rbac?.on_function_registration_function_id
    if (hook) {
      const answer = await this.#hook(hook, { function_id: id, description: description ?? null, metadata: metadata ?? null, context: rights.context })
      if (!answer) return this.#refused(`function ${id}: refused by ${hook}`)
      if (typeof answer.function_id === 'string') id = answer.function_id
      if (typeof answer.description === 'string') description = answer.description
      if (Object.hasOwn(answer, 'metadata')) metadata = answer.metadata
    }
    const stored = withPrefix(rights, id)
    if (isReserved(stored)) return this.#refused(`function ${stored}: the engine's own ids are not for an endpoint's worker`)
    const { description: _d, metadata: _m, ...rest } = message
    return { ...rest, id: stored, ...(description != null ? { description } : {}), ...(metadata != null ? { metadata } : {}) }
  }

  /** A trigger type registration (hook applied), or null when refused. */
  async registerTriggerType(message: RegisterTriggerType): Promise<RegisterTriggerType | null> {
    const { rights, rbac } = this.rules
    if (!rights.allow_trigger_type_registration) return this.#refused(`trigger type ${message.id}: this connection may not register trigger types`)
    const hook = rbac?.on_trigger_type_registration_function_id
    if (!hook) return message
    const answer = await this.#hook(hook, { trigger_type_id: message.id, description: message.description ?? null, context: rights.context })
    if (!answer) return this.#refused(`trigger type ${message.id}: refused by ${hook}`)
    return {
      ...message,
      ...(typeof answer.trigger_type_id === 'string' ? { id: answer.trigger_type_id } : {}),
      ...(typeof answer.description === 'string' ? { description: answer.description } : {}),
    }
  }

  /**
   * A trigger registration (hook applied, its function prefixed), or null when refused. Its
   * function must be one this worker serves or may invoke: a trigger calls it on the worker's
   * behalf, so a trigger may not reach what a call may not (stricter than the engine: docs/rbac.md).
   */
  async registerTrigger(message: RegisterTrigger, serves: (id: string) => boolean): Promise<RegisterTrigger | null> {
    const { rights, rbac } = this.rules
    if (!triggerTypeAllowed(rights, message.trigger_type)) return this.#refused(`trigger ${message.id}: trigger type ${message.trigger_type} not allowed for this connection`)
    let trigger = message
    const hook = rbac?.on_trigger_registration_function_id
    if (hook) {
      const answer = await this.#hook(hook, {
        trigger_id: message.id,
        trigger_type: message.trigger_type,
        function_id: message.function_id,
        config: message.config ?? null,
        metadata: message.metadata ?? null,
        context: rights.context,
      })
      if (!answer) return this.#refused(`trigger ${message.id}: refused by ${hook}`)
      trigger = {
        ...message,
        ...(typeof answer.trigger_id === 'string' ? { id: answer.trigger_id } : {}),
        ...(typeof answer.trigger_type === 'string' ? { trigger_type: answer.trigger_type } : {}),
        ...(typeof answer.function_id === 'string' ? { function_id: answer.function_id } : {}),
        ...(Object.hasOwn(answer, 'config') ? { config: answer.config } : {}),
      }
      if (!triggerTypeAllowed(rights, trigger.trigger_type)) return this.#refused(`trigger ${trigger.id}: trigger type ${trigger.trigger_type} not allowed for this connection`)
    }
    const functionId = withPrefix(rights, trigger.function_id)
    if (!serves(functionId) && (await this.refusal(functionId))) return this.#refused(`trigger ${trigger.id}: its function ${functionId} is neither served by this worker nor one it may invoke`)
    return { ...trigger, function_id: functionId }
  }

  /** The hook's answer when it allows (an object), else null: a failure, no answer, anything else. */
  async #hook(functionId: string, data: unknown): Promise<Record<string, unknown> | null> {
    const outcome = await this.host.engineCall({ function_id: functionId, data, timeout_ms: HOOK_TIMEOUT_MS }).catch((err: unknown) => ({ error: { code: 'invocation_failed', message: String(err) } }))
    if ('error' in outcome) {
      this.host.log(`${functionId}: ${outcome.error.code}: ${outcome.error.message}`)
      return null
    }
    const answer = outcome.result
    return typeof answer === 'object' && answer !== null && !Array.isArray(answer) ? asObject(answer) : null
  }

  #refused(why: string): null {
    if (this.#logged < REFUSALS_LOGGED) this.host.log(`registration refused: ${why}${++this.#logged === REFUSALS_LOGGED ? ' (later refusals on this connection are not logged)' : ''}`)
    return null
  }
}
