// flock-client against a real Flock server (the binary cargo built), over real WebSockets.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ChatRefused, FrameTooLarge, QueueFullError } from '../dist/index.js';
import { chats, client, freshRoom, next, opened, pair } from './helpers.mjs';
import { startProxy } from './proxy.mjs';
import { startServer } from './server.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.kill();
});

test('every message type goes both ways between two clients', async (t) => {
  const room = freshRoom();
  const ann = client(server, { room, username: 'ann' });
  t.after(() => ann.close());
  await next(ann, 'welcome');
  assert.equal(ann.status, 'open');
  assert.equal(ann.me?.username, 'ann');
  const joined = next(ann, 'joined');
  const bob = client(server, { room, username: 'bob' });
  t.after(() => bob.close());
  const bobId = (await joined).user.id;
  await opened(bob);
  assert.deepEqual(ann.users.map((u) => u.username).sort(), ['ann', 'bob']);
  assert.deepEqual(bob.users.map((u) => u.username).sort(), ['ann', 'bob']);

  const moved = next(ann, 'cursors', (m) => m.moves.some((mv) => mv.id === bobId));
  bob.cursor(0.25, 0.75);
  const move = (await moved).moves.find((mv) => mv.id === bobId);
  assert.deepEqual([move.x, move.y], [0.25, 0.75]);
  assert.deepEqual(ann.users.find((u) => u.id === bobId).cursor, { x: 0.25, y: 0.75 });

  const presence = next(ann, 'presence', (users) => users.some((u) => u.state.mood === 'busy'));
  const state = next(ann, 'state');
  bob.setState({ mood: 'busy' });
  assert.deepEqual((await state).state, { mood: 'busy' });
  await presence;
  const renamed = next(ann, 'renamed');
  bob.rename('robert');
  assert.equal((await renamed).username, 'robert');
  assert.equal(ann.users.find((u) => u.id === bobId).username, 'robert');

  const heard = next(ann, 'chat', (c) => c.text === 'hello room');
  const { seq } = await bob.chat('hello room');
  assert.equal((await heard).seq, seq);
  const direct = next(ann, 'chat', (c) => c.text === 'psst');
  const copy = next(bob, 'chat', (c) => c.text === 'psst');
  await bob.chat('psst', { to: ann.me.id });
  assert.equal((await direct).to, ann.me.id);
  await copy;

  const event = next(ann, 'event', (e) => e.name === 'typing');
  bob.emit('typing', { on: true });
  const got = await event;
  assert.deepEqual([got.from, got.data], [bobId, { on: true }]);

  const page = next(bob, 'history');
  bob.history({ after: 0, limit: 10 });
  assert.deepEqual((await page).chats.map((c) => c.text), ['hello room', 'psst']);

  const error = next(bob, 'error');
  await assert.rejects(bob.chat('x'.repeat(3000)), (err) => err instanceof ChatRefused && err.code === 'too_large');
  assert.equal((await error).code, 'too_large');

  const left = next(ann, 'left', (m) => m.id === bobId);
  bob.close();
  await left;
  assert.equal(bob.status, 'closed');
  assert.deepEqual(ann.users.map((u) => u.username), ['ann']);
  await assert.rejects(bob.chat('after close'), { name: 'ClientClosed' });
});

test('what is sent before the connection opens goes out in order once it does', async (t) => {
  const room = freshRoom();
  const ann = client(server, { room, username: 'ann' });
  t.after(() => ann.close());
  await next(ann, 'welcome');
  const seen = [];
  for (const type of ['state', 'event', 'renamed']) ann.on(type, (m) => seen.push(m.type));
  const heard = next(ann, 'chat', (c) => c.text === 'queued chat');
  const bob = client(server, { room, username: 'bob' });
  t.after(() => bob.close());
  assert.equal(bob.status, 'connecting');
  const renamed = next(ann, 'renamed');
  bob.setState({ step: 1 });
  bob.emit('wave', null, { to: 'room' });
  const acked = bob.chat('queued chat');
  bob.rename('bobby');
  assert.equal((await acked).seq, (await heard).seq);
  await renamed;
  // In the order they were sent (a chat comes once it is stored, so it is not compared).
  assert.deepEqual(seen, ['state', 'event', 'renamed']);
});

test('the queue of a client that never connects is bounded', async (t) => {
  const lost = client({ url: 'http://127.0.0.1:9' }, { maxQueue: 3, reconnect: { minMs: 1000, maxMs: 1000 } });
  t.after(() => lost.close());
  lost.setState({ a: 1 });
  lost.rename('x');
  lost.emit('wave');
  assert.throws(() => lost.setState({ a: 2 }), QueueFullError);
  await assert.rejects(lost.chat('no room for it'), QueueFullError);
});

