//! A room's cursor board: each member's latest move, serialized once, which every
//! connection's writer reads when it is ready to send.
//!
//! Pushing every move into every recipient's queue costs O(members) per move, so a room
//! of N users moving at R Hz costs N²·R pushes a second: at 500 users and 30 Hz that is
//! 7.5 M locked queue inserts a second, more than a core. Here a move is one table write
//! (and a wake-up for the writers that are idle); a writer that is ready copies the moves
//! changed since its last frame. The work follows the frames actually sent, and while a
//! writer is busy, the moves it has not sent yet are simply replaced by newer ones
//! (coalescing), with no per-recipient state but the version it has seen.
//!
//! Every change bumps the board's version and appends the changed slot to a short log, so
//! a writer that is a few moves behind reads only those; one that is further behind than
//! the log reaches scans the whole table instead, which then costs no more.

use crate::protocol::compact::{move_record, MOVE_BYTES};
use crate::protocol::{Move, ServerKind};
use std::collections::{HashMap, VecDeque};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::futures::Notified;
use tokio::sync::Notify;
use uuid::Uuid;

/// How a connection wants its `cursors` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// The JSON text frame of the contract.
    #[default]
    Json,
    /// The binary frame of [`crate::protocol::compact`].
    Compact,
}

/// Log entries kept per member (plus [`LOG_BASE`]): a writer further behind scans the
/// table, which is then no dearer than walking the log.
const LOG_PER_SLOT: usize = 4;
const LOG_BASE: usize = 64;

/// One room's latest moves.
#[derive(Default)]
pub struct CursorBoard {
    table: RwLock<Table>,
    changed: Notify,
}

#[derive(Default)]
struct Table {
    /// Bumped by every move; the version of the newest move.
    version: u64,
    slots: Vec<Slot>,
    index: HashMap<Uuid, usize>,
    /// Slots of removed users, to be reused.
    free: Vec<usize>,
    /// `log[i]` is the slot that version `log_start + i` changed.
    log: VecDeque<u32>,
    log_start: u64,
}

struct Slot {
    id: Uuid,
    /// The version of this slot's latest move.
    version: u64,
    /// False once its user left: nothing of it is sent any more.
    live: bool,
    json: Box<str>,
    record: [u8; MOVE_BYTES],
}

/// What [`CursorBoard::collect`] appended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Collected {
    /// Moves appended to the frame.
    pub moves: usize,
    /// Log entries passed over because a newer move of the same user replaced them.
    pub superseded: u64,
}

/// A `cursors` frame being assembled from serialized moves.
pub enum FrameBuf {
    Json(String),
    Compact(Vec<u8>),
}

