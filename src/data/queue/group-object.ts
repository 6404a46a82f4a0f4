// QueueGroupObject: one Durable Object per message group of a FIFO queue
// (`queue-group:["<namespace>","<queue>","<group>"]`). Cloudflare Queues gives no order, so a
// group's jobs wait here, in SQLite, and run one at a time in the order they were accepted; a job
// that fails is retried inline after its backoff, holding the group back until it is done or dead,
// as the engine's FIFO queues do (docs/queues.md). The alarm drives it, so the group goes on after
// an eviction or a deploy; a job cut off mid-attempt by a reset counts that attempt as spent.
//
// Storage: `job(seq INTEGER PRIMARY KEY, body JSON, attempts, waits)`: the rows are the queue.

import { DurableObject } from 'cloudflare:workers'
import type { DataEngine } from '../engine-port'
import type { Job, QueueReport } from './job'
import { attempt } from './consume'
import { countQueue } from './provider'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS job (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, attempts INTEGER NOT NULL, waits INTEGER NOT NULL, running INTEGER NOT NULL DEFAULT 0);
`

type Row = { seq: number; body: string; attempts: number; waits: number; running: number }

/** Given the engine it invokes through by the class the runtime binds (index.ts), as a stream group's object. */
export class FifoGroupObject extends DurableObject<Env> {
  #sql = this.ctx.storage.sql

  constructor(
    ctx: DurableObjectState,
    env: Env,
    private readonly engine: DataEngine,
  ) {
    super(ctx, env)
    this.#sql.exec(SCHEMA)
  }

  /** Stores the job at the end of the group; the row is committed before the caller hears back. */
  async enqueue(job: Job): Promise<void> {
    this.#sql.exec('INSERT INTO job (body, attempts, waits) VALUES (?, ?, ?)', JSON.stringify(job), job.attempts, job.waits ?? 0)
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now())
  }

  /** Jobs waiting in this group (the head included). */
  size(): number {
    return this.#sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM job').one().n
  }

  override async alarm(): Promise<void> {
    for (;;) {
      const head = this.#sql.exec<Row>('SELECT * FROM job ORDER BY seq LIMIT 1').toArray()[0]
      if (!head) return
      const job: Job = { ...(JSON.parse(head.body) as Job), waits: head.waits }
      // An attempt that was running when the object was reset is spent (at least once).
      const spentBefore = head.attempts + head.running
      this.#sql.exec('UPDATE job SET running = 1, attempts = ? WHERE seq = ?', spentBefore, head.seq)
      const count = (delta: QueueReport) => countQueue(this.env, job.namespace, job.queue, delta, (p) => this.ctx.waitUntil(p))
      count({ started: 1 })
      const { decision, spent } = await attempt(this.env, this.engine, job, spentBefore)
      count({ settled: 1, finished: decision.do === 'ack' ? 1 : 0 })
      switch (decision.do) {
        case 'ack':
        case 'dead':
          this.#sql.exec('DELETE FROM job WHERE seq = ?', head.seq)
          continue
        case 'retry':
          this.#sql.exec('UPDATE job SET running = 0, attempts = ? WHERE seq = ?', spent, head.seq)
          return void (await this.ctx.storage.setAlarm(Date.now() + decision.delayMs))
        case 'wait':
          this.#sql.exec('UPDATE job SET running = 0, waits = waits + 1 WHERE seq = ?', head.seq)
          return void (await this.ctx.storage.setAlarm(Date.now() + decision.delayMs))
      }
    }
  }
}
