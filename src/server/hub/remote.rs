//! What the other nodes of a cluster tell this hub: their users joining, leaving, moving,
//! changing, their app events, and every chat (this node's own included, since the bus
//! numbers them), plus what the [`crate::server::bus::supervisor`] needs to resynchronise
//! after an outage.
//!
//! A remote user is a [`Member`] with `node` set: listed in `welcome`, counted in
//! `/api/rooms`, a valid direct-chat target, but with no outbox here.
//!
//! A shared identity (a JWT user's devices) may be held by several nodes at once: each of
//! them has it as its own member, and every node knows the others in [`Member::also`].
//! Its presence entry names the one that wrote it last; a node whose last connection of
//! it goes sends [`BusEvent::Released`] instead of `left`, and a remaining holder takes
//! the entry over. Only the last holder's leave is a `left`.

use super::{close_replaced, drop_if_empty, remove, Hub, Registry};
use crate::protocol::{ChatMessage, ServerMsg, User};
use crate::server::bus::event::{BusEvent, Envelope, PresenceEntry};
use crate::server::bus::PresenceChange;
use crate::server::clock::now_ms;
use crate::server::metrics::NODE_LEFT;
use crate::server::room::{fan_out, Audience, Member, Room};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

impl Hub {
    /// Applies one event of `room` from the bus. This node's own events were applied when
    /// they happened, all but chats, which only the bus numbers and delivers.
    pub fn apply_remote(&self, room: &str, envelope: Envelope) {
        let Envelope { node, event } = envelope;
        let from_here = self.bus.node() == Some(node);
        match event {
            BusEvent::Chat { chat, reference, .. } => self.deliver_chat(room, chat, reference.as_deref()),
            _ if from_here => {}
            BusEvent::Joined { user, taken_at, shared } => self.remote_joined(room, node, user, taken_at, shared),
            BusEvent::Left { id } => self.remote_left(room, node, id),
            BusEvent::Released { id, to } => self.remote_released(room, node, id, &to),
            BusEvent::State { id, state } => self.update_remote(room, node, id, |user| {
                user.state = state.clone();
                ServerMsg::State { id, state }
            }),
            BusEvent::Renamed { id, username } => self.update_remote(room, node, id, |user| {
                user.username = username.clone();
                ServerMsg::Renamed { id, username }
            }),
            BusEvent::Cursors { moves } => {
                if let Some(room) = self.live(room) {
                    room.remote_moves(node, &moves);
                }
            }
            BusEvent::Roster { users } => self.apply_roster(room, node, users),
            BusEvent::Removed { id, ban_secs } => {
                self.remove_user(room, id, ban_secs.map(std::time::Duration::from_secs));
            }
            BusEvent::Event { name, data, from, to } => {
                if let Some(room) = self.live(room) {
                    room.remote_event(name, data, from, to);
                }
            }
        }
    }

    /// Sends the roster of this node's users of every room it holds someone in: under the
    /// room's lock, so it is queued in order with the room's `joined` and `left` events.
    pub fn publish_rosters(&self) {
        let rooms: Vec<Arc<Room>> = self.lock().rooms.values().cloned().collect();
        for room in rooms {
            let members = room.lock();
            let users: Vec<User> = members.values().filter(|m| m.is_here()).map(|m| m.user.clone()).collect();
            if !users.is_empty() {
                self.bus.publish(room.name(), BusEvent::Roster { users }, None);
            }
        }
    }

    fn vouch(&self, room: &str, node: Uuid) {
        self.vouched.lock().unwrap_or_else(|p| p.into_inner()).insert((room.to_owned(), node), Instant::now());
    }

    /// Counts every other node's users as vouched for now: after an outage, rosters need a
    /// few beats to come in again.
    pub fn vouch_all_now(&self) {
        let now = Instant::now();
        let pairs: HashSet<(String, Uuid)> =
            remote_members(&self.lock()).into_iter().map(|(room, _, node)| (room, node)).collect();
        // Taken alone, never with the registry: see `vouched`.
        *self.vouched.lock().unwrap_or_else(|p| p.into_inner()) = pairs.into_iter().map(|pair| (pair, now)).collect();
    }

