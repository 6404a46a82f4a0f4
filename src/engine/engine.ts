// The engine's routing rules, free of Workers APIs: registrations, invocations routed to the worker
// that registered the function and results routed back, builtins, and what a disconnect undoes.
// EngineObject adapts sockets and SQLite to this; unit tests drive it with fakes.
//
// Invocation ids: the engine forwards an invocation under an id of its own, so two callers that
// pick the same `invocation_id` cannot see each other's results. In-flight invocations live in
// memory and are written to storage in batches (`PendingStore`) when the host's persist timer
// fires; one that completes before that never touches storage.

import type { EngineMessage, ErrorBody, InvokeFunction, WorkerMessage } from '../protocol/messages'
import { httpTriggerProblem } from '../http/routes'
import type { Registry, TriggerEntry } from './registry'

/** A connected worker's socket, as the engine sees it. */
export interface WorkerLink {
  send(message: EngineMessage): void
}

export type Outcome = { result: unknown } | { error: ErrorBody }

/** Who waits for an invocation: a worker on the main socket, or code in this Worker (HTTP triggers). */
export type Caller =
  | { kind: 'worker'; workerId: string; invocationId: string }
  | { kind: 'local'; settle(outcome: Outcome): void }

export interface PendingInvocation {
  id: string
  functionId: string
  calleeWorkerId: string
  caller: Caller
  traceparent?: string
  baggage?: string
}

/** Durable copy of in-flight invocations that wait on a worker (only worker callers can be kept). */
export interface PendingStore {
  load(): PendingInvocation[]
  put(invocations: PendingInvocation[]): void
  remove(ids: string[]): void
}

export interface EngineHost {
  link(workerId: string): WorkerLink | undefined
  /** Close a worker's socket (its registrations are removed by `workerClosed`). */
  drop(workerId: string): void
  /** Run `engine.persistPending()` a little later (the host picks the delay); repeated calls before it runs are one. */
  schedulePersist(): void
  newId(): string
  log(message: string): void
}

/** Functions served by the engine itself; `worker` is the caller's id. */
export type Builtin = (data: unknown, worker: string | undefined) => unknown | Promise<unknown>

/** Error bodies; codes as the iii engine v0.22 sends them, so SDK code that checks them works. */
export const engineError = {
  notFound: (id: string): ErrorBody => ({ code: 'function_not_found', message: `Function ${id} not found` }),
  workerGone: (id: string): ErrorBody => ({
    code: 'invocation_stopped',
    message: `Invocation stopped: the worker serving ${id} disconnected before answering`,
  }),
  notInvokable: (id: string): ErrorBody => ({
    code: 'function_not_invokable',
    message: `function ${id} is HTTP-invoked, which this engine does not support yet`,
  }),
  builtinFailed: (id: string, err: unknown): ErrorBody => ({
    code: 'invocation_failed',
    message: `${id}: ${err instanceof Error ? err.message : String(err)}`,
  }),
}

export class Engine {
  private readonly pending = new Map<string, PendingInvocation>()
  /** Ids of pending invocations already in storage, and changes not yet written. */
  private readonly persisted = new Set<string>()
  private readonly unsavedNew = new Set<string>()
  private readonly unsavedDone = new Set<string>()

  constructor(
    readonly registry: Registry,
    private readonly store: PendingStore,
    private readonly host: EngineHost,
    private readonly builtins: Record<string, Builtin>,
  ) {
    for (const inv of store.load()) {
      this.pending.set(inv.id, inv)
      this.persisted.add(inv.id)
    }
  }

  get pendingCount(): number {
    return this.pending.size
  }

  workerOpened(workerId: string, reattachToken: string, now: number): void {
    this.registry.put('worker', { id: workerId, reattachToken, connectedAt: now })
    this.host.link(workerId)?.send({ type: 'workerregistered', worker_id: workerId, reattach_token: reattachToken })
  }

  /** A worker left: its registrations go, and nobody keeps waiting on it. */
  workerClosed(workerId: string): void {
    for (const inv of [...this.pending.values()]) {
      if (inv.calleeWorkerId === workerId) this.complete(inv, { error: engineError.workerGone(inv.functionId) })
      else if (inv.caller.kind === 'worker' && inv.caller.workerId === workerId) this.forget(inv.id)
    }
    this.registry.removeWorker(workerId)
  }

