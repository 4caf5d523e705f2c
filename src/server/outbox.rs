//! One connection's outbound queue: the only place fan-out writes to, and the only place
//! its writer task reads from.
//!
//! Ordered frames (welcome, joined, left, state, renamed, chat, error) wait in a FIFO
//! bounded in frames and in bytes, and are never merged or reordered, with one exception:
//! a user's `state` still waiting is superseded by a newer `state` of the same user, which
//! takes its place at the back of the queue (latest wins, as with cursors; it still comes
//! after every `joined` and `left` queued before it), so a flood of state changes costs a
//! slow reader one frame per user, not one per change. Cursor moves are not queued at all:
//! the writer reads them from the room's [`CursorBoard`] when it takes a batch, each mover's latest move
//! since its previous batch, in one `cursors` frame after the ordered frames. An idle
//! connection therefore gets a move at once, and a busy one gets fewer, fuller frames
//! instead of a growing backlog.
//!
//! A `welcome` is built from the store outside the room's lock: under the lock the room
//! [`Outbox::reserve`]s its place (and its `reset`'s) at the back of the queue, then
//! [`Outbox::fill`]s it once the history is read. Until then the writer sends nothing
//! queued after the place, and no moves, so the welcome still comes first.
//!
//! Pushing never waits, so a room never slows down for one slow connection: a connection
//! whose FIFO is full is closed with 1013 instead. A frame pushed onto an empty FIFO is
//! always taken, whatever its size, so a big room's `welcome` reaches a reader who keeps up.

use super::cursor_board::{CursorBoard, Encoding, FrameBuf};
use super::metrics::MOVES_COALESCED;
use crate::protocol::{close, ServerKind};
use axum::extract::ws::{Message, Utf8Bytes};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;
use uuid::Uuid;

/// A close frame the writer sends after the frames queued before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Close {
    pub code: u16,
    pub reason: &'static str,
}

/// What the writer sends next: frames in order, then possibly a close.
#[derive(Debug, Default)]
pub struct Batch {
    pub frames: Vec<Message>,
    pub close: Option<Close>,
}

/// One queued frame; `None` once a newer frame superseded it (or a reserved place that
/// was left empty).
struct Queued {
    frame: Option<Utf8Bytes>,
    /// The user whose `state` this is, for a `state` frame.
    state_of: Option<Uuid>,
    /// A place kept for a frame that is still being made (a `welcome`): the
    /// reservation's number.
    reserved: Option<u64>,
}

impl Queued {
    fn frame(frame: Utf8Bytes, state_of: Option<Uuid>) -> Self {
        Queued { frame: Some(frame), state_of, reserved: None }
    }
}

/// The places [`Outbox::reserve`] kept: a `reset` (perhaps none) and a `welcome`. Found
/// again by number, since compacting the queue moves places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    id: u64,
}

#[derive(Default)]
struct Pending {
    frames: VecDeque<Queued>,
    /// The position (counted from the first frame ever queued) of `frames[0]`.
    base: u64,
    /// Frames not superseded, and their bytes: what the bounds count.
    live: usize,
    bytes: usize,
    /// The position of each user's `state` still waiting, so a newer one supersedes it.
    states: HashMap<Uuid, u64>,
    /// The position of the places reserved for a welcome still being made: nothing from
    /// there on is sent, and no move, until they are filled.
    hold: Option<u64>,
    /// Reservations made so far, to number the next.
    reservations: u64,
    /// The board of the room this connection is in, if any.
    feed: Option<Feed>,
    close: Option<Close>,
    /// Set once a close has been handed to the writer: nothing is queued after it.
    finished: bool,
}

impl Pending {
    /// Drops the superseded places, so a writer stuck on a slow peer while states keep
    /// coming holds at most twice its bound in places, and renumbers the waiting states.
    fn compact(&mut self) {
        self.frames.retain(|q| q.frame.is_some() || q.reserved.is_some());
        let base = self.base;
        self.states = (self.frames.iter().enumerate())
            .filter_map(|(i, q)| q.state_of.map(|user| (user, base + i as u64)))
            .collect();
        if self.hold.is_some() {
            self.hold = self.frames.iter().position(|q| q.reserved.is_some()).map(|i| base + i as u64);
        }
    }
}

