import { backoffMs } from './backoff.js';
import { Emitter } from './emitter.js';
import type { ChatTarget, ClientMsg, ServerMsg, User } from './protocol.js';
import { QueueFullError, SendQueue } from './queue.js';
import { SocketLink, type WebSocketClass } from './socket.js';
import { EventStreamLink, type LinkEvents } from './stream.js';
import { connectQuery, httpBase, socketUrl, type ConnectQuery } from './url.js';

export type { WebSocketClass } from './socket.js';

/** A server message of type `T`. */
export type ServerMessage<T extends ServerMsg['type']> = Extract<ServerMsg, { type: T }>;

/** Where the connection is: `open` from the room's `welcome` on. */
export type Status = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Why the client stopped for good (it does not reconnect after these). */
export interface Closed {
  /** The WebSocket close code, or the HTTP status that refused the upgrade. */
  code: number;
  reason: string;
}

/** What `on` can listen to: every server message type, and the client's own events. */
export type FlockEvents = { [T in ServerMsg['type']]: ServerMessage<T> } & {
  /** The connection's status changed. */
  status: Status;
  /** Who is here changed (someone came or went, or changed name or state). */
  presence: User[];
  /** The client stopped for good: closed by the server, refused, or `close()`d. */
  closed: Closed;
};

/** What carries the messages: a WebSocket, or the fallback of an event stream down and
 * POSTs up (docs/protocol.md, "Fallback transport"). */
export type Transport = 'websocket' | 'sse';

export interface FlockOptions {
  /** The server: `https://flock.example`, `http://127.0.0.1:3000`, or `ws(s)://…`. */
  url: string;
  /** The room to enter (default `lobby`). */
  room?: string;
  /** The display name (the server picks `guest-xxxx` without one). */
  username?: string;
  /** A JWT from the app's backend: the user's identity (docs/api.md). */
  jwt?: string;
  /** An invitation to a private room. */
  token?: string;
  /** The `session` of an earlier connection, to come back as the same user. */
  session?: string;
  /** The WebSocket class, where there is no global one (Node 20: the `ws` package's). */
  WebSocket?: WebSocketClass;
  /**
   * `auto` (the default): a WebSocket, and the fallback when something on the way blocks
   * upgrades (or there is no WebSocket class), trying a WebSocket again on a reconnect
   * after five minutes. `websocket` or `sse`: that one only.
   */
  transport?: 'auto' | Transport;
  /** Most messages (chats waiting for their ack included) held while not connected. */
  maxQueue?: number;
  /**
   * The largest frame the server takes (its `--max-frame-bytes`, default 65536). A bigger
   * one is refused here: the server would close the connection with 1009, and the chat,
   * sent again on every reconnect, would close each one.
   */
  maxFrameBytes?: number;
  /** Reconnect waits: doubling from `minMs` to `maxMs`, with jitter. */
  reconnect?: { minMs?: number; maxMs?: number };
}

/** A chat the server refused for good (not `rate_limited` or `unavailable`). */
export class ChatRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly reference: string,
  ) {
    super(message);
    this.name = 'ChatRefused';
  }
}

/** A message whose frame is over the server's limit (`maxFrameBytes`); nothing was sent. */
export class FrameTooLarge extends Error {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`a ${bytes}-byte frame is over the server's limit of ${limit} bytes`);
    this.name = 'FrameTooLarge';
  }
}

/** The UTF-8 length of `msg` as a frame. */
function frameBytes(msg: ClientMsg): number {
  return new TextEncoder().encode(JSON.stringify(msg)).length;
}

/** A chat that was waiting when the client was closed. */
export class ClientClosed extends Error {
  constructor() {
    super('flock-client: closed before the chat was acknowledged');
    this.name = 'ClientClosed';
  }
}

/** A connection of either transport. */
type Link = SocketLink | EventStreamLink;

interface PendingChat {
  frame: Extract<ClientMsg, { type: 'chat' }>;
  resolve: (ack: { seq: number }) => void;
  reject: (err: Error) => void;
  retry?: ReturnType<typeof setTimeout>;
}

/** Close codes after which reconnecting on its own would be wrong (docs/protocol.md). */
const FINAL_CLOSES = new Set([4001, 4003]);
/** How long the plain GET that asks why an upgrade failed may take (a black-holed
 * network would hold it for minutes). */
const PROBE_MS = 3000;
/** Chats of a page asked for while resuming. */
const PAGE = 100;
/** How long a client that fell back stays on the fallback before it tries a WebSocket
 * again (on its next reconnect). */
const FALLBACK_MS = 5 * 60_000;

