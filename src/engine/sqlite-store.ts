// SQLite layouts of the engine's objects.
//
// RegistryObject (one per namespace):
//   registry(kind, id, body JSON)  workers, functions, triggers, trigger types, departed routes and
//                                  (default namespace) the namespace directory; written on
//                                  registration and departure only, never per invocation
//   meta(key, value)               'version', 'route_version' (caches compare them, so they must
//                                  only grow, across evictions and deploys), 'signing_secret'
//
// SessionObject (one per connected worker):
//   session(id = 1, body JSON)     namespace, worker id, reattach token digest, connected at, state
//   owned(id)                      functions this worker serves (the session is their authority)
//   http_function(id, body JSON)   of those, the HTTP-invoked ones: validated url, method, timeout,
//                                  headers, auth secret *names* (values are read from env per call)
//   inflight(id, side, body JSON)  invocations in flight for longer than PERSIST_DELAY_MS: 'callee'
//                                  (our worker serves it; where its result goes) and 'caller' (our
//                                  worker waits for it; errored on a reattach after a reset)

import type { Kind, RegistryStore, Saved } from './registry'

export const REGISTRY_SCHEMA = `
  CREATE TABLE IF NOT EXISTS registry (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id));
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`

export class SqliteRegistryStore implements RegistryStore {
  constructor(private readonly sql: SqlStorage) {}

  load(): Saved {
    const all: Saved = { worker: [], function: [], trigger: [], trigger_type: [], departed: [], namespace: [], version: 0, routeVersion: 0 }
    for (const row of this.sql.exec<{ kind: Kind; body: string }>('SELECT kind, body FROM registry')) {
      ;(all[row.kind] as unknown[]).push(JSON.parse(row.body))
    }
    all.version = Number(this.meta('version') ?? 0)
    all.routeVersion = Number(this.meta('route_version') ?? 0)
    return all
  }

  put(kind: Kind, entry: { id: string }): void {
    this.sql.exec('INSERT OR REPLACE INTO registry (kind, id, body) VALUES (?, ?, ?)', kind, entry.id, JSON.stringify(entry))
  }

  remove(kind: Kind, id: string): void {
    this.sql.exec('DELETE FROM registry WHERE kind = ? AND id = ?', kind, id)
  }

  saveVersions(version: number, routeVersion: number): void {
    this.setMeta('version', String(version))
    this.setMeta('route_version', String(routeVersion))
  }

  meta(key: string): string | undefined {
    return this.sql.exec<{ value: string }>('SELECT value FROM meta WHERE key = ?', key).toArray()[0]?.value
  }

  setMeta(key: string, value: string): void {
    this.sql.exec('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', key, value)
  }
}

export const SESSION_SCHEMA = `
  CREATE TABLE IF NOT EXISTS session (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS owned (id TEXT PRIMARY KEY);
  CREATE TABLE IF NOT EXISTS http_function (id TEXT PRIMARY KEY, body TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS inflight (id TEXT NOT NULL, side TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (side, id));
`