    /// Drops the members of other nodes whose node has not vouched for them in the room
    /// for `max_age` (its `left` got lost and it holds no one there any more).
    pub fn drop_unvouched(&self, max_age: std::time::Duration) {
        let now = Instant::now();
        let mut registry = self.lock();
        let remote = remote_members(&registry);
        let vouched = {
            // Rooms that went quiet leave no entries behind.
            let mut vouched = self.vouched.lock().unwrap_or_else(|p| p.into_inner());
            vouched.retain(|_, at| now.duration_since(*at) < max_age);
            vouched.clone()
        };
        for (room_name, id, node) in remote {
            let Some(room) = registry.rooms.get(&room_name).cloned() else { continue };
            let fresh = vouched.get(&(room_name.clone(), node)).is_some_and(|at| now.duration_since(*at) < max_age);
            if !fresh {
                tracing::info!(room = room_name, %id, %node, "dropping a user no roster lists any more");
                remove(&mut registry, &room, id, |m| m.node == Some(node), false);
            }
        }
    }

    /// Adds the users of `node`'s roster this hub does not know in the room (never taking
    /// one from another holder: a roster may be older than a move), and drops the members
    /// of `node` it no longer lists.
    fn apply_roster(&self, room_name: &str, node: Uuid, users: Vec<User>) {
        self.vouch(room_name, node);
        let listed: HashSet<Uuid> = users.iter().map(|u| u.id).collect();
        let mut registry = self.lock();
        let room = match registry.rooms.get(room_name) {
            Some(room) => room.clone(),
            None if users.is_empty() => return,
            None => self.room_in(&mut registry, room_name),
        };
        let mut members = room.lock();
        for user in users {
            if members.contains_key(&user.id) || registry.whereabouts.contains_key(&user.id) {
                continue;
            }
            fan_out(&members, Audience::Room, &ServerMsg::Joined { user: user.clone() });
            // A roster says who is there, not since when: the oldest claim.
            members.insert(user.id, Member::elsewhere(user, node, 0));
        }
        let stale: Vec<Uuid> =
            members.iter().filter(|(id, m)| m.node == Some(node) && !listed.contains(id)).map(|(id, _)| *id).collect();
        drop(members);
        for id in stale {
            remove(&mut registry, &room, id, |m| m.node == Some(node), false);
        }
        // A roster of no one may have been the only reason the room exists here.
        drop_if_empty(&mut registry, &room);
    }

    /// Stores a numbered chat and delivers it to this node's members of the room. With no
    /// one here, it is only stored, so a client that comes here later can resume from it.
    pub fn deliver_chat(&self, room_name: &str, chat: ChatMessage, reference: Option<&str>) {
        let registry = self.lock();
        match registry.rooms.get(room_name).cloned() {
            Some(room) => {
                let members = room.lock();
                drop(registry);
                room.deliver(&members, chat, reference);
            }
            // The registry stays locked, so the room cannot appear (and read the store's
            // latest seq) halfway through.
            None => {
                self.store.append_later(room_name, &chat, reference);
            }
        }
    }

    /// The latest chat seq this node has of `room`.
    pub fn latest_seq(&self, room: &str) -> u64 {
        self.store.latest_seq(room).unwrap_or(0)
    }

    /// `user` is on `node` since `taken_at`: a newcomer is announced; one this node held
    /// has resumed there, so its connection here (if any) is closed as replaced, without a
    /// `left`. A claim older than the current hold (here or on a third node) is stale, as
    /// after a partition in which both nodes took the user: the later take wins. A shared
    /// identity is not taken from anyone: `node` holds it too.
    fn remote_joined(&self, room_name: &str, node: Uuid, user: User, taken_at: u64, shared: bool) {
        self.vouch(room_name, node);
        let id = user.id;
        let mut registry = self.lock();
        if let Some(old) = registry.whereabouts.get(&id).filter(|r| !shared && r.name() != room_name).cloned() {
            remove(&mut registry, &old, id, |m| m.is_here() && !m.multi && m.taken_at <= taken_at, true);
        }
        let room = self.room_in(&mut registry, room_name);
        let mut members = room.lock();
        let shared = shared || members.get(&id).is_some_and(|m| m.multi);
        match members.get_mut(&id) {
            Some(member) if shared && (member.is_here() || member.taken_at > taken_at) => {
                // Held here too, or the newer holder is known already: one more holder.
                if member.node != Some(node) {
                    member.also.insert(node);
                }
            }
            Some(member) if member.node != Some(node) && member.taken_at > taken_at => {
                tracing::debug!(room = room_name, %id, %node, "ignoring an older claim on a user");
            }
            Some(member) => {
                if member.is_here() {
                    for old in member.outbox.take().into_iter().chain(member.others.drain(..).map(|(_, o)| o)) {
                        close_replaced(&old);
                    }
                    member.conn = 0;
                    if registry.whereabouts.get(&id).is_some_and(|r| Arc::ptr_eq(r, &room)) {
                        registry.whereabouts.remove(&id);
                    }
                }
                let before = member.node.replace(node);
                if shared {
                    member.also.extend(before.filter(|b| *b != node));
                    member.also.remove(&node);
                } else {
                    member.also.clear();
                }
                member.multi = shared;
                member.taken_at = taken_at;
                let cursor = member.user.cursor;
                let old = std::mem::replace(&mut member.user, User { cursor, ..user });
                let new = member.user.clone();
                if old.username != new.username {
                    fan_out(&members, Audience::Others(id), &ServerMsg::Renamed { id, username: new.username });
                }
                if old.state != new.state {
                    fan_out(&members, Audience::Others(id), &ServerMsg::State { id, state: new.state });
                }
            }
            None => {
                fan_out(&members, Audience::Room, &ServerMsg::Joined { user: user.clone() });
                let mut member = Member::elsewhere(user, node, taken_at);
                member.multi = shared;
                members.insert(id, member);
            }
        }
    }