test('a server killed and restarted loses nothing and shows nothing twice', async (t) => {
  const own = await startServer();
  t.after(() => own.kill());
  const { ann, bob } = await pair(t, own, own);
  const seenByAnn = chats(ann);
  const two = next(ann, 'chat', (c) => c.text === 'two');
  for (const text of ['one', 'two']) await bob.chat(text);
  await two;

  const down = bob.status === 'open' ? next(bob, 'status', (s) => s === 'reconnecting') : null;
  await own.kill();
  await down;
  // Sent while the server is down: held, then sent again with their refs.
  const during = [bob.chat('three'), bob.chat('four')];
  const again = await startServer({ dataDir: own.dataDir, addr: own.addr });
  t.after(() => again.kill());
  const [three, four] = await Promise.all(during);
  assert.equal(four.seq, three.seq + 1);
  const five = next(ann, 'chat', (c) => c.text === 'five');
  await bob.chat('five');
  await five;
  assert.deepEqual(seenByAnn.map((c) => c.text), ['one', 'two', 'three', 'four', 'five']);
  const seqs = seenByAnn.map((c) => c.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.equal(new Set(seqs).size, seqs.length, 'no chat twice');
  assert.equal(ann.status, 'open');
  assert.deepEqual(ann.users.map((u) => u.username).sort(), ['ann', 'bob'], 'the same two users');
});

test('a chat the server refuses rejects its promise, one it acknowledges resolves with its seq', async (t) => {
  const ann = client(server, { room: freshRoom(), username: 'ann' });
  t.after(() => ann.close());
  const first = await ann.chat('first');
  const second = await ann.chat('second');
  assert.equal(second.seq, first.seq + 1);
  await assert.rejects(ann.chat(''), (err) => err instanceof ChatRefused && err.code === 'invalid');
});

test('a client cut off for longer than a welcome replays pages the rest in, in order, once', async (t) => {
  const own = await startServer({ env: { FLOCK_REPLAY_MAX: '3' } });
  t.after(() => own.kill());
  const proxy = await startProxy(own.addr);
  t.after(() => proxy.close());
  const { ann, bob } = await pair(t, { url: proxy.url }, own);
  const seenByAnn = chats(ann);
  const timeline = [];
  ann.on('status', (status) => timeline.push(status));
  ann.on('welcome', (welcome) => timeline.push(`welcome more=${welcome.more ?? false}`));
  const first = next(ann, 'chat', (c) => c.text === 'm0');
  await bob.chat('m0');
  await first;

  const away = next(ann, 'status', (s) => s === 'reconnecting');
  proxy.cut();
  await away;
  const texts = Array.from({ length: 10 }, (_, i) => `m${i + 1}`);
  for (const text of texts) await bob.chat(text);
  const last = next(ann, 'chat', (c) => c.text === 'm10', 20_000);
  proxy.restore();
  await last;
  assert.deepEqual(timeline.slice(0, 2), ['reconnecting', 'open'], timeline.join(', '));
  assert.ok(timeline.includes('welcome more=true'), `more was missed than a welcome replays: ${timeline.join(', ')}`);
  assert.deepEqual(seenByAnn.map((c) => c.text), ['m0', ...texts]);
  assert.equal(ann.users.length, 2);
});

test('a message over the frame limit is refused at once, and the connection it would have cost stays open', { timeout: 20_000 }, async (t) => {
  const ann = client(server, { room: freshRoom(), username: 'ann' });
  t.after(() => ann.close());
  const first = await ann.chat('before');
  const statuses = [];
  ann.on('status', (s) => statuses.push(s));
  await assert.rejects(ann.chat('x'.repeat(70_000)), (err) => err instanceof ChatRefused && err.code === 'too_large');
  assert.throws(() => ann.setState({ note: 'y'.repeat(70_000) }), FrameTooLarge);
  assert.throws(() => ann.emit('big', 'z'.repeat(70_000)), FrameTooLarge);
  const second = await ann.chat('after');
  assert.equal(second.seq, first.seq + 1, 'nothing between them was stored');
  assert.equal(ann.status, 'open');
  assert.deepEqual(statuses, [], 'never cut off');
});

test('join moves the client to another room: a new welcome, the old room sees it go', async (t) => {
  const [first, second] = [freshRoom(), freshRoom()];
  const ann = client(server, { room: first, username: 'ann' });
  const bob = client(server, { room: first, username: 'bob' });
  const cat = client(server, { room: second, username: 'cat' });
  for (const c of [ann, bob, cat]) t.after(() => c.close());
  await Promise.all([opened(ann), opened(bob), opened(cat)]);
  const annId = ann.me.id;
  const gone = next(bob, 'left', (m) => m.id === annId);
  const arrived = next(cat, 'joined', (m) => m.user.id === annId);
  const welcomed = next(ann, 'welcome', (w) => w.room === second);
  ann.join(second);
  await Promise.all([gone, arrived, welcomed]);
  assert.equal(ann.room, second);
  assert.deepEqual(ann.users.map((u) => u.username).sort(), ['ann', 'cat']);
  const heard = next(cat, 'chat', (c) => c.text === 'moved');
  await ann.chat('moved');
  assert.equal((await heard).username, 'ann');
});
