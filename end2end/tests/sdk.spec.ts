import { test, expect } from '@playwright/test';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import { cursorAt, enter, pointAt } from '../pages';
import { SDK_ORIGIN, serveSdk } from '../sdk_page';

// The TypeScript SDK as its users get it: the package's build (clients/typescript/dist,
// which `npm test` there makes), driven from Node beside a page of the web app.
const sdkBuild = pathToFileURL(path.resolve(__dirname, '../../clients/typescript/dist/index.js')).href;

test('two SDK clients and a page of the web app share a room: presence, cursors, state and chat both ways', async ({
  browser,
  baseURL,
}) => {
  const { FlockClient } = await import(sdkBuild);
  const room = `e2e-sdk-${Date.now().toString(36)}`;
  const page = await enter(browser, room, 'Carol');
  const ann = new FlockClient({ url: baseURL, room, username: 'Ann', WebSocket });
  const bob = new FlockClient({ url: baseURL, room, username: 'Bob', WebSocket });
  try {
    await expect(page.getByTestId('count')).toHaveText('3');
    await expect(page.getByTestId('presence')).toContainText('Ann');
    await expect(page.getByTestId('presence')).toContainText('Bob');
    const names = (client: { users: { username: string }[] }) => client.users.map((u) => u.username).sort();
    await expect.poll(() => names(ann)).toEqual(['Ann', 'Bob', 'Carol']);
    await expect.poll(() => names(bob)).toEqual(['Ann', 'Bob', 'Carol']);

    // An SDK cursor shows on the page with its name; the page's shows in the SDK.
    bob.cursor(0.3, 0.6);
    const bobOnPage = page.locator('[data-testid=cursor][data-username="Bob"]');
    await expect(bobOnPage).toContainText('Bob');
    await expect.poll(async () => (await cursorAt(page, 'Bob')).x).toBeCloseTo(30, 0);
    await pointAt(page, '[data-testid=board]', 0.75, 0.25);
    const carolOnAnn = () => ann.users.find((u: { username: string }) => u.username === 'Carol')?.cursor?.x ?? 0;
    await expect.poll(carolOnAnn).toBeCloseTo(0.75, 1);

    // State set through the SDK shows in the page's presence list.
    bob.setState({ status: 'reviewing' });
    await expect(page.getByTestId('presence').locator('li', { hasText: 'Bob' })).toContainText('reviewing');

    // Chat both ways.
    const { seq } = await ann.chat('hello from the SDK');
    expect(seq).toBeGreaterThan(0);
    await expect(page.getByTestId('chat')).toContainText('hello from the SDK');
    const heard = new Promise<string>((resolve) =>
      bob.on('chat', (chat: { text: string; username: string }) => {
        if (chat.username === 'Carol') resolve(chat.text);
      }),
    );
    await page.getByLabel('Message').fill('hi SDK');
    await page.getByLabel('Message').press('Enter');
    expect(await heard).toBe('hi SDK');

    // An SDK client leaving is seen on the page at once.
    ann.close();
    await expect(page.getByTestId('count')).toHaveText('2');
  } finally {
    ann.close();
    bob.close();
  }
});

test('the SDK example page, in the browser, shows the room live beside a page of the web app', async ({
  browser,
  baseURL,
}) => {
  const room = `e2e-sdk-page-${Date.now().toString(36)}`;
  const carol = await enter(browser, room, 'Carol');
  const stop = await serveSdk();
  try {
    const context = await browser.newContext();
    const example = await context.newPage();
    const query = new URLSearchParams({ server: baseURL ?? '', room, name: 'Dan' });
    await example.goto(`${SDK_ORIGIN}/examples/?${query}`);
    await expect(example.locator('#status')).toHaveText('open');
    await expect(example.locator('#people')).toContainText('Carol');
    await expect(carol.getByTestId('presence')).toContainText('Dan');

    // Carol's cursor glides into place on the example page, under her name.
    await pointAt(carol, '[data-testid=board]', 0.4, 0.5);
    const cursor = example.locator('.cursor', { hasText: 'Carol' });
    await expect.poll(() => cursor.evaluate((el) => parseFloat((el as HTMLElement).style.left))).toBeCloseTo(40, 0);
    // Dan's pointer over the example's board moves his cursor on Carol's page.
    await pointAt(example, '#board', 0.6, 0.3);
    const dan = carol.locator('[data-testid=cursor][data-username="Dan"]');
    await expect(dan).toBeAttached();
    await expect.poll(async () => (await cursorAt(carol, 'Dan')).x).toBeCloseTo(60, 0);

    // Chat both ways.
    await example.getByLabel('Message').fill('hello from the example');
    await example.getByLabel('Message').press('Enter');
    await expect(carol.getByTestId('chat')).toContainText('hello from the example');
    await carol.getByLabel('Message').fill('hi Dan');
    await carol.getByLabel('Message').press('Enter');
    await expect(example.locator('#log')).toContainText('Carol: hi Dan');
  } finally {
    await stop();
  }
});
