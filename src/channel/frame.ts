// A frame as relayed by a channel: text frames stay strings, binary frames stay bytes (opcode kept 1:1).

export type Frame = string | Uint8Array

const encoder = new TextEncoder()

/** Payload size in bytes as it travels on the wire. */
export function frameBytes(frame: Frame): number {
  return typeof frame === 'string' ? encoder.encode(frame).length : frame.byteLength
}

/** "64 MiB", "1 GiB": limits in close reasons and errors read better than raw byte counts. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (n >= size) return `${+(n / size).toFixed(1)} ${unit}`
  }
  return `${n} B`
}
