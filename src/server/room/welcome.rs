//! What a member is sent on entering: the snapshot of the room and the newest of the chats
//! it missed (at most `--replay-max`, and a page's worth of bytes; `more` says the rest is
//! to be paged), or a `reset` first when those are no longer all kept.
//!
//! The snapshot is taken under the room's lock, and the welcome's place kept in the
//! member's queue then ([`Outbox::reserve`]), so nothing the room sends after it can come
//! first. The history is read afterwards, off the lock and on the blocking pool
//! ([`PendingWelcome::send`]), so a read from the disk holds up neither the room nor an
//! async worker.

use super::{encode, Member, Room, SEQ_UNKNOWN};
use crate::protocol::{ServerMsg, User, HISTORY_LEN};
use crate::server::outbox::{Outbox, Reserved};
use crate::server::store::{End, Page, SeqRange, StoreError};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use uuid::Uuid;

/// A welcome whose snapshot is taken and whose place is kept; the history is still to be
/// read. Dropping it unsent would hold the member's queue, so every one is sent.
#[must_use = "a pending welcome holds its member's queue until it is sent"]
pub struct PendingWelcome {
    room: Arc<Room>,
    outbox: Arc<Outbox>,
    places: Reserved,
    you: Uuid,
    session: String,
    since: Option<u64>,
    /// The room's latest delivered seq at the snapshot: chats after it come live.
    seq: u64,
    users: Vec<User>,
}

impl Room {
    /// Takes `you`'s welcome snapshot and keeps its place in `outbox`. Called with the
    /// members lock held, so no chat or presence change falls between the snapshot and the
    /// live frames after it.
    pub(in crate::server) fn reserve_welcome(
        self: &Arc<Self>,
        members: &HashMap<Uuid, Member>,
        outbox: &Arc<Outbox>,
        you: Uuid,
        session: &str,
        since: Option<u64>,
    ) -> PendingWelcome {
        PendingWelcome {
            room: self.clone(),
            outbox: outbox.clone(),
            places: outbox.reserve(),
            you,
            session: session.to_owned(),
            since,
            seq: self.seq.load(Ordering::Relaxed),
            users: members.values().map(|m| m.user.clone()).collect(),
        }
    }

    /// The latest seq, re-read from the store if it could not be read before (called with
    /// the members lock held).
    pub(super) fn latest_seq(&self) -> Result<u64, StoreError> {
        match self.seq.load(Ordering::Relaxed) {
            SEQ_UNKNOWN => {
                let seq = self.store.latest_seq(&self.name)?;
                self.seq.store(seq, Ordering::Relaxed);
                Ok(seq)
            }
            seq => Ok(seq),
        }
    }

    /// Whether some chat after `since` (and up to `seq`) is no longer kept.
    fn pruned_after(&self, since: u64, seq: u64) -> bool {
        match self.store.oldest_seq(&self.name) {
            Ok(Some(oldest)) => oldest > since + 1,
            Ok(None) => since < seq,
            Err(_) => true,
        }
    }
}

impl PendingWelcome {
    /// Reads the history on the blocking pool and puts the welcome (after a `reset` when
    /// `since` cannot be honoured) in its place.
    pub async fn send(self) {
        let outbox = self.outbox.clone();
        if tokio::task::spawn_blocking(move || self.fill()).await.is_err() {
            // The read panicked: the client is better off reconnecting than waiting.
            outbox.close(crate::protocol::close::TRY_AGAIN, "the room could not be read");
        }
    }

    fn fill(self) {
        let PendingWelcome { room, outbox, places, you, session, since, users, .. } = self;
        // Read, not kept: the room's own seq only changes under its lock.
        let seq = match self.seq {
            SEQ_UNKNOWN => room.store.latest_seq(&room.name).unwrap_or(0),
            seq => seq,
        };
        // The newest chats: of the room when fresh, of those after `since` when resuming
        // (`more` then says older ones after `since` were left out, to be paged).
        let (reset, range, limit) = match since {
            None => (false, SeqRange::ALL, HISTORY_LEN),
            Some(since) if since > seq || room.pruned_after(since, seq) => (true, SeqRange::ALL, HISTORY_LEN),
            Some(since) => (false, SeqRange { after: since, before: u64::MAX }, room.replay_max.max(1)),
        };
        // Chats committed after the snapshot come live after the welcome: not in it too.
        let range = SeqRange { before: range.before.min(seq.saturating_add(1)), ..range };
        let Page { chats: history, more } =
            room.store.page(&room.name, you, range, limit, End::Newest).unwrap_or_else(|err| {
                tracing::error!(room = room.name, "cannot read the history: {err}");
                Page { chats: Vec::new(), more: false }
            });
        let name = room.name.clone();
        let welcome = ServerMsg::Welcome { you, room: name, users, seq, history, session, more };
        outbox.fill(places, reset.then(|| encode(&ServerMsg::Reset)), encode(&welcome));
    }
}
