//! Every Redis key and channel Flock uses, in one place. Room names are `[A-Za-z0-9_-]`
//! and ids are UUIDs, so `:` separates the parts unambiguously.

use uuid::Uuid;

/// The prefix of the room channels (one per room; a node subscribes to those of the rooms
/// it holds someone in), to read a room name back off a channel.
pub const ROOM_CHANNEL_PREFIX: &str = "flock:room:";
pub const PRESENCE_PREFIX: &str = "flock:presence:";
pub const STREAM_PREFIX: &str = "flock:chat:";
pub const NODE_PREFIX: &str = "flock:node:";

/// The pub/sub channel of a room's events.
pub fn room_channel(room: &str) -> String {
    format!("{ROOM_CHANNEL_PREFIX}{room}")
}

/// Hash of a room's users on every node: user id → [`super::event::PresenceEntry`].
pub fn presence(room: &str) -> String {
    format!("{PRESENCE_PREFIX}{room}")
}

/// A room's latest chat seq (a counter).
pub fn seq(room: &str) -> String {
    format!("flock:seq:{room}")
}

/// A room's recent chats, entry id `0-<seq>`, bounded to the history kept.
pub fn stream(room: &str) -> String {
    format!("{STREAM_PREFIX}{room}")
}

/// The seq a user's chat `reference` got in a room, so a resent chat is not stored twice.
pub fn chat_ref(room: &str, from: Uuid, reference: &str) -> String {
    format!("flock:ref:{room}:{from}:{reference}")
}

/// A session token's identity, keyed by the token's hash like the SQLite store.
pub fn session(token_key: &str) -> String {
    format!("flock:session:{token_key}")
}

/// A ban of `id` from `room` by the app's backend; it expires with the ban.
pub fn ban(room: &str, id: Uuid) -> String {
    format!("flock:ban:{room}:{id}")
}

/// Marks identity `id` revoked: no node loads a session of it while this lives.
pub fn revoked(id: Uuid) -> String {
    format!("flock:revoked:{id}")
}

/// The pub/sub channel of one node: frames of the fallback transport forwarded to the
/// streams it holds, and the answers to the frames it forwarded (see [`super::forward`]).
pub fn node_channel(node: Uuid) -> String {
    format!("flock:to-node:{node}")
}

/// A live node's heartbeat; it expires when the node stops refreshing it.
pub fn node(node: Uuid) -> String {
    format!("{NODE_PREFIX}{node}")
}

/// The cluster's webhook outbox: one stream of every room's events, in the order the
/// changes they report happened; an entry goes when it was delivered or given up.
pub const WEBHOOKS: &str = "flock:webhooks";

/// Names the node that sends the cluster's webhooks; it expires unless that node renews it.
pub const WEBHOOK_LEASE: &str = "flock:webhooks:lease";
