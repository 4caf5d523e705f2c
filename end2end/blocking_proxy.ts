import path from 'node:path';
import { pathToFileURL } from 'node:url';

// Proxies in front of the server under test that refuse WebSocket upgrades and pass the
// rest of HTTP, as some corporate proxies do (the SDK's test proxy, clients/typescript/
// test/proxy.mjs). Each has a fixed port, so that the server can let its origin in
// (FLOCK_ALLOWED_ORIGINS in playwright.config.ts).
const serverPort = Number(process.env.FLOCK_E2E_PORT ?? 3100);
const proxyPorts = [serverPort + 97, serverPort + 98];
export const BLOCKING_ORIGINS = proxyPorts.map((port) => `http://127.0.0.1:${port}`);

const proxyModule = pathToFileURL(path.resolve(__dirname, '../clients/typescript/test/proxy.mjs')).href;

export interface Proxy {
  url: string;
  /** Drops every connection through it and refuses new ones until `restore`. */
  cut(): void;
  restore(): void;
  close(): void;
}

/** Starts the `index`th (0 or 1) blocking proxy. */
export async function blockingProxy(index: number): Promise<Proxy> {
  const { startProxy } = await import(proxyModule);
  return startProxy(`127.0.0.1:${serverPort}`, { refuseUpgrades: true, port: proxyPorts[index] });
}
