// The var III_NAMESPACE_SECRETS: which Worker secrets and vars each namespace other than the default
// may use, as JSON `{"team-a": ["BILLING_TOKEN"], ...}`. Two layers read it (HTTP-invoked functions'
// auth in engine/namespace-secrets.ts, `${VAR}` expansion in data/configuration-env.ts), so it
// lives here, below both. A var that is not of that shape grants nothing (it fails closed).

export const NAMESPACE_SECRETS_VAR = 'III_NAMESPACE_SECRETS'

export const GRANTS_SHAPE = `{"<namespace>": ["SECRET_NAME", ...]}`

/** The names granted to each namespace, or why the var cannot be read. */
export type Grants = { ok: true; grants: ReadonlyMap<string, ReadonlySet<string>> } | { ok: false; problem: string }

/** Reads III_NAMESPACE_SECRETS; absent means no namespace but the default may name a secret. */
export function parseGrants(raw: unknown): Grants {
  if (raw === undefined || raw === null) return { ok: true, grants: new Map() }
  const bad = (why: string): Grants => ({ ok: false, problem: `${NAMESPACE_SECRETS_VAR} is not valid JSON of the shape ${GRANTS_SHAPE}: ${why}` })
  if (typeof raw !== 'string') return bad('it is a binding, not a text var')
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch (err) {
    return bad(err instanceof Error ? err.message : String(err))
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return bad('the top level must be an object of namespace to list of names')
  const grants = new Map<string, ReadonlySet<string>>()
  for (const [namespace, names] of Object.entries(parsed)) {
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) return bad(`${JSON.stringify(namespace)} must map to a list of secret names`)
    grants.set(namespace, new Set(names))
  }
  return { ok: true, grants }
}
