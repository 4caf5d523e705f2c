import { test, expect, type Browser, type Page } from '@playwright/test';
import { cursorAt, cursorDrawn, enter, pointAt } from '../pages';

// What a user notices around the board: the presence list's order, the copy-link button,
// and a room that fits a phone.

test('the presence list shows you first, then everyone by name', async ({ browser }) => {
  const room = `e2e-order-${Date.now().toString(36)}`;
  const pages = [];
  for (const name of ['mallory', 'Carol', 'bob']) pages.push(await enter(browser, room, name));
  const alice = await enter(browser, room, 'Zed');
  await expect(alice.getByTestId('count')).toHaveText('4');
  await expect(alice.getByTestId('presence').locator('li .name')).toHaveText(['Zed', 'bob', 'Carol', 'mallory']);
  await expect(pages[1].getByTestId('presence').locator('li .name')).toHaveText(['Carol', 'bob', 'mallory', 'Zed']);
  // A rename moves its name to its place.
  await pages[0].getByLabel('Your name').fill('Aaron');
  await pages[0].getByRole('button', { name: 'Rename' }).click();
  await expect(alice.getByTestId('presence').locator('li .name')).toHaveText(['Zed', 'Aaron', 'bob', 'Carol']);
});

test('the copy button puts the room link on the clipboard', async ({ browser, baseURL }) => {
  const context = await browser.newContext();
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL });
  const page = await context.newPage();
  const room = `e2e-copy-${Date.now().toString(36)}`;
  await page.goto(`/r/${room}?username=Sharer`);
  await expect(page.getByTestId('connection')).toHaveAttribute('data-status', 'open');
  await page.getByTestId('copy-link').click();
  await expect(page.getByTestId('copy-result')).toHaveText('Link copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`${baseURL}/r/${room}`);
});

/** A phone's context: 390 px wide, touch, 2.75 device pixels per CSS pixel. */
async function phone(browser: Browser): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2.75,
    hasTouch: true,
    isMobile: true,
  });
  return context.newPage();
}

async function fitsTheScreen(page: Page) {
  const widths = await page.evaluate(() => ({ scroll: document.scrollingElement!.scrollWidth, inner: innerWidth }));
  expect(widths.scroll, JSON.stringify(widths)).toBeLessThanOrEqual(widths.inner);
}

test('on a phone the lobby and the room fit the screen, and a finger on the board moves the cursor', async ({ browser }) => {
  const room = `e2e-phone-${Date.now().toString(36)}`;
  const watcher = await enter(browser, room, 'Watcher');
  const page = await phone(browser);
  await page.goto('/');
  await expect(page.getByRole('button', { name: 'Enter' })).toBeVisible();
  await fitsTheScreen(page);
  await page.goto(`/r/${room}?username=Thumb`);
  await expect(page.getByTestId('connection')).toHaveAttribute('data-status', 'open');
  await fitsTheScreen(page);
  const board = await page.getByTestId('board').boundingBox();
  if (!board) throw new Error('no board');
  expect(board.width).toBeGreaterThan(390 * 0.9);

  // A touch drag across the board: the page does not scroll, the others see the cursor.
  const client = await page.context().newCDPSession(page);
  const at = (fx: number, fy: number) => ({ x: board.x + board.width * fx, y: board.y + board.height * fy });
  await client.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: [at(0.2, 0.3)] });
  for (let i = 1; i <= 10; i++) {
    await client.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: [at(0.2 + i * 0.05, 0.3 + i * 0.03)] });
  }
  await client.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await expect.poll(async () => (await cursorAt(watcher, 'Thumb')).x).toBeCloseTo(70, 0);
  expect((await cursorAt(watcher, 'Thumb')).y).toBeCloseTo(60, 0);
  expect(await page.evaluate(() => scrollY)).toBe(0);

  // The phone draws the watcher's cursor where it rests, at its fractional pixel ratio.
  await pointAt(watcher, '[data-testid=board]', 0.5, 0.5);
  await expect.poll(async () => (await cursorAt(page, 'Watcher')).x).toBeCloseTo(50, 0);
  await expect.poll(() => cursorDrawn(page, 'Watcher')).toBe(true);
});
