// What an HTTP function's URL host is, for the URL policy (http-function.ts, docs/http-functions.md):
// loopback, public, or an IP literal in a range an HTTP function may not call, with the range.
// Only IP literals can be classified: a Worker has no DNS API.
//
// IPv6 forms that carry an IPv4 address (mapped, translated, NAT64, 6to4) are judged by the address
// they carry, so that [::ffff:a9fe:a9fe] is refused like 169.254.169.254. Ranges with no public use
// (anything outside global unicast 2000::/3, Teredo, documentation…) are refused whole.

/** `why` completes "<host> is …": the range it is in, or the form it has. */
export type HostKind = { kind: 'loopback' } | { kind: 'public' } | { kind: 'refused'; why: string }

const LOOPBACK: HostKind = { kind: 'loopback' }
const PUBLIC: HostKind = { kind: 'public' }
const refused = (why: string): HostKind => ({ kind: 'refused', why })

/** IPv4 ranges that are not public unicast (IANA special-purpose registry, plus multicast and 240/4). */
const V4_RANGES: readonly [cidr: string, name: string][] = [
  ['0.0.0.0/8', 'this network'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared address space, CGNAT'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', '6to4 relay anycast'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved, and broadcast'],
]

/**
 * IPv6 ranges, first match wins. `embeds` reads the IPv4 address a form carries; `loopback` says
 * that form of 127/8 reaches this machine (only IPv4-mapped does: the others go to a translator or
 * relay). Everything outside 2000::/3 that is not listed is refused by `v6Kind`.
 */
const V6_RANGES: readonly { cidr: string; name: string; embeds?: (g: number[]) => number; loopback?: true }[] = [
  { cidr: '::ffff:0:0/96', name: 'IPv4-mapped', embeds: (g) => v4Of(g[6]!, g[7]!), loopback: true },
  { cidr: '::ffff:0:0:0/96', name: 'IPv4-translated', embeds: (g) => v4Of(g[6]!, g[7]!) },
  { cidr: '64:ff9b::/96', name: 'NAT64', embeds: (g) => v4Of(g[6]!, g[7]!) },
  { cidr: '2002::/16', name: '6to4', embeds: (g) => v4Of(g[1]!, g[2]!) },
  // Deprecated (RFC 4291) and unused; refused whatever it carries (:: and ::1 are checked first).
  { cidr: '::/96', name: 'IPv4-compatible, deprecated' },
  // Its prefix length is the operator's choice, so where the IPv4 address sits cannot be known.
  { cidr: '64:ff9b:1::/48', name: 'local-use NAT64' },
  { cidr: '100::/64', name: 'discard-only' },
  // Teredo's client address is obfuscated (XOR), and tunnels to wherever it says.
  { cidr: '2001::/32', name: 'Teredo' },
  { cidr: '2001:2::/48', name: 'benchmarking' },
  { cidr: '2001::/23', name: 'IETF protocol assignments' },
  { cidr: '2001:db8::/32', name: 'documentation' },
  { cidr: '3fff::/20', name: 'documentation' },
  { cidr: '5f00::/16', name: 'SRv6 segment identifiers' },
  { cidr: 'fc00::/7', name: 'unique local' },
  { cidr: 'fe80::/10', name: 'link-local' },
  { cidr: 'fec0::/10', name: 'site-local, deprecated' },
  { cidr: 'ff00::/8', name: 'multicast' },
]

const v4Of = (hi: number, lo: number) => ((hi << 16) | lo) >>> 0
const v4Text = (a: number) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.')

/**
 * `hostname` as `URL` gives it: lowercase, IPv4 in dotted decimal (hex, octal and one-number forms
 * already converted, a trailing dot dropped), IPv6 in brackets in compressed hex (an embedded IPv4
 * address already turned into two hex groups).
 */
export function hostKind(hostname: string): HostKind {
  if (hostname === 'localhost') return LOOPBACK
  const v4 = parseIPv4(hostname)
  if (v4 !== null) return v4Kind(v4, true)
  if (!hostname.startsWith('[') || !hostname.endsWith(']')) return PUBLIC // a DNS name: not resolvable here
  const g = parseIPv6(hostname.slice(1, -1))
  if (!g) return refused('not an IPv6 address this check can read') // refuse rather than guess
  return v6Kind(g)
}

function v4Kind(address: number, loopbackAllowed: boolean): HostKind {
  for (const [cidr, name] of V4_PARSED) {
    if (!inPrefix(address, cidr)) continue
    if (cidr.text === '127.0.0.0/8' && loopbackAllowed) return LOOPBACK
    return refused(`in ${cidr.text} (${name})`)
  }
  return PUBLIC
}

function v6Kind(g: number[]): HostKind {
  if (g.every((x) => x === 0)) return refused('the unspecified address')
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return LOOPBACK
  for (const range of V6_PARSED) {
    if (!inPrefix6(g, range.cidr)) continue
    if (!range.embeds) return refused(`in ${range.cidr.text} (${range.name})`)
    const v4 = range.embeds(g)
    const inner = v4Kind(v4, range.loopback ?? false)
    return inner.kind === 'refused' ? refused(`the ${range.name} form of ${v4Text(v4)}, ${inner.why}`) : inner
  }
  // IANA allocates global unicast from 2000::/3 only: anything else is reserved or special.
  return (g[0]! & 0xe000) === 0x2000 ? PUBLIC : refused('outside global unicast 2000::/3')
}

interface Cidr4 {
  text: string
  base: number
  bits: number
}
interface Cidr6 {
  text: string
  base: number[]
  bits: number
}

const V4_PARSED = V4_RANGES.map(([text, name]) => {
  const [address, bits] = text.split('/') as [string, string]
  return [{ text, base: parseIPv4(address)!, bits: Number(bits) } satisfies Cidr4, name] as const
})
const V6_PARSED = V6_RANGES.map((range) => {
  const [address, bits] = range.cidr.split('/') as [string, string]
  return { ...range, cidr: { text: range.cidr, base: parseIPv6(address)!, bits: Number(bits) } satisfies Cidr6 }
})

function inPrefix(address: number, { base, bits }: Cidr4): boolean {
  const shift = 32 - bits
  return shift >= 32 || address >>> shift === base >>> shift
}

function inPrefix6(g: number[], { base, bits }: Cidr6): boolean {
  for (let i = 0; i < 8 && bits > i * 16; i++) {
    const keep = Math.min(16, bits - i * 16)
    const mask = (0xffff << (16 - keep)) & 0xffff
    if ((g[i]! & mask) !== (base[i]! & mask)) return false
  }
  return true
}

/** A dotted-decimal IPv4 address as an unsigned 32-bit number, or null. */
function parseIPv4(host: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host)
  const parts = m?.slice(1).map(Number)
  if (!parts || !parts.every((p) => p <= 255)) return null
  return parts.reduce((a, p) => a * 256 + p, 0)
}

/** Eight 16-bit groups of a hex IPv6 address (as URL serialises it: no embedded IPv4, no zone). */
function parseIPv6(text: string): number[] | null {
  const halves = text.split('::')
  if (halves.length > 2) return null
  const groups = (s: string) => (s === '' ? [] : s.split(':'))
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0
  if (fill < 0 || (halves.length === 2 && fill === 0)) return null
  const all = [...head, ...Array<string>(fill).fill('0'), ...tail]
  if (all.length !== 8 || !all.every((x) => /^[0-9a-f]{1,4}$/i.test(x))) return null
  return all.map((x) => parseInt(x, 16))
}