/**
 * One user in one room of a Flock server, kept connected: messages sent before the
 * connection is open wait in order, a dropped connection comes back by itself (with
 * backoff and jitter) as the same user, missing no chat and showing none twice, and chats
 * not yet acknowledged are sent again with their `ref` (so the server stores them once).
 */
export class FlockClient {
  private readonly events = new Emitter<FlockEvents>();
  private readonly options: Required<Pick<FlockOptions, 'url' | 'maxQueue'>> & FlockOptions;
  private readonly frameLimit: number;
  private readonly Socket: WebSocketClass | undefined;
  private readonly queue: SendQueue;
  private readonly pending = new Map<string, PendingChat>();
  private readonly members = new Map<string, User>();
  private link: Link | null = null;
  private linkKind: Transport | null = null;
  /** Until when (ms since the epoch) `auto` uses the fallback. */
  private fallbackUntil = 0;
  private currentStatus: Status = 'connecting';
  private stopped = false;
  private attempts = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private myId: string | undefined;
  private currentRoom: string;
  private session: string | undefined;
  /** The highest chat seq surfaced in this room: anything at or below it is a repeat. */
  private lastSeq = 0;
  /** While a resume pages in chats a `welcome` left out: the chats to surface after them. */
  private paging: { held: ServerMessage<'chat'>[] } | null = null;
  private chats = 0;
  private readonly refPrefix = Math.random().toString(36).slice(2, 10);
  private cursorAt: { x: number; y: number } | null = null;
  private cursorTimer = false;

  constructor(options: FlockOptions) {
    this.options = { maxQueue: 256, ...options };
    this.frameLimit = options.maxFrameBytes ?? 65536;
    this.Socket = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
    if (!this.Socket && options.transport === 'websocket') {
      throw new Error('flock-client: no WebSocket here; pass the `ws` package as the `WebSocket` option');
    }
    this.queue = new SendQueue(this.options.maxQueue);
    this.currentRoom = options.room ?? 'lobby';
    this.session = options.session;
    this.connect();
  }

  /** Listens to `type`; returns the function that stops listening. */
  on<K extends keyof FlockEvents>(type: K, handler: (value: FlockEvents[K]) => void): () => void {
    return this.events.on(type, handler);
  }

  get status(): Status {
    return this.currentStatus;
  }

  /** What carries the current (or coming) connection: `sse` once it fell back. */
  get transport(): Transport | null {
    return this.linkKind;
  }

  /** Everyone in the room, this user included (from the latest `welcome` on). */
  get users(): User[] {
    return [...this.members.values()];
  }

  /** This user, once the room has welcomed it. */
  get me(): User | undefined {
    return this.myId === undefined ? undefined : this.members.get(this.myId);
  }

  get room(): string {
    return this.currentRoom;
  }

  /**
   * Sends a chat; resolves with its `seq` once the server stored it, rejects with
   * [`ChatRefused`] if the server refuses it for good. Sent again after a reconnect, and
   * after `retry_after_ms` when rate limited, until it is acknowledged.
   */
  chat(text: string, options: { to?: ChatTarget } = {}): Promise<{ seq: number }> {
    if (this.stopped) return Promise.reject(new ClientClosed());
    if (this.pending.size + this.queue.length >= this.options.maxQueue) {
      return Promise.reject(new QueueFullError(this.options.maxQueue));
    }
    const reference = `${this.refPrefix}-${++this.chats}`;
    const frame: PendingChat['frame'] = { type: 'chat', text, to: options.to ?? 'room', ref: reference };
    const bytes = frameBytes(frame);
    if (bytes > this.frameLimit) {
      const message = new FrameTooLarge(bytes, this.frameLimit).message;
      return Promise.reject(new ChatRefused('too_large', message, reference));
    }
    return new Promise((resolve, reject) => {
      this.pending.set(reference, { frame, resolve, reject });
      if (this.currentStatus === 'open') this.write(frame);
    });
  }

  /**
   * Moves this user's cursor (fractions of the board, in [0, 1]). At most one move goes
   * out per animation frame (per 16 ms where there are none): the newest.
   */
  cursor(x: number, y: number): void {
    this.cursorAt = { x, y };
    if (this.cursorTimer) return;
    this.cursorTimer = true;
    const flush = () => {
      this.cursorTimer = false;
      const at = this.cursorAt;
      this.cursorAt = null;
      if (at) this.send({ type: 'cursor', x: at.x, y: at.y });
    };
    const frame = (globalThis as { requestAnimationFrame?: (f: () => void) => unknown }).requestAnimationFrame;
    if (frame) frame(flush);
    else setTimeout(flush, 16);
  }

  /** Replaces this user's state (a JSON object, at most 4096 bytes). */
  setState(state: Record<string, unknown>): void {
    this.send({ type: 'state', state });
  }

  rename(username: string): void {
    this.send({ type: 'rename', username });
  }

