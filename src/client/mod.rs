//! The browser half's plumbing: the socket to `/ws` (or its fallback, [`event_stream`])
//! and the reactive room model.
//! Components read [`room_state::RoomState`] and send through [`socket::RoomSocket`];
//! none of them touches a `web_sys::WebSocket`.

pub mod cursor_motion;
pub mod event_stream;
pub mod metrics_feed;
pub mod resume;
pub mod room_state;
pub mod send_queue;
pub mod socket;
pub mod status;
pub mod storage;
pub mod typing;
