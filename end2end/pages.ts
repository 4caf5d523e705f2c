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

/** Where `page` draws `who`'s cursor: its tip, in percent of the board (`board`, a selector). */
export async function cursorAt(page: Page, who: string, board = '[data-testid=board]'): Promise<{ x: number; y: number }> {
  const cursor = page.locator(`[data-testid=cursor][data-username="${who}"]`);
  const [tip, area] = [await cursor.boundingBox(), await page.locator(board).boundingBox()];
  if (!tip || !area) throw new Error(`no cursor of ${who} on ${board}`);
  // The board's border is 1 px; the cursor layer fills the board inside it.
  return { x: ((tip.x - area.x - 1) / (area.width - 2)) * 100, y: ((tip.y - area.y - 1) / (area.height - 2)) * 100 };
}
