//! One room: its members, what each of them looks like to the others, and the fan-out.
//!
//! This is where a cursor move, a state change or a chat goes. Every fan-out serializes its
//! message once and hands the same bytes to each recipient's [`Outbox`], so the cost of a
//! message is one serialization plus one cheap push per member. The three audiences of the
//! contract (the whole room, everyone but the sender, one user) are [`Audience`]; this is
//! the seam a cross-node bus will sit behind.

use super::outbox::{serialize_move, Outbox};
use crate::protocol::{ChatTarget, Move, Point, ServerMsg, User, UserState};
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use uuid::Uuid;

/// Who receives a fanned-out message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Everyone in the room.
    Room,
    /// Everyone in the room but this user.
    Others(Uuid),
    /// These two users (a direct message and the sender's copy); the same id twice is one.
    Pair(Uuid, Uuid),
}

impl Audience {
    fn includes(self, id: Uuid) -> bool {
        match self {
            Audience::Room => true,
            Audience::Others(sender) => id != sender,
            Audience::Pair(a, b) => id == a || id == b,
        }
    }
}

/// A member of a room: the public face and the queue that reaches its connection.
pub struct Member {
    pub user: User,
    pub outbox: Arc<Outbox>,
}

/// A direct chat named a user who is not in the room.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("no user {0} in this room")]
pub struct NoSuchUser(pub Uuid);

/// A live room; it exists while someone is in it (the [`super::hub::Hub`] sees to that).
pub struct Room {
    name: String,
    members: Mutex<HashMap<Uuid, Member>>,
}

impl Room {
    pub(super) fn new(name: String) -> Self {
        Room { name, members: Mutex::new(HashMap::new()) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    // A std Mutex: nothing is awaited while it is held (pushes into outboxes never wait),
    // and holding it across a whole fan-out is what keeps every member's view in one order.
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Member>> {
        self.members.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Sends `id` a fresh snapshot of the room, as after a `join`.
    pub fn welcome(&self, id: Uuid) {
        let members = self.lock();
        if let Some(member) = members.get(&id) {
            member.outbox.push(encode(&welcome_msg(&self.name, &members, id)));
        }
    }

    /// Moves `id`'s cursor and tells everyone else, coalesced per recipient.
    pub fn cursor(&self, id: Uuid, point: Point) {
        let mut members = self.lock();
        let Some(member) = members.get_mut(&id) else { return };
        member.user.cursor = Some(point);
        let serialized = serialize_move(&Move { id, x: point.x, y: point.y });
        for (other, member) in members.iter() {
            if *other != id {
                member.outbox.push_move(id, serialized.clone());
            }
        }
    }

    /// Replaces `id`'s state and tells the whole room.
    pub fn set_state(&self, id: Uuid, state: UserState) {
        let mut members = self.lock();
        let Some(member) = members.get_mut(&id) else { return };
        member.user.state = state.clone();
        fan_out(&members, Audience::Room, &ServerMsg::State { id, state });
    }

    /// Renames `id` and tells the whole room.
    pub fn rename(&self, id: Uuid, username: String) {
        let mut members = self.lock();
        let Some(member) = members.get_mut(&id) else { return };
        member.user.username = username.clone();
        fan_out(&members, Audience::Room, &ServerMsg::Renamed { id, username });
    }

    /// Delivers a chat from `id` to its target; the server sets sender, name and time.
    pub fn chat(&self, id: Uuid, text: String, to: ChatTarget, ts: u64) -> Result<(), NoSuchUser> {
        let members = self.lock();
        let Some(sender) = members.get(&id) else { return Ok(()) };
        let audience = match to {
            ChatTarget::Room => Audience::Room,
            ChatTarget::Others => Audience::Others(id),
            ChatTarget::User(target) if members.contains_key(&target) => Audience::Pair(id, target),
            ChatTarget::User(target) => return Err(NoSuchUser(target)),
        };
        let msg = ServerMsg::Chat { from: id, username: sender.user.username.clone(), text, to, ts };
        fan_out(&members, audience, &msg);
        Ok(())
    }
}

/// Serializes `msg` once and queues the same bytes for every member in `audience`.
pub(super) fn fan_out(members: &HashMap<Uuid, Member>, audience: Audience, msg: &ServerMsg) {
    let frame = encode(msg);
    for (id, member) in members {
        if audience.includes(*id) {
            member.outbox.push(frame.clone());
        }
    }
}

/// The snapshot a member gets on entering: every member, itself included.
pub(super) fn welcome_msg(room: &str, members: &HashMap<Uuid, Member>, you: Uuid) -> ServerMsg {
    let users = members.values().map(|m| m.user.clone()).collect();
    ServerMsg::Welcome { you, room: room.to_owned(), users }
}

/// One server message as a shareable text frame.
pub fn encode(msg: &ServerMsg) -> Utf8Bytes {
    // Server messages hold only strings, numbers, UUIDs and JSON objects with string keys:
    // serializing them cannot fail.
    Utf8Bytes::from(serde_json::to_string(msg).expect("a ServerMsg always serializes"))
}