  /** Sends an app event: `to` is `others` (default), `room` or a user id. */
  emit(name: string, data: unknown = null, options: { to?: ChatTarget } = {}): void {
    this.send({ type: 'event', name, data, to: options.to ?? 'others' });
  }

  /** Moves to another room (`token`: its invitation, for a private one). */
  join(room: string, options: { token?: string } = {}): void {
    this.currentRoom = room;
    this.lastSeq = 0;
    this.paging = null;
    this.send(options.token === undefined ? { type: 'join', room } : { type: 'join', room, token: options.token });
  }

  /** Asks for a page of the room's chats; the answer comes as `history`. */
  history(page: { after?: number; before?: number; limit?: number }): void {
    this.send({ type: 'history', ...page });
  }

  /** Leaves (the others see `left` at once) and stops; waiting chats are rejected. */
  close(): void {
    this.stop({ code: 1000, reason: 'closed by the client' });
  }

  /** Sends `msg` now or once open; throws `FrameTooLarge` for one over the server's limit. */
  private send(msg: ClientMsg): void {
    if (this.stopped) return;
    if (msg.type !== 'cursor') {
      const bytes = frameBytes(msg);
      if (bytes > this.frameLimit) throw new FrameTooLarge(bytes, this.frameLimit);
    }
    if (this.currentStatus === 'open' && this.link?.isOpen) this.write(msg);
    else this.queue.push(msg);
  }

  private write(msg: ClientMsg): void {
    this.link?.send(JSON.stringify(msg));
  }

  private setStatus(status: Status): void {
    if (status === this.currentStatus) return;
    this.currentStatus = status;
    this.events.emit('status', status);
  }

  private connect(): void {
    this.setStatus(this.attempts === 0 && this.myId === undefined ? 'connecting' : 'reconnecting');
    const query: ConnectQuery = {
      room: this.currentRoom,
      username: this.options.username,
      session: this.session,
      since: this.session === undefined ? undefined : this.lastSeq,
      token: this.options.token,
      jwt: this.options.jwt,
    };
    const mode = this.options.transport ?? 'auto';
    const kind: Transport =
      mode === 'sse' || (mode === 'auto' && (!this.Socket || Date.now() < this.fallbackUntil)) ? 'sse' : 'websocket';
    const events: LinkEvents = {
      open: () => {},
      message: (text) => {
        if (this.link === link) this.receive(text, query.since ?? 0);
      },
      closed: (end) => {
        if (this.link !== link) return;
        this.link = null;
        void this.dropped(end, kind, query);
      },
    };
    this.linkKind = kind;
    const link: Link =
      kind === 'sse' || !this.Socket
        ? new EventStreamLink(httpBase(this.options.url), connectQuery(query).toString(), events)
        : new SocketLink(this.Socket, socketUrl(this.options.url, query, 'ws'), events);
    this.link = link;
  }

  /** The connection ended: reconnect after a wait, unless that would be wrong. */
  private async dropped(
    end: { code: number; reason: string; opened: boolean; retryAfter?: number },
    kind: Transport,
    query: ConnectQuery,
  ) {
    if (this.stopped) return;
    const { code, reason } = end;
    if (FINAL_CLOSES.has(code)) return this.stop({ code, reason });
    let wait = backoffMs(this.attempts++, this.options.reconnect?.minMs ?? 250, this.options.reconnect?.maxMs ?? 10_000);
    let refusal: { status: number; reason: string; retryAfter?: number } | null = null;
    if (!end.opened && kind === 'sse' && code >= 400) {
      // A refused stream says why itself.
      refusal = { status: code, reason, retryAfter: end.retryAfter };
    } else if (!end.opened && kind === 'websocket') {
      // A browser cannot read why an upgrade was refused: a plain GET of the same
      // address answers what the upgrade would get now.
      const probe = { signal: AbortSignal.timeout(PROBE_MS) };
      const answer = await fetch(socketUrl(this.options.url, query, 'http'), probe).catch(() => null);
      if (this.stopped) return;
      if (answer) {
        const retryAfter = Number(answer.headers.get('retry-after')) || undefined;
        refusal = { status: answer.status, reason: (await answer.text().catch(() => '')).trim(), retryAfter };
      }
    }
    if (refusal?.status === 400 || refusal?.status === 403) {
      return this.stop({ code: refusal.status, reason: refusal.reason });
    }
    if ((refusal?.status === 429 || refusal?.status === 503) && refusal.retryAfter) {
      wait = Math.max(wait, refusal.retryAfter * 1000);
    }
    if (refusal?.status === 426 && (this.options.transport ?? 'auto') === 'auto') {
      // The server would have taken the upgrade: something on the way blocks it.
      this.fallbackUntil = Date.now() + FALLBACK_MS;
      wait = 0;
    }
    this.setStatus('reconnecting');
    this.timer = setTimeout(() => this.connect(), wait);
  }

