//! The registry of live rooms: creates a room when its first member arrives and drops it
//! when the last one leaves, announces joins and leaves, holds a dropped member's place
//! through the leave grace period, and answers `/api/rooms`.
//!
//! On a cluster node the rooms also hold the users of the other nodes: [`remote`] applies
//! what the bus says about them, and this node's joins and leaves go out on the bus.

pub mod bans;
mod pinned;
mod remote;

pub use pinned::PinnedRoom;

use super::bus::event::BusEvent;
use super::bus::{Bus, PresenceChange};
use super::clock::now_ms;
use super::invite::Gate;
use super::outbox::Outbox;
use super::room::{fan_out, Audience, Member, PendingWelcome, Room};
use super::store::Store;
use super::webhooks::WebhookKind;
use crate::protocol::{close, RoomInfo, RoomList, ServerMsg, User};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use uuid::Uuid;

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
    /// An identity that may be connected several times at once (a JWT user's tabs and
    /// devices): another connection of it joins the member instead of replacing it.
    pub multi: bool,
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
/// Lock order is always the registry, then a room, then the store: joins and leaves take
/// the first two, so a room cannot be dropped while someone enters it; everything else
/// takes only its room. No one holds two rooms at once.
pub struct Hub {
    /// This hub, for its rooms: a room that empties while its last chats are being
    /// committed asks to be dropped once they are delivered.
    me: std::sync::Weak<Hub>,
    registry: Mutex<Registry>,
    store: Arc<Store>,
    grace: Duration,
    bus: Bus,
    /// Most chats a resuming member's `welcome` replays (`--replay-max`).
    replay_max: usize,
    /// When another node last vouched for its users in a room (a roster or a `joined`):
    /// a node that stops sending a room's roster holds no one there any more. Taken on its
    /// own or last (after the registry), never before the registry.
    vouched: Mutex<HashMap<(String, Uuid), std::time::Instant>>,
    /// Who the app's backend removed from which room, until when. Taken alone.
    bans: Mutex<bans::Bans>,
}

#[derive(Default)]
struct Registry {
    rooms: HashMap<String, Arc<Room>>,
    /// The room each user of this node is in: one user (one session) is in one room at a
    /// time; an identity with several connections ([`Arrival::multi`]), in the room it
    /// entered last.
    whereabouts: HashMap<Uuid, Arc<Room>>,
}

impl Hub {
    pub fn new(store: Arc<Store>, grace: Duration, bus: Bus, replay_max: usize) -> Arc<Self> {
        Arc::new_cyclic(|me| Hub {
            me: me.clone(),
            registry: Mutex::new(Registry::default()),
            store,
            grace,
            bus,
            replay_max,
            vouched: Mutex::default(),
            bans: Mutex::default(),
        })
    }

    /// Drops `room` if no one is in it and it has no chat left to deliver (called by a
    /// room whose last chat in flight was just delivered).
    pub(super) fn drop_if_idle(&self, room: &Arc<Room>) {
        drop_if_empty(&mut self.lock(), room);
    }

    /// Whether `name` is a live room.
    pub fn has_room(&self, name: &str) -> bool {
        self.lock().rooms.contains_key(name)
    }

    /// Live rooms on this node (with members here or on other nodes).
    pub fn room_count(&self) -> usize {
        self.lock().rooms.len()
    }

