// CronObject: one Durable Object per cron trigger (`cron:<namespace>:<trigger id>`). The registry
// schedules it when a valid cron trigger is registered and cancels it when the trigger goes; its
// alarm fires the schedule. One object per trigger, so a run fires once for the whole deployment
// (the iii engine needs a Redis lock for that), and the schedule survives eviction, restarts and
// deploys (alarms are durable). Behaviour as the engine's cron worker (docs/engine-compat.md):
// the event `{trigger, job_id, scheduled_time, actual_time}`, a condition function that answers
// `false` or fails skips the run, runs never overlap, ticks missed during a run are skipped.

import { DurableObject } from 'cloudflare:workers'
import { engineLogSink, engineRecord, recordLogs } from './logs'
import { parseCron, rfc3339 } from './cron'
import { invokeFunction } from './invoke'

export interface CronJob {
  namespace: string
  trigger_id: string
  function_id: string
  expression: string
  condition_function_id?: string
  metadata?: unknown
}

interface Saved {
  job: CronJob
  /** The run the alarm is set for (unix ms). */
  next: number
}

const KEY = 'job'

export class CronObject extends DurableObject<Env> {
  /** Starts (or replaces) the schedule. */
  async schedule(job: CronJob): Promise<{ next_run: string | null }> {
    const next = nextRun(job.expression, Date.now())
    if (next === null) {
      await this.cancel()
      this.#log(job, 'info', `schedule '${job.expression}' has no future run: nothing scheduled`)
      return { next_run: null }
    }
    await this.ctx.storage.put(KEY, { job, next } satisfies Saved)
    await this.ctx.storage.setAlarm(next)
    return { next_run: rfc3339(new Date(next)) }
  }

  /** Stops the schedule and forgets it. */
  async cancel(): Promise<void> {
    await this.ctx.storage.deleteAlarm()
    await this.ctx.storage.deleteAll()
  }

  /** The next run, for tests and the page (null when nothing is scheduled). */
  async nextRun(): Promise<string | null> {
    const saved = await this.ctx.storage.get<Saved>(KEY)
    return saved ? rfc3339(new Date(saved.next)) : null
  }

  override async alarm(): Promise<void> {
    const saved = await this.ctx.storage.get<Saved>(KEY)
    if (!saved) return
    const { job } = saved
    await this.#run(job, saved.next)
    // Cancelled or replaced while it ran: the new schedule (or none) stands.
    const now = await this.ctx.storage.get<Saved>(KEY)
    if (!now || now.next !== saved.next || now.job.expression !== job.expression) return
    // From now, not from the run: ticks that passed during a long run are skipped, not queued.
    const next = nextRun(job.expression, Date.now())
    if (next === null) return void (await this.cancel())
    await this.ctx.storage.put(KEY, { job: now.job, next } satisfies Saved)
    await this.ctx.storage.setAlarm(next)
  }

  async #run(job: CronJob, scheduled: number): Promise<void> {
    const event = { trigger: 'cron', job_id: job.trigger_id, scheduled_time: rfc3339(new Date(scheduled)), actual_time: rfc3339(new Date()) }
    if (job.condition_function_id) {
      const condition = await invokeFunction(this.env, job.namespace, { function_id: job.condition_function_id, data: event })
      if ('error' in condition) {
        return this.#log(job, 'warn', `run ${event.scheduled_time} skipped: condition ${job.condition_function_id} failed: ${condition.error.code}: ${condition.error.message}`)
      }
      if ('result' in condition && condition.result === false) return
    }
    const outcome = await invokeFunction(this.env, job.namespace, { function_id: job.function_id, data: event, metadata: job.metadata })
    if ('error' in outcome) {
      // Typically function_not_found: its worker is gone. The schedule stays (as in the engine): a
      // worker that registers the function again gets the next runs.
      this.#log(job, 'warn', `run ${event.scheduled_time} failed: ${outcome.error.code}: ${outcome.error.message}`)
    }
  }

  /** A run that did not happen, recorded as the engine records its own warnings (`log` triggers get it too). */
  #log(job: CronJob, level: 'info' | 'warn', message: string): void {
    recordLogs(engineLogSink(this.env, job.namespace, (p) => this.ctx.waitUntil(p)), [{ record: engineRecord(level, message, `cron ${job.trigger_id}`) }])
  }
}

function nextRun(expression: string, now: number): number | null {
  const parsed = parseCron(expression)
  return parsed.ok ? (parsed.schedule.next(new Date(now))?.getTime() ?? null) : null
}
