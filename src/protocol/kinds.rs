//! The `"type"` tag of every message, as a value: what the decoder checks a frame's tag
//! against, and what logs and `/metrics` label messages with.
//!
//! The strings are serde's (`rename_all = "snake_case"` on the message enums); a test
//! serializes every variant and checks its tag against [`ClientKind::as_str`] and
//! [`ServerKind::as_str`], so the two cannot drift.

/// The `"type"` of a [`super::ClientMsg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    Cursor,
    State,
    Rename,
    Chat,
    Join,
    History,
    Event,
}

impl ClientKind {
    /// Every kind, in declaration order (`ALL[k as usize] == k`).
    pub const ALL: [ClientKind; 7] = [
        ClientKind::Cursor,
        ClientKind::State,
        ClientKind::Rename,
        ClientKind::Chat,
        ClientKind::Join,
        ClientKind::History,
        ClientKind::Event,
    ];

    /// The tag as it is spelled on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Cursor => "cursor",
            ClientKind::State => "state",
            ClientKind::Rename => "rename",
            ClientKind::Chat => "chat",
            ClientKind::Join => "join",
            ClientKind::History => "history",
            ClientKind::Event => "event",
        }
    }

    /// The kind a wire tag names, if any.
    pub fn from_tag(tag: &str) -> Option<ClientKind> {
        ClientKind::ALL.into_iter().find(|kind| kind.as_str() == tag)
    }
}

/// The `"type"` of a [`super::ServerMsg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerKind {
    Welcome,
    Joined,
    Left,
    Cursors,
    State,
    Renamed,
    Chat,
    History,
    Ack,
    Reset,
    Error,
    Event,
}

impl ServerKind {
    /// Every kind, in declaration order (`ALL[k as usize] == k`).
    pub const ALL: [ServerKind; 12] = [
        ServerKind::Welcome,
        ServerKind::Joined,
        ServerKind::Left,
        ServerKind::Cursors,
        ServerKind::State,
        ServerKind::Renamed,
        ServerKind::Chat,
        ServerKind::History,
        ServerKind::Ack,
        ServerKind::Reset,
        ServerKind::Error,
        ServerKind::Event,
    ];

    /// The tag as it is spelled on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerKind::Welcome => "welcome",
            ServerKind::Joined => "joined",
            ServerKind::Left => "left",
            ServerKind::Cursors => "cursors",
            ServerKind::State => "state",
            ServerKind::Renamed => "renamed",
            ServerKind::Chat => "chat",
            ServerKind::History => "history",
            ServerKind::Ack => "ack",
            ServerKind::Reset => "reset",
            ServerKind::Error => "error",
            ServerKind::Event => "event",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_kind_at_its_own_index() {
        for (i, kind) in ClientKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i);
            assert_eq!(ClientKind::from_tag(kind.as_str()), Some(kind));
        }
        for (i, kind) in ServerKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i);
        }
        assert_eq!(ClientKind::from_tag("welcome"), None);
    }
}
