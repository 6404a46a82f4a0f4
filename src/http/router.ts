// Which function serves an HTTP request, from the registry views cached in this isolate: no call to
// a registry on a warm request. The default namespace serves `/<api_path>`; a namespace `ns`
// serves `/ns/<api_path>` (its name must be in the default registry's directory). A default route
// always wins: a namespace gets a request only when no default route, live or just departed,
// matches its path, so no namespace can take requests addressed to a default route (its headers,
// its cookies); a namespace view newer than our default view (`defaultVersion`) makes us look at
// the default namespace again first. A miss refreshes the views before anyone answers 404.

import type { RegistryView, ViewCache } from '../engine/view'
import { recentlyDeparted } from '../engine/view'
import { DEFAULT_NAMESPACE } from '../protocol/namespace'
import { type RouteMatch, matchRoute } from '../engine/routes'

/** What a 503 suggests: the SDK reconnects about 1 s after its socket closed and registers again at once. */
export const RETRY_AFTER_S = 2

export type Resolution =
  | { kind: 'route'; namespace: string; view: RegistryView; match: RouteMatch & { worker: string } }
  /** A route whose worker left lately (a deploy, a reconnect): 503 with Retry-After. */
  | { kind: 'departed'; retryAfterS: number }
  | { kind: 'none' }

export interface ResolveOptions {
  /** Skip the cached views (the session said ours were out of date). */
  fresh?: boolean
  now: () => number
}

const DEPARTED: Resolution = { kind: 'departed', retryAfterS: RETRY_AFTER_S }

/**
 * Resolves `method path` against the cached views of the default namespace and of its first
 * segment, in this order: a live default route, a default route whose worker just left (503: it is
 * likely back soon, and its requests are not the namespace's meanwhile), a live route of the
 * namespace, a namespace route whose worker just left. Anything but a live route is looked up
 * again in fresh views first.
 */
export async function resolveHttp(views: (namespace: string) => ViewCache, method: string, pathname: string, options: ResolveOptions): Promise<Resolution> {
  const arrival = options.now()
  const segments = pathname.split('/').filter((s) => s !== '')
  const first = segments[0] ?? ''
  const rest = `/${segments.slice(1).join('/')}`
  const load = (cache: ViewCache, fresh: boolean) => (fresh ? cache.fresher(arrival) : cache.current())

  const lookIn = async (fresh: boolean) => {
    const defaults = await load(views(DEFAULT_NAMESPACE), fresh)
    const namespace = first && defaults.namespaces.has(first) ? first : null
    const scoped = namespace ? await load(views(namespace), fresh) : null
    return { defaults, namespace, scoped }
  }
  const departed = (view: RegistryView | null, path: string) => view !== null && matchRoute(recentlyDeparted(view, options.now()), method, path) !== null
  const decide = ({ defaults, namespace, scoped }: Awaited<ReturnType<typeof lookIn>>): Resolution | null => {
    const inDefault = matchRoute(defaults.routes, method, pathname)
    if (inDefault) return { kind: 'route', namespace: DEFAULT_NAMESPACE, view: defaults, match: inDefault as RouteMatch & { worker: string } }
    if (departed(defaults, pathname)) return DEPARTED
    const inScope = scoped && matchRoute(scoped.routes, method, rest)
    if (inScope) return { kind: 'route', namespace: namespace!, view: scoped, match: inScope as RouteMatch & { worker: string } }
    return null
  }

  let seen = await lookIn(options.fresh ?? false)
  let found = decide(seen)
  // A cached departure may be over (its worker registered again) and a miss may be a new route.
  if (found?.kind !== 'route' && !options.fresh) {
    seen = await lookIn(true)
    found = decide(seen)
  }
  // The namespace's registry checked its routes against a newer default view than ours (a route
  // there may win now): a refresh started after we read that, so it holds that version or later.
  if (found?.kind === 'route' && found.namespace !== DEFAULT_NAMESPACE && found.view.defaultVersion > seen.defaults.version) {
    seen = { ...seen, defaults: await views(DEFAULT_NAMESPACE).fresher(options.now()) }
    found = decide(seen)
  }
  if (found) return found
  return departed(seen.scoped, rest) ? DEPARTED : { kind: 'none' }
}
