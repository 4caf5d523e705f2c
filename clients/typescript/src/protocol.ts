/* eslint-disable */
/**
 * The wire contract of Flock, generated from docs/protocol.schema.json by
 * `npm run types`: do not edit by hand.
 */

/**
 * Every JSON message of the protocol: what a client sends, or what the server sends.
 */
export type FlockMessage = ClientMsg | ServerMsg;
/**
 * A frame a client sends to the server.
 */
export type ClientMsg =
  | {
      type: 'cursor';
      x: number;
      y: number;
    }
  | {
      state: {
        [k: string]: unknown;
      };
      type: 'state';
    }
  | {
      type: 'rename';
      username: string;
    }
  | {
      ref?: string | null;
      text: string;
      /**
       * Who a chat or an app event is for: "room" (everyone in the room, the sender included), "others" (everyone but the sender) or a user id (that user; a chat's sender gets a copy).
       */
      to?: ('room' | 'others') | string;
      type: 'chat';
    }
  | {
      room: string;
      token?: string | null;
      type: 'join';
    }
  | {
      data?: unknown;
      name: string;
      /**
       * Who a chat or an app event is for: "room" (everyone in the room, the sender included), "others" (everyone but the sender) or a user id (that user; a chat's sender gets a copy).
       */
      to?: ('room' | 'others') | string;
      type: 'event';
    }
  | {
      after?: number | null;
      before?: number | null;
      limit?: number | null;
      type: 'history';
    };
/**
 * A frame the server sends to a client.
 */
export type ServerMsg =
  | {
      history: ChatMessage[];
      more?: boolean;
      room: string;
      seq: number;
      session: string;
      type: 'welcome';
      users: User[];
      you: string;
    }
  | {
      type: 'joined';
      user: User;
    }
  | {
      id: string;
      type: 'left';
    }
  | {
      moves: Move[];
      type: 'cursors';
    }
  | {
      id: string;
      state: {
        [k: string]: unknown;
      };
      type: 'state';
    }
  | {
      id: string;
      type: 'renamed';
      username: string;
    }
  | (ChatMessage & {
      type: 'chat';
    })
  | {
      chats: ChatMessage[];
      more: boolean;
      type: 'history';
    }
  | {
      ref: string;
      seq: number;
      type: 'ack';
    }
  | {
      type: 'reset';
    }
  | {
      code: ErrorCode;
      message: string;
      ref?: string | null;
      /**
       * With `rate_limited`: how long until the same message would be taken.
       */
      retry_after_ms?: number | null;
      type: 'error';
    }
  | {
      data: unknown;
      from?: string | null;
      name: string;
      type: 'event';
    };
/**
 * Who a chat or an app event is for: "room" (everyone in the room, the sender included), "others" (everyone but the sender) or a user id (that user; a chat's sender gets a copy).
 */
export type ChatTarget = ('room' | 'others') | string;
/**
 * Why the server refused a client frame; sent in an `error` message.
 */
export type ErrorCode =
  | 'bad_json'
  | 'unknown_type'
  | 'invalid'
  | 'too_large'
  | 'no_such_user'
  | 'binary_unsupported'
  | 'rate_limited'
  | 'forbidden'
  | 'unavailable';

/**
 * One stored chat message, as it is sent live and replayed in `welcome.history`.
 */
export interface ChatMessage {
  from: string;
  /**
   * The room's sequence number for this message: strictly increasing, no gaps, shared
   * by every message of the room (direct ones included).
   */
  seq: number;
  /**
   * Sent by the app's backend through the HTTP API (then `from` is the nil UUID);
   * on the wire only when true.
   */
  server?: boolean;
  text: string;
  to: ChatTarget;
  /**
   * The server's clock when it accepted the message, in unix milliseconds.
   */
  ts: number;
  username: string;
}
/**
 * Everything the room knows about one connected user.
 */
export interface User {
  /**
   * A CSS colour chosen by the server, stable for the connection.
   */
  color: string;
  cursor?: Point | null;
  id: string;
  state: {
    [k: string]: unknown;
  };
  username: string;
}
/**
 * A position on the shared board; both coordinates are fractions of the board in [0, 1].
 */
export interface Point {
  x: number;
  y: number;
}
/**
 * One user's latest cursor position inside a `cursors` frame.
 */
export interface Move {
  id: string;
  x: number;
  y: number;
}