    /// The bus this node's rooms publish to.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The room called `name`, created if no one is in it yet.
    fn room_in(&self, registry: &mut Registry, name: &str) -> Arc<Room> {
        let room = registry
            .rooms
            .entry(name.to_owned())
            .or_insert_with(|| {
                let (store, bus, hub) = (self.store.clone(), self.bus.clone(), self.me.clone());
                Arc::new(Room::new(name.to_owned(), store, bus, self.replay_max, hub))
            })
            .clone();
        metrics::gauge!(super::metrics::ROOMS).set(registry.rooms.len() as f64);
        room
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts the arrival into `room_name`. A newcomer's `welcome` goes out and everyone
    /// already there gets `joined`; a user who is still in the room (away in the grace
    /// period, or on a connection that has not noticed it is dead) takes their place back
    /// silently. Either way an older connection of the same user is closed with
    /// [`close::REPLACED`], and if it was in another room, it leaves that room. A user
    /// another node held moves here silently too (that node is told and lets go). The
    /// caller sends the returned welcome (it reads the history off the room's lock).
    pub fn join(&self, room_name: &str, arrival: Arrival) -> (Arc<Room>, PendingWelcome) {
        let Arrival { user, outbox, conn, session, since, multi } = arrival;
        let id = user.id;
        let mut registry = self.lock();
        // One connection of an identity that may have several moves alone (it has left
        // its old room already); any other identity is in one room at a time.
        if let Some(old) = registry.whereabouts.get(&id).filter(|r| !multi && r.name() != room_name).cloned() {
            remove(&mut registry, &old, id, |_| true, true);
        }
        let room = self.room_in(&mut registry, room_name);
        registry.whereabouts.insert(id, room.clone());
        let mut members = room.lock();
        // The room holds this user now, so it cannot be dropped: let the other rooms go on.
        drop(registry);
        match members.get_mut(&id) {
            // Another live connection of an identity that may have several: one more way
            // to reach the same member, told to no one.
            Some(member) if multi && member.is_here() && member.outbox.is_some() && member.conn != conn => {
                member.others.push((conn, outbox.clone()));
            }
            Some(member) => {
                if let Some(old) = member.outbox.replace(outbox.clone()) {
                    close_replaced(&old);
                }
                member.conn = conn;
                let taken_at = now_ms();
                member.taken_at = taken_at;
                let held_by = member.node.take();
                let taken_over = held_by.is_some();
                // A shared identity another node holds stays held there too.
                member.multi = multi;
                if multi {
                    member.also.extend(held_by);
                } else {
                    member.also.clear();
                }
                // A private room's invitation may name the user differently than before.
                let renamed = member.user.username != user.username;
                member.user.username = user.username.clone();
                let user = member.user.clone();
                if renamed {
                    let renamed = ServerMsg::Renamed { id, username: user.username.clone() };
                    fan_out(&members, Audience::Others(id), &renamed);
                }
                if taken_over || renamed {
                    let presence = Some(PresenceChange::Put(user.clone(), taken_at));
                    self.bus.publish(room_name, BusEvent::Joined { user, taken_at, shared: multi }, presence);
                }
            }
            None => {
                if members.is_empty() {
                    self.store.webhook(WebhookKind::RoomOccupied, room_name, now_ms(), || json!({}));
                }
                self.store.webhook(WebhookKind::UserJoined, room_name, now_ms(), || json!({ "user": user }));
                fan_out(&members, Audience::Room, &ServerMsg::Joined { user: user.clone() });
                let taken_at = now_ms();
                let presence = Some(PresenceChange::Put(user.clone(), taken_at));
                self.bus.publish(room_name, BusEvent::Joined { user: user.clone(), taken_at, shared: multi }, presence);
                let mut member = Member::here(user, outbox.clone(), conn, taken_at);
                member.multi = multi;
                members.insert(id, member);
            }
        }
        // Still under the room lock: the moves it follows start where the welcome's
        // positions were read.
        outbox.follow(room.board().clone(), id);
        let welcome = room.reserve_welcome(&members, &outbox, id, &session, since);
        drop(members);
        (room, welcome)
    }

    /// Ends connection `conn`'s membership of `room`, now or after the grace period.
    /// Returns the user when they left now, for a move to another room.
    pub fn depart(self: &Arc<Self>, room: &Arc<Room>, id: Uuid, conn: u64, how: Departure) -> Option<User> {
        // One of several connections of an identity: it goes, the member stays (no `left`).
        {
            let mut members = room.lock();
            if let Some(member) = members.get_mut(&id).filter(|m| m.is_here() && !m.others.is_empty()) {
                let user = member.user.clone();
                if let Some(at) = member.others.iter().position(|(c, _)| *c == conn) {
                    let (_, outbox) = member.others.remove(at);
                    outbox.unfollow();
                } else if member.conn == conn {
                    let (next, outbox) = member.others.remove(0);
                    if let Some(old) = member.outbox.replace(outbox) {
                        old.unfollow();
                    }
                    member.conn = next;
                } else {
                    return None;
                }
                return (how == Departure::Goodbye).then_some(user);
            }
        }
        if how == Departure::Goodbye || self.grace.is_zero() {
            return leave(&mut self.lock(), room, id, |m| m.conn == conn);
        }
        {
            let mut members = room.lock();
            let member = members.get_mut(&id).filter(|m| m.conn == conn)?;
            if let Some(outbox) = member.outbox.take() {
                outbox.unfollow();
            }
        }
        let (hub, room, grace) = (self.clone(), room.clone(), self.grace);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            leave(&mut hub.lock(), &room, id, |m| m.conn == conn && m.outbox.is_none());
        });
        None
    }

    /// Removes `id` from `room` for the app's backend: this node's connection of it there
    /// closes with [`close::REMOVED`] and `left` goes out at once (no grace); with `ban`,
    /// the identity is refused there for that long. Returns whether it was here.
    pub fn remove_user(&self, room_name: &str, id: Uuid, ban: Option<Duration>) -> bool {
        if let Some(ban) = ban {
            self.bans.lock().unwrap_or_else(|p| p.into_inner()).ban(room_name, id, ban, std::time::Instant::now());
        }
        let mut registry = self.lock();
        let Some(room) = registry.rooms.get(room_name).cloned() else { return false };
        let outboxes: Option<Vec<Arc<Outbox>>> =
            room.lock().get(&id).filter(|m| m.is_here()).map(|m| m.outboxes().cloned().collect());
        let Some(outboxes) = outboxes else { return false };
        for outbox in outboxes {
            outbox.close(close::REMOVED, "removed from the room");
        }
        remove(&mut registry, &room, id, Member::is_here, false).is_some()
    }

    /// Closes this node's connection of identity `id` (revoked), wherever it is, with
    /// [`close::REMOVED`], and announces `left` there at once.
    pub fn remove_everywhere(&self, id: Uuid) {
        // Every room: an identity with several connections may be in more than one.
        let rooms: Vec<String> = self.lock().rooms.keys().cloned().collect();
        for room in rooms {
            self.remove_user(&room, id, None);
        }
    }

    /// Whether `id` is refused in `room` by a ban this node knows of.
    pub fn is_banned(&self, room: &str, id: Uuid) -> bool {
        self.bans.lock().unwrap_or_else(|p| p.into_inner()).is_banned(room, id, std::time::Instant::now())
    }

    /// Whether any ban may apply: this node knows of one, or the cluster may.
    pub fn may_have_bans(&self) -> bool {
        self.bus.node().is_some() || !self.bans.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// Everyone in `room` (on any node, away ones included), by name; no one if it is not
    /// live here.
    pub fn users_in(&self, room: &str) -> Vec<User> {
        let Some(room) = self.lock().rooms.get(room).cloned() else { return Vec::new() };
        let mut users: Vec<User> = room.lock().values().map(|m| m.user.clone()).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username).then(a.id.cmp(&b.id)));
        users
    }

    /// The live public rooms, busiest first (private rooms are not advertised).
    pub fn rooms(&self) -> RoomList {
        self.rooms_listed(Listing::Public)
    }

    /// The live rooms `listing` covers, busiest first.
    pub fn rooms_listed(&self, listing: Listing) -> RoomList {
        let rooms: Vec<Arc<Room>> = self.lock().rooms.values().cloned().collect();
        let mut rooms: Vec<RoomInfo> = rooms
            .iter()
            .filter(|r| listing.covers(r.name()))
            .map(|r| RoomInfo { name: r.name().to_owned(), users: r.head_count(), away: r.away() })
            .collect();
        rooms.retain(|r| r.users > 0);
        rooms.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.name.cmp(&b.name)));
        RoomList { rooms }
    }
}

