// QueueObject: one Durable Object per named queue or durable topic of a namespace
// (`queue:["<namespace>","<name>"]`): its dead letters and its counts. It is on no job's path: the
// consumer reports once per batch, enqueuers once a second per isolate (provider.ts), and a job
// reaches it only when it is dead (docs/queues.md).
//
// Storage: `dead(id PRIMARY KEY, seq, job JSON, error, failed_at ms, retries)`, one row per dead
// letter, newest first when listed (as the engine's list); `counts`, one row of totals.

import { DurableObject } from 'cloudflare:workers'
import type { Job, QueueReport } from './job'
import { sendJobs } from './provider'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS dead (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, job TEXT NOT NULL, error TEXT NOT NULL, failed_at INTEGER NOT NULL, retries INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dead_seq ON dead (seq);
CREATE TABLE IF NOT EXISTS counts (k INTEGER PRIMARY KEY CHECK (k = 0), enqueued INTEGER NOT NULL, started INTEGER NOT NULL, settled INTEGER NOT NULL, finished INTEGER NOT NULL, dead INTEGER NOT NULL);
`

export interface DeadLetter {
  job: Job
  error: string
  /** Attempts spent. */
  retries: number
}

/** The engine's dead-letter message shape (engine::queue::dlq_messages). */
export interface DlqMessage {
  id: string
  payload: unknown
  error: string
  failed_at: number
  retries: number
  size_bytes: number
}

export interface QueueCounts {
  /** Jobs waiting or running: put in and not yet done or dead (from the counts; approximate after a lost report). */
  depth: number
  in_flight: number
  dlq_depth: number
}

type DeadRow = { id: string; job: string; error: string; failed_at: number; retries: number }

export class QueueObject extends DurableObject<Env> {
  #sql = this.ctx.storage.sql
  #seq = 0
  /** Tables are made by the first write, so that the page reading an unused queue leaves nothing behind. */
  #made: boolean

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.#made = this.#sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dead'").toArray().length > 0
    if (this.#made) this.#seq = Number(this.#sql.exec<{ s: number | null }>('SELECT MAX(seq) AS s FROM dead').one().s ?? 0)
  }

  #make(): void {
    if (!this.#made) this.#sql.exec(SCHEMA)
    this.#made = true
  }

  /** Adds the totals; one row written. */
  report(delta: QueueReport): void {
    this.#make()
    const d = (k: keyof QueueReport) => Math.max(0, Math.floor(delta[k] ?? 0))
    this.#sql.exec(
      `INSERT INTO counts (k, enqueued, started, settled, finished, dead) VALUES (0, ?, ?, ?, ?, 0)
       ON CONFLICT (k) DO UPDATE SET enqueued = enqueued + excluded.enqueued, started = started + excluded.started,
         settled = settled + excluded.settled, finished = finished + excluded.finished`,
      d('enqueued'), d('started'), d('settled'), d('finished'),
    )
  }

  /** Jobs that will not run again until redriven; a job already here (a redelivery) is not added twice. */
  bury(letters: DeadLetter[]): void {
    this.#make()
    let added = 0
    for (const { job, error, retries } of letters) {
      const exists = this.#sql.exec('SELECT 1 FROM dead WHERE id = ?', job.id).toArray().length > 0
      if (exists) continue
      this.#sql.exec('INSERT INTO dead (id, seq, job, error, failed_at, retries) VALUES (?, ?, ?, ?, ?, ?)', job.id, ++this.#seq, JSON.stringify(job), error.slice(0, 4096), Date.now(), retries)
      added++
    }
    if (added) this.#sql.exec('INSERT INTO counts (k, enqueued, started, settled, finished, dead) VALUES (0, 0, 0, 0, 0, ?) ON CONFLICT (k) DO UPDATE SET dead = dead + excluded.dead', added)
  }

  counts(): QueueCounts {
    if (!this.#made) return { depth: 0, in_flight: 0, dlq_depth: 0 }
    const c = this.#sql.exec<{ enqueued: number; started: number; settled: number; finished: number; dead: number }>('SELECT * FROM counts').toArray()[0]
    const dlq = this.#sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM dead').one().n
    if (!c) return { depth: 0, in_flight: 0, dlq_depth: dlq }
    return { depth: Math.max(0, c.enqueued - c.finished - c.dead), in_flight: Math.max(0, c.started - c.settled), dlq_depth: dlq }
  }

  /** Newest first, as the engine lists them. */
  deadLetters(offset: number, limit: number): DlqMessage[] {
    if (!this.#made) return []
    const rows = this.#sql.exec<DeadRow>('SELECT id, job, error, failed_at, retries FROM dead ORDER BY seq DESC LIMIT ? OFFSET ?', limit, offset).toArray()
    return rows.map((r) => ({
      id: r.id,
      payload: (JSON.parse(r.job) as Job).data,
      error: r.error,
      failed_at: Math.floor(r.failed_at / 1000),
      retries: r.retries,
      size_bytes: r.job.length + r.error.length,
    }))
  }

  /** Sends every dead letter back to its queue with its attempts reset, then forgets them: their number. */
  async redrive(): Promise<number> {
    if (!this.#made) return 0
    let total = 0
    for (;;) {
      const rows = this.#sql.exec<DeadRow>('SELECT id, job FROM dead ORDER BY seq LIMIT 100').toArray()
      if (!rows.length) return total
      await this.#send(rows)
      total += rows.length
    }
  }

  /** One dead letter back to its queue: 1, or 0 when there is none by that id. */
  async redriveOne(id: string): Promise<number> {
    if (!this.#made) return 0
    const rows = this.#sql.exec<DeadRow>('SELECT id, job FROM dead WHERE id = ?', id).toArray()
    if (!rows.length) return 0
    await this.#send(rows)
    return 1
  }

  /** Forgets one dead letter: 1, or 0 when there is none by that id. */
  discard(id: string): number {
    if (!this.#made) return 0
    return this.#sql.exec('DELETE FROM dead WHERE id = ?', id).rowsWritten > 0 ? 1 : 0
  }

  /** Sent first, deleted after: a failure in between leaves them here (a later redrive sends them again: at least once). */
  async #send(rows: Pick<DeadRow, 'id' | 'job'>[]): Promise<void> {
    const jobs = rows.map((r) => ({ ...(JSON.parse(r.job) as Job), attempts: 0, waits: 0, enqueued_at: Date.now() }))
    await sendJobs(this.env, jobs)
    for (const r of rows) this.#sql.exec('DELETE FROM dead WHERE id = ?', r.id)
    // `dead` counts every job that ever died (their lives ended); a redriven one is enqueued again.
    this.report({ enqueued: rows.length })
  }
}
