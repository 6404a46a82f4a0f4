// Which function serves an HTTP request, from the registry views cached in this isolate: no call to
// a registry on a warm request. The default namespace serves `/<api_path>`; a namespace `ns`
// serves `/ns/<api_path>` (its name must be in the default registry's directory), and wins when
// both match. A miss refreshes the views before anyone answers 404.

import { DEPARTED_ROUTE_MS } from '../engine/registry'
import type { RegistryView, ViewCache } from '../engine/view'
import { DEFAULT_NAMESPACE } from '../protocol/namespace'
import { type RouteMatch, matchRoute } from './routes'

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

/** Resolves `method path` against the cached views of the default namespace and of its first segment. */
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
  const liveMatch = ({ defaults, namespace, scoped }: Awaited<ReturnType<typeof lookIn>>): Resolution | null => {
    const inScope = scoped && matchRoute(scoped.routes, method, rest)
    if (inScope) return { kind: 'route', namespace: namespace!, view: scoped, match: inScope as RouteMatch & { worker: string } }
    const inDefault = matchRoute(defaults.routes, method, pathname)
    if (inDefault) return { kind: 'route', namespace: DEFAULT_NAMESPACE, view: defaults, match: inDefault as RouteMatch & { worker: string } }
    return null
  }

  let views_ = await lookIn(options.fresh ?? false)
  let found = liveMatch(views_)
  if (!found && !options.fresh) {
    views_ = await lookIn(true)
    found = liveMatch(views_)
  }
  if (found) return found
  const now = options.now()
  const departed = (view: RegistryView | null, path: string) =>
    view && matchRoute(
      view.departed.filter((d) => d.leftAt + DEPARTED_ROUTE_MS > now).map((d) => d.route),
      method,
      path,
    )
  if (departed(views_.scoped, rest) ?? departed(views_.defaults, pathname)) return { kind: 'departed', retryAfterS: RETRY_AFTER_S }
  return { kind: 'none' }
}
