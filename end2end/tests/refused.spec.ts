import { test, expect } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer } from '../server';

// A server of the test's own with tight quotas: one new WebSocket per 10 s per client (a
// window wide enough that a slow machine still opens the pages inside it), and one room in
// all. Every page of the test is the same client (127.0.0.1).
test('a page the server turns away says why, waits as told, and gets in by itself', async ({ browser }) => {
  test.setTimeout(60_000);
  const port = Number(process.env.FLOCK_E2E_QUOTA_PORT ?? 3102);
  const server = await startServer(port, mkdtempSync(path.join(tmpdir(), 'flock-quota-')), {
    FLOCK_CONNECTS_PER_SEC: '0.1',
    FLOCK_MAX_ROOMS: '1',
  });
  try {
    const open = async (room: string, name: string) => {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`http://127.0.0.1:${port}/r/${room}?username=${name}`);
      return page;
    };
    const first = await open('e2e-quota', 'First');
    await expect(first.getByTestId('connection')).toHaveAttribute('data-status', 'open');

    // The server holds its one room: a second one cannot be made, and waiting helps only
    // once the first room is gone.
    const elsewhere = await open('e2e-quota-other', 'Elsewhere');
    await expect(elsewhere.getByTestId('connection')).toHaveAttribute('data-status', 'waiting');
    await expect(elsewhere.getByTestId('connection-why')).toContainText('maximum of 1 rooms');

    // The one connection a 10 s window allows was taken: the next page waits for the
    // Retry-After the server gave, then opens without a reload.
    const second = await open('e2e-quota', 'Second');
    await expect(second.getByTestId('connection')).toHaveAttribute('data-status', 'waiting');
    await expect(second.getByTestId('connection-why')).toContainText('too many new connections');
    await expect(second.getByTestId('connection')).toHaveAttribute('data-status', 'open', { timeout: 30_000 });
    await expect(second.getByTestId('connection-why')).toHaveCount(0);
    await expect(first.getByTestId('presence')).toContainText('Second');
    await expect(elsewhere.getByTestId('connection')).not.toHaveAttribute('data-status', 'open');
  } finally {
    server.kill('SIGKILL');
  }
});