/// Where this connection's cursor moves come from, and how far it has read.
struct Feed {
    board: Arc<CursorBoard>,
    /// This connection's user: their own moves are not sent back.
    me: Uuid,
    /// The board version up to which moves have been taken.
    seen: u64,
}

/// A bounded outbound queue with cursor coalescing.
pub struct Outbox {
    pending: Mutex<Pending>,
    wake: Notify,
    /// Fired once when the queue overflows, so the connection can leave the room at once
    /// even while its writer is stuck on a peer that does not read.
    overflow: Notify,
    capacity: usize,
    max_bytes: usize,
    encoding: Encoding,
}

impl Outbox {
    /// A queue that holds at most `capacity` ordered frames and `max_bytes` of them, and
    /// sends `cursors` frames in `encoding`.
    pub fn new(capacity: usize, max_bytes: usize, encoding: Encoding) -> Self {
        Outbox {
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
            overflow: Notify::new(),
            capacity: capacity.max(1),
            max_bytes,
            encoding,
        }
    }

    // A std Mutex, not a Tokio one: nothing is awaited while it is held, and a poisoned
    // lock only means a panic elsewhere already took this connection down.
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues an ordered frame; a full queue closes the connection with 1013.
    pub fn push(&self, frame: Utf8Bytes) {
        self.enqueue(frame, None);
    }

    /// Queues `user`'s new `state`, superseding the one of theirs still waiting, if any.
    pub fn push_state(&self, user: Uuid, frame: Utf8Bytes) {
        self.enqueue(frame, Some(user));
    }

    fn enqueue(&self, frame: Utf8Bytes, state_of: Option<Uuid>) {
        let mut pending = self.lock();
        if pending.close.is_some() || pending.finished {
            return;
        }
        if let Some(at) = state_of.and_then(|user| pending.states.remove(&user)) {
            let index = (at - pending.base) as usize;
            if let Some(old) = pending.frames.get_mut(index).and_then(|q| q.frame.take()) {
                pending.live -= 1;
                pending.bytes -= old.len();
            }
        }
        if self.would_overflow(&pending, 1, frame.len()) {
            self.overflow(&mut pending);
        } else {
            if let Some(user) = state_of {
                let at = pending.base + pending.frames.len() as u64;
                pending.states.insert(user, at);
            }
            pending.live += 1;
            pending.bytes += frame.len();
            pending.frames.push_back(Queued::frame(frame, state_of));
            if pending.frames.len() > 2 * self.capacity {
                pending.compact();
            }
        }
        drop(pending);
        self.wake.notify_one();
    }

    /// Whether `frames` more frames of `bytes` would pass the bounds (a queue holding
    /// nothing takes anything).
    fn would_overflow(&self, pending: &Pending, frames: usize, bytes: usize) -> bool {
        pending.live > 0 && (pending.live + frames > self.capacity || pending.bytes + bytes > self.max_bytes)
    }

    /// Throws away what waits and closes with 1013: the reader cannot keep up.
    fn overflow(&self, pending: &mut Pending) {
        pending.base += pending.frames.len() as u64;
        pending.frames.clear();
        pending.states.clear();
        pending.hold = None;
        (pending.live, pending.bytes) = (0, 0);
        pending.feed = None;
        pending.close = Some(Close { code: close::TRY_AGAIN, reason: "too slow to keep up" });
        self.overflow.notify_one();
    }

    /// Keeps the places of a `reset` and a `welcome` at the back of the queue (the caller
    /// holds the room lock, so they come before anything the room sends next); nothing
    /// after them is sent until [`Outbox::fill`].
    pub fn reserve(&self) -> Reserved {
        let mut pending = self.lock();
        pending.reservations += 1;
        let id = pending.reservations;
        let at = pending.base + pending.frames.len() as u64;
        for _ in 0..2 {
            pending.frames.push_back(Queued { frame: None, state_of: None, reserved: Some(id) });
        }
        pending.hold = Some(at);
        Reserved { id }
    }

