// flock-client behind a proxy that blocks WebSocket upgrades: it falls back to the event
// stream and POSTs, shares a room with a client on a WebSocket, and resumes a dropped
// stream with nothing lost. (The whole of client.test.mjs also runs on the fallback.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chats, client, freshRoom, next, opened } from './helpers.mjs';
import { startProxy } from './proxy.mjs';
import { startServer } from './server.mjs';

let server;
let proxy;
before(async () => {
  server = await startServer();
  proxy = await startProxy(server.addr, { refuseUpgrades: true });
});
after(async () => {
  proxy.close();
  await server.kill();
});

test('a client whose upgrades are blocked falls back and is heard both ways', async (t) => {
  const room = freshRoom();
  const ann = client({ url: proxy.url }, { room, username: 'ann', transport: 'auto' });
  const bob = client(server, { room, username: 'bob', transport: 'websocket' });
  t.after(() => ann.close());
  t.after(() => bob.close());
  const timeline = [];
  ann.on('status', (status) => timeline.push(status));
  await Promise.all([opened(ann), opened(bob)]);
  assert.equal(ann.transport, 'sse');
  assert.equal(bob.transport, 'websocket');
  assert.deepEqual(timeline, ['reconnecting', 'open'], 'one refused upgrade, then the fallback');
  if (!bob.users.some((u) => u.username === 'ann')) await next(bob, 'joined', (m) => m.user.username === 'ann');

  const moved = next(bob, 'cursors', (m) => m.moves.some((mv) => mv.id === ann.me.id));
  const state = next(bob, 'state', (m) => m.id === ann.me.id);
  const event = next(bob, 'event', (e) => e.name === 'wave');
  ann.cursor(0.5, 0.25);
  ann.setState({ mood: 'fine' });
  ann.emit('wave', { hand: 'left' });
  await moved;
  assert.deepEqual((await state).state, { mood: 'fine' });
  assert.deepEqual((await event).data, { hand: 'left' });

  const seenByAnn = chats(ann);
  const sent = await Promise.all(['one', 'two', 'three'].map((text) => ann.chat(text)));
  assert.deepEqual(sent.map((s) => s.seq), [sent[0].seq, sent[0].seq + 1, sent[0].seq + 2], 'in order');
  const back = next(ann, 'chat', (c) => c.text === 'back');
  await bob.chat('back');
  await back;
  assert.deepEqual(seenByAnn.map((c) => c.text), ['one', 'two', 'three', 'back']);

  const left = next(bob, 'left', (m) => m.id === ann.me.id);
  ann.close();
  await left;
});

test('a dropped stream resumes with nothing lost and nothing twice', async (t) => {
  const own = await proxyOfOwn(t);
  const room = freshRoom();
  const ann = client({ url: own.url }, { room, username: 'ann', transport: 'auto' });
  const bob = client(server, { room, username: 'bob', transport: 'websocket' });
  t.after(() => ann.close());
  t.after(() => bob.close());
  await Promise.all([opened(ann), opened(bob)]);
  assert.equal(ann.transport, 'sse');
  const seenByAnn = chats(ann);
  const first = next(ann, 'chat', (c) => c.text === 'before');
  await bob.chat('before');
  await first;

  const away = next(ann, 'status', (s) => s === 'reconnecting');
  own.cut();
  await away;
  const mine = next(ann, 'chat', (c) => c.text === 'sent while away', 20_000);
  const during = ann.chat('sent while away');
  for (const text of ['while', 'you', 'were out']) await bob.chat(text);
  const last = next(ann, 'chat', (c) => c.text === 'were out');
  own.restore();
  await last;
  await Promise.all([during, mine]);
  assert.equal(ann.transport, 'sse', 'still on the fallback');
  const texts = seenByAnn.map((c) => c.text);
  assert.deepEqual(texts.filter((t) => t !== 'sent while away'), ['before', 'while', 'you', 'were out']);
  assert.equal(texts.filter((t) => t === 'sent while away').length, 1, texts.join(', '));
  const seqs = seenByAnn.map((c) => c.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
});

/** An upgrade-refusing proxy of this test's own, to cut. */
async function proxyOfOwn(t) {
  const own = await startProxy(server.addr, { refuseUpgrades: true });
  t.after(() => own.close());
  return own;
}

test('a refused stream says why, as a refused upgrade does', async (t) => {
  const ann = client({ url: proxy.url }, { room: 'bad room', username: 'ann', transport: 'sse' });
  const closed = next(ann, 'closed');
  t.after(() => ann.close());
  const why = await closed;
  assert.equal(why.code, 400);
  assert.match(why.reason, /room/);
  assert.equal(ann.status, 'closed');
});
