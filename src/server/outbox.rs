//! One connection's outbound queue: the only place fan-out writes to, and the only place
//! its writer task reads from.
//!
//! Ordered frames (welcome, joined, left, state, renamed, chat, error) wait in a bounded
//! FIFO and are never merged or reordered. Cursor moves are kept apart, one per mover,
//! latest wins: while the writer is busy sending, moves accumulate, and the next batch
//! carries all of them in one `cursors` frame. An idle connection therefore gets a move at
//! once, and a busy one gets fewer, fuller frames instead of a growing backlog.
//!
//! Pushing never waits, so a room never slows down for one slow connection: a connection
//! whose FIFO is full is closed with 1013 instead.

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use uuid::Uuid;

/// WebSocket close code for a frame over the size limit.
pub const CLOSE_TOO_BIG: u16 = 1009;
/// WebSocket close code for a consumer too slow to keep up ("try again later").
pub const CLOSE_TRY_AGAIN: u16 = 1013;

/// A close frame the writer sends after the frames queued before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
}

/// What the writer sends next: frames in order, then possibly a close.
#[derive(Debug, Default)]
pub struct Batch {
    pub frames: Vec<Utf8Bytes>,
    pub close: Option<Close>,
}

/// The `cursors` frame assembled from moves that were serialized once, when they happened.
#[derive(Serialize)]
#[serde(tag = "type", rename = "cursors")]
struct CursorsFrame<'a> {
    moves: Vec<&'a RawValue>,
}

#[derive(Default)]
struct Pending {
    frames: VecDeque<Utf8Bytes>,
    moves: HashMap<Uuid, Arc<RawValue>>,
    close: Option<Close>,
    /// Set once a close has been handed to the writer: nothing is queued after it.
    finished: bool,
}

/// A bounded outbound queue with cursor coalescing.
pub struct Outbox {
    pending: Mutex<Pending>,
    wake: Notify,
    /// Fired once when the queue overflows, so the connection can leave the room at once
    /// even while its writer is stuck on a peer that does not read.
    overflow: Notify,
    capacity: usize,
    /// Counts [`Outbox::forget_all_moves`]: a move taken for this connection before it left
    /// a room carries the older count and is dropped, even if it is pushed after.
    room_epoch: AtomicU64,
}

/// Where a move may be pushed: an outbox and its room epoch when the move was taken.
pub type Recipient = (Arc<Outbox>, u64);

impl Outbox {
    /// A queue that holds at most `capacity` ordered frames.
    pub fn new(capacity: usize) -> Self {
        Outbox {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            overflow: Notify::new(),
            capacity: capacity.max(1),
            room_epoch: AtomicU64::new(0),
        }
    }

