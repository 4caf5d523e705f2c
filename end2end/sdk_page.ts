import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';

// The TypeScript SDK's example page (clients/typescript/examples), served from an origin
// of its own as an app using the SDK would be: a static server the test starts on
// loopback (Chromium keeps pages of other address spaces off loopback). The server under
// test lets this origin in (FLOCK_ALLOWED_ORIGINS in playwright.config.ts).
const port = Number(process.env.FLOCK_E2E_PORT ?? 3100) + 99;
export const SDK_ORIGIN = `http://127.0.0.1:${port}`;

const root = path.resolve(__dirname, '../clients/typescript');
const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' };

/** Serves the SDK's directory (its build and examples) at SDK_ORIGIN; resolves to its stop. */
export async function serveSdk(): Promise<() => Promise<void>> {
  const server = createServer(async (request, response) => {
    let file = path.join(root, new URL(request.url ?? '/', SDK_ORIGIN).pathname);
    if (file.endsWith(path.sep)) file += 'index.html';
    const body = file.startsWith(root + path.sep) ? await readFile(file).catch(() => null) : null;
    if (!body) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