/// Which rooms a room list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// The lobby's: private rooms are not advertised.
    Public,
    /// The app's backend's (the HTTP API): every room.
    All,
}

impl Listing {
    pub fn covers(self, room: &str) -> bool {
        self == Listing::All || !Gate::is_private(room)
    }
}

/// Ends this node's hold of `id` in `room` if `still_due` says so (its last connection
/// here is gone): a shared identity another node holds too stays in the room, and those
/// nodes are told to take over; anyone else leaves ([`remove`]). Returns the user either way.
fn leave(registry: &mut Registry, room: &Arc<Room>, id: Uuid, still_due: impl Fn(&Member) -> bool) -> Option<User> {
    {
        let mut members = room.lock();
        let member = members.get_mut(&id).filter(|m| m.is_here() && still_due(m))?;
        let to: Vec<Uuid> = member.also.iter().copied().collect();
        if member.pass_to_another_holder() {
            for outbox in member.outboxes() {
                outbox.unfollow();
            }
            member.outbox = None;
            member.others.clear();
            member.conn = 0;
            let user = member.user.clone();
            room.bus().publish(room.name(), BusEvent::Released { id, to }, None);
            drop(members);
            if registry.whereabouts.get(&id).is_some_and(|r| Arc::ptr_eq(r, room)) {
                registry.whereabouts.remove(&id);
            }
            return Some(user);
        }
    }
    remove(registry, room, id, still_due, false)
}

