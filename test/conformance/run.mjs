// Runs the iii SDK's own integration tests (sdk/packages/node/iii/tests of an iii checkout you
// provide) against this project under `wrangler dev`: the engine's test suite as a conformance
// check. Not part of `npm test`: CI has no copy of the iii repository, and the SDK's tests are
// its code, not ours (we read them, we do not vendor them).
//
//   node test/conformance/run.mjs <path to an iii git checkout or mirror> [ref, default iii/v0.22.1] [test files…]
//
// The RBAC tests (rbac-workers) connect to a worker endpoint configured as their fixture's second
// worker port (sdk/fixtures/config-test.yaml), written as III_WORKER_ENDPOINTS (docs/rbac.md).
//
// Left out, so that any failure is one of ours (docs/engine-compat.md, "The SDK's own tests"):
// logger-runtime (mocks `ws` in a way this repository's vitest does not support: it fails with no
// engine at all), and the bridge tests (they need a second engine).

import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startWrangler } from '../e2e/support/wrangler.ts'

const ROOT = resolve(import.meta.dirname, '../..')

/** The fixture's RBAC worker port (port 49135 in sdk/fixtures/config-test.yaml), as a worker endpoint. */
const RBAC_FIXTURE_ENDPOINTS = [
  {
    path: '/rbac-worker',
    middleware_function_id: 'test::rbac-worker::middleware',
    rbac: {
      auth_function_id: 'test::rbac-worker::auth',
      on_function_registration_function_id: 'test::rbac-worker::on-function-reg',
      on_trigger_registration_function_id: 'test::rbac-worker::on-trigger-reg',
      on_trigger_type_registration_function_id: 'test::rbac-worker::on-trigger-type-reg',
      expose_functions: ['match("test::ew::public::*")', 'match("engine::functions::list")', { metadata: { ew_public: true } }],
    },
  },
]
const [repo, ref = 'iii/v0.22.1', ...only] = process.argv.slice(2)
if (!repo) {
  console.error('usage: node test/conformance/run.mjs <iii repository> [ref]')
  process.exit(2)
}

const work = mkdtempSync(join(tmpdir(), 'iii-conformance-'))
const pkg = join(work, 'sdk/packages/node/iii')
try {
  // The SDK's sources and tests at that ref, laid out as in its repository (tests find files by relative path).
  const archive = execFileSync('git', ['-C', repo, 'archive', ref, 'sdk/packages/node/iii/src', 'sdk/packages/node/iii/tests', 'sdk/packages/node/iii/package.json'])
  execFileSync('tar', ['x', '-C', work], { input: archive })
  // The PDF the streaming tests send is stored out of git (LFS): any bytes do, they compare what they sent.
  mkdirSync(join(work, 'sdk/test-assets'), { recursive: true })
  writeFileSync(join(work, 'sdk/test-assets/handbook.pdf'), randomBytes(3_000_000))
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'))
  writeFileSync(
    join(pkg, 'vitest.config.ts'),
    "import { defineConfig } from 'vitest/config'\nexport default defineConfig({ test: { globals: true, testTimeout: 30000, hookTimeout: 60000, setupFiles: ['./tests/setup.ts'], fileParallelism: false } })\n",
  )
  // Their setup also shuts a bridge client down; the bridge tests are left out.
  writeFileSync(join(pkg, 'tests/setup.ts'), "import { afterAll } from 'vitest'\nimport { iii } from './utils'\nafterAll(() => (iii as { shutdown(): Promise<void> }).shutdown())\n")

  const dev = await startWrangler({ copy: true, vars: { III_WORKER_ENDPOINTS: JSON.stringify(RBAC_FIXTURE_ENDPOINTS) } })
  let status = 0
  try {
    const skipped = ['tests/bridge*', 'tests/logger-runtime.test.ts'].flatMap((glob) => ['--exclude', glob])
    execFileSync(join(ROOT, 'node_modules/.bin/vitest'), ['run', ...skipped, ...only], {
      cwd: pkg,
      stdio: 'inherit',
      env: { ...process.env, III_URL: dev.wsUrl, III_HTTP_URL: dev.baseUrl, III_RBAC_WORKER_URL: `${dev.wsUrl.replace(/\/$/, '')}${RBAC_FIXTURE_ENDPOINTS[0].path}` },
    })
  } catch (err) {
    status = err.status ?? 1
  } finally {
    await dev.stop()
  }
  process.exitCode = status
} finally {
  rmSync(work, { recursive: true, force: true })
}
