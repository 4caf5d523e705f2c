//! The registry of live rooms: creates a room when its first member arrives and drops it
//! when the last one leaves, announces joins and leaves, and answers `/api/rooms`.

use super::outbox::Outbox;
use super::room::{encode, fan_out, welcome_msg, Audience, Member, Room};
use crate::protocol::{RoomInfo, RoomList, ServerMsg, User};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use uuid::Uuid;

/// All live rooms of this process.
///
/// Lock order is always the room map first, then a room: joins and leaves take both, so a
/// room cannot be dropped while someone enters it; everything else takes only its room.
#[derive(Default)]
pub struct Hub {
    rooms: Mutex<HashMap<String, Arc<Room>>>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Room>>> {
        self.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts `user` into `room_name`: the newcomer gets a `welcome` snapshot (itself
    /// included) and everyone already there gets `joined`, in that order.
    pub fn join(&self, room_name: &str, user: User, outbox: Arc<Outbox>) -> Arc<Room> {
        let mut rooms = self.lock();
        let room = rooms
            .entry(room_name.to_owned())
            .or_insert_with(|| Arc::new(Room::new(room_name.to_owned())))
            .clone();
        let mut members = room.lock();
        let id = user.id;
        fan_out(&members, Audience::Room, &ServerMsg::Joined { user: user.clone() });
        members.insert(id, Member { user, outbox: outbox.clone() });
        outbox.push(encode(&welcome_msg(room_name, &members, id)));
        drop(members);
        room
    }

    /// Takes `id` out of `room` and announces `left` once; a second call does nothing.
    /// Returns the user as the room last knew them, for a move to another room.
    pub fn leave(&self, room: &Arc<Room>, id: Uuid) -> Option<User> {
        let mut rooms = self.lock();
        let mut members = room.lock();
        let member = members.remove(&id)?;
        member.outbox.forget_all_moves();
        for other in members.values() {
            other.outbox.forget_moves_of(id);
        }
        fan_out(&members, Audience::Room, &ServerMsg::Left { id });
        if members.is_empty() {
            // Only drop the map's entry if it is still this room, not a newer namesake.
            if rooms.get(room.name()).is_some_and(|r| Arc::ptr_eq(r, room)) {
                rooms.remove(room.name());
            }
        }
        Some(member.user)
    }

    /// The live rooms, busiest first.
    pub fn rooms(&self) -> RoomList {
        let rooms: Vec<Arc<Room>> = self.lock().values().cloned().collect();
        let mut rooms: Vec<RoomInfo> =
            rooms.iter().map(|r| RoomInfo { name: r.name().to_owned(), users: r.len() }).collect();
        rooms.retain(|r| r.users > 0);
        rooms.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.name.cmp(&b.name)));
        RoomList { rooms }
    }
}
