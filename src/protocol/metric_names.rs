//! The names of what the hub counts at `GET /metrics` (Prometheus text format): the server
//! records them, and the `/admin` page reads them back from the same text, so both halves
//! take the names from here.

/// Open WebSocket connections (gauge).
pub const CONNECTIONS: &str = "flock_connections";
/// Live rooms (gauge).
pub const ROOMS: &str = "flock_rooms";
/// Client messages received and decoded, by `type` (counter; refused frames are in
/// `flock_refused_total`).
pub const MESSAGES_IN: &str = "flock_messages_in_total";
/// Messages fanned out to clients, by `type` (counter): one per recipient, except
/// `cursors`, counted once per frame sent. Replies to one client (welcome, ack, error,
/// reset) are not counted.
pub const MESSAGES_OUT: &str = "flock_messages_out_total";
/// Bytes of text frames received and sent (counters).
pub const BYTES_IN: &str = "flock_bytes_in_total";
pub const BYTES_OUT: &str = "flock_bytes_out_total";
/// Cursor moves replaced by a newer move of the same user before they were sent (counter).
pub const MOVES_COALESCED: &str = "flock_moves_coalesced_total";
/// Frames a writer sent in one batch: how deep outboxes get (histogram).
pub const BATCH_FRAMES: &str = "flock_outbox_batch_frames";
/// Seconds one fan-out (a move, a chat, a state change) takes under the room lock (histogram).
pub const FANOUT_SECONDS: &str = "flock_fanout_seconds";
/// Writes the store committed in one transaction (histogram): how well commits are shared.
pub const STORE_BATCH: &str = "flock_store_batch_writes";
/// Seconds one store commit takes, its fsync included (histogram).
pub const STORE_COMMIT_SECONDS: &str = "flock_store_commit_seconds";
/// Client frames refused, by `code` (counter).
pub const REFUSED: &str = "flock_refused_total";
/// Connections closed as too slow with 1013 (counter).
pub const SLOW_CLOSES: &str = "flock_slow_closes_total";
/// 1 while the cluster bus reaches Redis, 0 while it does not (absent on a single node).
pub const BUS_UP: &str = "flock_bus_up";
/// Room events this node received from the bus (counter): only those of the rooms it
/// holds someone in.
pub const BUS_EVENTS_IN: &str = "flock_bus_events_in_total";
/// Attempts to reach Redis that failed: refused, timed out, or a certificate not trusted (counter).
pub const BUS_FAILURES: &str = "flock_bus_connect_failures_total";
/// Bus items (events, cursor moves, session saves) not sent: queue full or Redis down.
pub const BUS_DROPPED: &str = "flock_bus_dropped_total";
/// Users of other nodes this node has announced `left` because their node stopped.
pub const NODE_LEFT: &str = "flock_node_left_total";
/// Webhook events the receiver took (counter).
pub const WEBHOOKS_DELIVERED: &str = "flock_webhooks_delivered_total";
/// Webhook tries that failed: an answer other than 2xx, or none in time (counter).
pub const WEBHOOKS_FAILED: &str = "flock_webhooks_failed_total";
/// Webhook events given up: undelivered past the give-up time, or beyond the outbox's
/// bound (counter).
pub const WEBHOOKS_DEAD: &str = "flock_webhooks_dead_total";
/// Webhook events the store was too busy to queue (counter).
pub const WEBHOOKS_LOST: &str = "flock_webhooks_lost_total";
/// Webhook events waiting in the outbox (gauge).
pub const WEBHOOKS_PENDING: &str = "flock_webhooks_pending";
