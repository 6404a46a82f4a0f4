// StateObject: one Durable Object per state scope of a namespace (`state:<namespace>:<scope>`), so
// scopes never wait on each other and each scope's writes are ordered in one place. The rules are
// ScopeCore's (scope.ts); this shell adapts SQLite and keeps the namespace's directory told whether
// the scope holds anything (state::list_groups reads the directory, not every scope).
//
// Storage: `item(key PRIMARY KEY, value JSON text, seq)`: seq keeps the order keys were first
// written; `meta(name, value)`: `listed` is what the directory was last told ('1' or '0'), `where`
// the namespace and scope, for the alarm that retries a directory call that failed.

import { DurableObject } from 'cloudflare:workers'
import { directoryStub } from './stubs'
import { type ScopeStore, ScopeCore, type Written } from './scope'
import type { UpdateOp } from './update-ops'

export const STATE_SCHEMA = `
CREATE TABLE IF NOT EXISTS item (key TEXT PRIMARY KEY, value TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`

/** A directory call that failed is retried this much later, by alarm. */
const DIRECTORY_RETRY_MS = 1_000

/** Which scope of which namespace an object holds (it is told on every write: an alarm has no caller). */
export interface Where {
  namespace: string
  /** The directory entry: kind 'state' with parent '' and the scope's name, or 'stream' with the stream name and the group id. */
  kind: 'state' | 'stream'
  parent: string
  name: string
}

/** Has this object's storage been made? Reads of a scope nobody wrote leave no object behind. */
const hasSchema = (sql: SqlStorage) => sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'item'").toArray().length > 0

/**
 * SQLite rows of one scope (or stream group); the count is kept in memory, loaded once. The tables
 * are made by the first write: an object that was only read stores nothing, so Cloudflare drops it.
 */
export class SqliteScopeStore implements ScopeStore {
  #count: number
  #made: boolean

  constructor(private readonly sql: SqlStorage) {
    this.#made = hasSchema(sql)
    this.#count = this.#made ? sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM item').one().n : 0
  }

  get(key: string): string | null {
    if (!this.#made) return null
    return this.sql.exec<{ value: string }>('SELECT value FROM item WHERE key = ?', key).toArray()[0]?.value ?? null
  }

  put(key: string, text: string): void {
    this.#make()
    const updated = this.sql.exec('UPDATE item SET value = ? WHERE key = ?', text, key).rowsWritten
    if (updated > 0) return
    this.sql.exec('INSERT INTO item (key, value, seq) VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM item))', key, text)
    this.#count++
  }

  remove(key: string): void {
    if (this.#made && this.sql.exec('DELETE FROM item WHERE key = ?', key).rowsWritten > 0) this.#count--
  }

  values(): string[] {
    if (!this.#made) return []
    return this.sql.exec<{ value: string }>('SELECT value FROM item ORDER BY seq').toArray().map((r) => r.value)
  }

  count(): number {
    return this.#count
  }

  #make(): void {
    if (this.#made) return
    this.sql.exec(STATE_SCHEMA)
    this.#made = true
  }
}

/**
 * What both data objects (state scope, stream group) hold: a ScopeCore over SQLite, and the
 * directory kept in step. A helper, not a base class, so none of it is on the objects' RPC surface.
 */
export class ScopeShell {
  readonly core: ScopeCore
  #sync: Promise<void> = Promise.resolve()
  #made = false

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly env: Env,
  ) {
    this.core = new ScopeCore(new SqliteScopeStore(ctx.storage.sql))
  }

  /** Retries a directory call that failed (the object's alarm). */
  async retry(): Promise<void> {
    const where = this.#meta('where')
    if (where) await this.listed(JSON.parse(where) as Where)
  }

  /**
   * Tells the directory when this scope became non-empty or empty (only then: one row written per
   * transition, none per ordinary write). Calls run one after the other, each comparing what is
   * stored now with what the directory was told last, so interleaved writes end in agreement.
   */
  listed(where: Where): Promise<void> {
    this.#sync = this.#sync
      .then(async () => {
        for (;;) {
          const has = this.core.size > 0
          if ((this.#meta('listed') === '1') === has) return
          if (this.#meta('where') === null) this.#setMeta('where', JSON.stringify(where))
          try {
            const dir = directoryStub(this.env, where.namespace)
            await (has ? dir.add(where.kind, where.parent, where.name) : dir.remove(where.kind, where.parent, where.name))
          } catch (err) {
            console.warn(`[${where.kind} ${where.parent}/${where.name}] directory not told, retrying: ${err}`)
            await this.ctx.storage.setAlarm(Date.now() + DIRECTORY_RETRY_MS)
            return
          }
          this.#setMeta('listed', has ? '1' : '0')
        }
      })
      .catch((err) => console.warn(`[${where.kind} ${where.parent}/${where.name}] directory sync: ${err}`))
    return this.#sync
  }

  /** A write's result, once the directory is in step (a list right after the write sees it). */
  async written<W extends Written | { existed: boolean }>(where: Where, result: W): Promise<W> {
    if (!('error' in result)) await this.listed(where)
    return result
  }

  #meta(name: string): string | null {
    // Once made, the tables stay: asked until then only.
    this.#made ||= hasSchema(this.ctx.storage.sql)
    if (!this.#made) return null
    return this.ctx.storage.sql.exec<{ value: string }>('SELECT value FROM meta WHERE name = ?', name).toArray()[0]?.value ?? null
  }

  #setMeta(name: string, value: string): void {
    this.ctx.storage.sql.exec('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)', name, value)
  }
}

export class StateObject extends DurableObject<Env> {
  readonly #shell: ScopeShell

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.#shell = new ScopeShell(ctx, env)
  }

  get(key: string): unknown {
    return this.#shell.core.get(key)
  }

  set(where: Where, key: string, text: string): Promise<Written> {
    return this.#shell.written(where, this.#shell.core.set(key, text))
  }

  update(where: Where, key: string, ops: UpdateOp[]): Promise<Written> {
    return this.#shell.written(where, this.#shell.core.update(key, ops))
  }

  delete(where: Where, key: string): Promise<{ existed: boolean; old_value: unknown }> {
    return this.#shell.written(where, this.#shell.core.delete(key))
  }

  list(): unknown[] {
    return this.#shell.core.list()
  }

  override alarm(): Promise<void> {
    return this.#shell.retry()
  }
}
