//! The WebSocket close codes of the contract: why the server (or the browser) ended a
//! connection, and so whether the other side should reconnect.
//!
//! Both halves and the load generator name these constants; nothing else spells the
//! numbers. `docs/protocol.md` lists them for other clients.

/// A deliberate goodbye. From a client it means "I left": the server announces `left` at
/// once instead of holding the user's place for the leave grace period.
pub const NORMAL: u16 = 1000;
/// The server is shutting down or restarting; reconnect and resume.
pub const GOING_AWAY: u16 = 1001;
/// A policy violation: the client kept sending past its rate limit.
pub const POLICY: u16 = 1008;
/// A frame over the size limit (`--max-frame-bytes`).
pub const TOO_BIG: u16 = 1009;
/// The client read too slowly to keep up ("try again later"); reconnect and resume.
pub const TRY_AGAIN: u16 = 1013;
/// The session was resumed on a newer connection: reconnecting with the same session
/// would take it back, so the browser drops its session and comes back as a new user.
pub const REPLACED: u16 = 4001;
/// The app's backend removed this user from the room (perhaps for a while): do not
/// reconnect on your own.
pub const REMOVED: u16 = 4003;
