// Main-socket messages (docs/protocol.md), parsed once at the edge into typed values. Field names are
// the SDK's own (node_modules/iii-sdk/dist/index.mjs); unknown extra fields are ignored, as the
// SDK sends some (`message_type`).

export interface ErrorBody {
  code: string
  message: string
  stacktrace?: string
}

export interface RegisterFunction {
  type: 'registerfunction'
  id: string
  description?: string
  request_format?: unknown
  response_format?: unknown
  metadata?: unknown
  /**
   * Set when the function is HTTP-invoked: `{url, method, timeout_ms, headers, auth}`, validated by
   * the session that receives it (engine/http-function.ts); the registry gets only `true`.
   */
  invocation?: unknown
}

export interface UnregisterFunction {
  type: 'unregisterfunction'
  id: string
}

export interface RegisterTrigger {
  type: 'registertrigger'
  id: string
  trigger_type: string
  function_id: string
  config: unknown
  metadata?: unknown
}

export interface UnregisterTrigger {
  type: 'unregistertrigger'
  id: string
  trigger_type?: string
}

export interface RegisterTriggerType {
  type: 'registertriggertype'
  id: string
  description?: string
}

export interface UnregisterTriggerType {
  type: 'unregistertriggertype'
  id: string
}

export interface InvokeFunction {
  type: 'invokefunction'
  invocation_id?: string
  function_id: string
  data?: unknown
  action?: { type: string; [key: string]: unknown }
  traceparent?: string
  baggage?: string
  metadata?: unknown
  /**
   * How long the caller waits (ms). Not part of the iii engine's message, and the SDK does not send
   * its own `timeoutMs`: absent, the engine's default applies (session.ts, `III_INVOCATION_TIMEOUT_MS`).
   */
  timeout_ms?: number
}

export interface InvocationResult {
  type: 'invocationresult'
  invocation_id: string
  function_id?: string
  result?: unknown
  error?: ErrorBody
  traceparent?: string
  baggage?: string
}

export interface TriggerRegistrationResult {
  type: 'triggerregistrationresult'
  id: string
  trigger_type?: string
  function_id?: string
  error?: ErrorBody
}

export interface Reattach {
  type: 'reattach'
  previous_worker_id: string
  reattach_token?: string
}

/** The SDK's application-level keepalive (`{"type":"ping"}` is answered with `{"type":"pong"}`). */
export interface Ping {
  type: 'ping' | 'pong'
}

export type WorkerMessage =
  | Ping
  | RegisterFunction
  | UnregisterFunction
  | RegisterTrigger
  | UnregisterTrigger
  | RegisterTriggerType
  | UnregisterTriggerType
  | InvokeFunction
  | InvocationResult
  | TriggerRegistrationResult
  | Reattach

export type ParsedMessage = { ok: true; message: WorkerMessage } | { ok: false; reason: string; invocationId?: string }

type Fields = Record<string, unknown>
type Check = (value: unknown) => boolean

const str: Check = (v) => typeof v === 'string' && v.length > 0 && v.length <= 1024
const optStr: Check = (v) => v === undefined || v === null || typeof v === 'string'
const any: Check = () => true
const optErr: Check = (v) =>
  v === undefined || v === null || (typeof v === 'object' && typeof (v as Fields).code === 'string' && typeof (v as Fields).message === 'string')
const optMs: Check = (v) => v === undefined || v === null || (typeof v === 'number' && Number.isFinite(v) && v > 0)
const optAction: Check = (v) => v === undefined || v === null || (typeof v === 'object' && typeof (v as Fields).type === 'string')

/** Required and optional fields per message type; anything else in a message is ignored. */
const SHAPES: Record<WorkerMessage['type'], Record<string, Check>> = {
  registerfunction: { id: str, description: optStr },
  unregisterfunction: { id: str },
  registertrigger: { id: str, trigger_type: str, function_id: str, config: any },
  unregistertrigger: { id: str, trigger_type: optStr },
  registertriggertype: { id: str, description: optStr },
  unregistertriggertype: { id: str },
  invokefunction: { function_id: str, invocation_id: optStr, action: optAction, traceparent: optStr, baggage: optStr, timeout_ms: optMs },
  invocationresult: { invocation_id: str, function_id: optStr, error: optErr },
  triggerregistrationresult: { id: str, trigger_type: optStr, function_id: optStr, error: optErr },
  reattach: { previous_worker_id: str, reattach_token: optStr },
  ping: {},
  pong: {},
}

/** Parses one text frame from a worker. Errors name what was wrong, for the reply or the log. */
export function parseWorkerMessage(text: string): ParsedMessage {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'message is not valid JSON' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'message must be a JSON object with a "type" field' }
  }
  const fields = value as Fields
  const invocationId = typeof fields.invocation_id === 'string' ? fields.invocation_id : undefined
  const type = fields.type
  if (typeof type !== 'string' || !Object.hasOwn(SHAPES, type)) {
    return { ok: false, reason: `unknown message type ${JSON.stringify(type)}`.slice(0, 200), invocationId }
  }
  for (const [name, check] of Object.entries(SHAPES[type as WorkerMessage['type']])) {
    if (!check(fields[name])) return { ok: false, reason: `${type}: missing or invalid field "${name}"`, invocationId }
  }
  return { ok: true, message: fields as unknown as WorkerMessage }
}

// engine → worker

export interface WorkerRegistered {
  type: 'workerregistered'
  worker_id: string
  reattach_token?: string
}

export type EngineMessage =
  | WorkerRegistered
  | Ping
  | Omit<InvokeFunction, 'action'>
  | InvocationResult
  | TriggerRegistrationResult
  | RegisterTrigger
  | UnregisterTrigger
