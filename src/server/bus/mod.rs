//! The seam between a room and the world outside this process.
//!
//! [`Bus::Local`] is the default: one process holds every room and nothing leaves it.
//! Nothing outside this module (and the [`crate::server::room::sequencer`] that numbers
//! chats) asks which one runs: rooms, sessions and handlers call the methods below.
//! [`Bus::Redis`] (`--bus redis://host:port`) joins the node to a cluster: every room event
//! that happens here is published on the room's Redis channel, every node that holds a
//! member of the room (and only those: a node subscribes to a room's channel while it
//! does) applies the other nodes' events to its own members (`hub::remote`), chats are numbered by a Redis script
//! so seqs stay per room and gap-free across nodes, and presence lives in a hash per room
//! refreshed by node heartbeats ([`supervisor`]).
//!
//! Publishing never waits: rooms call in with their lock held, so events go through a
//! bounded queue to one publisher task, which sends them in pipelined batches and merges
//! the cursor moves of a batch into one `cursors` event per room (so a hot room costs the
//! bus one message per batch, not one per move).
//!
//! With webhooks on, the cluster's outbox is a Redis stream the scripts append to
//! ([`scripts`]), and [`webhook_stream`] is how the one sending node reads it.
//!
//! Each node also has a channel of its own, over which the others [`forward`] the
//! fallback transport's POSTs for the streams it holds.

pub mod event;
pub mod forward;
pub mod heart;
pub mod keys;
pub mod link;
pub mod scripts;
pub mod supervisor;
pub mod webhook_stream;

use crate::protocol::{ClusterInfo, Move, NodeInfo, RoomInfo, RoomList, User};
use crate::server::hub::Listing;
use crate::server::store::token_key;
use event::BusEvent;
use link::Link;
use std::sync::Arc;
use uuid::Uuid;

/// Where a room's events go beyond this process.
#[derive(Clone, Default)]
pub enum Bus {
    /// A single node: nothing to tell anyone.
    #[default]
    Local,
    /// A cluster node linked to the others through Redis.
    Redis(Arc<Link>),
}

/// How an event changes a room's presence hash in Redis.
#[derive(Debug, Clone)]
pub enum PresenceChange {
    /// The user is (still) here, as this, since the given time (unix ms).
    Put(User, u64),
    /// Drops the user's entry if this node wrote it.
    Remove(Uuid),
    /// Drops the user's entry whichever node wrote it (a shared identity no node holds).
    RemoveAny(Uuid),
}

/// One item for the publisher task.
#[derive(Debug)]
pub enum Outgoing {
    Event { room: String, event: BusEvent, presence: Option<PresenceChange> },
    Move { room: String, mv: Move },
    Session { key: String, user: User },
}

impl Bus {
    /// Tells the other nodes about `event` in `room` (a no-op on a single node).
    pub fn publish(&self, room: &str, event: BusEvent, presence: Option<PresenceChange>) {
        if let Bus::Redis(link) = self {
            link.enqueue(Outgoing::Event { room: room.to_owned(), event, presence });
        }
    }

    /// Queues a local user's cursor move; moves are merged per room and batch.
    pub fn moved(&self, room: &str, mv: Move) {
        if let Bus::Redis(link) = self {
            link.enqueue(Outgoing::Move { room: room.to_owned(), mv });
        }
    }

    /// Keeps a session's identity where every node finds it.
    pub fn save_session(&self, key: String, user: User) {
        if let Bus::Redis(link) = self {
            link.enqueue(Outgoing::Session { key, user });
        }
    }

    /// Tells every node that `id` was removed from `room` (the one holding it closes its
    /// connection) and, with `ban`, refuses it there on every node for that long.
    pub async fn removed(&self, room: &str, id: Uuid, ban: Option<std::time::Duration>) {
        let Bus::Redis(link) = self else { return };
        if let Some(ban) = ban {
            if let Err(err) = link.ban(room, id, ban).await {
                tracing::warn!(room, %id, "cannot share a ban: {err}");
            }
        }
        let ban_secs = ban.map(|b| b.as_secs());
        link.enqueue(Outgoing::Event {
            room: room.to_owned(),
            event: BusEvent::Removed { id, ban_secs },
            presence: None,
        });
    }

    /// Revokes identity `id` for every node (no node loads a session of it any more) and
    /// has the nodes holding it close its connections; nothing to do on a single node.
    pub async fn revoke(&self, id: Uuid) {
        let Bus::Redis(link) = self else { return };
        match link.revoke(id).await {
            Ok(rooms) => {
                for room in rooms {
                    let event = BusEvent::Removed { id, ban_secs: None };
                    link.enqueue(Outgoing::Event { room, event, presence: None });
                }
            }
            Err(err) => tracing::warn!(%id, "cannot share a revocation: {err}"),
        }
    }

