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

/** What `page`'s cursor canvas shows where `who`'s cursor rests: the pixel inside the
 * arrow just below its tip and one well left of it (RGBA each), and the colour of `who`'s
 * presence dot; null before the cursor has rested anywhere. */
export async function cursorPixels(page: Page, who: string): Promise<{ inside: number[]; outside: number[]; color: string } | null> {
  const { x, y } = await cursorAt(page, who);
  if (Number.isNaN(x)) return null;
  const dot = page.getByTestId('presence').locator('li', { hasText: who }).locator('.dot');
  const color = await dot.evaluate((el) => getComputedStyle(el).backgroundColor);
  const [inside, outside] = await page.locator('.cursor-canvas').evaluate((canvas: HTMLCanvasElement, { x, y }) => {
    const context = canvas.getContext('2d');
    if (!context) throw new Error('no 2D context');
    const scale = canvas.width / canvas.clientWidth;
    const pixel = (dx: number, dy: number) => Array.from(context.getImageData(
      Math.round(((x / 100) * canvas.clientWidth + dx) * scale),
      Math.round(((y / 100) * canvas.clientHeight + dy) * scale), 1, 1).data);
    return [pixel(3, 9), pixel(-6, 9)];
  }, { x, y });
  return { inside, outside, color };
}

/** Whether `page`'s cursor canvas shows `who`'s cursor, opaque and in `who`'s colour,
 * where it rests, with nothing drawn just left of it. */
export async function cursorDrawn(page: Page, who: string): Promise<boolean> {
  const pixels = await cursorPixels(page, who);
  if (!pixels) return false;
  const [r, g, b, a] = pixels.inside;
  return a === 255 && pixels.outside[3] === 0 && pixels.color === `rgb(${r}, ${g}, ${b})`;
}
