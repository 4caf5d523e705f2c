//! The wire contract: every message that crosses `/ws` and every body the JSON API returns.
//!
//! This module is compiled into the server and into the WebAssembly client, so the two
//! halves cannot drift. It holds plain serde types and pure validation, nothing that
//! touches a socket. Frames are JSON text, one object per frame, tagged by `"type"`.
//! External clients rely on these names and shapes: fields and message types may be added,
//! never renamed or reshaped. `docs/protocol.md` is the human-readable copy.
//!
//! Map: the messages and bodies are here, the HTTP API's in [`api`]; `target` is a chat's [`ChatTarget`] and its one
//! string form; `kinds` the `"type"` tags as values ([`ClientKind`], [`ServerKind`]);
//! `names` the room and user name rules; `event` the app event rules; `decode` turns a text frame into a [`ClientMsg`]
//! or the error code the client is owed; [`close`] the WebSocket close codes; [`compact`]
//! the opt-in binary `cursors` frame; [`metric_names`] what `/metrics` calls its series.
//! Each of these is defined nowhere else.

pub mod api;
pub mod close;
pub mod compact;
mod decode;
mod event;
mod kinds;
pub mod metric_names;
mod names;
#[cfg(feature = "schema")]
pub mod schema;
mod target;

pub use decode::{decode_client_msg, DecodeError};
pub use event::{validate_event_data, validate_event_name, EventError, MAX_EVENT_DATA_BYTES, MAX_EVENT_NAME_CHARS};
pub use kinds::{ClientKind, ServerKind};
pub use names::{
    is_private_room, validate_chat_text, validate_room, validate_username, NameError, DEFAULT_ROOM, MAX_COMBINING_RUN,
    MAX_ROOM_CHARS, MAX_USERNAME_CHARS, PRIVATE_PREFIX,
};
pub use target::{ChatTarget, TargetError};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A user's free-form state: always a JSON object.
pub type UserState = Map<String, Value>;

/// Longest chat text, in characters, that the contract promises to accept.
pub const MAX_CHAT_CHARS: usize = 2000;
/// Largest user state, in bytes of compact JSON, that the contract promises to accept.
pub const MAX_STATE_BYTES: usize = 4096;
/// Longest `ref` a client may put on a chat, in characters.
pub const MAX_REF_CHARS: usize = 64;
/// How many of the newest chats a fresh `welcome` carries.
pub const HISTORY_LEN: usize = 50;
/// Most chats one `history` page may ask for.
pub const MAX_PAGE_LEN: usize = 100;
/// Chats a `history` page holds when it names no `limit`.
pub const DEFAULT_PAGE_LEN: usize = 50;

/// A position on the shared board; both coordinates are fractions of the board in [0, 1].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    /// True when both coordinates are finite and inside the board.
    pub fn is_on_board(&self) -> bool {
        (0.0..=1.0).contains(&self.x) && (0.0..=1.0).contains(&self.y)
    }
}

/// Everything the room knows about one connected user.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    /// A CSS colour chosen by the server, stable for the connection.
    pub color: String,
    pub cursor: Option<Point>,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub state: UserState,
}

/// One user's latest cursor position inside a `cursors` frame.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Move {
    pub id: Uuid,
    pub x: f64,
    pub y: f64,
}

/// A frame a client sends to the server.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Move this user's cursor.
    Cursor { x: f64, y: f64 },
    /// Replace this user's state.
    State { state: UserState },
    /// Change this user's name.
    Rename { username: String },
    /// Say something; `to` defaults to the whole room. With a `ref` (the client's own id
    /// for this message) the sender gets an `ack` once it is stored, and a resent `ref` is
    /// acknowledged again instead of being stored twice.
    Chat {
        text: String,
        #[serde(default)]
        to: ChatTarget,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Move this connection to another room; a private room needs its invitation `token`.
    Join {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// An app event (a kind of message the app defines, such as `typing`): sent on to `to`
    /// (default `others`) at once, never stored or replayed. `data` is any JSON value.
    Event {
        name: String,
        #[serde(default)]
        #[cfg_attr(feature = "schema", schemars(extend("tsType" = "unknown")))]
        data: Value,
        #[serde(default = "ChatTarget::others")]
        to: ChatTarget,
    },
    /// Ask for a page of this room's chats: the oldest ones after `after`, or the newest
    /// ones before `before` (exactly one of the two), at most `limit` (1–100, default 50).
    History {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<usize>,
    },
}

impl ClientMsg {
    /// The `"type"` tag, for logs and metrics.
    pub fn kind(&self) -> ClientKind {
        match self {
            ClientMsg::Cursor { .. } => ClientKind::Cursor,
            ClientMsg::State { .. } => ClientKind::State,
            ClientMsg::Rename { .. } => ClientKind::Rename,
            ClientMsg::Chat { .. } => ClientKind::Chat,
            ClientMsg::Join { .. } => ClientKind::Join,
            ClientMsg::History { .. } => ClientKind::History,
            ClientMsg::Event { .. } => ClientKind::Event,
        }
    }

    /// A chat without a `ref`.
    pub fn chat(text: impl Into<String>, to: ChatTarget) -> Self {
        ClientMsg::Chat { text: text.into(), to, reference: None }
    }

    /// A move to a public room.
    pub fn join(room: impl Into<String>) -> Self {
        ClientMsg::Join { room: room.into(), token: None }
    }
}

/// One stored chat message, as it is sent live and replayed in `welcome.history`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ChatMessage {
    /// The room's sequence number for this message: strictly increasing, no gaps, shared
    /// by every message of the room (direct ones included).
    pub seq: u64,
    pub from: Uuid,
    pub username: String,
    pub text: String,
    pub to: ChatTarget,
    /// The server's clock when it accepted the message, in unix milliseconds.
    pub ts: u64,
    /// Sent by the app's backend through the HTTP API (then `from` is the nil UUID);
    /// on the wire only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub server: bool,
}

