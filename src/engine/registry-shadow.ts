// Where the default namespace's HTTP routes meet a namespace's. The default namespace serves
// `/<api_path>`, a namespace `ns` serves `/ns/<api_path>`, and a default route always wins
// (http/router.ts): a namespace's route that a default route would serve is refused at
// registration, and one a later default route overlaps is shadowed from then on. Pure.

import { type HttpRoute, compileRoute, matchRoute } from './routes'
import { asObject } from '../protocol/json'

/**
 * The default route that would serve every request of namespace `namespace`'s http trigger
 * `config`, or null: its path under the namespace, matched as a request path (`:id` stays a
 * literal, so only a default `:param` or the same literal covers it; HEAD falls back to GET).
 */
export function servedByDefault(defaults: readonly HttpRoute[], namespace: string, config: unknown): HttpRoute | null {
  const route = compileRoute({ id: '', function_id: '', config })
  const match = matchRoute(defaults, route.method, `/${namespace}${route.apiPath}`)
  return match && (defaults.find((r) => r.triggerId === match.trigger_id) ?? null)
}

/** What the registrant of a namespace route refused by servedByDefault is told. */
export function shadowRefusal(namespace: string, config: unknown, by: HttpRoute): string {
  const route = compileRoute({ id: '', function_id: '', config })
  return (
    `Route '${route.method} ${String(asObject(config).api_path)}' in namespace '${namespace}' would be served at ` +
    `'/${namespace}${route.apiPath}', which the default namespace's route '${by.method} ${by.apiPath}' already serves ` +
    `(a default-namespace route always wins): choose another api_path, or another namespace`
  )
}

/** Namespaces of the directory a default route could reach into: the one its first segment names, or all of them for a `:param`. */
export function namespacesReached(routes: readonly HttpRoute[], directory: Iterable<string>): Map<string, HttpRoute[]> {
  const names = [...directory]
  const known = new Set(names)
  const reached = new Map<string, HttpRoute[]>()
  const add = (namespace: string, route: HttpRoute) => {
    let list = reached.get(namespace)
    if (!list) reached.set(namespace, (list = []))
    list.push(route)
  }
  for (const route of routes) {
    const first = route.segments[0]
    if (first === undefined) continue
    if (first.startsWith(':')) for (const name of names) add(name, route)
    else if (known.has(first)) add(first, route)
  }
  return reached
}

/** A namespace route some default route now takes requests from: all of them, or those of one path (`only`). */
export interface Shadowed {
  ours: HttpRoute
  by: HttpRoute
  /** Set when the default route takes only some of our requests: `GET /adm/users/me` of `users/:id`. */
  only?: string
}

/**
 * Routes of namespace `namespace` (`ours`, api paths without the prefix) that one of `defaults`
 * takes requests from: some request path matches both, with methods that meet (the same, or GET
 * and HEAD, since a HEAD request falls back to a GET route).
 */
export function shadowedRoutes(namespace: string, defaults: readonly HttpRoute[], ours: readonly HttpRoute[]): Shadowed[] {
  const out: Shadowed[] = []
  for (const route of ours) {
    const segments = [namespace, ...route.segments]
    for (const by of defaults) {
      if (!methodsMeet(by.method, route.method) || by.segments.length !== segments.length) continue
      // The requests both match: our segment where theirs is a :param, theirs elsewhere.
      const path: string[] = []
      let overlap = true
      by.segments.forEach((theirs, i) => {
        const mine = segments[i]!
        if (theirs.startsWith(':')) path.push(mine)
        else if (mine === theirs || mine.startsWith(':')) path.push(theirs)
        else overlap = false
      })
      if (!overlap) continue
      if (matchRoute([by], route.method, `/${segments.join('/')}`)) out.push({ ours: route, by })
      else out.push({ ours: route, by, only: `${by.method === 'HEAD' ? 'HEAD' : route.method} /${path.join('/')}` })
    }
  }
  return out
}

const methodsMeet = (a: string, b: string) => a === b || ((a === 'GET' || a === 'HEAD') && (b === 'GET' || b === 'HEAD'))

/** What the namespace's registry logs for a route a default route now shadows. */
export function shadowWarning(namespace: string, s: Shadowed): string {
  const at = `/${namespace}${s.ours.apiPath}`
  const which = s.only ? `${s.only} (of ${s.ours.method} ${at})` : `${s.ours.method} ${at}`
  return (
    `route '${s.ours.method} ${s.ours.apiPath}' (trigger ${s.ours.triggerId}) is shadowed by the default namespace's route ` +
    `'${s.by.method} ${s.by.apiPath}': from now on ${which} is served by the default namespace's function ${s.by.functionId} ` +
    `(a default-namespace route always wins); give this route another api_path, or move it to another namespace`
  )
}
