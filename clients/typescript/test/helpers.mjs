import WebSocket from 'ws';
import { FlockClient } from '../dist/index.js';

/** The transport the tests run over: `FLOCK_SDK_TRANSPORT=sse` runs them on the fallback. */
export const transport = process.env.FLOCK_SDK_TRANSPORT ?? 'auto';

/** A client on Node 20 (no global WebSocket: the `ws` package's). */
export function client(server, options) {
  return new FlockClient({ url: server.url, WebSocket, transport, reconnect: { minMs: 50, maxMs: 500 }, ...options });
}

/** Resolves with the first `type` event `pick` accepts (within `ms`), else rejects. */
export function next(flock, type, pick = () => true, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} within ${ms} ms`));
    }, ms);
    const off = flock.on(type, (value) => {
      if (!pick(value)) return;
      clearTimeout(timer);
      off();
      resolve(value);
    });
  });
}

/** Every chat `flock` surfaces, in order. */
export function chats(flock) {
  const seen = [];
  flock.on('chat', (chat) => seen.push(chat));
  return seen;
}

/** A room name no other test uses. */
export function freshRoom() {
  return `sdk-${Math.random().toString(36).slice(2, 10)}`;
}

/** Resolves once `flock` is open (at once if it is). */
export function opened(flock) {
  return flock.status === 'open' ? Promise.resolve() : next(flock, 'status', (s) => s === 'open');
}

/** Ann (through `annAt`) and Bob (through `bobAt`) in a fresh room, both open; closed
 * when test `t` ends. */
export async function pair(t, annAt, bobAt) {
  const room = freshRoom();
  const ann = client(annAt, { room, username: 'ann' });
  const bob = client(bobAt, { room, username: 'bob' });
  t.after(() => ann.close());
  t.after(() => bob.close());
  await Promise.all([opened(ann), opened(bob)]);
  return { ann, bob, room };
}
