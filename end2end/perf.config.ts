import { defineConfig } from '@playwright/test';
import { chromium } from './chromium';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// Browser measurements, not tests: `npx playwright test -c perf.config.ts` after
// `cargo leptos build --release --precompress` (see docs/performance.md). They print figures and assert nothing about speed.
export const perfPort = Number(process.env.FLOCK_PERF_PORT ?? 3200);

export default defineConfig({
  testDir: './perf',
  timeout: 180_000,
  workers: 1,
  reporter: [['list']],
  use: { baseURL: `http://127.0.0.1:${perfPort}` },
  projects: [chromium],
  webServer: {
    command: 'target/release/flock',
    cwd: '..',
    url: `http://127.0.0.1:${perfPort}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    env: {
      FLOCK_ADDR: `127.0.0.1:${perfPort}`,
      LEPTOS_SITE_ROOT: 'target/site',
      LEPTOS_OUTPUT_NAME: 'flock',
      FLOCK_LOG: 'warn',
      FLOCK_MAX_CONNS_PER_IP: '100000',
      FLOCK_MAX_PENDING_PER_IP: '100000',
      FLOCK_CONNECTS_PER_SEC: '1000000',
      FLOCK_CHATS_PER_SEC: '1000000',
      FLOCK_ROOMS_PER_MINUTE: '1000000',
      FLOCK_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'flock-perf-')),
    },
  },
});
