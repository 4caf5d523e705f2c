//! The seam between a room and the world outside this process.
//!
//! [`Bus::Local`] is the default: one process holds every room and nothing leaves it.
//! [`Bus::Redis`] (`--bus redis://host:port`) joins the node to a cluster: every room event
//! that happens here is published on the room's Redis channel, every node applies the
//! other nodes' events to its own members (`hub::remote`), chats are numbered by a Redis script
//! so seqs stay per room and gap-free across nodes, and presence lives in a hash per room
//! refreshed by node heartbeats ([`supervisor`]).
//!
//! Publishing never waits: rooms call in with their lock held, so events go through a
//! bounded queue to one publisher task, which sends them in pipelined batches and merges
//! the cursor moves of a batch into one `cursors` event per room (so a hot room costs the
//! bus one message per batch, not one per move).

pub mod event;
pub mod heart;
pub mod keys;
pub mod link;
pub mod scripts;
pub mod supervisor;

use crate::protocol::{Move, User};
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
    Remove(Uuid),
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

    /// This node's id in the cluster (`None` on a single node).
    pub fn node(&self) -> Option<Uuid> {
        match self {
            Bus::Local => None,
            Bus::Redis(link) => Some(link.node),
        }
    }

    /// Whether the bus reaches the other nodes now (always, for a single node).
    pub fn is_up(&self) -> bool {
        match self {
            Bus::Local => true,
            Bus::Redis(link) => link.is_up(),
        }
    }
}
