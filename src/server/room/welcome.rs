//! What a member is sent on entering: the snapshot of the room and the newest of the chats
//! it missed (at most `--replay-max`, and a page's worth of bytes; `more` says the rest is
//! to be paged), or a `reset` first when those are no longer all kept.

use super::{encode, Member, Room, SEQ_UNKNOWN};
use crate::protocol::{ServerMsg, HISTORY_LEN};
use crate::server::outbox::Outbox;
use crate::server::store::{End, Page, SeqRange, StoreError};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use uuid::Uuid;

impl Room {
    /// Queues `you`'s `welcome` (after a `reset` when `since` cannot be honoured). Called
    /// with the members lock held, so no chat can fall between the snapshot and live ones.
    pub(in crate::server) fn send_welcome(
        &self,
        members: &HashMap<Uuid, Member>,
        outbox: &Outbox,
        you: Uuid,
        session: &str,
        since: Option<u64>,
    ) {
        let seq = self.latest_seq().unwrap_or(0);
        // The newest chats: of the room when fresh, of those after `since` when resuming
        // (`more` then says older ones after `since` were left out, to be paged).
        let (reset, range, limit) = match since {
            None => (false, SeqRange::ALL, HISTORY_LEN),
            Some(since) if since > seq || self.pruned_after(since) => (true, SeqRange::ALL, HISTORY_LEN),
            Some(since) => (false, SeqRange { after: since, before: u64::MAX }, self.replay_max.max(1)),
        };
        // Chats committed but not yet delivered come live after the welcome: not in it too.
        let range = SeqRange { before: range.before.min(seq.saturating_add(1)), ..range };
        let Page { chats: history, more } =
            self.store.page(&self.name, you, range, limit, End::Newest).unwrap_or_else(|err| {
                tracing::error!(room = self.name, "cannot read the history: {err}");
                Page { chats: Vec::new(), more: false }
            });
        if reset {
            outbox.push(encode(&ServerMsg::Reset));
        }
        let users = members.values().map(|m| m.user.clone()).collect();
        let room = self.name.clone();
        let welcome = ServerMsg::Welcome { you, room, users, seq, history, session: session.to_owned(), more };
        outbox.push(encode(&welcome));
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

    /// Whether some chat after `since` is no longer kept.
    fn pruned_after(&self, since: u64) -> bool {
        match self.store.oldest_seq(&self.name) {
            Ok(Some(oldest)) => oldest > since + 1,
            Ok(None) => since < self.latest_seq().unwrap_or(0),
            Err(_) => true,
        }
    }
}
