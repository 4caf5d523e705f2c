import { test, expect, type Page } from '@playwright/test';
import { cursorAt, cursorDrawn, cursorPixels, enter } from '../pages';
import { startServer } from '../server';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

async function say(page: Page, text: string, to?: string) {
  if (to) await page.getByLabel('Send to').selectOption({ label: to });
  await page.getByLabel('Message').fill(text);
  await page.getByLabel('Message').press('Enter');
}

test('two people in a room see each other, their cursors and their chat; another room sees none of it', async ({ browser }) => {
  const alice = await enter(browser, 'e2e-room', 'Alice');
  const bob = await enter(browser, 'e2e-room', 'Bob');
  const carol = await enter(browser, 'e2e-elsewhere', 'Carol');

  for (const page of [alice, bob]) {
    await expect(page.getByTestId('presence')).toContainText('Alice');
    await expect(page.getByTestId('presence')).toContainText('Bob');
    await expect(page.getByTestId('count')).toHaveText('2');
  }

  // Alice moves across the board; Bob sees her cursor follow, with her name on it.
  const board = await alice.getByTestId('board').boundingBox();
  if (!board) throw new Error('no board');
  await alice.mouse.move(board.x + board.width * 0.25, board.y + board.height * 0.4);
  const aliceOnBob = bob.locator('[data-testid=cursor][data-username="Alice"]');
  await expect(aliceOnBob).toContainText('Alice');
  await expect.poll(async () => (await cursorAt(bob, 'Alice')).x).toBeCloseTo(25, 0);
  expect((await cursorAt(bob, 'Alice')).y).toBeCloseTo(40, 0);
  await expect.poll(() => cursorDrawn(bob, 'Alice')).toBe(true);
  await alice.mouse.move(board.x + board.width * 0.75, board.y + board.height * 0.6, { steps: 5 });
  await expect.poll(async () => (await cursorAt(bob, 'Alice')).x).toBeCloseTo(75, 0);
  expect((await cursorAt(bob, 'Alice')).y).toBeCloseTo(60, 0);
  await expect.poll(() => cursorDrawn(bob, 'Alice')).toBe(true);
  // Nobody draws their own cursor.
  await expect(alice.locator('[data-testid=cursor][data-username="Alice"]')).toHaveCount(0);
  // A cursor left still fades out after a few seconds: no ghosts.
  await expect.poll(async () => (await cursorPixels(bob, 'Alice'))?.inside[3], { timeout: 10_000 }).toBe(0);

  // Chat both ways, rendered as text.
  await say(alice, 'hello from Alice');
  await expect(bob.getByTestId('chat')).toContainText('hello from Alice');
  await say(bob, 'hi <b>Alice</b>');
  await expect(alice.getByTestId('chat')).toContainText('hi <b>Alice</b>');
  await expect(alice.getByTestId('chat').locator('b')).toHaveCount(0);

  // A direct message shows for its two parties only.
  await say(alice, 'just for Bob', 'Bob');
  await expect(bob.getByTestId('chat')).toContainText('just for Bob');
  await expect(alice.getByTestId('chat')).toContainText('just for Bob');

  // State shows in everyone's presence list.
  await bob.getByLabel('Status').fill('reviewing');
  await bob.getByLabel('Status').press('Enter');
  await expect(alice.getByTestId('presence').locator('li', { hasText: 'Bob' })).toContainText('reviewing');

  // Carol, in another room, saw none of it.
  await expect(carol.getByTestId('count')).toHaveText('1');
  await expect(carol.getByTestId('presence')).not.toContainText('Alice');
  await expect(carol.getByTestId('chat')).not.toContainText('Alice');
  await expect(carol.getByTestId('chat')).not.toContainText('Bob');
  await expect(carol.locator('[data-testid=cursor]')).toHaveCount(0);

  // Bob leaves: Alice sees him go.
  await bob.context().close();
  await expect(alice.getByTestId('count')).toHaveText('1');
  await expect(alice.getByTestId('chat')).toContainText('Bob left');
});

