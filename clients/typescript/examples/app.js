// Cursors and chat with nothing but flock-client (build it first: `npm run build`).
// Open /examples/?server=http://127.0.0.1:3000&room=lobby&name=Ann from a static server;
// Flock must allow this page's origin (--allowed-origins http://127.0.0.1:8080).
import { CursorSmoother, FlockClient } from '../dist/index.js';

const params = new URLSearchParams(location.search);
const flock = new FlockClient({
  url: params.get('server') ?? 'http://127.0.0.1:3000',
  room: params.get('room') ?? 'lobby',
  username: params.get('name') ?? undefined,
});

const board = document.getElementById('board');
const smoother = new CursorSmoother();
const drawn = new Map();

// On the fallback transport (WebSocket upgrades blocked on the way), the badge says so.
flock.on('status', (status) => {
  const fallback = status === 'open' && flock.transport === 'sse';
  document.getElementById('status').textContent = fallback ? 'open · fallback' : status;
});
flock.on('presence', (users) => {
  document.getElementById('people').textContent = users.map((u) => u.username).join(', ');
  for (const [id, el] of drawn) {
    if (!users.some((u) => u.id === id)) {
      el.remove();
      drawn.delete(id);
      smoother.remove(id);
    }
  }
});
flock.on('cursors', (msg) => smoother.update(msg.moves));
flock.on('chat', (chat) => {
  const line = document.createElement('li');
  line.textContent = `${chat.username}: ${chat.text}`;
  document.getElementById('log').append(line);
  line.scrollIntoView({ block: 'end' });
});

board.addEventListener('pointermove', (event) => {
  const box = board.getBoundingClientRect();
  flock.cursor((event.clientX - box.left) / box.width, (event.clientY - box.top) / box.height);
});

document.getElementById('say').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('text');
  const text = input.value.trim();
  if (text) flock.chat(text).catch((err) => alert(err.message));
  input.value = '';
});

// Each frame, draw every remote cursor where the smoother says it is now.
function frame() {
  for (const [id, at] of smoother.positions()) {
    const user = flock.users.find((u) => u.id === id);
    if (!user || id === flock.me?.id) continue;
    let el = drawn.get(id);
    if (!el) {
      el = document.createElement('div');
      el.className = 'cursor';
      el.append(document.createElement('span'));
      board.append(el);
      drawn.set(id, el);
    }
    el.style.color = user.color;
    el.lastChild.textContent = user.username;
    el.style.left = `${at.x * 100}%`;
    el.style.top = `${at.y * 100}%`;
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);
