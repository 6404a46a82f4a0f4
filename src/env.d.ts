// Secrets are not in wrangler.toml, so `wrangler types` cannot see them; declared here, merged into
// the generated Env (worker-configuration.d.ts).
interface Env {
  /** Optional engine token (`wrangler secret put III_ENGINE_TOKEN`). */
  III_ENGINE_TOKEN?: string
  /** Optional signing secret for channel keys (`wrangler secret put III_SIGNING_SECRET`). */
  III_SIGNING_SECRET?: string
}
