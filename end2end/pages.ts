import { expect, type Browser, type Page } from '@playwright/test';

/** Opens a fresh browser context (its own storage) on a room as `name`, once the socket is
 * open; `via` is another address of the server (a proxy), else the configured one. */
export async function enter(browser: Browser, room: string, name: string, via = ''): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${via}/r/${room}?username=${encodeURIComponent(name)}`);
  await expect(page.getByTestId('connection')).toHaveAttribute('data-status', 'open');
  return page;
}

/** Moves `page`'s mouse to the fractions `x`, `y` of the element `board` (a selector). */
export async function pointAt(page: Page, board: string, x: number, y: number): Promise<void> {
  const box = await page.locator(board).boundingBox();
  if (!box) throw new Error(`no ${board}`);
  await page.mouse.move(box.x + box.width * x, box.y + box.height * y);
}
