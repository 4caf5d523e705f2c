import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { SECRET } from '../secret';

const bin = path.resolve(__dirname, '../..', process.env.FLOCK_BIN ?? 'target/debug/flock');

/** An invitation to `room` for `name`, minted by the server binary with the test secret. */
function invitation(room: string, name: string): string {
  return execFileSync(bin, ['--secret', SECRET, 'mint-token', '--room', room, '--username', name]).toString().trim();
}

test('an invitation link opens a private room, leaves the address bar, and a reload still gets in', async ({ page }) => {
  const violations: string[] = [];
  page.on('console', (msg) => {
    if (msg.text().includes('Content Security Policy')) violations.push(msg.text());
  });
  const token = invitation('private-e2e', 'Ann');
  await page.goto(`/r/private-e2e?username=Ann&token=${encodeURIComponent(token)}`);
  await expect(page.getByTestId('connection')).toHaveAttribute('data-status', 'open');
  await expect(page).not.toHaveURL(/token=/);
  expect(new URL(page.url()).searchParams.get('username')).toBe('Ann');

  await page.reload();
  await expect(page.getByTestId('connection')).toHaveAttribute('data-status', 'open');
  await expect(page.getByTestId('presence')).toContainText('Ann');
  expect(violations, 'the page runs under its own Content-Security-Policy').toEqual([]);
});

test('a private room without an invitation says so', async ({ page }) => {
  await page.goto('/r/private-e2e?username=Eve');
  await expect(page.getByRole('alert')).toContainText('This room is private');
});
