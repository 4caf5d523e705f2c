/**
 * The fallback transport (docs/protocol.md, "Fallback transport"): the server's messages
 * as an event stream (`GET /sse`), the client's as POSTs (`/sse/send`).
 *
 * The stream is read with `fetch`, not `EventSource`: a refused stream's status and
 * reason can be read (an `EventSource` hides them), nothing reconnects behind the
 * client's back (it must resume with its own `session` and `since`), and Node 20 has it.
 * POSTs go one at a time, each carrying every message waiting (up to the server's 64), so
 * messages keep their order.
 */

/** What a link tells the client. */
export interface LinkEvents {
  /** The link carries messages from now on. */
  open(): void;
  /** One server message's JSON. */
  message(text: string): void;
  /**
   * The link ended: `code` is the close code (1006 when it just went away), or for a
   * connection refused before it opened, the HTTP status with `retryAfter` (seconds).
   */
  closed(end: { code: number; reason: string; opened: boolean; retryAfter?: number }): void;
}

/** Messages one POST carries at most (the server takes 64). */
const POST_LINES = 64;
/** How long a POST may wait for its answer before the stream is given up. */
const POST_MS = 10_000;
/** How long the stream may take to name its token: a proxy that buffers the response
 * must not keep the client waiting for ever. */
const OPEN_MS = 10_000;

/** One stream and the POSTs that go with it. */
export class EventStreamLink {
  private readonly abort = new AbortController();
  private token: string | null = null;
  private readonly outbox: string[] = [];
  private posting = false;
  private ended = false;
  private closeCode: { code: number; reason: string } | null = null;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  /** `base`: the server's `http(s)://` address; `query`: the `/ws` query string. */
  constructor(
    private readonly base: URL,
    query: string,
    private readonly events: LinkEvents,
  ) {
    this.after(OPEN_MS, () => {
      if (!this.token) this.end({ code: 1006, reason: 'the stream did not open in time' }, false);
    });
    void this.read(query);
  }

  /** Runs `then` after `ms`, unless the link ends first. */
  private after(ms: number, then: () => void): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        then();
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  get isOpen(): boolean {
    return this.token !== null && !this.ended;
  }

  /** Sends `frame` with the next POST. */
  send(frame: string): void {
    this.outbox.push(frame);
    void this.pump();
  }

  /** Ends the stream: with `goodbye`, the user leaves at once (as a socket's close 1000). */
  close(goodbye: boolean): void {
    if (this.ended) return;
    const token = this.token;
    this.end({ code: 1000, reason: 'closed by the client' }, false);
    if (goodbye && token) {
      void fetch(this.address('close', token), { method: 'POST', signal: AbortSignal.timeout(POST_MS) }).catch(() => {});
    }
  }

  private address(path: 'send' | 'close', token: string): URL {
    const url = new URL(this.base);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/sse/${path}`;
    url.search = new URLSearchParams({ stream: token }).toString();
    return url;
  }

  private async read(query: string): Promise<void> {
    const url = new URL(this.base);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/sse`;
    url.search = query;
    let response: Response;
    try {
      response = await fetch(url, { headers: { accept: 'text/event-stream' }, signal: this.abort.signal });
    } catch {
      return this.end({ code: 1006, reason: 'the stream could not be opened' }, true);
    }
    if (!response.ok || !response.body) {
      const reason = (await response.text().catch(() => '')).trim();
      const retryAfter = Number(response.headers.get('retry-after')) || undefined;
      return this.end({ code: response.status, reason, retryAfter }, true);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this.ended) break;
        // A proxy may have turned the line ends into CRLF.
        buffer += value.replace(/\r\n?/g, '\n');
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          this.event(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch {
      // The connection went away: the stream ends below.
    }
    this.end(this.closeCode ?? { code: 1006, reason: 'the stream ended' }, false);
  }

  /** One event block: `event:` and `data:` lines; a comment has neither. */
  private event(block: string): void {
    let name = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
    }
    if (data.length === 0 || this.ended) return;
    const text = data.join('\n');
    if (name === 'message') return this.events.message(text);
    try {
      const parsed = JSON.parse(text) as { stream?: string; code?: number; reason?: string };
      if (name === 'stream' && typeof parsed.stream === 'string') {
        this.token = parsed.stream;
        this.events.open();
        void this.pump();
      } else if (name === 'close' && typeof parsed.code === 'number') {
        this.closeCode = { code: parsed.code, reason: parsed.reason ?? '' };
      }
    } catch {
      // An event this client does not know.
    }
  }

  /** Sends what waits, one POST at a time, until nothing does. */
  private async pump(): Promise<void> {
    if (this.posting || !this.token) return;
    this.posting = true;
    try {
      while (this.outbox.length > 0 && !this.ended && this.token) {
        const lines = this.outbox.slice(0, POST_LINES);
        const answer = await fetch(this.address('send', this.token), {
          method: 'POST',
          headers: { 'content-type': 'text/plain' },
          body: lines.join('\n'),
          signal: AbortSignal.timeout(POST_MS),
        }).catch(() => null);
        if (this.ended) return;
        if (answer?.status === 204) {
          this.outbox.splice(0, lines.length);
        } else if (answer && (answer.status === 429 || answer.status === 503)) {
          const after = Number(answer.headers.get('retry-after')) || 1;
          await this.after(after * 1000, () => {});
        } else {
          // 404 (the stream is gone), 400, 413, or no answer: this stream is done; the
          // client resumes on a new one (chats are resent until acknowledged).
          this.abort.abort();
          this.end(this.closeCode ?? { code: 1006, reason: `a POST was answered ${answer?.status ?? 'nothing'}` }, false);
          return;
        }
      }
    } finally {
      this.posting = false;
    }
  }

  private end(end: { code: number; reason: string; retryAfter?: number }, refused: boolean): void {
    if (this.ended) return;
    const opened = this.token !== null;
    this.ended = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.abort.abort();
    this.outbox.length = 0;
    this.events.closed({ ...end, opened: opened && !refused });
  }
}
