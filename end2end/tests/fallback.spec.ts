import { test, expect, type Page } from '@playwright/test';
import { blockingProxy } from '../blocking_proxy';
import { cursorAt, enter, pointAt } from '../pages';

// The web app behind proxies that refuse WebSocket upgrades: it falls back to the event
// stream and POSTs after one refused upgrade, says so in its badge, and works as on a
// socket.

async function say(page: Page, text: string) {
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
}

test('behind proxies that block upgrades, two pages share a room over the fallback, and a dropped stream resumes with nothing lost', async ({
  browser,
}) => {
  const [annProxy, bobProxy] = [await blockingProxy(0), await blockingProxy(1)];
  try {
    const room = `e2e-fallback-${Date.now().toString(36)}`;
    const bob = await enter(browser, room, 'Bob', bobProxy.url);
    const ann = await enter(browser, room, 'Ann', annProxy.url);
    for (const page of [ann, bob]) {
      await expect(page.getByTestId('connection')).toHaveText('open · fallback');
      await expect(page.getByTestId('connection')).toHaveAttribute('data-transport', 'sse');
      await expect(page.getByTestId('count')).toHaveText('2');
    }
    await expect(ann.getByTestId('presence')).toContainText('Bob');

    await pointAt(bob, '[data-testid=board]', 0.3, 0.6);
    await expect.poll(async () => (await cursorAt(ann, 'Bob')).x).toBeCloseTo(30, 0);

    await say(ann, 'hello over the fallback');
    await expect(bob.getByTestId('chat').locator('li.message .text')).toHaveText(['hello over the fallback']);

    // Ann's network goes away under her stream: she reconnects, and resumes.
    annProxy.cut();
    await expect(ann.getByTestId('connection')).toHaveAttribute('data-status', 'reconnecting');
    for (const text of ['while', 'you', 'were out']) await say(bob, text);
    await expect(bob.getByTestId('chat').locator('li.message .text')).toHaveText(['hello over the fallback', 'while', 'you', 'were out']);
    await say(ann, 'typed while away');
    annProxy.restore();
    await expect(ann.getByTestId('connection')).toHaveText('open · fallback', { timeout: 15_000 });
    const expected = ['hello over the fallback', 'while', 'you', 'were out', 'typed while away'];
    await expect(ann.getByTestId('chat').locator('li.message .text')).toHaveText(expected);
    await expect(bob.getByTestId('chat').locator('li.message .text')).toHaveText(expected);
    await expect(ann.getByTestId('pending')).toHaveCount(0);
    // Her place was held through the drop: Bob saw no leave.
    await expect(bob.getByTestId('count')).toHaveText('2');
    await expect(bob.getByTestId('chat').locator('li.event')).toHaveText(['Ann joined']);
  } finally {
    annProxy.close();
    bobProxy.close();
  }
});