    /// Puts the `reset` (if any) and the `welcome` in the places kept for them and lets
    /// the writer go on. A no-op if the queue was cleared meanwhile (overflow, close).
    pub fn fill(&self, places: Reserved, reset: Option<Utf8Bytes>, welcome: Utf8Bytes) {
        let mut pending = self.lock();
        let found = pending.frames.iter().position(|q| q.reserved == Some(places.id));
        let Some(index) = found.filter(|_| pending.close.is_none() && !pending.finished) else { return };
        let frames = [reset, Some(welcome)];
        let bytes = frames.iter().flatten().map(|frame| frame.len()).sum();
        if self.would_overflow(&pending, frames.iter().flatten().count(), bytes) {
            self.overflow(&mut pending);
            drop(pending);
            self.wake.notify_one();
            return;
        }
        for (offset, frame) in frames.into_iter().enumerate() {
            if let Some(place) = pending.frames.get_mut(index + offset) {
                place.reserved = None;
                if let Some(frame) = frame {
                    let len = frame.len();
                    place.frame = Some(frame);
                    pending.live += 1;
                    pending.bytes += len;
                }
            }
        }
        pending.hold = None;
        drop(pending);
        self.wake.notify_one();
    }

    /// Starts sending the moves made on `board` from now on, but `me`'s own. The caller
    /// holds the room lock and sends the `welcome` (which carries every position) next.
    pub fn follow(&self, board: Arc<CursorBoard>, me: Uuid) {
        let seen = board.version();
        self.lock().feed = Some(Feed { board, me, seen });
        self.wake.notify_one();
    }

    /// Stops sending moves: the connection is leaving its room, so none of that room's
    /// may arrive after its next `welcome`.
    pub fn unfollow(&self) {
        self.lock().feed = None;
        self.wake.notify_one();
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

    /// Waits until something is queued or a move was made on the board, then takes all of
    /// it, after letting the other runnable tasks queue theirs. Cancel-safe: it takes
    /// nothing until it returns.
    pub async fn next_batch(&self) -> Batch {
        loop {
            let board = self.lock().feed.as_ref().map(|feed| feed.board.clone());
            // Created before looking, so a move made after the look still wakes us.
            let moved = board.as_deref().map(CursorBoard::changed);
            if let Some(batch) = self.take() {
                return batch;
            }
            match moved {
                Some(moved) => tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = moved => {}
                },
                None => self.wake.notified().await,
            }
            // Woken by the first frame or move: let the tasks already runnable (other
            // senders in this room and others) run before taking, so what they queue for
            // this connection leaves in the same write. On an idle server nothing else is
            // runnable and this returns at once; under load it batches more, which is when
            // a write per frame costs the most.
            tokio::task::yield_now().await;
        }
    }

    fn take(&self) -> Option<Batch> {
        let mut pending = self.lock();
        // While a welcome is being made, only what was queued before its place goes (and
        // no moves: the welcome carries the positions); a close takes everything.
        let held = pending.hold.filter(|_| pending.close.is_none());
        if let Some(at) = held {
            return self.take_before(&mut pending, at);
        }
        // Read under this queue's lock, so the moves taken and the frames taken are one
        // cut: a `left` or `joined` pushed after it comes after these moves too.
        let cursors = pending.feed.as_mut().and_then(|feed| {
            let (frame, seen, collected) = feed.board.collect(feed.seen, feed.me, self.encoding);
            feed.seen = seen;
            if collected.superseded > 0 {
                metrics::counter!(MOVES_COALESCED).increment(collected.superseded);
            }
            frame
        });
        if pending.frames.is_empty() && cursors.is_none() && pending.close.is_none() {
            return None;
        }
        pending.base += pending.frames.len() as u64;
        pending.states.clear();
        pending.hold = None;
        (pending.live, pending.bytes) = (0, 0);
        let mut frames: Vec<Message> = pending.frames.drain(..).filter_map(|q| q.frame).map(Message::Text).collect();
        let close = pending.close.take();
        pending.finished |= close.is_some();
        if close.is_some() {
            pending.feed = None;
        }
        drop(pending);
        if let Some(frame) = cursors {
            frames.push(match frame {
                FrameBuf::Json(text) => Message::Text(Utf8Bytes::from(text)),
                FrameBuf::Compact(bytes) => Message::Binary(bytes.into()),
            });
            super::metrics::count_out(ServerKind::Cursors, 1);
        }
        Some(Batch { frames, close })
    }