// Holds every WebSocket in the page unconnected until the test calls window.__releaseSockets(),
// so the page runs as if the network were slow to open the socket. window.__dropSockets()
// cuts the open ones and holds new ones again, as a network outage would.
const holdSockets = () => {
  const Real = window.WebSocket;
  const waiting: Array<() => void> = [];
  const live: WebSocket[] = [];
  let released = false;
  (window as any).__socketsWaiting = () => waiting.length;
  (window as any).__releaseSockets = () => {
    released = true;
    waiting.splice(0).forEach((start) => start());
  };
  (window as any).__dropSockets = () => {
    released = false;
    live.splice(0).forEach((socket) => socket.close(4000, 'network down'));
  };
  function HeldSocket(this: any, url: string, protocols?: string | string[]) {
    const shim: any = {
      url, readyState: 0, binaryType: 'blob', onopen: null, onmessage: null, onclose: null, onerror: null,
      send() { throw new DOMException('still connecting', 'InvalidStateError'); },
      close() { shim.closed = true; },
    };
    const start = () => {
      if (shim.closed) return;
      const real = new Real(url, protocols);
      live.push(real);
      shim.send = (data: string) => real.send(data);
      shim.close = (code?: number, reason?: string) => real.close(code, reason);
      real.onopen = (e) => { shim.readyState = 1; shim.onopen?.(e); };
      real.onmessage = (e) => shim.onmessage?.(e);
      real.onerror = (e) => shim.onerror?.(e);
      real.onclose = (e) => { shim.readyState = 3; shim.onclose?.(e); };
    };
    if (released) start(); else waiting.push(start);
    return shim;
  }
  (window as any).WebSocket = HeldSocket;
};

test('messages sent before the socket opens are delivered, in order, once it does', async ({ browser }) => {
  const watcher = await enter(browser, 'e2e-early', 'Watcher');
  const context = await browser.newContext();
  const early = await context.newPage();
  await early.addInitScript(holdSockets);
  await early.goto('/r/e2e-early?username=Early');
  // The page is live (hydrated, socket requested) but the socket is not open yet.
  await expect.poll(() => early.evaluate(() => (window as any).__socketsWaiting())).toBe(1);
  await expect(early.getByTestId('connection')).toHaveAttribute('data-status', 'connecting');
  await say(early, 'first, before open');
  await say(early, 'second, before open');
  await expect(early.getByLabel('Message')).toHaveValue('');

  await early.evaluate(() => (window as any).__releaseSockets());
  await expect(early.getByTestId('connection')).toHaveAttribute('data-status', 'open');
  const lines = watcher.getByTestId('chat').locator('li.message .text');
  await expect(lines).toHaveText(['first, before open', 'second, before open']);
  await expect(early.getByTestId('chat').locator('li.message .text')).toHaveText(['first, before open', 'second, before open']);
});

test('the lobby lists live rooms and enters one with the chosen name', async ({ browser }) => {
  const host = await enter(browser, 'e2e-lobby', 'Host');
  const page = await (await browser.newContext()).newPage();
  await page.goto('/');
  await expect(page.getByTestId('rooms')).toContainText('e2e-lobby');
  await page.getByLabel('Your name').fill('Guest Star');
  await page.getByLabel('Room').fill('e2e-lobby');
  await page.getByRole('button', { name: 'Enter' }).click();
  await expect(page).toHaveURL(/\/r\/e2e-lobby/);
  await expect(page.getByTestId('connection')).toHaveAttribute('data-status', 'open');
  await expect(page.getByTestId('presence')).toContainText('Host');
  await expect(host.getByTestId('presence')).toContainText('Guest Star');

  // A bad room name is explained, not submitted. The room list comes from the page's own
  // code: once it shows, the form is the page's too (a click before that would submit it
  // natively).
  await page.goto('/');
  await expect(page.getByTestId('rooms')).toContainText('e2e-lobby');
  await page.getByLabel('Room').fill('no spaces please');
  await page.getByRole('button', { name: 'Enter' }).click();
  await expect(page.getByRole('alert').first()).toContainText('room must be');
  await expect(page).toHaveURL(/\/$/);
});

test('a dropped socket shows reconnecting, resumes by itself without the others seeing a leave, and delivers what was typed meanwhile once', async ({ browser }) => {
  const watcher = await enter(browser, 'e2e-drop', 'Watcher');
  const page = await (await browser.newContext()).newPage();
  await page.addInitScript(holdSockets);
  await page.addInitScript(() => (window as any).__releaseSockets());
  await page.goto('/r/e2e-drop?username=Flaky');
  await expect(page.getByTestId('connection')).toHaveAttribute('data-status', 'open');
  await expect(watcher.getByTestId('presence')).toContainText('Flaky');
  await say(page, 'before the drop');
  await expect(watcher.getByTestId('chat').locator('li.message .text')).toHaveText(['before the drop']);

  await page.evaluate(() => (window as any).__dropSockets());
  await expect(page.getByTestId('connection')).toHaveAttribute('data-status', 'reconnecting');
  // The page keeps trying: a new socket is already waiting for the network.
  await expect.poll(() => page.evaluate(() => (window as any).__socketsWaiting())).toBeGreaterThan(0);
  await say(page, 'typed while offline');
  await expect(page.getByTestId('pending')).toHaveText(/typed while offline/);

  await page.evaluate(() => (window as any).__releaseSockets());
  await expect(page.getByTestId('connection')).toHaveAttribute('data-status', 'open');
  const expected = ['before the drop', 'typed while offline'];
  await expect(watcher.getByTestId('chat').locator('li.message .text')).toHaveText(expected);
  await expect(page.getByTestId('chat').locator('li.message .text')).toHaveText(expected);
  await expect(page.getByTestId('pending')).toHaveCount(0);
  // Flaky's place was held through the drop: the watcher saw no leave and no join again.
  await expect(watcher.getByTestId('count')).toHaveText('2');
  await expect(watcher.getByTestId('chat').locator('li.event')).toHaveText(['Flaky joined']);
});

