// Which Worker secrets the HTTP functions of a namespace may name (docs/http-functions.md, "Secrets
// of a namespace"). Secrets are set for the whole deployment, but its namespaces may be different
// teams: without this, a worker that joined ws://host/team-a could register a function whose auth
// names another team's secret, with its own URL, and receive that secret at its server.
//
// The var III_NAMESPACE_SECRETS grants names: {"team-a": ["BILLING_TOKEN"], ...}. The default
// namespace may name any secret (as before namespaces were told apart); any other namespace only
// the names granted to it. A var that is not of that shape grants nothing (it fails closed). Its
// own name starts with III_, so it can never itself be sent (http-function.ts refuses III_*).

import { DEFAULT_NAMESPACE } from '../protocol/namespace'
import { GRANTS_SHAPE as SHAPE, type Grants, NAMESPACE_SECRETS_VAR, parseGrants } from '../protocol/namespace-grants'
import type { EnvLookup, SecretLookup } from './http-function'

// The var's parsing is shared with the data modules' `${VAR}` expansion (protocol/namespace-grants.ts).
export { type Grants, NAMESPACE_SECRETS_VAR, parseGrants }

/**
 * The secrets `namespace`'s HTTP functions may name, read from `env`. A refusal is decided before
 * the env is read, so a namespace cannot learn which secrets exist. A var that cannot be read is
 * logged once per value (it refuses every call until fixed, so each would say it again).
 */
export function namespaceSecrets(namespace: string, env: EnvLookup, log: (message: string) => void): SecretLookup {
  if (namespace === DEFAULT_NAMESPACE) return (name) => ({ value: env(name) })
  let seen: { raw: unknown; grants: Grants } | null = null
  return (name) => {
    const raw = env(NAMESPACE_SECRETS_VAR)
    if (!seen || seen.raw !== raw) {
      seen = { raw, grants: parseGrants(raw) }
      if (!seen.grants.ok) log(`${seen.grants.problem}; until it is fixed, HTTP functions of namespace ${namespace} may use no secret`)
    }
    const { grants } = seen
    if (!grants.ok) return { refused: `namespace ${namespace} may not use this secret: ${NAMESPACE_SECRETS_VAR} is not valid JSON of the shape ${SHAPE}; fix it` }
    if (!grants.grants.get(namespace)?.has(name)) return { refused: `namespace ${namespace} may not use this secret: grant it in ${NAMESPACE_SECRETS_VAR}` }
    return { value: env(name) }
  }
}
