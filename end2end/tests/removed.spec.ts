import { test, expect } from '@playwright/test';
import { enter } from '../pages';
import { API_KEY } from '../secret';

test('a user the app removes sees why, stays out while banned, and the others see them go at once', async ({ browser, request }) => {
  const alice = await enter(browser, 'e2e-removed', 'Alice');
  const bob = await enter(browser, 'e2e-removed', 'Bob');
  await expect(alice.getByTestId('count')).toHaveText('2');

  const auth = { Authorization: `Bearer ${API_KEY}` };
  const presence = await request.get('/api/v1/rooms/e2e-removed/presence', { headers: auth });
  expect(presence.ok()).toBeTruthy();
  const users: { id: string; username: string }[] = (await presence.json()).users;
  const bobId = users.find((u) => u.username === 'Bob')?.id;
  expect(bobId).toBeTruthy();

  const removed = await request.delete(`/api/v1/rooms/e2e-removed/users/${bobId}?ban_secs=60`, { headers: auth });
  expect(removed.status()).toBe(204);
  await expect(bob.getByTestId('connection')).toHaveAttribute('data-status', 'refused');
  await expect(bob.getByTestId('connection-why')).toContainText('removed');
  await expect(alice.getByTestId('count')).toHaveText('1');
  await expect(alice.getByTestId('presence')).not.toContainText('Bob');

  // A reload comes back as the same identity, which the ban keeps out.
  await bob.reload();
  await expect(bob.getByTestId('connection')).toHaveAttribute('data-status', 'refused');
  await expect(bob.getByTestId('connection-why')).toContainText('removed');
  await expect(alice.getByTestId('presence')).not.toContainText('Bob');
});
