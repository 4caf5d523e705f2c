import type { ClientMsg } from './protocol.js';

/** A send refused because the queue of messages waiting for the connection is full. */
export class QueueFullError extends Error {
  constructor(limit: number) {
    super(`flock-client: ${limit} messages already wait for the connection; this one was not queued`);
    this.name = 'QueueFullError';
  }
}

/**
 * Messages sent while the socket is not open, in order, sent when it opens. Bounded: past
 * `limit` a send throws [`QueueFullError`] rather than growing without end. A cursor move
 * replaces a cursor move queued last (only the newest position matters; one queued before
 * something else keeps its place, so order still holds).
 */
export class SendQueue {
  private items: ClientMsg[] = [];

  constructor(private readonly limit: number) {}

  push(msg: ClientMsg): void {
    const last = this.items[this.items.length - 1];
    if (msg.type === 'cursor' && last?.type === 'cursor') {
      this.items[this.items.length - 1] = msg;
      return;
    }
    if (this.items.length >= this.limit) {
      throw new QueueFullError(this.limit);
    }
    this.items.push(msg);
  }

  /** Everything queued, oldest first; the queue is empty after. */
  drain(): ClientMsg[] {
    const items = this.items;
    this.items = [];
    return items;
  }

  get length(): number {
    return this.items.length;
  }
}