    /// Whether another node revoked identity `id` (never on a single node; not when Redis
    /// cannot say).
    pub async fn is_revoked(&self, id: Uuid) -> bool {
        let Bus::Redis(link) = self else { return false };
        link.is_revoked(id).await.unwrap_or_else(|err| {
            tracing::warn!(%id, "cannot read a revocation: {err}");
            false
        })
    }

    /// Whether another node banned `id` from `room` (never on a single node; not when
    /// Redis cannot say).
    pub async fn is_banned(&self, room: &str, id: Uuid) -> bool {
        let Bus::Redis(link) = self else { return false };
        link.is_banned(room, id).await.unwrap_or_else(|err| {
            tracing::warn!(room, %id, "cannot read a ban: {err}");
            false
        })
    }

    /// Sends a POST's `frames` to the stream of `token` on `node`, and waits for what became
    /// of them. A single node has no other nodes: there is no such stream.
    /// `None`: no node reads the channel of `node` (it is gone, or resubscribing).
    pub async fn forward(
        &self,
        node: Uuid,
        token: &str,
        frames: Vec<forward::Carried>,
    ) -> Result<Option<forward::Outcome>, link::BusError> {
        match self {
            Bus::Local => Ok(Some(forward::Outcome::NoStream)),
            Bus::Redis(link) => link.forward(node, token, frames).await,
        }
    }

    /// This node's id in the cluster (`None` on a single node).
    pub fn node(&self) -> Option<Uuid> {
        match self {
            Bus::Local => None,
            Bus::Redis(link) => Some(link.node),
        }
    }

    /// The cluster's copy of the identity behind a session token (the token may come from
    /// another node, and the user may have changed there); `None` on a single node, or
    /// when Redis has none or cannot be read.
    pub async fn load_session(&self, token: &str) -> Option<User> {
        let Bus::Redis(link) = self else { return None };
        link.load_session(&token_key(token)).await.unwrap_or_else(|err| {
            tracing::warn!("cannot read a shared session: {err}");
            None
        })
    }

    /// Shares a new session's identity with every node, and waits for it: the next node
    /// this client reaches must know it. Nothing to do on a single node.
    pub async fn share_session(&self, token: &str, user: &User) {
        if let Bus::Redis(link) = self {
            if let Err(err) = link.save_session_now(&token_key(token), user).await {
                tracing::warn!("cannot share a session: {err}");
            }
        }
    }

    /// Someone is about to join `room` here: on a cluster node, follow the room first (its
    /// events, presence and chats), so the `welcome` shows it as the cluster has it.
    pub async fn enter(&self, room: &str) {
        if let Bus::Redis(link) = self {
            link.want(room).await;
        }
    }

    /// A room list: on a cluster node, `here` (the rooms this node holds, with their
    /// `away` counts) plus the rooms `listing` covers that only other nodes hold, sized
    /// from Redis.
    pub async fn room_list(&self, mut here: RoomList, listing: Listing) -> RoomList {
        let Bus::Redis(link) = self else { return here };
        match link.room_sizes().await {
            Ok(sizes) => {
                for (name, users) in sizes {
                    if listing.covers(&name) && !here.rooms.iter().any(|r| r.name == name) {
                        here.rooms.push(RoomInfo { name, users, away: 0 });
                    }
                }
                here.rooms.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.name.cmp(&b.name)));
            }
            Err(err) => tracing::debug!("cannot list the cluster's rooms: {err}"),
        }
        here
    }

    /// This node and the other live ones, with their connections (`/api/cluster`).
    pub async fn cluster_info(&self, connections: u64) -> ClusterInfo {
        let Bus::Redis(link) = self else {
            return ClusterInfo { bus: "local".into(), nodes: vec![NodeInfo { id: None, connections, here: true }] };
        };
        let mut nodes = vec![NodeInfo { id: Some(link.node), connections, here: true }];
        match link.nodes().await {
            Ok(others) => {
                nodes.extend(others.into_iter().filter(|(id, _)| *id != link.node).map(|(id, load)| NodeInfo {
                    id: Some(id),
                    connections: load.connections,
                    here: false,
                }))
            }
            Err(err) => tracing::debug!("cannot list the nodes: {err}"),
        }
        let bus = if link.is_up() { "up" } else { "down" };
        ClusterInfo { bus: bus.into(), nodes }
    }

    /// Whether the bus reaches the other nodes now (always, for a single node).
    pub fn is_up(&self) -> bool {
        match self {
            Bus::Local => true,
            Bus::Redis(link) => link.is_up(),
        }
    }
}
