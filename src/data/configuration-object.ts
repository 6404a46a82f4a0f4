// ConfigurationObject: one Durable Object per namespace (`configuration:<namespace>`) holding its
// flat registry of configurations, as the engine's configuration worker holds one per engine. The
// rules are ConfigurationCore's (configuration.ts); this shell adapts SQLite and the Worker's env.
//
// Storage: `entry(id PRIMARY KEY, name, description, schema JSON, value JSON, metadata JSON or NULL)`,
// one row per configuration, values raw (`${VAR}` kept). The schema is kept too, unlike the
// engine's fs adapter (which forgets it at a restart): an entry is usable across evictions and
// deploys without its owner registering again. Reads make no table, so reading a namespace that
// never registered anything leaves no object behind.

import { DurableObject } from 'cloudflare:workers'
import { namespaceLabel } from '../protocol/namespace'
import { EngineError } from '../protocol/outcome'
import { configurationEnv } from './configuration-env'
import { type ConfigurationEntry, type ConfigurationStore, ConfigurationCore, type RegisterInput, type SchemaView } from './configuration'

export const CONFIGURATION_SCHEMA = `
CREATE TABLE IF NOT EXISTS entry (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL,
  schema TEXT NOT NULL, value TEXT NOT NULL, metadata TEXT
);
`

type Row = { id: string; name: string; description: string; schema: string; value?: string; metadata: string | null }

const entryOf = (r: Row): ConfigurationEntry => ({
  id: r.id,
  name: r.name,
  description: r.description,
  schema: JSON.parse(r.schema),
  value: JSON.parse(r.value ?? 'null'),
  ...(r.metadata !== null ? { metadata: JSON.parse(r.metadata) } : {}),
})

/** The entries in SQLite; the table is made by the first write. */
export class SqliteConfigurationStore implements ConfigurationStore {
  #made: boolean

  constructor(private readonly sql: SqlStorage) {
    this.#made = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entry'").toArray().length > 0
  }

  get(id: string): ConfigurationEntry | null {
    if (!this.#made) return null
    const row = this.sql.exec<Row>('SELECT * FROM entry WHERE id = ?', id).toArray()[0]
    return row ? entryOf(row) : null
  }

  put(e: ConfigurationEntry): void {
    if (!this.#made) this.sql.exec(CONFIGURATION_SCHEMA)
    this.#made = true
    const metadata = e.metadata === undefined ? null : JSON.stringify(e.metadata)
    // An upsert writes one row (INSERT OR REPLACE would delete and insert: two).
    this.sql.exec(
      `INSERT INTO entry (id, name, description, schema, value, metadata) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
         schema = excluded.schema, value = excluded.value, metadata = excluded.metadata`,
      e.id, e.name, e.description, JSON.stringify(e.schema), JSON.stringify(e.value), metadata,
    )
  }

  views(): SchemaView[] {
    if (!this.#made) return []
    // `value` is not read: a list never shows it. Ids are ASCII, so SQLite's BINARY order is byte order.
    const rows = this.sql.exec<Row>('SELECT id, name, description, schema, metadata FROM entry ORDER BY id').toArray()
    return rows.map((r) => {
      const { value: _, ...view } = entryOf(r)
      return view
    })
  }
}

/** An answer across RPC: an Error's own fields (the engine's code) do not cross it. */
export type Answer<T> = { ok: T } | { error: { code: string; message: string } }

export class ConfigurationObject extends DurableObject<Env> {
  readonly #core: ConfigurationCore
  /** The env as this namespace may expand it, made once (it logs a malformed III_NAMESPACE_SECRETS once). */
  #env?: { namespace: string; read: ReturnType<typeof configurationEnv> }

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.#core = new ConfigurationCore(new SqliteConfigurationStore(ctx.storage.sql))
  }

  register(namespace: string, input: RegisterInput) {
    return this.#answer(() => this.#core.register(input, this.#read(namespace)))
  }

  set(namespace: string, id: string, value: unknown) {
    return this.#answer(() => this.#core.set(id, value, this.#read(namespace)))
  }

  get(namespace: string, id: string, raw: boolean) {
    return this.#answer(() => this.#core.get(id, raw, this.#read(namespace)), `[configuration ${id} of namespace ${namespaceLabel(namespace)}] not loaded`)
  }

  list() {
    return this.#core.list()
  }

  schema(id: string) {
    return this.#answer(() => this.#core.schema(id))
  }

  /** Each call names the namespace: the builtin that calls knows it, and this object is that namespace's. */
  #read(namespace: string) {
    if (this.#env?.namespace !== namespace) {
      const env = this.env as unknown as Record<string, unknown>
      this.#env = { namespace, read: configurationEnv(namespace, (name) => env[name], (m) => console.warn(`[configuration of namespace ${namespaceLabel(namespace)}] ${m}`)) }
    }
    return this.#env.read
  }

  /** The core's answer, or its error with the engine's code; a read that fails is logged (its caller falls back silently, as the engine warns). */
  #answer<T>(run: () => T, failedRead?: string): Answer<T> {
    try {
      return { ok: run() }
    } catch (err) {
      if (!(err instanceof EngineError)) throw err
      if (failedRead && err.code !== 'NOT_FOUND') console.error(`${failedRead}: ${err.code}: ${err.message}`)
      return { error: { code: err.code, message: err.message } }
    }
  }
}