    // A std Mutex, not a Tokio one: nothing is awaited while it is held, and a poisoned
    // lock only means a panic elsewhere already took this connection down.
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues an ordered frame; a full queue closes the connection with 1013.
    pub fn push(&self, frame: Utf8Bytes) {
        let mut pending = self.lock();
        if pending.close.is_some() || pending.finished {
            return;
        }
        if pending.frames.len() >= self.capacity {
            pending.frames.clear();
            pending.moves.clear();
            pending.close = Some(Close { code: CLOSE_TRY_AGAIN, reason: "too slow to keep up" });
            self.overflow.notify_one();
        } else {
            pending.frames.push_back(frame);
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// Records `mover`'s latest position, replacing any move of theirs not yet sent;
    /// true if it replaced one (the caller counts those once per fan-out).
    pub fn push_move(&self, mover: Uuid, serialized: Arc<RawValue>) -> bool {
        self.push_move_in(self.room_epoch(), mover, serialized)
    }

    /// This connection's room epoch now (see [`Recipient`]).
    pub fn room_epoch(&self) -> u64 {
        self.room_epoch.load(Ordering::Acquire)
    }

    /// [`Outbox::push_move`] for a move taken while the connection was in room epoch
    /// `epoch`: dropped if it has left that room since.
    pub fn push_move_in(&self, epoch: u64, mover: Uuid, serialized: Arc<RawValue>) -> bool {
        let mut pending = self.lock();
        if pending.close.is_some() || pending.finished || self.room_epoch.load(Ordering::Acquire) != epoch {
            return false;
        }
        let replaced = pending.moves.insert(mover, serialized).is_some();
        drop(pending);
        self.wake.notify_one();
        replaced
    }

    /// Drops a move not yet sent, so no cursor arrives after its owner's `left`.
    pub fn forget_moves_of(&self, mover: Uuid) {
        self.lock().moves.remove(&mover);
    }

    /// Drops every move not yet sent: the connection is leaving the room they belong to,
    /// so none may arrive after its next `welcome`.
    pub fn forget_all_moves(&self) {
        let mut pending = self.lock();
        pending.moves.clear();
        self.room_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Asks the writer to send `close` after what is already queued, and stop.
    pub fn close(&self, code: u16, reason: &'static str) {
        let mut pending = self.lock();
        if pending.close.is_none() && !pending.finished {
            pending.close = Some(Close { code, reason });
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// Completes once the queue has overflowed (at once if it already has).
    pub async fn overflowed(&self) {
        self.overflow.notified().await;
    }

    /// Waits until something is queued, then takes all of it.
    pub async fn next_batch(&self) -> Batch {
        loop {
            if let Some(batch) = self.take() {
                return batch;
            }
            self.wake.notified().await;
        }
    }

    fn take(&self) -> Option<Batch> {
        let mut pending = self.lock();
        if pending.frames.is_empty() && pending.moves.is_empty() && pending.close.is_none() {
            return None;
        }
        let mut frames: Vec<Utf8Bytes> = pending.frames.drain(..).collect();
        let moves = std::mem::take(&mut pending.moves);
        let close = pending.close.take();
        pending.finished |= close.is_some();
        drop(pending);
        if !moves.is_empty() {
            frames.push(cursors_frame(moves.values().map(|m| &**m)));
            super::metrics::count_out("cursors", 1);
        }
        Some(Batch { frames, close })
    }
}

/// Serializes one move once, to be shared by every recipient's queue.
pub fn serialize_move(mv: &crate::protocol::Move) -> Arc<RawValue> {
    // A Move is two floats and a UUID: serializing it cannot fail.
    Arc::from(serde_json::value::to_raw_value(mv).expect("a Move always serializes"))
}

fn cursors_frame<'a>(moves: impl Iterator<Item = &'a RawValue>) -> Utf8Bytes {
    let frame = CursorsFrame { moves: moves.collect() };
    // Raw values are already JSON, so writing them out cannot fail.
    Utf8Bytes::from(serde_json::to_string(&frame).expect("a cursors frame always serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Move, ServerMsg};

    fn mv(n: u8, x: f64) -> (Uuid, Arc<RawValue>) {
        let id = Uuid::from_bytes([n; 16]);
        (id, serialize_move(&Move { id, x, y: 0.5 }))
    }

    fn decode(frame: &Utf8Bytes) -> ServerMsg {
        serde_json::from_str(frame.as_str()).unwrap()
    }

    #[tokio::test]
    async fn moves_coalesce_to_the_latest_per_user_after_ordered_frames() {
        let outbox = Outbox::new(8);
        let (a, a1) = mv(1, 0.1);
        let (_, a2) = mv(1, 0.2);
        let (b, b1) = mv(2, 0.3);
        outbox.push_move(a, a1);
        outbox.push(Utf8Bytes::from_static(r#"{"type":"left","id":"00000000-0000-0000-0000-000000000000"}"#));
        outbox.push_move(b, b1);
        outbox.push_move(a, a2);
        let batch = outbox.next_batch().await;
        assert_eq!(batch.frames.len(), 2);
        assert!(matches!(decode(&batch.frames[0]), ServerMsg::Left { .. }));
        let ServerMsg::Cursors { mut moves } = decode(&batch.frames[1]) else { panic!("not cursors") };
        moves.sort_by(|l, r| l.x.total_cmp(&r.x));
        assert_eq!(moves, vec![Move { id: a, x: 0.2, y: 0.5 }, Move { id: b, x: 0.3, y: 0.5 }]);
    }

    #[tokio::test]
    async fn a_full_queue_closes_with_try_again_and_keeps_nothing() {
        let outbox = Outbox::new(2);
        for _ in 0..3 {
            outbox.push(Utf8Bytes::from_static("{}"));
        }
        let batch = outbox.next_batch().await;
        assert!(batch.frames.is_empty());
        assert_eq!(batch.close.map(|c| c.code), Some(CLOSE_TRY_AGAIN));
        outbox.push(Utf8Bytes::from_static("{}"));
        assert!(outbox.take().is_none(), "nothing is queued after a close");
    }

    #[tokio::test]
    async fn forgotten_moves_are_not_sent() {
        let outbox = Outbox::new(2);
        let (a, a1) = mv(1, 0.1);
        outbox.push_move(a, a1);
        outbox.forget_moves_of(a);
        assert!(outbox.take().is_none());
    }
}
