// The table (Markdown, stdout), bench/results.json and bench/results.svg (hand-written bar chart).
import { writeFileSync } from 'node:fs'

export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const fmt = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '–' : typeof x === 'number' ? x.toFixed(d) : String(x))

/** A row's target as text and whether `value` meets it ('n/a': part of the value is not measured, so neither). */
export function checkTarget(target, value) {
  if (!target) return { text: '', met: null }
  const text = `${target.op === '>=' ? '≥' : '≤'} ${target.value}${target.unit ?? '×'}`
  if (value === 'n/a') return { text, met: null }
  const met = Number.isFinite(value) ? (target.op === '>=' ? value >= target.value : value <= target.value) : false
  return { text, met }
}

export function table(rows) {
  const out = ['| row | measure | ours | baseline | ratio / value | target | met | runs |', '|---|---|---|---|---|---|---|---|']
  for (const r of rows) {
    const t = checkTarget(r.target, r.check)
    const met = t.met === null ? (t.text ? 'n/a' : '') : t.met ? 'yes' : '**no**'
    out.push(`| ${r.id} | ${r.measure} | ${r.ours} | ${r.baseline ?? ''} | ${r.ratio ?? ''} | ${t.text} | ${met} | ${r.runs} |`)
  }
  return out.join('\n')
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** One horizontal bar per charted row: its ratio, a tick at its target; green when met. */
export function svg(rows, title) {
  const bars = rows.filter((r) => r.chart && Number.isFinite(r.chart.value))
  const W = 820
  const left = 300
  const barH = 22
  const gap = 12
  const top = 56
  const H = top + bars.length * (barH + gap) + 50
  const max = Math.max(1.5, ...bars.map((b) => b.chart.value), ...bars.map((b) => b.target?.value ?? 0)) * 1.1
  const x = (v) => left + (v / max) * (W - left - 80)
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="600">${esc(title)}</text>`,
    `<text x="16" y="42" fill="#555">bar = ratio (medians); black tick = target; green = target met, red = missed, grey = no target</text>`,
  ]
  for (const v of [0, 0.5, 1, 1.5, 2, 3, 4, 5].filter((v) => v <= max)) {
    parts.push(`<line x1="${x(v)}" y1="${top - 6}" x2="${x(v)}" y2="${H - 40}" stroke="#ddd"/>`)
    parts.push(`<text x="${x(v)}" y="${H - 24}" text-anchor="middle" fill="#555">${v}×</text>`)
  }
  bars.forEach((b, i) => {
    const y = top + i * (barH + gap)
    const t = checkTarget(b.target, b.check)
    const color = t.met === null ? '#9aa' : t.met ? '#3a8f4b' : '#c8453b'
    parts.push(`<text x="${left - 10}" y="${y + barH / 2 + 4}" text-anchor="end">${esc(b.chart.label)}</text>`)
    parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(b.chart.value) - left)}" height="${barH}" fill="${color}"/>`)
    parts.push(`<text x="${x(b.chart.value) + 6}" y="${y + barH / 2 + 4}">${fmt(b.chart.value, 2)}×${t.text ? ` (target ${esc(t.text)})` : ''}</text>`)
    if (b.target) parts.push(`<line x1="${x(b.target.value)}" y1="${y - 4}" x2="${x(b.target.value)}" y2="${y + barH + 4}" stroke="#000" stroke-width="2"/>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}

export function writeOutputs(dir, results, rows, title) {
  writeFileSync(`${dir}/results.json`, JSON.stringify(results, null, 1) + '\n')
  writeFileSync(`${dir}/results.svg`, svg(rows, title) + '\n')
}

export { fmt }
