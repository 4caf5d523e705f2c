/**
 * flock-client: one user in a room of a Flock server, kept connected, with the wire
 * contract's types generated from the server's own JSON Schema.
 */
export { FlockClient, ChatRefused, ClientClosed, FrameTooLarge } from './client.js';
export type { Closed, FlockEvents, FlockOptions, ServerMessage, Status, Transport, WebSocketClass } from './client.js';
export { CursorSmoother } from './cursors.js';
export type { Position } from './cursors.js';
export { QueueFullError } from './queue.js';
export type * from './protocol.js';
