// SQLite layout of the EngineObject. Tables:
//   registry(kind, id, body JSON)  workers, functions, triggers, trigger types; written on
//                                  (un)registration and disconnect only
//   pending(id, body JSON)         invocations waiting on a worker, written in batches per turn
//                                  and only for those still in flight then (see engine.ts)

import type { PendingInvocation, PendingStore } from './engine'
import type { Kind, RegistryStore } from './registry'

export const ENGINE_SCHEMA = `
  CREATE TABLE IF NOT EXISTS registry (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id));
  CREATE TABLE IF NOT EXISTS pending (id TEXT PRIMARY KEY, body TEXT NOT NULL);
`

export class SqliteRegistryStore implements RegistryStore {
  constructor(private readonly sql: SqlStorage) {}

  load() {
    const all = { worker: [], function: [], trigger: [], trigger_type: [] } as ReturnType<RegistryStore['load']>
    for (const row of this.sql.exec<{ kind: Kind; body: string }>('SELECT kind, body FROM registry')) {
      ;(all[row.kind] as unknown[]).push(JSON.parse(row.body))
    }
    return all
  }

  put(kind: Kind, entry: { id: string }): void {
    this.sql.exec('INSERT OR REPLACE INTO registry (kind, id, body) VALUES (?, ?, ?)', kind, entry.id, JSON.stringify(entry))
  }

  remove(kind: Kind, id: string): void {
    this.sql.exec('DELETE FROM registry WHERE kind = ? AND id = ?', kind, id)
  }
}

export class SqlitePendingStore implements PendingStore {
  constructor(private readonly sql: SqlStorage) {}

  load(): PendingInvocation[] {
    return this.sql.exec<{ body: string }>('SELECT body FROM pending').toArray().map((row) => JSON.parse(row.body))
  }

  put(invocations: PendingInvocation[]): void {
    for (const inv of invocations) {
      if (inv.caller.kind !== 'worker') continue // a local caller cannot outlive the object
      this.sql.exec('INSERT OR REPLACE INTO pending (id, body) VALUES (?, ?)', inv.id, JSON.stringify(inv))
    }
  }

  remove(ids: string[]): void {
    for (const id of ids) this.sql.exec('DELETE FROM pending WHERE id = ?', id)
  }
}
