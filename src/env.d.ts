// Secrets are not in wrangler.toml, so `wrangler types` cannot see them; declared here, merged into
// the generated Env (worker-configuration.d.ts).
interface Env {
  /**
   * Engine token (`wrangler secret put III_ENGINE_TOKEN`). Without it the engine serves only
   * loopback hosts (src/http/guard.ts).
   */
  III_ENGINE_TOKEN?: string
  /** "true" opens an engine without a token to anyone (dangerous; `--var III_ALLOW_OPEN:true`). */
  III_ALLOW_OPEN?: string
  /** Signing secret for channel keys (`wrangler secret put III_SIGNING_SECRET`); generated once when absent. */
  III_SIGNING_SECRET?: string
  /**
   * Which secrets the HTTP functions of each namespace may name, as JSON: `{"team-a": ["BILLING_TOKEN"]}`
   * (src/engine/namespace-secrets.ts). The default namespace may name any secret; another namespace
   * only those listed for it (none when absent). Not of that shape: no namespace but the default may
   * name any.
   */
  III_NAMESPACE_SECRETS?: string
  /**
   * How long a caller waits for an invocation that names no `timeout_ms` (ms; default 30,000, the
   * SDK's own default, which it does not send): then it is answered `timeout` (engine/session.ts).
   */
  III_INVOCATION_TIMEOUT_MS?: string
  /**
   * How long an HTTP trigger's request waits for its function's result or the start of its
   * streamed response (ms; default 30,000, the engine's `default_timeout`): then 504, and the
   * invocation is dropped (src/http/bridge.ts). A response that has started streams as long as it lasts.
   */
  III_HTTP_TIMEOUT_MS?: string
  /**
   * Bounds per connected worker (src/engine/limits.ts), positive integers; past one a registration
   * is refused (a trigger is answered `limit_exceeded`, a function or trigger type only logged) and
   * an invocation answered `too_many_invocations`. Defaults: 1,000 functions, 1,000 triggers of
   * which 500 http triggers, 100 trigger types, 5,000 invocations in flight. Raise with `--var NAME:<n>`.
   */
  III_MAX_FUNCTIONS_PER_WORKER?: string
  III_MAX_TRIGGERS_PER_WORKER?: string
  III_MAX_HTTP_ROUTES_PER_WORKER?: string
  III_MAX_TRIGGER_TYPES_PER_WORKER?: string
  III_MAX_INVOCATIONS_PER_WORKER?: string
  /**
   * CORS on HTTP triggers (src/http/cors.ts), comma-separated: the origins whose pages may read
   * trigger responses (`https://app.example, http://localhost:5173`; empty or `*`: any) and the
   * methods they may use (`GET, POST`; empty or `*`: any). Neither set: any origin, any method.
   */
  III_HTTP_CORS_ORIGINS?: string
  III_HTTP_CORS_METHODS?: string
  /** How long a caller's session keeps an unused link to another session (ms; default 10 s). */
  III_LINK_IDLE_MS?: string
  /**
   * The engine stream worker's `auth_function`: a function (in the socket's namespace) run at each
   * subscriber's handshake; its answer's `context` rides in that socket's join and leave events.
   */
  STREAM_AUTH_FUNCTION?: string
  /**
   * An OpenTelemetry collector (OTLP/HTTP, JSON bodies): logs, spans and metrics go to
   * `<endpoint>/v1/logs|traces|metrics` (src/observability/exporter.ts). Unset: spans and metrics
   * are dropped; logs still reach the Worker's log, the page and `log` triggers.
   */
  III_OTLP_ENDPOINT?: string
  /** The collector's headers (a secret: `wrangler secret put III_OTLP_HEADERS`), `name=value,name2=value2`, percent-encoded. */
  III_OTLP_HEADERS?: string
  /**
   * Worker endpoints (docs/rbac.md): a JSON list (or a list in `wrangler.toml`) of `{path, namespace?,
   * middleware_function_id?, rbac?}`, each another door to the engine socket whose connections an
   * auth function of yours admits, with rights of their own (the iii engine's worker ports with `rbac`).
   */
  III_WORKER_ENDPOINTS?: string | unknown[]
  /** Set (any value) by the bench: channels tell their status object how many events they handled (S1). */
  III_COUNTERS?: string
}