test('the server dies and comes back under open pages: they show reconnecting, resume, and what was typed meanwhile arrives once', async ({ browser }) => {
  const port = Number(process.env.FLOCK_E2E_RESTART_PORT ?? 3101);
  const dataDir = mkdtempSync(path.join(tmpdir(), 'flock-restart-'));
  let server = await startServer(port, dataDir);
  try {
    const open = async (name: string) => {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`http://127.0.0.1:${port}/r/e2e-restart?username=${name}`);
      await expect(page.getByTestId('connection')).toHaveAttribute('data-status', 'open');
      return page;
    };
    const watcher = await open('Watcher');
    const phoenix = await open('Phoenix');
    await say(phoenix, 'before the crash');
    await expect(watcher.getByTestId('chat').locator('li.message .text')).toHaveText(['before the crash']);

    server.kill('SIGKILL');
    await expect(phoenix.getByTestId('connection')).toHaveAttribute('data-status', 'reconnecting');
    await expect(watcher.getByTestId('connection')).toHaveAttribute('data-status', 'reconnecting');
    await say(phoenix, 'typed while the server was down');
    await expect(phoenix.getByTestId('pending')).toHaveText(/typed while the server was down/);

    server = await startServer(port, dataDir);
    await expect(phoenix.getByTestId('connection')).toHaveAttribute('data-status', 'open', { timeout: 15_000 });
    await expect(watcher.getByTestId('connection')).toHaveAttribute('data-status', 'open', { timeout: 15_000 });
    const expected = ['before the crash', 'typed while the server was down'];
    await expect(watcher.getByTestId('chat').locator('li.message .text')).toHaveText(expected);
    await expect(phoenix.getByTestId('chat').locator('li.message .text')).toHaveText(expected);
    await expect(phoenix.getByTestId('pending')).toHaveCount(0);
    await expect(watcher.getByTestId('presence')).toContainText('Phoenix');
    await expect(watcher.getByTestId('count')).toHaveText('2');
  } finally {
    server.kill('SIGKILL');
  }
});

test('the admin page shows live connections, message rates and the busiest rooms', async ({ browser }) => {
  const host = await enter(browser, 'e2e-admin', 'Host');
  const admin = await (await browser.newContext()).newPage();
  await admin.goto('/admin');
  await expect(admin.getByTestId('admin-rooms-list')).toContainText('e2e-admin');
  await expect.poll(async () => Number(await admin.getByTestId('admin-connections').textContent())).toBeGreaterThan(0);
  // Moving the cursor makes messages flow in, which the rate chart picks up.
  const board = host.getByTestId('board');
  const box = (await board.boundingBox())!;
  let step = 0;
  await expect.poll(async () => {
    step += 1;
    await host.mouse.move(box.x + 10 + (step % 50) * 5, box.y + 10 + (step % 30) * 3);
    return Number(await admin.getByTestId('admin-in').textContent());
  }).toBeGreaterThan(0);
  await expect(admin.locator('figure.chart polyline').first()).toHaveAttribute('points', /,/);
  await expect(admin.getByTestId('admin-bus')).toHaveText('single node');
  // Each chart has its scale and its time axis, and words keep their spaces.
  await expect(admin.getByTestId('chart-scale').first()).toContainText('0');
  await expect(admin.getByTestId('chart-time').first()).toHaveText(/min ago.*now/);
  await expect(admin.getByTestId('admin-nodes')).not.toContainText('one)1');
  const node = admin.getByTestId('admin-nodes').locator('li').first();
  expect(await node.evaluate((li) => (li as HTMLElement).innerText)).toMatch(/\(this one\)\s+\d+ connections/);
  await expect.poll(async () => Number(await admin.getByTestId('admin-cluster-connections').textContent())).toBeGreaterThan(0);
  await expect(admin.getByTestId('admin-nodes')).toContainText('(this one)');
});
