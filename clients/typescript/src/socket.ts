/** The WebSocket transport (`/ws`), behind the same face as the fallback's. */
import type { LinkEvents } from './stream.js';

/** The WebSocket class to use: the browser's, Node 22's, or the `ws` package's. */
export type WebSocketClass = new (url: string) => unknown;

/** The part of a WebSocket the client uses (the browser's and the `ws` package's agree). */
interface Socket {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

const OPEN = 1;
/** How long an upgrade may take before it counts as refused: a proxy that holds it
 * unanswered must not keep the client waiting for the browser's own timeout. */
const OPEN_MS = 10_000;

/** One WebSocket. */
export class SocketLink {
  private readonly socket: Socket;
  private ended = false;
  private late: ReturnType<typeof setTimeout> | undefined;

  constructor(Socket: WebSocketClass, url: string, events: LinkEvents) {
    const socket = new Socket(url) as Socket;
    this.socket = socket;
    let opened = false;
    const late = (this.late = setTimeout(() => {
      if (opened || this.ended) return;
      this.ended = true;
      socket.close();
      events.closed({ code: 1006, reason: 'the upgrade took too long', opened: false });
    }, OPEN_MS));
    socket.onopen = () => {
      opened = true;
      clearTimeout(late);
      events.open();
    };
    socket.onmessage = (event) => {
      if (typeof event.data === 'string') events.message(event.data);
    };
    socket.onerror = () => {};
    socket.onclose = (event) => {
      clearTimeout(late);
      if (this.ended) return;
      this.ended = true;
      events.closed({ code: event.code, reason: event.reason, opened });
    };
  }

  get isOpen(): boolean {
    return !this.ended && this.socket.readyState === OPEN;
  }

  send(frame: string): void {
    this.socket.send(frame);
  }

  /** Closes with 1000, which is the goodbye; the link reports nothing after this. */
  close(_goodbye: boolean): void {
    this.ended = true;
    clearTimeout(this.late);
    if (this.socket.readyState <= OPEN) this.socket.close(1000, 'goodbye');
  }
}
