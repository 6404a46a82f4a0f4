// `${VAR}` / `${VAR:default}` in configuration values, as the engine's configuration worker expands
// them (docs/data-modules.md, "Configuration"), and which Worker vars and secrets a namespace may
// expand at all: the same rule as HTTP-invoked functions' auth. Pure: the env is a lookup.

import { DEFAULT_NAMESPACE } from '../protocol/namespace'
import { type Grants, NAMESPACE_SECRETS_VAR, parseGrants } from '../protocol/namespace-grants'
import { version } from '../../package.json'

/** A var's text, or undefined when it is unset or this namespace may not read it. */
export type EnvRead = (name: string) => string | undefined

/** The engine's sentinel default: `${X:__III_ENGINE_VERSION__}` is the running version (here, this project's). */
export const ENGINE_VERSION_DEFAULT = '__III_ENGINE_VERSION__'
export const ENGINE_VERSION: string = version

/** The engine's grammar (the same as its config file's and console's): a name without `}` or `:`, then an optional default. */
const PLACEHOLDER = /\$\{([^}:]+)(?::([^}]*))?\}/g
/** A value that is one placeholder and nothing else: only these are read back as a number, boolean or null. */
const LONE_PLACEHOLDER = /^\s*\$\{[^}]*\}\s*$/

/**
 * The env as `namespace`'s configuration values may see it. `III_*` names (this engine's own
 * secrets: the engine token, the signing secret) never expand; the default namespace may expand
 * any other var or secret; another namespace only the names III_NAMESPACE_SECRETS grants it. A
 * refused name reads as unset (so its default applies), decided before the env is read, so a
 * namespace cannot learn which secrets exist. Only text counts: a binding (an object's namespace,
 * a KV) or a JSON var is unset.
 */
export function configurationEnv(namespace: string, env: (name: string) => unknown, log: (message: string) => void = () => {}): EnvRead {
  let seen: { raw: unknown; grants: Grants } | null = null
  const granted = (name: string): boolean => {
    if (namespace === DEFAULT_NAMESPACE) return true
    const raw = env(NAMESPACE_SECRETS_VAR)
    if (!seen || seen.raw !== raw) {
      seen = { raw, grants: parseGrants(raw) }
      if (!seen.grants.ok) log(`${seen.grants.problem}; until it is fixed, configuration values of namespace ${namespace} expand no var`)
    }
    return seen.grants.ok && (seen.grants.grants.get(namespace)?.has(name) ?? false)
  }
  return (name) => {
    if (name.toUpperCase().startsWith('III_') || !granted(name)) return undefined
    const value = env(name)
    return typeof value === 'string' ? value : undefined
  }
}

/** A value with its placeholders expanded, and the names that had neither a value nor a default (in order, repeats kept, as the engine lists them). */
export interface Expanded {
  value: unknown
  missing: string[]
}

/**
 * Expands every string in `value` (through arrays and objects; other values pass as they are). A
 * name with no value and no default stays literal `${NAME}` and is listed in `missing`.
 */
export function expandValue(value: unknown, env: EnvRead): Expanded {
  const missing: string[] = []
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return expandString(v, env, missing)
    if (Array.isArray(v)) return v.map(walk)
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
    return v
  }
  return { value: walk(value), missing }
}

function expandString(text: string, env: EnvRead, missing: string[]): unknown {
  const substituted = text.replace(PLACEHOLDER, (whole, name: string, fallback: string | undefined) => {
    const value = env(name)
    if (value !== undefined) return value
    if (fallback === ENGINE_VERSION_DEFAULT) return ENGINE_VERSION
    if (fallback !== undefined) return fallback
    missing.push(name)
    return whole
  })
  if (!LONE_PLACEHOLDER.test(text)) return substituted
  const trimmed = substituted.trim()
  // `${X:}` stays "" (YAML would read an empty scalar as null).
  return trimmed === '' ? substituted : yamlScalar(trimmed)
}

/** Decimal integers: a leading zero followed by more digits is text in YAML 1.2 (`007`). */
const DECIMAL = /^[+-]?\d+$/
/** Hexadecimal, octal and binary integers, with the prefixes (lower case) BigInt reads too. */
const RADIX = /^([+-]?)(0x[0-9a-fA-F]+|0o[0-7]+|0b[01]+)$/
/** Rust's f64 grammar (what the engine's YAML reader parses a float with); `1e999` is not finite, so text. */
const FLOAT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/
/** YAML's infinities and NaN: floats JSON cannot hold, so the engine's JSON value is null. */
const NOT_FINITE = /^([+-]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$/
const U64_MAX = 18446744073709551615n
const I64_MIN = -9223372036854775808n

/**
 * The engine re-reads a lone placeholder's text as YAML (serde_yaml, the YAML 1.2 core schema) and
 * keeps what JSON can hold: `null` `Null` `NULL` `~` (and `.inf`, `.nan`, which JSON cannot hold)
 * → null; `true`/`True`/`TRUE` (and false) → booleans; integers (decimal, `0x`, `0o`, `0b`,
 * within 64 bits; wider ones stay text) and finite floats → numbers.
 * `on`, `yes`, `007`, `localhost` stay text. Here only single scalars are read: text YAML would
 * read as a list, a map, a quoted or tagged scalar or with a comment stays text as it is.
 */
export function yamlScalar(text: string): unknown {
  if (text === 'null' || text === 'Null' || text === 'NULL' || text === '~' || NOT_FINITE.test(text)) return null
  if (text === 'true' || text === 'True' || text === 'TRUE') return true
  if (text === 'false' || text === 'False' || text === 'FALSE') return false
  const unsigned = text.replace(/^[+-]/, '')
  const leadingZero = unsigned.length > 1 && unsigned.startsWith('0') && /^\d+$/.test(unsigned)
  if (DECIMAL.test(text)) return leadingZero ? text : integer(BigInt(text.replace(/^\+/, '')), text)
  const radix = RADIX.exec(text)
  if (radix) return integer((radix[1] === '-' ? -1n : 1n) * BigInt(radix[2]!), text)
  if (!leadingZero && FLOAT.test(text)) {
    const n = Number(text)
    if (Number.isFinite(n)) return n
  }
  return text
}

/** An integer the engine's JSON can hold (u64 or i64), else the text stays (serde_json refuses wider ones). */
function integer(n: bigint, text: string): number | string {
  if (n > U64_MAX || n < I64_MIN) return text
  // -0 is an integer 0 to the engine.
  return Number(n) || 0
}
