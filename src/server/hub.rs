//! The registry of live rooms: creates a room when its first member arrives and drops it
//! when the last one leaves, announces joins and leaves, holds a dropped member's place
//! through the leave grace period, and answers `/api/rooms`.

use super::invite::Gate;
use super::outbox::Outbox;
use super::room::{fan_out, Audience, Member, Room};
use super::store::Store;
use crate::protocol::{RoomInfo, RoomList, ServerMsg, User};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use uuid::Uuid;

/// Close code sent to a connection whose session was resumed on a newer connection.
pub const CLOSE_REPLACED: u16 = 4001;

/// Someone entering a room, fresh or resuming.
pub struct Arrival {
    pub user: User,
    pub outbox: Arc<Outbox>,
    /// The connection's number (see [`Member::conn`]).
    pub conn: u64,
    /// The session token the `welcome` hands out.
    pub session: String,
    /// Resume: replay the chats after this seq instead of the newest history.
    pub since: Option<u64>,
}

/// How a connection ended, which decides when its user is announced `left`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// An explicit goodbye (close code 1000) or a client the server threw out: leave now.
    Goodbye,
    /// The connection dropped: keep the user's place for the grace period, so a quick
    /// reconnect is invisible to the others.
    Dropped,
}

/// All live rooms of this process.
///
/// Lock order is always the room map, then a room, then the store: joins and leaves take
/// the first two, so a room cannot be dropped while someone enters it; everything else
/// takes only its room.
pub struct Hub {
    rooms: Mutex<HashMap<String, Arc<Room>>>,
    store: Arc<Store>,
    grace: Duration,
}

impl Hub {
    pub fn new(store: Arc<Store>, grace: Duration) -> Self {
        Hub { rooms: Mutex::new(HashMap::new()), store, grace }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Room>>> {
        self.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts the arrival into `room_name`. A newcomer's `welcome` goes out and everyone
    /// already there gets `joined`; a user who is still in the room (away in the grace
    /// period, or on a connection that has not noticed it is dead) takes their place back
    /// silently, and the older connection is closed with [`CLOSE_REPLACED`].
    pub fn join(&self, room_name: &str, arrival: Arrival) -> Arc<Room> {
        let mut rooms = self.lock();
        let room = rooms
            .entry(room_name.to_owned())
            .or_insert_with(|| Arc::new(Room::new(room_name.to_owned(), self.store.clone())))
            .clone();
        let mut members = room.lock();
        let Arrival { user, outbox, conn, session, since } = arrival;
        let id = user.id;
        match members.get_mut(&id) {
            Some(member) => {
                if let Some(old) = member.outbox.replace(outbox.clone()) {
                    old.close(CLOSE_REPLACED, "session resumed on another connection");
                }
                member.conn = conn;
            }
            None => {
                fan_out(&members, Audience::Room, &ServerMsg::Joined { user: user.clone() });
                members.insert(id, Member { user, outbox: Some(outbox.clone()), conn });
            }
        }
        room.send_welcome(&members, &outbox, id, &session, since);
        drop(members);
        room
    }

    /// Ends connection `conn`'s membership of `room`, now or after the grace period.
    /// Returns the user when they left now, for a move to another room.
    pub fn depart(self: &Arc<Self>, room: &Arc<Room>, id: Uuid, conn: u64, how: Departure) -> Option<User> {
        if how == Departure::Goodbye || self.grace.is_zero() {
            return self.remove(room, id, |m| m.conn == conn);
        }
        {
            let mut members = room.lock();
            let member = members.get_mut(&id).filter(|m| m.conn == conn)?;
            if let Some(outbox) = member.outbox.take() {
                outbox.forget_all_moves();
            }
        }
        let (hub, room, grace) = (self.clone(), room.clone(), self.grace);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            hub.remove(&room, id, |m| m.conn == conn && m.outbox.is_none());
        });
        None
    }

    /// Takes `id` out of `room` if `still_due` says so, and announces `left` once.
    fn remove(&self, room: &Arc<Room>, id: Uuid, still_due: impl Fn(&Member) -> bool) -> Option<User> {
        let mut rooms = self.lock();
        let mut members = room.lock();
        if !members.get(&id).is_some_and(still_due) {
            return None;
        }
        let member = members.remove(&id)?;
        if let Some(outbox) = &member.outbox {
            outbox.forget_all_moves();
        }
        for outbox in members.values().filter_map(|m| m.outbox.as_ref()) {
            outbox.forget_moves_of(id);
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

    /// The live public rooms, busiest first (private rooms are not advertised).
    pub fn rooms(&self) -> RoomList {
        let rooms: Vec<Arc<Room>> = self.lock().values().cloned().collect();
        let mut rooms: Vec<RoomInfo> = rooms
            .iter()
            .filter(|r| !Gate::is_private(r.name()))
            .map(|r| RoomInfo { name: r.name().to_owned(), users: r.len(), away: r.away() })
            .collect();
        rooms.retain(|r| r.users > 0);
        rooms.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.name.cmp(&b.name)));
        RoomList { rooms }
    }
}