impl FrameBuf {
    /// An empty frame in `encoding`, with room for about `moves` moves.
    fn new(encoding: Encoding, moves: usize) -> Self {
        match encoding {
            Encoding::Json => {
                let mut text = String::with_capacity(32 + moves * JSON_MOVE_BYTES);
                // The frame is spliced from moves serialized once each; a test parses it
                // back as a `ServerMsg::Cursors`.
                text.push_str(r#"{"type":""#);
                text.push_str(ServerKind::Cursors.as_str());
                text.push_str(r#"","moves":["#);
                FrameBuf::Json(text)
            }
            Encoding::Compact => {
                let mut bytes = Vec::with_capacity(1 + moves * MOVE_BYTES);
                bytes.push(crate::protocol::compact::CURSORS_TAG);
                FrameBuf::Compact(bytes)
            }
        }
    }

    fn push(&mut self, slot: &Slot, first: bool) {
        match self {
            FrameBuf::Json(text) => {
                if !first {
                    text.push(',');
                }
                text.push_str(&slot.json);
            }
            FrameBuf::Compact(bytes) => bytes.extend_from_slice(&slot.record),
        }
    }

    /// Closes the JSON array; the compact frame needs nothing.
    fn finish(mut self) -> Self {
        if let FrameBuf::Json(text) = &mut self {
            text.push_str("]}");
        }
        self
    }
}

/// One move in both encodings, serialized once for every recipient.
pub struct Serialized {
    mv: Move,
    json: Box<str>,
    record: [u8; MOVE_BYTES],
}

impl Serialized {
    pub fn of(mv: &Move) -> Self {
        // A Move is a UUID and two floats: serializing it cannot fail.
        let json = serde_json::to_string(mv).expect("a Move always serializes").into_boxed_str();
        Serialized { mv: *mv, json, record: move_record(mv) }
    }
}

/// About how long one move is in JSON, to size a frame's buffer.
const JSON_MOVE_BYTES: usize = 76;

impl CursorBoard {
    // Std locks: nothing is awaited while they are held. A poisoned lock only means a
    // panic elsewhere; the table stays consistent between statements.
    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The version of the newest move: a writer that starts following the board now has
    /// seen everything up to it (the `welcome` snapshot carries the positions).
    pub fn version(&self) -> u64 {
        self.read().version
    }

    /// Records `mv` as its user's latest position. The caller holds the room lock, so a
    /// move cannot land after its user's removal; it calls [`CursorBoard::wake`] after
    /// releasing that lock.
    pub fn put(&self, mv: &Move) {
        self.put_serialized(Serialized::of(mv));
    }

    /// [`CursorBoard::put`] of a move serialized beforehand (outside the room lock).
    pub fn put_serialized(&self, move_: Serialized) {
        let Serialized { mv, json, record } = move_;
        let mut table = self.write();
        table.version += 1;
        let version = table.version;
        let slot = match table.index.get(&mv.id) {
            Some(&at) => {
                let slot = &mut table.slots[at];
                slot.version = version;
                slot.json = json;
                slot.record = record;
                at
            }
            None => {
                let slot = Slot { id: mv.id, version, live: true, json, record };
                let at = match table.free.pop() {
                    Some(at) => {
                        table.slots[at] = slot;
                        at
                    }
                    None => {
                        table.slots.push(slot);
                        table.slots.len() - 1
                    }
                };
                table.index.insert(mv.id, at);
                at
            }
        };
        table.log.push_back(slot as u32);
        let cap = LOG_BASE + LOG_PER_SLOT * table.slots.len();
        while table.log.len() > cap {
            table.log.pop_front();
            table.log_start += 1;
        }
        if table.log.len() == 1 {
            table.log_start = version;
        }
    }

    /// Wakes the writers waiting for a move.
    pub fn wake(&self) {
        self.changed.notify_waiters();
    }

    /// Forgets `id`'s position: once the caller (holding the room lock) has announced
    /// `left`, no writer sends a move of theirs.
    pub fn remove(&self, id: Uuid) {
        let mut table = self.write();
        if let Some(at) = table.index.remove(&id) {
            table.slots[at].live = false;
            table.free.push(at);
        }
    }

    /// A future that completes at the next [`CursorBoard::wake`] after this call (even if it is
    /// first polled later).
    pub fn changed(&self) -> Notified<'_> {
        self.changed.notified()
    }

    /// A `cursors` frame in `encoding` of every move after version `since` but `me`'s,
    /// each user's latest only (`None` if there is none); also the version now seen and
    /// how many moves were passed over as replaced.
    pub fn collect(&self, since: u64, me: Uuid, encoding: Encoding) -> (Option<FrameBuf>, u64, Collected) {
        let table = self.read();
        let mut collected = Collected::default();
        let mut frame: Option<FrameBuf> = None;
        if table.version <= since {
            return (None, table.version, collected);
        }
        let behind = (table.version - since) as usize;
        let mut add = |slot: &Slot, collected: &mut Collected| {
            if slot.live && slot.id != me {
                let frame = frame.get_or_insert_with(|| FrameBuf::new(encoding, behind.min(table.slots.len())));
                frame.push(slot, collected.moves == 0);
                collected.moves += 1;
            }
        };
        if since + 1 >= table.log_start {
            let first = (since + 1 - table.log_start) as usize;
            for (offset, &at) in table.log.iter().enumerate().skip(first) {
                let slot = &table.slots[at as usize];
                if slot.version == table.log_start + offset as u64 {
                    add(slot, &mut collected);
                } else {
                    collected.superseded += 1;
                }
            }
        } else {
            for slot in table.slots.iter().filter(|s| s.version > since) {
                add(slot, &mut collected);
            }
        }
        (frame.map(FrameBuf::finish), table.version, collected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerMsg;

    fn mv(n: u8, x: f64) -> Move {
        Move { id: Uuid::from_bytes([n; 16]), x, y: 0.5 }
    }

    fn moves_after(board: &CursorBoard, since: u64, me: Uuid) -> (u64, Vec<Move>, Collected) {
        let (frame, seen, collected) = board.collect(since, me, Encoding::Json);
        let text = match frame {
            Some(FrameBuf::Json(text)) => text,
            None => return (seen, Vec::new(), collected),
            Some(FrameBuf::Compact(_)) => panic!("asked for JSON"),
        };
        let ServerMsg::Cursors { mut moves } = serde_json::from_str(&text).unwrap() else { panic!("{text}") };
        moves.sort_by_key(|a| a.id);
        (seen, moves, collected)
    }

    #[test]
    fn a_writer_gets_each_users_latest_move_since_its_version_but_its_own() {
        let board = CursorBoard::default();
        let me = mv(9, 0.0).id;
        board.put(&mv(1, 0.1));
        let (seen, moves, _) = moves_after(&board, 0, me);
        assert_eq!(moves, vec![mv(1, 0.1)]);
        board.put(&mv(1, 0.2));
        board.put(&mv(2, 0.3));
        board.put(&mv(9, 0.4));
        board.put(&mv(1, 0.5));
        let (seen, moves, collected) = moves_after(&board, seen, me);
        assert_eq!(moves, vec![mv(1, 0.5), mv(2, 0.3)]);
        assert_eq!(collected.superseded, 1, "the move to 0.2 was replaced before it was sent");
        let (_, moves, _) = moves_after(&board, seen, me);
        assert!(moves.is_empty());
    }

    #[test]
    fn a_writer_far_behind_scans_the_table_and_misses_nothing() {
        let board = CursorBoard::default();
        for round in 0..100 {
            for user in 1..=3 {
                board.put(&mv(user, f64::from(round) / 100.0));
            }
        }
        board.put(&mv(4, 0.9));
        let (_, moves, _) = moves_after(&board, 1, Uuid::nil());
        assert_eq!(moves, vec![mv(1, 0.99), mv(2, 0.99), mv(3, 0.99), mv(4, 0.9)]);
        let (_, moves, _) = moves_after(&board, board.version() - 1, Uuid::nil());
        assert_eq!(moves, vec![mv(4, 0.9)]);
    }

    #[test]
    fn a_removed_user_is_never_sent_even_when_its_slot_is_reused() {
        let board = CursorBoard::default();
        board.put(&mv(1, 0.1));
        let seen = board.version();
        board.put(&mv(1, 0.2));
        board.remove(mv(1, 0.0).id);
        assert!(moves_after(&board, 0, Uuid::nil()).1.is_empty());
        board.put(&mv(2, 0.3));
        assert_eq!(moves_after(&board, seen, Uuid::nil()).1, vec![mv(2, 0.3)]);
        assert_eq!(moves_after(&board, 0, Uuid::nil()).1, vec![mv(2, 0.3)]);
    }

    #[test]
    fn compact_frames_carry_the_same_moves() {
        let board = CursorBoard::default();
        board.put(&mv(1, 0.25));
        board.put(&mv(2, 0.75));
        let (frame, _, _) = board.collect(0, Uuid::nil(), Encoding::Compact);
        let Some(FrameBuf::Compact(bytes)) = frame else { panic!("asked for a compact frame") };
        let mut moves = crate::protocol::compact::decode_cursors(&bytes).unwrap();
        moves.sort_by_key(|a| a.id);
        assert_eq!(moves, vec![mv(1, 0.25), mv(2, 0.75)]);
    }
}
