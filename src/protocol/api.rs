//! The bodies of the HTTP API (`/api/v1`, for the app's backend): what it posts and what it
//! gets back. `docs/api.md` is the human-readable copy; the same rules as the WebSocket
//! contract hold: fields may be added, never renamed or reshaped.

use super::{ChatMessage, ChatTarget, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /api/v1/rooms/{room}/messages`: a chat from the app's backend.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    pub text: String,
    /// The name shown with it (default [`DEFAULT_APP_NAME`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `"room"` (default) or a user id; `"others"` reaches the whole room too.
    #[serde(default)]
    pub to: ChatTarget,
    /// Makes a retry idempotent: a `ref` already used in the room gives back its seq.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// The name an app's chat is shown with when it gives none.
pub const DEFAULT_APP_NAME: &str = "server";

/// The answer to a posted message: its seq in the room.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Posted {
    pub seq: u64,
}

/// `POST /api/v1/rooms/{room}/events`: an app event to the whole room.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PostEvent {
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(value_type = Object, nullable))]
    pub data: Value,
}

/// `GET /api/v1/rooms/{room}/presence`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Presence {
    pub users: Vec<User>,
}

/// `GET /api/v1/rooms/{room}/history`: chats oldest first, direct ones included.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct HistoryPage {
    pub chats: Vec<ChatMessage>,
    pub more: bool,
}

/// The body of every refusal: a code for programs and a message for people.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApiError {
    pub error: String,
    pub message: String,
}