    /// `node` let go of `id`: it leaves, unless another node holds it too (a shared
    /// identity, or one announced by several nodes at once, as when it was removed).
    fn remote_left(&self, room_name: &str, node: Uuid, id: Uuid) {
        let Some(room) = self.live(room_name) else { return };
        let mut registry = self.lock();
        {
            let mut members = room.lock();
            let Some(member) = members.get_mut(&id) else { return };
            member.also.remove(&node);
            if member.node != Some(node) || member.pass_to_another_holder() {
                return;
            }
        }
        remove(&mut registry, &room, id, |m| m.node == Some(node), false);
    }

    /// `node` let go of shared identity `id`, which the nodes `to` hold too. A holder here
    /// takes its presence entry over (it may name `node`). Elsewhere the member points at
    /// another holder; with none left (this node was the one in `to`, and let go too: both
    /// went at once), it leaves, so someone announces it.
    fn remote_released(&self, room_name: &str, node: Uuid, id: Uuid, to: &[Uuid]) {
        let Some(room) = self.live(room_name) else { return };
        let me = self.bus.node();
        let mut registry = self.lock();
        let mut members = room.lock();
        let Some(member) = members.get_mut(&id) else { return };
        member.also.remove(&node);
        if member.is_here() {
            self.reclaim(room_name, member);
            return;
        }
        if member.node != Some(node) {
            return;
        }
        member.also.extend(to.iter().copied().filter(|n| Some(*n) != me));
        if member.pass_to_another_holder() {
            return;
        }
        drop(members);
        if remove(&mut registry, &room, id, |m| m.node == Some(node), false).is_some() {
            self.bus.publish(room_name, BusEvent::Left { id }, Some(PresenceChange::RemoveAny(id)));
        }
    }

    /// Writes this node's presence entry for a shared identity it holds, now (the entry
    /// may name a node that let go of it), and tells the other nodes it holds it.
    fn reclaim(&self, room: &str, member: &mut Member) {
        let (user, taken_at) = (member.user.clone(), now_ms());
        member.taken_at = taken_at;
        let presence = Some(PresenceChange::Put(user.clone(), taken_at));
        self.bus.publish(room, BusEvent::Joined { user, taken_at, shared: true }, presence);
    }

    /// Changes a user `node` holds and tells this node's members what changed.
    fn update_remote(&self, room: &str, node: Uuid, id: Uuid, change: impl FnOnce(&mut User) -> ServerMsg) {
        let Some(room) = self.live(room) else { return };
        let mut members = room.lock();
        let Some(member) = members.get_mut(&id).filter(|m| m.held_by(node)) else { return };
        let msg = change(&mut member.user);
        fan_out(&members, Audience::Room, &msg);
    }

    fn live(&self, room: &str) -> Option<Arc<Room>> {
        self.lock().rooms.get(room).cloned()
    }

    /// Announces every user of a stopped `node` as `left`; returns them by room, so their
    /// presence entries can be removed from Redis too. A shared identity other nodes hold
    /// too stays: a holder here writes its presence entry again (the dead node's may be it).
    pub fn drop_node(&self, node: Uuid) -> Vec<(String, Uuid)> {
        let mut registry = self.lock();
        for room in registry.rooms.values() {
            let mut members = room.lock();
            for member in members.values_mut() {
                let held_too = member.also.remove(&node);
                if member.node == Some(node) {
                    // Its entry names the dead node, but another may hold it: point there.
                    member.pass_to_another_holder();
                } else if held_too && member.is_here() {
                    self.reclaim(room.name(), member);
                }
            }
        }
        let gone: Vec<(String, Uuid)> = remote_members(&registry)
            .into_iter()
            .filter(|(_, _, n)| *n == node)
            .map(|(room, id, _)| (room, id))
            .collect();
        for (room, id) in &gone {
            if let Some(room) = registry.rooms.get(room).cloned() {
                remove(&mut registry, &room, *id, |m| m.node == Some(node), false);
            }
        }
        metrics::counter!(NODE_LEFT).increment(gone.len() as u64);
        gone
    }