    /// The frames queued before position `at` (where a welcome's places are kept).
    fn take_before(&self, pending: &mut Pending, at: u64) -> Option<Batch> {
        let count = (at.saturating_sub(pending.base) as usize).min(pending.frames.len());
        if count == 0 {
            return None;
        }
        pending.base += count as u64;
        let base = pending.base;
        pending.states.retain(|_, position| *position >= base);
        let taken: Vec<Utf8Bytes> = pending.frames.drain(..count).filter_map(|q| q.frame).collect();
        pending.live -= taken.len();
        pending.bytes -= taken.iter().map(|frame| frame.len()).sum::<usize>();
        Some(Batch { frames: taken.into_iter().map(Message::Text).collect(), close: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Move, ServerMsg};

    fn mv(n: u8, x: f64) -> Move {
        Move { id: Uuid::from_bytes([n; 16]), x, y: 0.5 }
    }

    fn decode(frame: &Message) -> ServerMsg {
        let Message::Text(text) = frame else { panic!("not a text frame: {frame:?}") };
        serde_json::from_str(text.as_str()).unwrap()
    }

    #[tokio::test]
    async fn moves_coalesce_to_the_latest_per_user_after_ordered_frames() {
        let board = Arc::new(CursorBoard::default());
        let outbox = Outbox::new(8, 1 << 20, Encoding::Json);
        outbox.follow(board.clone(), mv(9, 0.0).id);
        board.put(&mv(1, 0.1));
        outbox.push(Utf8Bytes::from_static(r#"{"type":"left","id":"00000000-0000-0000-0000-000000000000"}"#));
        board.put(&mv(2, 0.3));
        board.put(&mv(1, 0.2));
        board.put(&mv(9, 0.4));
        let batch = outbox.next_batch().await;
        assert_eq!(batch.frames.len(), 2);
        assert!(matches!(decode(&batch.frames[0]), ServerMsg::Left { .. }));
        let ServerMsg::Cursors { mut moves } = decode(&batch.frames[1]) else { panic!("not cursors") };
        moves.sort_by(|l, r| l.x.total_cmp(&r.x));
        assert_eq!(moves, vec![mv(1, 0.2), mv(2, 0.3)], "latest per user, never one's own");
        assert!(outbox.take().is_none(), "a move is taken once");
    }

    #[tokio::test]
    async fn an_idle_writer_wakes_for_a_move() {
        let board = Arc::new(CursorBoard::default());
        let outbox = Arc::new(Outbox::new(8, 1 << 20, Encoding::Compact));
        outbox.follow(board.clone(), Uuid::nil());
        let writer = tokio::spawn({
            let outbox = outbox.clone();
            async move { outbox.next_batch().await }
        });
        tokio::task::yield_now().await;
        board.put(&mv(1, 0.25));
        board.wake();
        let batch = writer.await.unwrap();
        let Message::Binary(bytes) = &batch.frames[0] else { panic!("a compact recipient gets binary") };
        assert_eq!(crate::protocol::compact::decode_cursors(bytes).unwrap(), vec![mv(1, 0.25)]);
    }

    #[tokio::test]
    async fn a_full_queue_closes_with_try_again_and_keeps_nothing() {
        let outbox = Outbox::new(2, 1 << 20, Encoding::Json);
        for _ in 0..3 {
            outbox.push(Utf8Bytes::from_static("{}"));
        }
        let batch = outbox.next_batch().await;
        assert!(batch.frames.is_empty());
        assert_eq!(batch.close.map(|c| c.code), Some(close::TRY_AGAIN));
        outbox.push(Utf8Bytes::from_static("{}"));
        assert!(outbox.take().is_none(), "nothing is queued after a close");
    }

    #[tokio::test]
    async fn a_connection_that_left_the_board_gets_none_of_its_moves() {
        let board = Arc::new(CursorBoard::default());
        let outbox = Outbox::new(2, 1 << 20, Encoding::Json);
        outbox.follow(board.clone(), Uuid::nil());
        board.put(&mv(1, 0.1));
        outbox.unfollow();
        assert!(outbox.take().is_none());
    }

    fn texts(batch: &Batch) -> Vec<String> {
        batch.frames.iter().map(|f| f.to_text().unwrap().to_owned()).collect()
    }

    #[tokio::test]
    async fn a_newer_state_of_the_same_user_supersedes_the_waiting_one_at_the_back() {
        let outbox = Outbox::new(4, 1 << 20, Encoding::Json);
        let (ann, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        outbox.push_state(ann, Utf8Bytes::from_static("ann-1"));
        outbox.push(Utf8Bytes::from_static("joined-cy"));
        outbox.push_state(bob, Utf8Bytes::from_static("bob-1"));
        for n in 2..=50 {
            outbox.push_state(ann, Utf8Bytes::from(format!("ann-{n}")));
        }
        let batch = outbox.next_batch().await;
        assert!(batch.close.is_none(), "superseded frames do not count against the bound");
        assert_eq!(texts(&batch), ["joined-cy", "bob-1", "ann-50"]);
        outbox.push_state(ann, Utf8Bytes::from_static("ann-51"));
        outbox.push_state(ann, Utf8Bytes::from_static("ann-52"));
        assert_eq!(texts(&outbox.next_batch().await), ["ann-52"], "positions survive a taken batch");
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes_but_takes_any_frame_when_empty() {
        let outbox = Outbox::new(100, 10, Encoding::Json);
        outbox.push(Utf8Bytes::from("w".repeat(50)));
        let batch = outbox.next_batch().await;
        assert_eq!(batch.frames.len(), 1, "a big frame onto an empty queue is sent");
        outbox.push(Utf8Bytes::from_static("123456"));
        outbox.push(Utf8Bytes::from_static("123456"));
        let batch = outbox.next_batch().await;
        assert!(batch.frames.is_empty());
        assert_eq!(batch.close.map(|c| c.code), Some(close::TRY_AGAIN), "12 bytes waiting is over 10");
    }

    #[tokio::test]
    async fn a_reserved_welcome_goes_first_and_holds_back_what_came_after_it() {
        let board = Arc::new(CursorBoard::default());
        let outbox = Outbox::new(8, 1 << 20, Encoding::Json);
        outbox.push(Utf8Bytes::from_static("old-room-left"));
        let places = outbox.reserve();
        outbox.follow(board.clone(), Uuid::nil());
        outbox.push(Utf8Bytes::from_static("chat-after-snapshot"));
        outbox.push_state(Uuid::from_u128(1), Utf8Bytes::from_static("state-1"));
        board.put(&mv(1, 0.5));
        assert_eq!(texts(&outbox.next_batch().await), ["old-room-left"], "what came before the place goes");
        assert!(outbox.take().is_none(), "nothing after the place, and no move, until it is filled");
        outbox.push_state(Uuid::from_u128(1), Utf8Bytes::from_static("state-2"));
        outbox.fill(places, None, Utf8Bytes::from_static("welcome"));
        let batch = outbox.next_batch().await;
        let sent = texts(&batch);
        assert_eq!(&sent[..3], ["welcome", "chat-after-snapshot", "state-2"], "{sent:?}");
        assert_eq!(sent.len(), 4, "then the moves: {sent:?}");
    }

    #[tokio::test]
    async fn a_welcome_is_filled_in_its_place_after_the_queue_was_compacted() {
        let outbox = Outbox::new(4, 1 << 20, Encoding::Json);
        let ann = Uuid::from_u128(1);
        outbox.push_state(ann, Utf8Bytes::from_static("ann-before"));
        let places = outbox.reserve();
        // Superseding the state before the places, then churning past twice the bound,
        // compacts the queue and moves the places.
        for n in 0..20 {
            outbox.push_state(ann, Utf8Bytes::from(format!("ann-{n}")));
        }
        outbox.fill(places, None, Utf8Bytes::from_static("welcome"));
        assert_eq!(texts(&outbox.next_batch().await), ["welcome", "ann-19"]);
    }

    #[tokio::test]
    async fn a_long_run_of_superseded_states_leaves_no_places_behind() {
        let outbox = Outbox::new(4, 1 << 20, Encoding::Json);
        let ann = Uuid::from_u128(1);
        outbox.push(Utf8Bytes::from_static("joined-ann"));
        for n in 0..1000 {
            outbox.push_state(ann, Utf8Bytes::from(format!("ann-{n}")));
        }
        assert!(outbox.lock().frames.len() <= 8, "superseded places are dropped");
        outbox.push_state(ann, Utf8Bytes::from_static("ann-last"));
        assert_eq!(texts(&outbox.next_batch().await), ["joined-ann", "ann-last"]);
    }
}