/// Takes `id` out of `room` if `still_due` says so, closes its connection as replaced if
/// `replaced`, announces `left` once, and drops the room if that emptied it.
fn remove(
    registry: &mut Registry,
    room: &Arc<Room>,
    id: Uuid,
    still_due: impl Fn(&Member) -> bool,
    replaced: bool,
) -> Option<User> {
    let mut members = room.lock();
    if !members.get(&id).is_some_and(still_due) {
        return None;
    }
    let member = members.remove(&id)?;
    for outbox in member.outboxes() {
        outbox.unfollow();
        if replaced {
            close_replaced(outbox);
        }
    }
    // Before the `left`: a writer that takes the `left` takes none of this user's moves.
    room.board().remove(id);
    fan_out(&members, Audience::Room, &ServerMsg::Left { id });
    if member.is_here() {
        room.bus().publish(room.name(), BusEvent::Left { id }, Some(PresenceChange::Remove(id)));
        let store = room.store();
        store.webhook(WebhookKind::UserLeft, room.name(), now_ms(), || json!({ "user": member.user }));
        if members.is_empty() {
            store.webhook(WebhookKind::RoomVacated, room.name(), now_ms(), || json!({}));
        }
    }
    if registry.whereabouts.get(&id).is_some_and(|r| Arc::ptr_eq(r, room)) {
        registry.whereabouts.remove(&id);
    }
    let emptied = members.is_empty();
    drop(members);
    if emptied {
        drop_if_empty(registry, room);
    }
    Some(member.user)
}

/// Drops `room` from the registry if no one (on any node) is in it, the API does not hold
/// it ([`PinnedRoom`]) and no chat of it is still on its way to the store (a room opened
/// again under the same name meanwhile would number and deliver past them), unless the
/// map's entry is already a newer namesake.
/// Acks still waiting there go out: their senders have left.
fn drop_if_empty(registry: &mut Registry, room: &Arc<Room>) {
    let idle = room.head_count() == 0 && !room.has_chats_in_flight() && !room.is_pinned();
    if idle && registry.rooms.get(room.name()).is_some_and(|r| Arc::ptr_eq(r, room)) {
        registry.rooms.remove(room.name());
        room.flush_acks();
        metrics::gauge!(super::metrics::ROOMS).set(registry.rooms.len() as f64);
    }
}

/// Ends a connection whose session now lives on a newer one.
fn close_replaced(outbox: &Outbox) {
    outbox.close(close::REPLACED, "session resumed on another connection");
}
