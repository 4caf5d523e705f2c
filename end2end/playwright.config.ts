import { defineConfig } from '@playwright/test';
import { chromium } from './chromium';
import { API_KEY, SECRET } from './secret';
import { SDK_ORIGIN } from './sdk_page';
import { BLOCKING_ORIGINS } from './blocking_proxy';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// The server under test: the binary `cargo leptos build` made, on its own port so a
// development server on 3000 can keep running. FLOCK_BIN picks another build.
const port = Number(process.env.FLOCK_E2E_PORT ?? 3100);
const bin = process.env.FLOCK_BIN ?? 'target/debug/flock';

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
  },
  projects: [chromium],
  webServer: {
    command: bin,
    cwd: '..',
    // Playwright waits for this to answer before the first test.
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    env: {
      FLOCK_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: 'target/site',
      LEPTOS_OUTPUT_NAME: 'flock',
      FLOCK_LOG: 'warn',
      FLOCK_SECRET: SECRET,
      FLOCK_API_KEYS: API_KEY,
      // The app's own pages, the SDK's example page, which tests/sdk.spec.ts serves from
      // an origin of its own, and the pages tests/fallback.spec.ts opens through proxies.
      FLOCK_ALLOWED_ORIGINS: [`http://127.0.0.1:${port}`, SDK_ORIGIN, ...BLOCKING_ORIGINS].join(','),
      // Every page comes from 127.0.0.1, and the suite opens many rooms and sockets in a
      // few seconds: the per-client quotas are tested against the real server in tests/.
      FLOCK_CONNECTS_PER_SEC: '1000',
      FLOCK_ROOMS_PER_MINUTE: '100000',
      FLOCK_CHATS_PER_SEC: '100000',
      // A fresh store per run, so chat history from an earlier run never shows up.
      FLOCK_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'flock-e2e-')),
    },
  },
});
