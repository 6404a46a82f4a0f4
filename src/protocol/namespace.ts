// Namespaces: the path of the engine address selects one. `ws://host/` is the default namespace,
// `ws://host/team-a` has its own registry, workers and functions (docs/architecture.md).

import { RESERVED_SEGMENTS } from '../paths'
import type { Parsed } from './refs'

/** The namespace of `ws://host/` (and of `POST /channels`, `/api/status` without `?namespace=`). */
export const DEFAULT_NAMESPACE = ''

/** One path segment: it also prefixes the namespace's HTTP triggers and rides in channel ids. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/

/** A namespace name from a path segment or a query value ('' is the default namespace). */
export function parseNamespace(name: string): Parsed<string> {
  if (name === DEFAULT_NAMESPACE) return { ok: true, value: DEFAULT_NAMESPACE }
  if (!NAME.test(name)) {
    return { ok: false, status: 400, message: 'a namespace is one path segment of letters, digits, "_" and "-" (at most 63)' }
  }
  if (RESERVED_SEGMENTS.has(name)) return { ok: false, status: 400, message: `"${name}" is a path of the engine itself, not a namespace` }
  return { ok: true, value: name }
}

/** The namespace an engine address names: `/` → default, `/team-a` (or `/team-a/`) → "team-a". */
export function namespaceOfEnginePath(pathname: string): Parsed<string> {
  const segments = pathname.split('/').filter((s) => s !== '')
  if (segments.length > 1) return { ok: false, status: 404, message: 'an engine address is ws://host/ or ws://host/<namespace>' }
  return parseNamespace(segments[0] ?? DEFAULT_NAMESPACE)
}

/** How a namespace is shown to people. */
export const namespaceLabel = (namespace: string): string => namespace || '(default)'
