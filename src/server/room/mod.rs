//! One room: its members, what each of them looks like to the others, and the fan-out.
//!
//! This is where a cursor move, a state change or a chat goes. Every fan-out serializes its
//! message once and hands the same bytes to each recipient's [`Outbox`], so the cost of a
//! message is one serialization plus one cheap push per member. A cursor move is not
//! pushed at all: it goes on the room's [`CursorBoard`], where the members' writers read it.
//! The three audiences of the contract (the whole room, everyone but the sender, one
//! user) are [`Audience`]. What happens here is also published on the room's [`Bus`] for
//! the other nodes of a cluster.
//!
//! A chat is numbered under the room lock and queued for the [`Store`]'s writer, which
//! commits it with whatever else is queued and then, on its own thread, has the room fan
//! it out ([`Room::committed`]): no store write runs under the room lock or on an async
//! worker, sequence numbers are gap-free while the disk works, and every member sees
//! chats in seq order, each only once it is on disk. On a cluster node the [`Bus`] numbers it instead, and every
//! node (this one included) fans it out when the bus delivers it, in seq order
//! ([`Room::deliver`]), and queues it for its store.
//!
//! A room's members include users connected to other nodes ([`Member::node`]): they are
//! listed and addressed like the others, but have no outbox here.

mod events;
mod relayed;
pub mod sequencer;
mod welcome;

pub use welcome::PendingWelcome;

use super::bus::event::BusEvent;
use super::bus::link::BusError;
use super::bus::{Bus, PresenceChange};
use super::cursor_board::{CursorBoard, Serialized};
use super::hub::Hub;
use super::metrics::{count_out, FANOUT_SECONDS};
use super::outbox::Outbox;
use super::store::{Store, StoreError};
use crate::protocol::{ChatMessage, ChatTarget, ErrorCode, Move, Point, ServerMsg, User, UserState};
use axum::extract::ws::Utf8Bytes;
use sequencer::{Draft, Sequencer};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;
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
    /// Who a chat from `from` goes to.
    fn of_chat(from: Uuid, to: ChatTarget) -> Audience {
        match to {
            ChatTarget::Room => Audience::Room,
            ChatTarget::Others => Audience::Others(from),
            ChatTarget::User(target) => Audience::Pair(from, target),
        }
    }

    fn includes(self, id: Uuid) -> bool {
        match self {
            Audience::Room => true,
            Audience::Others(sender) => id != sender,
            Audience::Pair(a, b) => id == a || id == b,
        }
    }
}

/// Who a chat comes from.
#[derive(Clone)]
pub enum ChatSender {
    /// A member connected to this node, on the connection with this outbox (its ack goes
    /// there).
    Member(Uuid, Arc<Outbox>),
    /// The app's backend, through the HTTP API, under the name it gives.
    App { username: String },
}

impl ChatSender {
    /// The chat's `from`: the nil UUID for the app's backend.
    fn id(&self) -> Uuid {
        match self {
            ChatSender::Member(id, _) => *id,
            ChatSender::App { .. } => Uuid::nil(),
        }
    }
}

/// A member of a room: the public face and the queue that reaches its connection.
pub struct Member {
    pub user: User,
    /// `None` while the member is away: its connection dropped and the leave grace period
    /// runs. Nothing is queued for it meanwhile; a resume replays the chat it missed.
    pub outbox: Option<Arc<Outbox>>,
    /// The connection that holds this member now, so a stale connection's ending (or its
    /// grace timer) cannot remove a member that has since resumed elsewhere (0 for a
    /// member on another node).
    pub conn: u64,
    /// The node this member is connected to when it is not this one (then there is no
    /// outbox here: that node delivers to it).
    pub node: Option<Uuid>,
    /// When the node holding this member took the user (unix ms). Two nodes may both hold
    /// a user after a partition: the later take wins.
    pub taken_at: u64,
    /// More live connections of the same identity (a JWT user's other tabs and devices),
    /// each with its number: one member to everyone else, every message to each of them.
    pub others: Vec<(u64, Arc<Outbox>)>,
    /// An identity that may be connected several times at once, on several nodes too.
    pub multi: bool,
    /// The other nodes that hold this identity too (a shared one's devices on other
    /// nodes), besides this one or `node`: the member stays while any of them holds it.
    pub also: HashSet<Uuid>,
}

