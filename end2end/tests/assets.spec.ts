import { test, expect, type Page } from '@playwright/test';

// The bundle is served under names that carry a hash of its content, as `immutable` for a
// year: a return visit takes it from the browser's cache without asking the server.
test('the bundle has hashed names the browser keeps, and a return visit does not ask for them again', async ({ context }) => {
  const visit = async (page: Page, room: string) => {
    const client = await page.context().newCDPSession(page);
    await client.send('Network.enable');
    const seen: { name: string; cached: boolean; cacheControl: string }[] = [];
    client.on('Network.responseReceived', ({ response }) => {
      const url = new URL(response.url);
      if (!url.pathname.startsWith('/pkg/')) return;
      const cacheControl = Object.entries(response.headers).find(([k]) => k.toLowerCase() === 'cache-control')?.[1];
      seen.push({ name: url.pathname.slice(5), cached: !!(response.fromDiskCache || response.fromMemoryCache), cacheControl: String(cacheControl) });
    });
    await page.goto(`/r/${room}?username=Ann`);
    await expect(page.getByTestId('connection')).toHaveAttribute('data-status', 'open');
    return seen;
  };
  const first = await visit(await context.newPage(), `e2e-assets-${Date.now().toString(36)}`);
  expect(first.map((f) => f.name.split('.').pop()).sort()).toEqual(['css', 'js', 'wasm']);
  for (const file of first) {
    expect(file.name).toMatch(/^flock\.[A-Za-z0-9_-]{16,}\.(js|wasm|css)$/);
    expect(file.cacheControl).toBe('public, max-age=31536000, immutable');
  }
  // The JS glue and the CSS come from the cache. The debug build's WASM (7 MB) is over
  // what a fresh context's in-memory cache keeps per entry; the release bundle's return
  // visit is in perf/cold-load.spec.ts.
  const again = await visit(await context.newPage(), `e2e-assets-again-${Date.now().toString(36)}`);
  expect(again.filter((f) => f.cached).map((f) => f.name.split('.').pop()).sort()).toEqual(
    expect.arrayContaining(['css', 'js']),
  );
});
