// Debian's Chromium for the browser tests (playwright-core drives it; no browser is downloaded).
import { execSync } from 'node:child_process'

/** Debian's chromium (`apt-get install chromium`), or null; the browser tests run whenever it is there. */
export function chromiumPath(): string | null {
  try {
    return execSync('command -v chromium || command -v chromium-browser', { encoding: 'utf8', shell: '/bin/sh' }).trim() || null
  } catch {
    return null
  }
}

/** The path, or null with a warning; in CI (.ci/run installs chromium) a missing browser is a failure, never a silent skip. */
export function requireChromium(what: string): string | null {
  const path = chromiumPath()
  if (!path) console.warn(`${what} skipped: no chromium on PATH (apt-get install -y chromium)`)
  if (!path && process.env.CI) throw new Error(`CI: chromium is missing, ${what} must run`)
  return path
}

/** Flags for a headless Chromium in a test: no sandbox (containers), nothing fetched in the background. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync']