impl Member {
    /// A member connected to this node on connection `conn`.
    pub fn here(user: User, outbox: Arc<Outbox>, conn: u64, taken_at: u64) -> Member {
        let (others, also) = (Vec::new(), HashSet::new());
        Member { user, outbox: Some(outbox), conn, node: None, taken_at, others, multi: false, also }
    }

    /// A member connected to `node`, which delivers to it.
    pub fn elsewhere(user: User, node: Uuid, taken_at: u64) -> Member {
        let (others, also) = (Vec::new(), HashSet::new());
        Member { user, outbox: None, conn: 0, node: Some(node), taken_at, others, multi: false, also }
    }

    /// Whether `node` holds this member (as the one its presence names, or as another).
    pub fn held_by(&self, node: Uuid) -> bool {
        self.node == Some(node) || self.also.contains(&node)
    }

    /// Makes one of the other holders the node this member is held by (the one it was
    /// held by let go); false when there is no other.
    pub fn pass_to_another_holder(&mut self) -> bool {
        let Some(next) = self.also.iter().next().copied() else { return false };
        self.also.remove(&next);
        self.node = Some(next);
        true
    }

    /// Every connection this member is reached on here.
    pub fn outboxes(&self) -> impl Iterator<Item = &Arc<Outbox>> {
        self.outbox.iter().chain(self.others.iter().map(|(_, outbox)| outbox))
    }

    /// Whether `outbox` is one of this member's connections.
    pub fn reached_on(&self, outbox: &Arc<Outbox>) -> bool {
        self.outboxes().any(|o| Arc::ptr_eq(o, outbox))
    }

    /// A member connected to this node (or away from it, in the grace period).
    pub fn is_here(&self) -> bool {
        self.node.is_none()
    }
}

