import { test, expect } from '@playwright/test';
import { enter } from '../pages';

test('while someone types a chat the others see "<name> is typing…" until it is sent or they stop', async ({ browser }) => {
  const alice = await enter(browser, 'e2e-typing', 'Alice');
  const bob = await enter(browser, 'e2e-typing', 'Bob');
  const carol = await enter(browser, 'e2e-typing-elsewhere', 'Carol');
  await expect(alice.getByTestId('count')).toHaveText('2');

  await alice.getByLabel('Message').pressSequentially('hel');
  await expect(bob.getByTestId('typing')).toHaveText('Alice is typing…');
  await expect(alice.getByTestId('typing')).toHaveText('', { timeout: 1000 });

  // The chat arriving ends it at once.
  await alice.getByLabel('Message').pressSequentially('lo');
  await alice.getByLabel('Message').press('Enter');
  await expect(bob.getByTestId('chat')).toContainText('hello');
  await expect(bob.getByTestId('typing')).toHaveText('');

  // Typing that stops without a chat fades after four seconds without an event.
  await bob.getByLabel('Message').pressSequentially('wait');
  await expect(alice.getByTestId('typing')).toHaveText('Bob is typing…');
  await expect(alice.getByTestId('typing')).toHaveText('', { timeout: 8000 });

  // Another room hears none of it.
  await expect(carol.getByTestId('typing')).toHaveText('');
});