impl ChatMessage {
    /// Whether `viewer` may ever be shown this message: room and others messages are for
    /// everyone in the room (an `others` message is its sender's own words), a direct
    /// message only for its two parties.
    pub fn visible_to(&self, viewer: Uuid) -> bool {
        match self.to {
            ChatTarget::Room | ChatTarget::Others => true,
            ChatTarget::User(target) => viewer == self.from || viewer == target,
        }
    }
}

/// Why the server refused a client frame; sent in an `error` message.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a JSON object.
    BadJson,
    /// The frame's `"type"` is missing or not one the server knows.
    UnknownType,
    /// A known message with missing, extra or out-of-range fields.
    Invalid,
    /// A chat text or state over its size limit.
    TooLarge,
    /// A direct chat to a user who is not in the room.
    NoSuchUser,
    /// A binary frame: the contract is JSON text only.
    BinaryUnsupported,
    /// More messages per second than the server allows; the frame was dropped.
    RateLimited,
    /// A `join` to a private room without a valid invitation, or a rename in a private
    /// room (the invitation fixes the name).
    Forbidden,
    /// The server could not store the chat; nothing was sent, the client may retry.
    Unavailable,
}

impl ServerMsg {
    /// The `"type"` tag, for logs and metrics.
    pub fn kind(&self) -> ServerKind {
        match self {
            ServerMsg::Welcome { .. } => ServerKind::Welcome,
            ServerMsg::Joined { .. } => ServerKind::Joined,
            ServerMsg::Left { .. } => ServerKind::Left,
            ServerMsg::Cursors { .. } => ServerKind::Cursors,
            ServerMsg::State { .. } => ServerKind::State,
            ServerMsg::Renamed { .. } => ServerKind::Renamed,
            ServerMsg::Chat(_) => ServerKind::Chat,
            ServerMsg::History { .. } => ServerKind::History,
            ServerMsg::Ack { .. } => ServerKind::Ack,
            ServerMsg::Reset => ServerKind::Reset,
            ServerMsg::Error { .. } => ServerKind::Error,
            ServerMsg::Event { .. } => ServerKind::Event,
        }
    }
}

impl ErrorCode {
    /// The code as it is spelled on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadJson => "bad_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::Invalid => "invalid",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::NoSuchUser => "no_such_user",
            ErrorCode::BinaryUnsupported => "binary_unsupported",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Unavailable => "unavailable",
        }
    }

    /// Whether resending the same frame later may succeed (the others are final).
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::RateLimited | ErrorCode::Unavailable)
    }
}

/// A frame the server sends to a client.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First frame after connecting and after every `join`; `users` includes `you`.
    /// `seq` is the room's latest chat sequence number; `history` holds the newest chats
    /// (or, when resuming, every chat after `since`) that you may see, oldest first.
    /// `session` resumes this identity on a later connection.
    /// `more`: chats you may see were left out of `history` (older than its first): ask
    /// for them with `history` messages.
    Welcome {
        you: Uuid,
        room: String,
        users: Vec<User>,
        seq: u64,
        history: Vec<ChatMessage>,
        session: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        more: bool,
    },
    /// Someone entered the room.
    Joined { user: User },
    /// Someone left the room.
    Left { id: Uuid },
    /// The latest positions of one or more other users.
    Cursors { moves: Vec<Move> },
    /// A user's state was replaced.
    State { id: Uuid, state: UserState },
    /// A user changed name.
    Renamed { id: Uuid, username: String },
    /// A chat message.
    Chat(ChatMessage),
    /// The answer to a `history` request: its chats, oldest first; `more` when the range
    /// asked for holds more than this page (ask again after the last, or before the first).
    History { chats: Vec<ChatMessage>, more: bool },
    /// The chat the sender tagged with `ref` is stored as `seq`.
    Ack {
        #[serde(rename = "ref")]
        reference: String,
        seq: u64,
    },
    /// The `since` of a resume is older than the history kept (or newer than the room's
    /// latest): drop the chat you have; the `welcome` that follows holds the newest history.
    Reset,
    /// The server refused a client frame; the connection stays open. `ref` is the
    /// refused chat's own `ref`, if it had one.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// With `rate_limited`: how long until the same message would be taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
    /// An app event; `from` is its sender, or `null` when the app's backend sent it
    /// (through the HTTP API).
    Event {
        name: String,
        #[cfg_attr(feature = "schema", schemars(extend("tsType" = "unknown")))]
        data: Value,
        from: Option<Uuid>,
    },
}

/// One live room in `GET /api/rooms`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub name: String,
    /// Everyone in the room, including those who are `away`.
    pub users: usize,
    /// Users whose connection dropped and who have not come back yet (their place is held
    /// for the leave grace period).
    #[serde(default)]
    pub away: usize,
}

/// The body of `GET /api/rooms`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomList {
    pub rooms: Vec<RoomInfo>,
}

/// `GET /api/cluster`: the nodes serving this Flock and how the one answering sees them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct ClusterInfo {
    /// `local` (a single node), `up` (linked to the others through Redis) or `down` (Redis
    /// is out of reach: this node serves its own rooms only).
    pub bus: String,
    /// Every live node, this one first; on a single node, just this one.
    pub nodes: Vec<NodeInfo>,
}

/// One node of the cluster.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct NodeInfo {
    /// `None` on a single node.
    pub id: Option<Uuid>,
    pub connections: u64,
    /// Whether this is the node that answered.
    pub here: bool,
}

#[cfg(test)]
mod tests;