/// Why a chat was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// A direct chat named a user who is not in the room.
    #[error("no user {0} in this room")]
    NoSuchUser(Uuid),
    /// The sender is no longer in this room on this connection (it moved, or another
    /// connection or node took its place).
    #[error("you are no longer in this room on this connection")]
    NotHere,
    /// The chat could not be stored, so it was not sent either.
    #[error("the message could not be stored; try again ({0})")]
    Store(#[from] StoreError),
    /// The cluster bus could not number the chat, so it was not sent.
    #[error("the message could not be sent to the cluster; try again ({0})")]
    Bus(#[from] BusError),
}

/// A live room; it exists while someone is in it (the [`super::hub::Hub`] sees to that).
pub struct Room {
    name: String,
    members: Mutex<HashMap<Uuid, Member>>,
    store: Arc<Store>,
    bus: Bus,
    /// The latest chat seq delivered to the members, or [`SEQ_UNKNOWN`]; only changed
    /// while the members lock is held, which orders it.
    seq: AtomicU64,
    /// On a single node, the latest seq handed out (queued for the store, perhaps not yet
    /// committed and delivered), or [`SEQ_UNKNOWN`]; only changed under the members lock.
    numbered: AtomicU64,
    /// The store's generation `numbered` was read in: when a commit fails the store's
    /// moves on, and `numbered` is read again. Only changed under the members lock.
    generation: AtomicU64,
    /// Acks for chats the bus numbered but has not delivered here yet: an ack goes out
    /// after its chat, as on a single node. Only touched with the members lock held.
    pending_acks: Mutex<Vec<PendingAck>>,
    /// Every member's latest cursor move, which the members' writers read.
    board: Arc<CursorBoard>,
    /// Most chats a resuming member's `welcome` replays.
    replay_max: usize,
    /// How many [`crate::server::hub::PinnedRoom`]s hold the room open; only changed with
    /// the hub's registry locked.
    pins: AtomicUsize,
    /// The hub that holds this room, asked to drop it when it empties while chats are
    /// still being committed.
    hub: Weak<Hub>,
}

/// An ack to send once the room has delivered chat `seq`, to the connection that sent it
/// (even if it has moved to another room meanwhile).
struct PendingAck {
    seq: u64,
    to: Arc<Outbox>,
    reference: String,
}

/// The room could not read its latest seq from the store: no chat is numbered until it can.
const SEQ_UNKNOWN: u64 = u64::MAX;

impl Room {
    /// A room that continues its stored chat numbering.
    pub(super) fn new(name: String, store: Arc<Store>, bus: Bus, replay_max: usize, hub: Weak<Hub>) -> Self {
        // Read before the seq: a commit failing in between is then noticed at the next chat.
        let generation = AtomicU64::new(store.generation());
        let seq = store.latest_seq(&name).unwrap_or_else(|err| {
            tracing::error!(room = name, "cannot read the latest seq: {err}");
            SEQ_UNKNOWN
        });
        let pending_acks = Mutex::new(Vec::new());
        let board = Arc::default();
        let members = Mutex::new(HashMap::new());
        let (numbered, seq) = (AtomicU64::new(seq), AtomicU64::new(seq));
        let pins = Default::default();
        Room { name, members, store, bus, seq, numbered, generation, pending_acks, board, replay_max, pins, hub }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store this room's chats (and webhook events) go to.
    pub(super) fn store(&self) -> &Arc<Store> {
        &self.store
    }

    // A std Mutex: nothing is awaited while it is held (pushes into outboxes never wait),
    // and holding it across a whole fan-out is what keeps every member's view in one order.
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Member>> {
        self.members.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn head_count(&self) -> usize {
        self.lock().len()
    }

    /// Whether chats numbered here are still on their way to the store (a single node's
    /// room is kept until they are delivered).
    pub(super) fn has_chats_in_flight(&self) -> bool {
        let numbered = self.numbered.load(Ordering::Relaxed);
        numbered != SEQ_UNKNOWN && numbered > self.seq.load(Ordering::Relaxed)
    }

    pub(super) fn pin(&self) {
        self.pins.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn unpin(&self) {
        self.pins.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether the HTTP API holds the room open.
    pub(super) fn is_pinned(&self) -> bool {
        self.pins.load(Ordering::Relaxed) > 0
    }

    /// Members of this node in the leave grace period.
    pub fn away(&self) -> usize {
        self.lock().values().filter(|m| m.is_here() && m.outbox.is_none()).count()
    }

    /// The bus this room publishes to.
    pub(super) fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Prepares a fresh snapshot of the room for `id` on its connection `outbox`, as after a
    /// `join` (to be sent); `None` when that connection is no longer the member's.
    pub fn welcome(self: &Arc<Self>, id: Uuid, outbox: &Arc<Outbox>, session: &str) -> Option<PendingWelcome> {
        let members = self.lock();
        members.get(&id).filter(|m| m.reached_on(outbox))?;
        Some(self.reserve_welcome(&members, outbox, id, session, None))
    }

    /// The user as the room knows them now.
    pub fn user(&self, id: Uuid) -> Option<User> {
        self.lock().get(&id).map(|m| m.user.clone())
    }

    /// The room's cursor board, which its members' connections follow.
    pub(super) fn board(&self) -> &Arc<CursorBoard> {
        &self.board
    }

    /// Moves `id`'s cursor and tells everyone else, coalesced per recipient.
    ///
    /// The move is serialized once and put on the room's [`CursorBoard`]; each member's writer
    /// takes it from there when it is ready to send (see [`Outbox`]), so a move costs the
    /// same in a room of 5 or of 500, and the idle writers are woken after the room lock
    /// is released.
    pub fn cursor(&self, id: Uuid, point: Point) {
        let started = Instant::now();
        let mv = Move { id, x: point.x, y: point.y };
        let serialized = Serialized::of(&mv);
        {
            let mut members = self.lock();
            // A member another node has taken over is no longer this connection's to change.
            let Some(member) = members.get_mut(&id).filter(|m| m.is_here()) else { return };
            member.user.cursor = Some(point);
            // Under the room lock: a move cannot land after its user was removed.
            self.board.put_serialized(serialized);
        }
        self.board.wake();
        metrics::histogram!(FANOUT_SECONDS).record(started.elapsed().as_secs_f64());
        self.bus.moved(&self.name, mv);
    }

    /// Replaces `id`'s state and tells the whole room.
    pub fn set_state(&self, id: Uuid, state: UserState) {
        self.change_user(id, |user| {
            user.state = state.clone();
            (ServerMsg::State { id, state: state.clone() }, BusEvent::State { id, state })
        });
    }

    /// Renames `id` and tells the whole room.
    pub fn rename(&self, id: Uuid, username: String) {
        self.change_user(id, |user| {
            user.username = username.clone();
            (ServerMsg::Renamed { id, username: username.clone() }, BusEvent::Renamed { id, username })
        });
    }

    /// Applies `change` to a member of this node, tells the whole room what it returns,
    /// and publishes the event with the member's new presence entry.
    fn change_user(&self, id: Uuid, change: impl FnOnce(&mut User) -> (ServerMsg, BusEvent)) {
        let mut members = self.lock();
        // A member another node has taken over is no longer this connection's to change.
        let Some(member) = members.get_mut(&id).filter(|m| m.is_here()) else { return };
        let (msg, event) = change(&mut member.user);
        let (user, taken_at) = (member.user.clone(), member.taken_at);
        fan_out(&members, Audience::Room, &msg);
        self.bus.publish(&self.name, event, Some(PresenceChange::Put(user, taken_at)));
    }

    /// Checks a chat from `sender` and has the room's [`Sequencer`] number, store and
    /// deliver it; the server sets sender, name and time. `sender` is a member of this
    /// node, or the app's backend (which needs no membership, has no connection to ack,
    /// and sends as the nil UUID). With a `reference` the sender is acknowledged once the
    /// chat is delivered, and a reference already stored (or queued) is only acknowledged
    /// again. Returns the chat's seq.
    pub async fn chat(
        self: &Arc<Self>,
        sender: ChatSender,
        text: String,
        to: ChatTarget,
        ts: u64,
        reference: Option<&str>,
    ) -> Result<u64, ChatError> {
        let id = sender.id();
        // A ref stored or queued here (on a cluster it may predate what Redis remembers);
        // looked up before the room's lock is taken, so the store is never read under it.
        // A connection's chats come one at a time, so its ref cannot be numbered meanwhile.
        let known = reference.map(|r| self.store.seq_of_ref(&self.name, id, r)).transpose()?.flatten();
        let draft = {
            let members = self.lock();
            let (username, outbox) = match sender {
                ChatSender::Member(id, ref outbox) => {
                    // A member another node has taken over, or that has moved on (or a
                    // connection it no longer has), cannot chat here.
                    let member =
                        members.get(&id).filter(|m| m.is_here() && m.reached_on(outbox)).ok_or(ChatError::NotHere)?;
                    (member.user.username.clone(), Some(outbox.clone()))
                }
                ChatSender::App { ref username } => (username.clone(), None),
            };
            if let Some(seq) = known {
                self.ack_after(&members, seq, outbox, reference);
                return Ok(seq);
            }
            check_target(to, &members)?;
            let server = matches!(sender, ChatSender::App { .. });
            let msg = ChatMessage { seq: 0, from: id, username, text, to, ts, server };
            Draft { msg, reference: reference.map(str::to_owned), outbox, floor: self.latest_seq()? }
        };
        self.bus.number(self, draft).await
    }

    /// The store's current generation; when it differs from the one `numbered` was read
    /// in, a commit has failed since and `numbered` is read again by [`Room::next_seq`].
    /// Called with the members lock held.
    fn sync_generation(&self) -> u64 {
        let now = self.store.generation();
        if self.generation.swap(now, Ordering::Relaxed) != now {
            self.numbered.store(SEQ_UNKNOWN, Ordering::Relaxed);
        }
        now
    }

    /// The seq for the next chat here: one past the last handed out, which is read from
    /// the store if it is not known.
    fn next_seq(&self) -> Result<u64, StoreError> {
        let numbered = match self.numbered.load(Ordering::Relaxed) {
            SEQ_UNKNOWN => {
                let seq = self.store.latest_seq(&self.name)?;
                self.numbered.store(seq, Ordering::Relaxed);
                seq
            }
            seq => seq,
        };
        Ok(numbered + 1)
    }

    /// Fans out the next chat in seq order and sends the acks that waited for it.
    fn fan_out_chat(&self, members: &HashMap<Uuid, Member>, chat: ChatMessage) {
        let seq = chat.seq;
        self.seq.store(seq, Ordering::Relaxed);
        fan_out(members, Audience::of_chat(chat.from, chat.to), &ServerMsg::Chat(chat));
        let mut pending = self.pending_acks.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|ack| {
            if ack.seq > seq {
                return true;
            }
            ack.to.push(encode(&ServerMsg::Ack { reference: ack.reference.clone(), seq: ack.seq }));
            false
        });
    }

    /// Runs on the store's writer thread after `chat`'s batch, in seq order: delivers it,
    /// or tells its sender it was not stored; then lets the hub drop the room if everyone
    /// has left meanwhile. A failure fails every chat queued behind it too and moves the
    /// store's generation on, so the room reads its next seq again from the store and a
    /// failed commit leaves neither a gap nor a seq twice.
    fn committed(
        self: &Arc<Self>,
        chat: ChatMessage,
        reference: Option<String>,
        sender: Option<Arc<Outbox>>,
        result: Result<(), StoreError>,
    ) {
        let members = self.lock();
        let idle = members.is_empty();
        match result {
            Ok(()) => self.fan_out_chat(&members, chat),
            Err(err) => {
                self.sync_generation();
                // Only this chat's ack: the room may have numbered chats again since (in the
                // new generation, perhaps with this very seq), and their acks stay.
                let is_this = |ack: &PendingAck| {
                    ack.seq == chat.seq
                        && Some(&ack.reference) == reference.as_ref()
                        && sender.as_ref().is_some_and(|s| Arc::ptr_eq(s, &ack.to))
                };
                self.pending_acks.lock().unwrap_or_else(|p| p.into_inner()).retain(|ack| !is_this(ack));
                if let Some(outbox) = sender {
                    let message = ChatError::Store(err).to_string();
                    let code = ErrorCode::Unavailable;
                    outbox.push(encode(&ServerMsg::Error { code, message, reference, retry_after_ms: None }));
                }
            }
        }
        drop(members);
        // Everyone left while this chat was being committed: the hub kept the room for it.
        if idle && !self.has_chats_in_flight() {
            if let Some(hub) = self.hub.upgrade() {
                hub.drop_if_idle(self);
            }
        }
    }
}

/// A direct chat must name someone in the room (on any node).
fn check_target(to: ChatTarget, members: &HashMap<Uuid, Member>) -> Result<(), ChatError> {
    match to {
        ChatTarget::User(target) if !members.contains_key(&target) => Err(ChatError::NoSuchUser(target)),
        _ => Ok(()),
    }
}

/// Serializes `msg` once and queues the same bytes for every connected member in `audience`.
/// A `state` supersedes the same user's `state` still waiting in a queue (see [`Outbox`]).
pub(super) fn fan_out(members: &HashMap<Uuid, Member>, audience: Audience, msg: &ServerMsg) {
    let started = Instant::now();
    let frame = encode(msg);
    let state_of = match msg {
        ServerMsg::State { id, .. } => Some(*id),
        _ => None,
    };
    let mut sent = 0u64;
    for (_, member) in members.iter().filter(|(id, _)| audience.includes(**id)) {
        for outbox in member.outboxes() {
            match state_of {
                Some(user) => outbox.push_state(user, frame.clone()),
                None => outbox.push(frame.clone()),
            }
            sent += 1;
        }
    }
    count_out(msg.kind(), sent);
    metrics::histogram!(FANOUT_SECONDS).record(started.elapsed().as_secs_f64());
}

/// One server message as a shareable text frame.
pub fn encode(msg: &ServerMsg) -> Utf8Bytes {
    // Server messages hold only strings, numbers, UUIDs and JSON objects with string keys:
    // serializing them cannot fail.
    Utf8Bytes::from(serde_json::to_string(msg).expect("a ServerMsg always serializes"))
}
