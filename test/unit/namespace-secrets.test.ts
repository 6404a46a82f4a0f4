// Which secrets a namespace's HTTP functions may name (III_NAMESPACE_SECRETS): the default namespace
// any, another only what it is granted, a var of the wrong shape nothing (fail closed).
import { describe, expect, it } from 'vitest'
import { resolveSecret } from '../../src/engine/http-function'
import { NAMESPACE_SECRETS_VAR, namespaceSecrets, parseGrants } from '../../src/engine/namespace-secrets'

const SHAPE_ERROR = 'III_NAMESPACE_SECRETS is not valid JSON of the shape {"<namespace>": ["SECRET_NAME", ...]}'

/** A namespace's lookup over an env, with what it logged and which names it read. */
function scoped(namespace: string, env: Record<string, unknown>) {
  const logs: string[] = []
  const read: string[] = []
  const lookup = namespaceSecrets(
    namespace,
    (name) => {
      read.push(name)
      return env[name]
    },
    (m) => logs.push(m),
  )
  return { lookup, logs, read }
}

const env = (grants: unknown) => ({
  BILLING_TOKEN: 'billing-secret',
  TEAM_A_TOKEN: 'a-secret',
  ...(grants === undefined ? {} : { [NAMESPACE_SECRETS_VAR]: typeof grants === 'string' ? grants : JSON.stringify(grants) }),
})

const bearer = (token_key: string) => ({ type: 'bearer' as const, token_key })

describe('III_NAMESPACE_SECRETS', () => {
  it('leaves the default namespace every secret, granted or not', () => {
    const { lookup } = scoped('', env({ 'team-a': ['TEAM_A_TOKEN'] }))
    expect(resolveSecret(bearer('BILLING_TOKEN'), lookup)).toEqual({ ok: true, value: 'billing-secret' })
    expect(resolveSecret(bearer('TEAM_A_TOKEN'), lookup)).toEqual({ ok: true, value: 'a-secret' })
  })

  it('gives another namespace only the names granted to it', () => {
    const { lookup } = scoped('team-a', env({ 'team-a': ['TEAM_A_TOKEN'], 'team-b': ['BILLING_TOKEN'] }))
    expect(resolveSecret(bearer('TEAM_A_TOKEN'), lookup)).toEqual({ ok: true, value: 'a-secret' })
    expect(resolveSecret(bearer('BILLING_TOKEN'), lookup)).toEqual({
      ok: false,
      error: { code: 'token_not_found', message: 'Token not found: BILLING_TOKEN (namespace team-a may not use this secret: grant it in III_NAMESPACE_SECRETS)' },
    })
  })

  it('gives a namespace nothing when the var is absent or does not list it', () => {
    for (const grants of [undefined, {}, { 'team-b': ['BILLING_TOKEN'] }, { 'Team-A': ['BILLING_TOKEN'] }]) {
      const { lookup } = scoped('team-a', env(grants))
      expect(resolveSecret({ type: 'hmac', secret_key: 'BILLING_TOKEN' }, lookup), JSON.stringify(grants)).toEqual({
        ok: false,
        error: { code: 'secret_not_found', message: 'Secret not found: BILLING_TOKEN (namespace team-a may not use this secret: grant it in III_NAMESPACE_SECRETS)' },
      })
    }
  })

  it('matches names exactly (env names are case-sensitive)', () => {
    const { lookup } = scoped('team-a', env({ 'team-a': ['billing_token'] }))
    expect(resolveSecret(bearer('BILLING_TOKEN'), lookup).ok).toBe(false)
  })

  it('refuses a name it was not granted before reading it, so a namespace cannot learn which secrets exist', () => {
    const { lookup, read } = scoped('team-a', env({ 'team-a': [] }))
    resolveSecret({ type: 'api_key', header: 'x-key', value_key: 'BILLING_TOKEN' }, lookup)
    expect(read).toEqual([NAMESPACE_SECRETS_VAR])
  })

  it('still refuses III_* names even when granted, and the var itself', () => {
    const { lookup } = scoped('team-a', env({ 'team-a': ['III_ENGINE_TOKEN', 'III_NAMESPACE_SECRETS'] }))
    for (const key of ['III_ENGINE_TOKEN', 'III_NAMESPACE_SECRETS']) {
      const r = resolveSecret(bearer(key), lookup)
      expect(!r.ok && r.error.message).toContain('names starting with III_')
    }
  })

  it('reports a granted name that is not set as missing, as for the default namespace', () => {
    const { lookup } = scoped('team-a', env({ 'team-a': ['NOT_SET'] }))
    expect(resolveSecret(bearer('NOT_SET'), lookup)).toEqual({ ok: false, error: { code: 'token_not_found', message: 'Token not found: NOT_SET' } })
  })

  it.each([
    ['not json', 'Unexpected token'],
    ['', 'Unexpected end'],
    ['["BILLING_TOKEN"]', 'the top level must be an object'],
    ['null', 'the top level must be an object'],
    ['{"team-a": "BILLING_TOKEN"}', '"team-a" must map to a list of secret names'],
    ['{"team-a": [1]}', '"team-a" must map to a list of secret names'],
  ])('fails closed on a malformed var, and logs it once: %j', (raw, detail) => {
    const { lookup, logs } = scoped('team-a', env(raw))
    for (let i = 0; i < 3; i++) {
      const r = resolveSecret(bearer('TEAM_A_TOKEN'), lookup)
      expect(r).toEqual({
        ok: false,
        error: { code: 'token_not_found', message: `Token not found: TEAM_A_TOKEN (namespace team-a may not use this secret: ${SHAPE_ERROR}; fix it)` },
      })
    }
    expect(logs).toEqual([expect.stringContaining(`${SHAPE_ERROR}: `)])
    expect(logs[0]).toContain(detail)
    expect(logs[0]).toContain('HTTP functions of namespace team-a may use no secret')
    // The default namespace does not read the var at all: its secrets work as before.
    expect(resolveSecret(bearer('TEAM_A_TOKEN'), scoped('', env(raw)).lookup)).toEqual({ ok: true, value: 'a-secret' })
  })

  it('reads the var again when it changes (a new deploy of the vars)', () => {
    const vars: Record<string, unknown> = env({ 'team-a': ['TEAM_A_TOKEN'] })
    const { lookup } = scoped('team-a', vars)
    expect(resolveSecret(bearer('TEAM_A_TOKEN'), lookup).ok).toBe(true)
    vars[NAMESPACE_SECRETS_VAR] = JSON.stringify({})
    expect(resolveSecret(bearer('TEAM_A_TOKEN'), lookup).ok).toBe(false)
  })

  it('parses the shape into sets of names per namespace', () => {
    const parsed = parseGrants('{"team-a": ["A", "B"], "team-b": []}')
    expect(parsed.ok && [...parsed.grants].map(([ns, names]) => [ns, [...names]])).toEqual([
      ['team-a', ['A', 'B']],
      ['team-b', []],
    ])
    expect(parseGrants(undefined)).toEqual({ ok: true, grants: new Map() })
    expect(parseGrants({ binding: true })).toEqual({ ok: false, problem: `${SHAPE_ERROR}: it is a binding, not a text var` })
  })
})
