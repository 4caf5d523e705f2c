//! The wire contract: every message that crosses `/ws` and every body the JSON API returns.
//!
//! This module is compiled into the server and into the WebAssembly client, so the two
//! halves cannot drift. It holds plain serde types and pure validation, nothing that
//! touches a socket. Frames are JSON text, one object per frame, tagged by `"type"`.
//! External clients rely on these names and shapes: fields and message types may be added,
//! never renamed or reshaped. `docs/protocol.md` is the human-readable copy.

mod decode;
mod names;

pub use decode::{decode_client_msg, DecodeError};
pub use names::{validate_room, validate_username, NameError, DEFAULT_ROOM};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A user's free-form state: always a JSON object.
pub type UserState = Map<String, Value>;

/// Longest chat text, in characters, that the contract promises to accept.
pub const MAX_CHAT_CHARS: usize = 2000;
/// Largest user state, in bytes of compact JSON, that the contract promises to accept.
pub const MAX_STATE_BYTES: usize = 4096;

/// A position on the shared board; both coordinates are fractions of the board in [0, 1].
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
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    /// A CSS colour chosen by the server, stable for the connection.
    pub color: String,
    pub cursor: Option<Point>,
    pub state: UserState,
}

/// One user's latest cursor position inside a `cursors` frame.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct Move {
    pub id: Uuid,
    pub x: f64,
    pub y: f64,
}

/// Who receives a chat message.
///
/// On the wire this is one string: `"room"`, `"others"` or a user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChatTarget {
    /// Everyone in the room, the sender included.
    #[default]
    Room,
    /// Everyone in the room but the sender.
    Others,
    /// One user, plus a copy to the sender.
    User(Uuid),
}

impl Serialize for ChatTarget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ChatTarget::Room => s.serialize_str("room"),
            ChatTarget::Others => s.serialize_str("others"),
            ChatTarget::User(id) => id.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ChatTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        match text.as_ref() {
            "room" => Ok(ChatTarget::Room),
            "others" => Ok(ChatTarget::Others),
            other => Uuid::parse_str(other).map(ChatTarget::User).map_err(|_| {
                serde::de::Error::custom(format!(
                    "`to` must be \"room\", \"others\" or a user id, not {other:?}"
                ))
            }),
        }
    }
}

/// A frame a client sends to the server.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Move this user's cursor.
    Cursor { x: f64, y: f64 },
    /// Replace this user's state.
    State { state: UserState },
    /// Change this user's name.
    Rename { username: String },
    /// Say something; `to` defaults to the whole room.
    Chat {
        text: String,
        #[serde(default)]
        to: ChatTarget,
    },
    /// Move this connection to another room.
    Join { room: String },
}

/// Why the server refused a client frame; sent in an `error` message.
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
}

/// A frame the server sends to a client.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First frame after connecting and after every `join`; `users` includes `you`.
    Welcome {
        you: Uuid,
        room: String,
        users: Vec<User>,
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
    /// A chat message; `ts` is the server's clock in unix milliseconds.
    Chat {
        from: Uuid,
        username: String,
        text: String,
        to: ChatTarget,
        ts: u64,
    },
    /// The server refused a client frame; the connection stays open.
    Error { code: ErrorCode, message: String },
}

/// One live room in `GET /api/rooms`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RoomInfo {
    pub name: String,
    pub users: usize,
}

/// The body of `GET /api/rooms`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomList {
    pub rooms: Vec<RoomInfo>,
}

#[cfg(test)]
mod tests;
