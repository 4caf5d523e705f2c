//! Who a chat is for, and its one string form: `"room"`, `"others"` or a user id, on the
//! wire, in the store's `target` column and in the chat form's picker alike.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use thiserror::Error;
use uuid::Uuid;

/// Who receives a chat message or an app event.
///
/// On the wire this is one string: [`ChatTarget::ROOM`], [`ChatTarget::OTHERS`] or a user id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChatTarget {
    /// Everyone in the room, the sender included.
    #[default]
    Room,
    /// Everyone in the room but the sender.
    Others,
    /// One user, plus a copy to the sender of a chat (an event goes to that user alone).
    User(Uuid),
}

/// A string that is not a chat target.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("`to` must be \"room\", \"others\" or a user id, not {0:?}")]
pub struct TargetError(pub String);

impl ChatTarget {
    /// The string form of [`ChatTarget::Room`].
    pub const ROOM: &'static str = "room";
    /// The string form of [`ChatTarget::Others`].
    pub const OTHERS: &'static str = "others";

    /// An app event's default audience.
    pub fn others() -> Self {
        ChatTarget::Others
    }
}

impl fmt::Display for ChatTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatTarget::Room => f.write_str(ChatTarget::ROOM),
            ChatTarget::Others => f.write_str(ChatTarget::OTHERS),
            ChatTarget::User(id) => id.fmt(f),
        }
    }
}

impl FromStr for ChatTarget {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            ChatTarget::ROOM => Ok(ChatTarget::Room),
            ChatTarget::OTHERS => Ok(ChatTarget::Others),
            other => Uuid::parse_str(other).map(ChatTarget::User).map_err(|_| TargetError(super::decode::clip(other))),
        }
    }
}

impl Serialize for ChatTarget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ChatTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// On the wire a target is one string: `room`, `others` or a user id.
#[cfg(feature = "ssr")]
impl utoipa::PartialSchema for ChatTarget {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("\"room\" (everyone), \"others\" (everyone but the sender) or a user id"))
            .examples(["room"])
            .into()
    }
}

#[cfg(feature = "ssr")]
impl utoipa::ToSchema for ChatTarget {}

/// One string on the wire, so its schema is written out rather than derived.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for ChatTarget {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ChatTarget".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Who a chat or an app event is for: \"room\" (everyone in the room, the sender included), \
                \"others\" (everyone but the sender) or a user id (that user; a chat's sender gets a copy).",
            "anyOf": [
                { "type": "string", "enum": [ChatTarget::ROOM, ChatTarget::OTHERS] },
                { "type": "string", "format": "uuid" }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_reads_back_from_its_string() {
        let id = Uuid::from_u128(7);
        for target in [ChatTarget::Room, ChatTarget::Others, ChatTarget::User(id)] {
            assert_eq!(target.to_string().parse(), Ok(target));
        }
        assert_eq!(ChatTarget::Room.to_string(), "room");
        assert_eq!(ChatTarget::User(id).to_string(), id.to_string());
        assert_eq!("everyone".parse::<ChatTarget>(), Err(TargetError("everyone".into())));
    }
}