  private stop(closed: Closed): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    const link = this.link;
    this.link = null;
    link?.close(true);
    for (const chat of this.pending.values()) {
      clearTimeout(chat.retry);
      chat.reject(new ClientClosed());
    }
    this.pending.clear();
    this.queue.drain();
    this.setStatus('closed');
    this.events.emit('closed', closed);
  }

  private receive(text: string, since: number): void {
    let msg: ServerMsg;
    try {
      msg = JSON.parse(text) as ServerMsg;
    } catch {
      return;
    }
    switch (msg.type) {
      case 'welcome':
        this.welcome(msg, since);
        break;
      case 'reset':
        this.lastSeq = 0;
        this.paging = null;
        break;
      case 'joined':
        this.members.set(msg.user.id, msg.user);
        break;
      case 'left':
        this.members.delete(msg.id);
        break;
      case 'state':
      case 'renamed': {
        const user = this.members.get(msg.id);
        if (user) {
          this.members.set(msg.id, msg.type === 'state' ? { ...user, state: msg.state } : { ...user, username: msg.username });
        }
        break;
      }
      case 'cursors':
        for (const move of msg.moves) {
          const user = this.members.get(move.id);
          if (user) user.cursor = { x: move.x, y: move.y };
        }
        break;
      case 'chat':
        if (this.paging) this.paging.held.push(msg);
        else this.surface([msg]);
        return;
      case 'history':
        if (this.paging) return this.page(msg);
        break;
      case 'ack':
        this.acked(msg.ref, msg.seq);
        break;
      case 'error':
        this.refused(msg);
        break;
    }
    this.events.emit(msg.type, msg as never);
    if (msg.type === 'joined' || msg.type === 'left' || msg.type === 'state' || msg.type === 'renamed') {
      this.events.emit('presence', this.users);
    }
  }

  private welcome(msg: ServerMessage<'welcome'>, since: number): void {
    this.attempts = 0;
    this.myId = msg.you;
    this.session = msg.session;
    this.currentRoom = msg.room;
    this.members.clear();
    for (const user of msg.users) this.members.set(user.id, user);
    this.setStatus('open');
    this.events.emit('welcome', msg);
    this.events.emit('presence', this.users);
    const history = msg.history.map((chat) => ({ type: 'chat' as const, ...chat }));
    if (msg.more && since > 0) {
      // Resuming, and more was missed than a welcome carries: page it in first.
      this.paging = { held: history };
      this.write({ type: 'history', after: this.lastSeq, limit: PAGE });
    } else {
      this.surface(history);
    }
    // What was sent meanwhile: chats not yet acknowledged first, then the queue in order.
    for (const chat of this.pending.values()) this.write(chat.frame);
    for (const queued of this.queue.drain()) this.write(queued);
  }

  private page(msg: ServerMessage<'history'>): void {
    const held = this.paging?.held ?? [];
    const first = held[0]?.seq ?? Number.MAX_SAFE_INTEGER;
    this.surface(msg.chats.filter((chat) => chat.seq < first).map((chat) => ({ type: 'chat' as const, ...chat })));
    const reached = msg.chats.length === 0 || msg.chats.some((chat) => chat.seq >= first);
    if (msg.more && !reached) {
      this.write({ type: 'history', after: this.lastSeq, limit: PAGE });
      return;
    }
    this.paging = null;
    this.surface(held);
  }

  /** Emits the chats not surfaced yet, in seq order. */
  private surface(chats: ServerMessage<'chat'>[]): void {
    for (const chat of chats) {
      if (chat.seq <= this.lastSeq) continue;
      this.lastSeq = chat.seq;
      this.events.emit('chat', chat);
    }
  }

  private acked(reference: string, seq: number): void {
    const chat = this.pending.get(reference);
    if (!chat) return;
    this.pending.delete(reference);
    clearTimeout(chat.retry);
    chat.resolve({ seq });
  }

  private refused(msg: ServerMessage<'error'>): void {
    const reference = msg.ref;
    const chat = reference == null ? undefined : this.pending.get(reference);
    if (reference == null || !chat) return;
    if (msg.code === 'rate_limited' || msg.code === 'unavailable') {
      clearTimeout(chat.retry);
      chat.retry = setTimeout(() => {
        if (this.currentStatus === 'open' && this.pending.has(reference)) this.write(chat.frame);
      }, msg.retry_after_ms ?? 1000);
      return;
    }
    this.pending.delete(reference);
    chat.reject(new ChatRefused(msg.code, msg.message, reference));
  }
}
