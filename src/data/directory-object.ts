// DirectoryObject: one per namespace (`directory:<namespace>`), the list of state scopes and stream
// groups that hold something. `state::list_groups`, `stream::list_groups` and the page read it; a
// scope or group object writes here only when it becomes non-empty or empty, so an ordinary write
// costs the directory nothing, and listing never has to visit every data object.

import { DurableObject } from 'cloudflare:workers'

export class DirectoryObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS entry (kind TEXT NOT NULL, parent TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (kind, parent, name))')
  }

  add(kind: string, parent: string, name: string): void {
    this.ctx.storage.sql.exec('INSERT OR IGNORE INTO entry (kind, parent, name) VALUES (?, ?, ?)', kind, parent, name)
  }

  remove(kind: string, parent: string, name: string): void {
    this.ctx.storage.sql.exec('DELETE FROM entry WHERE kind = ? AND parent = ? AND name = ?', kind, parent, name)
  }

  /** Names under one parent (a stream's groups; '' for state scopes), sorted. */
  names(kind: string, parent: string): string[] {
    return this.ctx.storage.sql.exec<{ name: string }>('SELECT name FROM entry WHERE kind = ? AND parent = ? ORDER BY name', kind, parent).toArray().map((r) => r.name)
  }

  /** Every entry of a kind, for the page, at most `limit`. */
  entries(kind: string, limit: number): { parent: string; name: string }[] {
    return this.ctx.storage.sql
      .exec<{ parent: string; name: string }>('SELECT parent, name FROM entry WHERE kind = ? ORDER BY parent, name LIMIT ?', kind, limit)
      .toArray()
  }
}
