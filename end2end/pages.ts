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

/** Where `who`'s cursor came to rest on `page`, in percent of the board: what its hidden
 * element says (`data-x`, `data-y`), NaN before it has rested anywhere. */
export async function cursorAt(page: Page, who: string): Promise<{ x: number; y: number }> {
  const cursor = page.locator(`[data-testid=cursor][data-username="${who}"]`);
  const [x, y] = [await cursor.getAttribute('data-x'), await cursor.getAttribute('data-y')];
  return { x: x === null ? NaN : Number(x) * 100, y: y === null ? NaN : Number(y) * 100 };
}

/** Whether `page`'s cursor canvas shows `who`'s cursor where it rests: the pixel inside
 * the arrow, just below its tip, is opaque in the colour of `who`'s presence dot, and one
 * well left of the tip is empty. */
export async function cursorDrawn(page: Page, who: string): Promise<boolean> {
  const { x, y } = await cursorAt(page, who);
  if (Number.isNaN(x)) return false;
  const dot = page.getByTestId('presence').locator('li', { hasText: who }).locator('.dot');
  const color = await dot.evaluate((el) => getComputedStyle(el).backgroundColor);
  return page.locator('.cursor-canvas').evaluate((canvas: HTMLCanvasElement, { x, y, color }) => {
    const context = canvas.getContext('2d');
    if (!context) return false;
    const scale = canvas.width / canvas.clientWidth;
    const pixel = (dx: number, dy: number) => Array.from(context.getImageData(
      Math.round(((x / 100) * canvas.clientWidth + dx) * scale),
      Math.round(((y / 100) * canvas.clientHeight + dy) * scale), 1, 1).data);
    const [r, g, b, a] = pixel(3, 9);
    const [, , , empty] = pixel(-6, 9);
    return a === 255 && empty === 0 && color === `rgb(${r}, ${g}, ${b})`;
  }, { x, y, color });
}
