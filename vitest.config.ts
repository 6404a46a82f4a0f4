// Three test layers (README "Two commands"): pure core in Node, Durable Objects in workerd, end to end.
import { cloudflareTest } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'node' } },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: {
                // A small storage quota so the 1013 path is reachable in a test.
                CHANNEL_STORAGE_QUOTA_BYTES: String(2 * 1024 * 1024),
                // Signed keys here; the e2e tests run wrangler dev without a secret (random keys).
                III_SIGNING_SECRET: 'workers-test-signing-secret',
                // Links between sessions close soon after use, so tests can evict an idle caller.
                III_LINK_IDLE_MS: '300',
                // HTTP triggers answer 504 after this (test/workers/exchange.test.ts); above the 3 s wait for a late response writer.
                III_HTTP_TIMEOUT_MS: '4000',
                // How many channels the churn test creates (.ci/run sets 10,000).
                III_CHURN_CHANNELS: process.env.III_CHURN_CHANNELS ?? '300',
                // Named queues of the workers tests (test/workers/queue-reliability.test.ts): quick retries.
                III_QUEUES: JSON.stringify({ reliable: { max_retries: 3, backoff_ms: 100 }, 'reliable-deploy': { max_retries: 3, backoff_ms: 100 } }),
                // A worker endpoint whose sessions are evicted (test/workers/rbac.test.ts).
                III_WORKER_ENDPOINTS: JSON.stringify([{ path: '/rbac-evict', rbac: { auth_function_id: 'evict::auth', expose_functions: ['match("evict::public::*")'] } }]),
              },
            },
          }),
        ],
        test: { name: 'workers', include: ['test/workers/**/*.test.ts'] },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