    /// The rooms this node holds someone in (away ones included): those it follows.
    pub fn local_rooms(&self) -> HashSet<String> {
        let registry = self.lock();
        let held = registry.rooms.values().filter(|room| room.lock().values().any(|m| m.is_here()));
        held.map(|room| room.name().to_owned()).collect()
    }

    /// This node stopped following `room`: if it holds no one there, the room (and what
    /// it knew of the other nodes' users in it) goes; no one here is told, as no one here
    /// is in it.
    pub fn forget_room(&self, room: &str) {
        let mut registry = self.lock();
        let Some(live) = registry.rooms.get(room).cloned() else { return };
        if live.lock().values().any(|m| m.is_here()) || live.has_chats_in_flight() {
            return;
        }
        registry.rooms.remove(room);
        live.flush_acks();
        metrics::gauge!(crate::server::metrics::ROOMS).set(registry.rooms.len() as f64);
    }

    /// The nodes other than this one that hold some member (shared ones' other holders too).
    pub fn remote_nodes(&self) -> HashSet<Uuid> {
        let registry = self.lock();
        let mut nodes: HashSet<Uuid> = remote_members(&registry).into_iter().map(|(_, _, node)| node).collect();
        for room in registry.rooms.values() {
            nodes.extend(room.lock().values().flat_map(|m| m.also.iter().copied()));
        }
        nodes
    }

    /// Every member this node knows of (its own and other nodes'), by room.
    pub fn members_known(&self) -> HashSet<(String, Uuid)> {
        let registry = self.lock();
        let mut known = HashSet::new();
        for room in registry.rooms.values() {
            known.extend(room.lock().keys().map(|id| (room.name().to_owned(), *id)));
        }
        known
    }

    /// This node's users (away ones included) by room, with when each was taken and
    /// whether other nodes may hold it too, to republish after an outage.
    pub fn local_presence(&self) -> Vec<(String, User, u64, bool)> {
        let registry = self.lock();
        let mut users = Vec::new();
        for room in registry.rooms.values() {
            let members = room.lock();
            let here = members.values().filter(|m| m.is_here());
            users.extend(here.map(|m| (room.name().to_owned(), m.user.clone(), m.taken_at, m.multi)));
        }
        users
    }

    /// Brings the other nodes' users of the rooms in `scope` in line with a presence
    /// snapshot of them, read after (re)joining the bus or on starting to follow a room:
    /// everyone in it is added or updated, and a member of a live node (`alive`) missing
    /// from it has left meanwhile. Members of nodes not known alive are left to the
    /// heartbeat sweep, which gives a node that lost Redis too time to come back.
    pub fn merge_presence(
        &self,
        snapshot: Vec<(String, PresenceEntry)>,
        alive: &HashSet<Uuid>,
        scope: &HashSet<String>,
    ) {
        let here = self.bus.node();
        let listed: HashSet<(String, Uuid)> = snapshot.iter().map(|(room, e)| (room.clone(), e.user.id)).collect();
        for (room, entry) in snapshot.into_iter().filter(|(_, e)| Some(e.node) != here) {
            self.remote_joined(&room, entry.node, entry.user, entry.taken_at, false);
        }
        let mut registry = self.lock();
        let stale = remote_members(&registry)
            .into_iter()
            .filter(|(room, _, node)| alive.contains(node) && scope.contains(room));
        for (room_name, id) in stale.map(|(room, id, _)| (room, id)).filter(|key| !listed.contains(key)) {
            if let Some(room) = registry.rooms.get(&room_name).cloned() {
                remove(&mut registry, &room, id, |m| m.node.is_some_and(|n| alive.contains(&n)), false);
            }
        }
    }
}

/// Every member held by another node: room, user id and node.
fn remote_members(registry: &Registry) -> Vec<(String, Uuid, Uuid)> {
    let mut found = Vec::new();
    for room in registry.rooms.values() {
        let members = room.lock();
        found.extend(members.iter().filter_map(|(id, m)| m.node.map(|node| (room.name().to_owned(), *id, node))));
    }
    found
}