  message(workerId: string, message: WorkerMessage): void {
    switch (message.type) {
      case 'registerfunction': {
        const { type: _, ...fields } = message
        this.registry.put('function', { ...fields, workerId })
        return
      }
      case 'unregisterfunction':
        return this.removeOwned('function', message.id, workerId)
      case 'registertriggertype': {
        this.registry.put('trigger_type', { id: message.id, workerId, description: message.description })
        for (const trigger of this.registry.triggers.values()) if (trigger.trigger_type === message.id) this.offerToProvider(trigger)
        return
      }
      case 'unregistertriggertype':
        return this.removeOwned('trigger_type', message.id, workerId)
      case 'registertrigger':
        return this.registerTrigger(workerId, message)
      case 'unregistertrigger': {
        const trigger = this.registry.triggers.get(message.id)
        if (!trigger || trigger.workerId !== workerId) return
        this.registry.remove('trigger', trigger.id)
        const owner = this.registry.triggerTypes.get(trigger.trigger_type)
        if (owner) this.host.link(owner.workerId)?.send({ type: 'unregistertrigger', id: trigger.id, trigger_type: trigger.trigger_type })
        return
      }
      case 'invokefunction':
        return this.invoke(message, { kind: 'worker', workerId, invocationId: message.invocation_id ?? '' })
      case 'invocationresult': {
        const inv = this.pending.get(message.invocation_id)
        if (!inv || inv.calleeWorkerId !== workerId) return this.host.log(`result for unknown invocation ${message.invocation_id}`)
        inv.traceparent = message.traceparent
        inv.baggage = message.baggage
        return this.complete(inv, message.error ? { error: message.error } : { result: message.result })
      }
      case 'triggerregistrationresult': {
        // From the worker owning a custom trigger type, about a trigger another worker registered.
        const trigger = this.registry.triggers.get(message.id)
        if (trigger) this.host.link(trigger.workerId)?.send({ ...message, type: 'triggerregistrationresult' })
        return
      }
      case 'reattach': {
        // The SDK replays its registrations after a reconnect, so the new id stands; what reattach
        // does (as in the iii engine) is retire the previous connection if it is still half-open.
        const previous = this.registry.workers.get(message.previous_worker_id)
        if (previous && previous.id !== workerId && sameToken(previous.reattachToken, message.reattach_token ?? '')) {
          this.host.drop(previous.id)
          this.workerClosed(previous.id)
        }
        return
      }
      case 'ping':
        return this.host.link(workerId)?.send({ type: 'pong' })
      case 'pong':
        return
    }
  }

  /**
   * Invokes a function for a caller. Void invocations (no invocation_id, or action void) are sent
   * and forgotten; the others get exactly one result.
   */
  invoke(message: InvokeFunction, caller: Caller): void {
    const wantsResult = message.action?.type !== 'void' && (caller.kind === 'local' || caller.invocationId !== '')
    const answer = (outcome: Outcome) => wantsResult && this.deliver(caller, message.function_id, outcome)
    const builtin = this.builtins[message.function_id]
    if (builtin) {
      const worker = caller.kind === 'worker' ? caller.workerId : undefined
      Promise.resolve()
        .then(() => builtin(message.data, worker))
        .then(
          (result) => answer({ result }),
          (err) => answer({ error: engineError.builtinFailed(message.function_id, err) }),
        )
      return
    }
    const fn = this.registry.functions.get(message.function_id)
    const callee = fn && this.host.link(fn.workerId)
    if (!fn || !callee) return void answer({ error: engineError.notFound(message.function_id) })
    if (fn.invocation !== undefined) return void answer({ error: engineError.notInvokable(fn.id) })
    const forwarded: InvokeFunction = { ...message, type: 'invokefunction' }
    delete forwarded.action
    if (!wantsResult) {
      delete forwarded.invocation_id
      return callee.send(forwarded)
    }
    const id = this.host.newId()
    this.pending.set(id, { id, functionId: fn.id, calleeWorkerId: fn.workerId, caller })
    if (caller.kind === 'worker') {
      this.unsavedNew.add(id)
      this.host.schedulePersist()
    }
    callee.send({ ...forwarded, invocation_id: id })
  }

  /** Writes the in-flight changes since the last write in one batch. */
  persistPending(): void {
    const fresh = [...this.unsavedNew].map((id) => this.pending.get(id)).filter((inv) => inv !== undefined)
    const done = [...this.unsavedDone].filter((id) => this.persisted.has(id))
    this.unsavedNew.clear()
    this.unsavedDone.clear()
    if (fresh.length) this.store.put(fresh)
    if (done.length) this.store.remove(done)
    for (const inv of fresh) this.persisted.add(inv.id)
    for (const id of done) this.persisted.delete(id)
  }

  /** Lists for the `engine::*::list` builtins, shaped as the iii engine v0.22 shapes them. */
  listFunctions() {
    return [...this.registry.functions.values()]
      .map(({ id, workerId, description, metadata, request_format, response_format }) => ({
        function_id: id,
        worker_id: workerId,
        worker_name: this.workerName(workerId),
        description,
        metadata,
        request_format,
        response_format,
      }))
      .sort((a, b) => a.function_id.localeCompare(b.function_id))
  }

