/**
 * flock-client: the wire contract of Flock as TypeScript types (generated from the
 * server's JSON Schema). The client itself builds on these.
 */
export type * from './protocol.js';
