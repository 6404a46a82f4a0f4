// Cron expressions in the iii engine's dialect (docs/engine-compat.md, "cron"), on top of croner.
// The engine parses with the Rust `cron` crate: 6 fields, seconds first, an optional 7th year
// field (1970-2100), day of week 1-7 with 1 = Sunday, day of month AND day of week, names of
// months and days (short or full), `?` only in the two day fields, five @-shorthands, UTC.
// croner covers that grammar with the options below; what it accepts beyond it (L, W, #, more
// shorthands, other years) is refused here first, so an expression works here iff it works there.

import { Cron } from 'croner'

export interface CronSchedule {
  expression: string
  /** The first firing strictly after `after` (UTC), or null when the schedule has no future run. */
  next(after: Date): Date | null
}

export type CronParse = { ok: true; schedule: CronSchedule } | { ok: false; message: string }

/** The crate's shorthands, as the 6-field expressions it expands them to (@weekly is Sunday). */
const SHORTHANDS: Record<string, string> = {
  '@yearly': '0 0 0 1 1 *',
  '@monthly': '0 0 0 1 * *',
  '@weekly': '0 0 0 * * 1',
  '@daily': '0 0 0 * * *',
  '@hourly': '0 0 * * * *',
}

/** Full and alternative names the crate knows; croner wants the three-letter ones. */
const LONG_NAMES: Record<string, string> = {
  sunday: 'sun', monday: 'mon', tues: 'tue', tuesday: 'tue', wednesday: 'wed', thurs: 'thu', thursday: 'thu',
  friday: 'fri', saturday: 'sat', january: 'jan', february: 'feb', march: 'mar', april: 'apr', june: 'jun',
  july: 'jul', august: 'aug', september: 'sep', october: 'oct', november: 'nov', december: 'dec',
}

const FIELD_NAMES = ['seconds', 'minutes', 'hours', 'day of month', 'month', 'day of week', 'year']

export function parseCron(expression: unknown): CronParse {
  if (typeof expression !== 'string' || expression.trim() === '') return { ok: false, message: 'Cron expression is required' }
  const fail = (why: string): CronParse => ({ ok: false, message: `Invalid cron expression '${expression}': ${why}` })
  const trimmed = expression.trim()
  let text = trimmed
  if (trimmed.startsWith('@')) {
    const expanded = SHORTHANDS[trimmed.toLowerCase()]
    if (!expanded) return fail(`unknown shorthand ${trimmed} (supported: ${Object.keys(SHORTHANDS).join(', ')})`)
    text = expanded
  }
  const fields = text.split(/\s+/)
  if (fields.length !== 6 && fields.length !== 7) {
    return fail(`expected 6 fields (seconds minutes hours day-of-month month day-of-week) and an optional year, got ${fields.length}`)
  }
  for (const [i, field] of fields.entries()) {
    if (/[LW#+]/i.test(field.replace(/[a-z]{3,}/gi, (name) => (isName(name) ? '' : name)))) {
      return fail(`${FIELD_NAMES[i]}: L, W, # and + are not part of this dialect ('${field}')`)
    }
    if (field.includes('?') && i !== 3 && i !== 5) return fail(`${FIELD_NAMES[i]}: '?' is only allowed in the day fields`)
  }
  const year = fields[6]
  if (year !== undefined) {
    for (const n of year.match(/\d+/g) ?? []) {
      // A step (`*/5`) is not a year; every other number in the field is.
      if (!year.includes(`/${n}`) && (Number(n) < 1970 || Number(n) > 2100)) return fail(`year must be between 1970 and 2100 ('${n}' specified)`)
    }
  }
  const normalized = fields.map((f) => f.replace(/[a-z]+/gi, (name) => LONG_NAMES[name.toLowerCase()] ?? name)).join(' ')
  let cron: Cron
  try {
    cron = new Cron(normalized, { mode: '6-or-7-parts', utcOffset: 0, alternativeWeekdays: true, domAndDow: true, sloppyRanges: true, paused: true })
  } catch (err) {
    return fail(err instanceof Error ? err.message.replace(/^CronPattern:\s*/, '') : String(err))
  }
  return {
    ok: true,
    schedule: {
      expression: trimmed,
      next: (after) => {
        // Strictly after `after`, at whole seconds.
        const next = cron.nextRun(new Date(Math.floor(after.getTime() / 1000) * 1000))
        return next && next.getTime() > after.getTime() ? next : next && cron.nextRun(new Date(next.getTime()))
      },
    },
  }
}

function isName(word: string): boolean {
  const w = word.toLowerCase()
  return w in LONG_NAMES || /^(sun|mon|tue|wed|thu|fri|sat|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)$/.test(w)
}

/** RFC 3339 in UTC with the engine's `+00:00` offset; whole seconds when `ms` is 0. */
export function rfc3339(date: Date): string {
  const iso = date.toISOString()
  return (date.getUTCMilliseconds() === 0 ? iso.replace(/\.\d{3}Z$/, '') : iso.replace(/Z$/, '')) + '+00:00'
}