  listWorkers() {
    const functions = [...this.registry.functions.values()]
    const invocations = [...this.pending.values()]
    return [...this.registry.workers.values()].map((w) => ({
      ...w.metadata,
      id: w.id,
      name: this.workerName(w.id),
      status: 'connected',
      connected_at_ms: w.connectedAt,
      function_count: functions.filter((f) => f.workerId === w.id).length,
      functions: functions.filter((f) => f.workerId === w.id).map((f) => f.id),
      active_invocations: invocations.filter((i) => i.calleeWorkerId === w.id).length,
    }))
  }

  /** Trigger types (`engine::triggers::list`): the built-in http type and the workers' own. */
  listTriggerTypes() {
    const custom = [...this.registry.triggerTypes.values()].map((t) => ({
      id: t.id,
      description: t.description,
      worker_name: this.workerName(t.workerId),
    }))
    return [{ id: 'http', description: 'HTTP requests on this origin', worker_name: 'engine' }, ...custom]
  }

  /** Triggers (`engine::registered-triggers::list`). */
  listTriggers() {
    return [...this.registry.triggers.values()].map((t) => ({
      id: t.id,
      trigger_type: t.trigger_type,
      function_id: t.function_id,
      worker_id: t.workerId,
      worker_name: this.workerName(t.workerId),
      config: t.config,
    }))
  }

  private workerName(workerId: string): string | undefined {
    const name = this.registry.workers.get(workerId)?.metadata?.name
    return typeof name === 'string' ? name : undefined
  }

  /**
   * Registers a trigger. As in the iii engine, only a failure is answered; a trigger of a type no
   * worker provides yet is kept and handed to the provider when it registers the type.
   */
  private registerTrigger(workerId: string, message: Extract<WorkerMessage, { type: 'registertrigger' }>): void {
    const entry: TriggerEntry = {
      id: message.id,
      workerId,
      trigger_type: message.trigger_type,
      function_id: message.function_id,
      config: message.config,
      metadata: message.metadata,
    }
    if (entry.trigger_type === 'http') {
      const problem = httpTriggerProblem(entry.config)
      if (problem) {
        return this.host.link(workerId)?.send({
          type: 'triggerregistrationresult',
          id: entry.id,
          trigger_type: entry.trigger_type,
          function_id: entry.function_id,
          error: { code: 'trigger_registration_failed', message: problem },
        })
      }
    }
    this.registry.put('trigger', entry)
    this.offerToProvider(entry)
  }

  /** The worker that owns a custom trigger type decides, answering with triggerregistrationresult. */
  private offerToProvider(trigger: TriggerEntry): void {
    const owner = this.registry.triggerTypes.get(trigger.trigger_type)
    if (owner) this.host.link(owner.workerId)?.send({ type: 'registertrigger', ...pick(trigger) })
  }

  private removeOwned(kind: 'function' | 'trigger_type', id: string, workerId: string): void {
    const entry = kind === 'function' ? this.registry.functions.get(id) : this.registry.triggerTypes.get(id)
    if (entry?.workerId === workerId) this.registry.remove(kind, id)
  }

  private complete(inv: PendingInvocation, outcome: Outcome): void {
    this.forget(inv.id)
    this.deliver(inv.caller, inv.functionId, outcome, inv)
  }

  private forget(id: string): void {
    if (!this.pending.delete(id)) return
    this.unsavedNew.delete(id)
    if (this.persisted.has(id)) {
      this.unsavedDone.add(id)
      this.host.schedulePersist()
    }
  }

  private deliver(caller: Caller, functionId: string, outcome: Outcome, trace?: PendingInvocation): void {
    if (caller.kind === 'local') return caller.settle(outcome)
    this.host.link(caller.workerId)?.send({
      type: 'invocationresult',
      invocation_id: caller.invocationId,
      function_id: functionId,
      ...outcome,
      ...(trace?.traceparent ? { traceparent: trace.traceparent } : {}),
      ...(trace?.baggage ? { baggage: trace.baggage } : {}),
    })
  }
}


function pick(t: TriggerEntry) {
  return { id: t.id, trigger_type: t.trigger_type, function_id: t.function_id, config: t.config, metadata: t.metadata }
}

const encoder = new TextEncoder()

/** Constant-time comparison of two reattach tokens (same length required). */
function sameToken(a: string, b: string): boolean {
  const x = encoder.encode(a)
  const y = encoder.encode(b)
  return x.byteLength === y.byteLength && x.byteLength > 0 && crypto.subtle.timingSafeEqual(x, y)
}
