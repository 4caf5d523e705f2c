import { test, expect, type Page } from '@playwright/test';
import { enter } from '../pages';

/** Sends `count` chats, `line 1` to `line <count>`, and waits until all are acknowledged. */
async function say(page: Page, count: number) {
  for (let i = 1; i <= count; i++) {
    await page.getByLabel('Message').fill(`line ${i}`);
    await page.getByLabel('Message').press('Enter');
  }
  await expect(page.getByTestId('pending')).toHaveCount(0);
}

test('a newcomer sees the newest 50 chats and loads the earlier ones by scrolling back', async ({ browser }) => {
  const alice = await enter(browser, 'e2e-history', 'Alice');
  await say(alice, 60);

  const bob = await enter(browser, 'e2e-history', 'Bob');
  const lines = bob.locator('[data-testid=chat] li.message');
  await expect(lines).toHaveCount(50);
  await expect(lines.first()).toContainText('line 11');
  await bob.getByRole('button', { name: 'Load earlier messages' }).click();
  await expect(lines).toHaveCount(60);
  await expect(lines.first()).toContainText('line 1');
  await expect(lines.last()).toContainText('line 60');
  await expect(bob.getByRole('button', { name: 'Load earlier messages' })).toHaveCount(0);
});

test('scrolling the chat to the top loads the earlier messages without a click', async ({ browser }) => {
  const alice = await enter(browser, 'e2e-history-scroll', 'Alice');
  await say(alice, 60);

  const bob = await enter(browser, 'e2e-history-scroll', 'Bob');
  const lines = bob.locator('[data-testid=chat] li.message');
  await expect(lines).toHaveCount(50);
  const chat = bob.getByTestId('chat');
  // The list overflows (50 lines), so scrolling is real: to the bottom, then to the top.
  expect(await chat.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);
  await chat.evaluate((el) => { el.scrollTop = el.scrollHeight; });
  await chat.evaluate((el) => { el.scrollTop = 0; });
  await expect(lines).toHaveCount(60);
  await expect(lines.first()).toContainText('line 1');
});
