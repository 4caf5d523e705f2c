//! What nodes tell each other through Redis: one JSON envelope per pub/sub message, also
//! the form a chat takes in its room's stream (so a replayed chat reads like a live one).

use crate::protocol::{ChatMessage, ChatTarget, Move, User, UserState};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// One event of a room, stamped with the node it happened on.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Envelope {
    pub node: Uuid,
    #[serde(flatten)]
    pub event: BusEvent,
}

/// A change in a room that the other nodes' members must see.
///
/// Presence events carry the whole user, so applying one twice or out of a snapshot's
/// order converges on the same room: receivers treat them as "this is now so".
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BusEvent {
    /// The user is now connected to the sending node (new, or taken over from another)
    /// since `taken_at` (unix ms): of two nodes holding the same user, the later take wins.
    Joined {
        user: User,
        #[serde(default)]
        taken_at: u64,
        /// An identity several nodes may hold at once (a JWT user's devices): the nodes
        /// that already hold it keep it too, rather than letting go.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        shared: bool,
    },
    Left {
        id: Uuid,
    },
    State {
        id: Uuid,
        state: UserState,
    },
    Renamed {
        id: Uuid,
        username: String,
    },
    /// The latest position of each user that moved since the node's previous batch.
    Cursors {
        moves: Vec<Move>,
    },
    /// Every user the sending node holds in the room, sent each heartbeat: receivers add
    /// the ones they miss and drop the ones of that node not listed, so a `joined` or
    /// `left` lost to an outage or a full queue heals within a beat.
    Roster {
        users: Vec<User>,
    },
    /// The sending node's last connection of a shared identity is gone, but the nodes in
    /// `to` hold it too: it stays in the room (no `left`), and one of them takes over its
    /// presence entry. A node in `to` that no longer holds it either announces the leave.
    Released {
        id: Uuid,
        to: Vec<Uuid>,
    },
    /// The app's backend removed `id` from the room: the node holding it closes its
    /// connection there and announces `left`; every node refuses it there for `ban_secs`.
    Removed {
        id: Uuid,
        #[serde(default)]
        ban_secs: Option<u64>,
    },
    /// An app event, sent on to the receiving node's members of its audience (`from`:
    /// `None` when the app's backend sent it).
    Event {
        name: String,
        data: Value,
        from: Option<Uuid>,
        to: ChatTarget,
    },
    /// A numbered chat. Written by the chat script, which alone knows `seq`: the inner
    /// message is serialized with seq 0 and takes this one on arrival. The sender's `ref`
    /// travels along so every node's store can recognise a resend.
    Chat {
        seq: u64,
        chat: ChatMessage,
        #[serde(rename = "ref", default)]
        reference: Option<String>,
    },
}

impl Envelope {
    /// Reads a pub/sub payload or a stream entry; a chat gets its seq back in place.
    pub fn decode(payload: &[u8]) -> Result<Envelope, serde_json::Error> {
        use serde::de::Error;
        let mut envelope: Envelope = serde_json::from_slice(payload)?;
        if let BusEvent::Chat { seq, chat, .. } = &mut envelope.event {
            // The store keeps seqs as SQLite integers (i64).
            if *seq > i64::MAX as u64 {
                return Err(serde_json::Error::custom(format!("chat seq {seq} is out of range")));
            }
            chat.seq = *seq;
        }
        Ok(envelope)
    }
}

/// A user's entry in a room's presence hash: who they are and which node holds them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct PresenceEntry {
    pub node: Uuid,
    /// When that node took the user (unix ms; see [`BusEvent::Joined`]).
    #[serde(default)]
    pub taken_at: u64,
    pub user: User,
}

impl PresenceEntry {
    /// How the JSON of every entry `node` writes begins (serde keeps field order).
    pub fn prefix(node: Uuid) -> String {
        format!(r#"{{"node":"{node}""#)
    }
}

/// What a node writes into its heartbeat key: enough for `/api/cluster`.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Default)]
pub struct NodeLoad {
    pub connections: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ChatTarget;

    #[test]
    fn a_chat_built_by_the_script_decodes_with_its_seq() {
        let node = Uuid::new_v4();
        let chat = ChatMessage {
            seq: 0,
            from: Uuid::new_v4(),
            username: "a".into(),
            text: "hi \"there\"".into(),
            to: ChatTarget::Others,
            ts: 1_763_912_048_123,
            server: false,
        };
        // The same concatenation the chat script does.
        let payload = format!(
            r#"{{"node":"{node}","kind":"chat","seq":{},"chat":{},"ref":{}}}"#,
            7,
            serde_json::to_string(&chat).unwrap(),
            serde_json::to_string(&Some("r\"1")).unwrap()
        );
        let envelope = Envelope::decode(payload.as_bytes()).unwrap();
        assert_eq!(envelope.node, node);
        let chat = ChatMessage { seq: 7, ..chat };
        assert_eq!(envelope.event, BusEvent::Chat { seq: 7, chat, reference: Some("r\"1".into()) });
    }

    #[test]
    fn a_presence_entry_begins_with_its_node() {
        let node = Uuid::new_v4();
        let user = crate::protocol::User {
            id: Uuid::new_v4(),
            username: r#"x"node":"y"#.into(),
            color: "#000".into(),
            cursor: None,
            state: Default::default(),
        };
        let json = serde_json::to_string(&PresenceEntry { node, taken_at: 1, user }).unwrap();
        assert!(json.starts_with(&PresenceEntry::prefix(node)));
    }

    #[test]
    fn events_round_trip() {
        let envelope = Envelope { node: Uuid::new_v4(), event: BusEvent::Left { id: Uuid::new_v4() } };
        let json = serde_json::to_vec(&envelope).unwrap();
        assert_eq!(Envelope::decode(&json).unwrap(), envelope);
    }
}
