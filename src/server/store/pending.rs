//! What the writer has been handed but not yet committed: each room's highest queued seq,
//! the refs of queued chats, and queued session saves. Reads consult it before the file,
//! so a room that is dropped and opened again, a chat resent while its first copy waits
//! for its batch, or a client that reconnects at once with its new session token, sees
//! the queue as if it were already on disk (no seq handed out twice, no chat stored twice,
//! no identity lost). It holds only what is queued, so it is as bounded as the queue.

use crate::protocol::User;
use std::collections::HashMap;
use uuid::Uuid;

/// Queued chats per room and by ref.
#[derive(Default)]
pub struct Pending {
    /// Per room: the highest queued seq and how many of its chats are queued.
    heads: HashMap<String, (u64, usize)>,
    /// (room, sender, ref) → seq of a queued chat.
    refs: HashMap<(String, Uuid, String), u64>,
    /// Token hash → the latest queued identity, when it was saved (unix ms), and how many
    /// saves of it are queued.
    sessions: HashMap<String, (User, u64, usize)>,
    /// Identities whose revocation is queued, and how many times.
    revoked: HashMap<Uuid, usize>,
}

impl Pending {
    /// A chat of `room` numbered `seq` is queued.
    pub fn add(&mut self, room: &str, seq: u64, from: Uuid, reference: Option<&str>) {
        let head = self.heads.entry(room.to_owned()).or_insert((0, 0));
        *head = (head.0.max(seq), head.1 + 1);
        if let Some(reference) = reference {
            self.refs.insert((room.to_owned(), from, reference.to_owned()), seq);
        }
    }

    /// That chat left the queue: committed, or failed with its batch.
    pub fn remove(&mut self, room: &str, from: Uuid, reference: Option<&str>) {
        if let Some(head) = self.heads.get_mut(room) {
            head.1 = head.1.saturating_sub(1);
            if head.1 == 0 {
                self.heads.remove(room);
            }
        }
        if let Some(reference) = reference {
            self.refs.remove(&(room.to_owned(), from, reference.to_owned()));
        }
    }

    /// A save of the identity behind the token hashed as `key` is queued.
    pub fn add_session(&mut self, key: &str, user: &User, now_ms: u64) {
        let entry = self.sessions.entry(key.to_owned()).or_insert_with(|| (user.clone(), now_ms, 0));
        *entry = (user.clone(), now_ms, entry.2 + 1);
    }

    /// That save left the queue.
    pub fn remove_session(&mut self, key: &str) {
        if let Some(entry) = self.sessions.get_mut(key) {
            entry.2 = entry.2.saturating_sub(1);
            if entry.2 == 0 {
                self.sessions.remove(key);
            }
        }
    }

    /// A revocation of identity `id` is queued.
    pub fn add_revoke(&mut self, id: Uuid) {
        *self.revoked.entry(id).or_default() += 1;
    }

    /// That revocation left the queue.
    pub fn remove_revoke(&mut self, id: Uuid) {
        if let Some(count) = self.revoked.get_mut(&id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.revoked.remove(&id);
            }
        }
    }

    /// Whether a revocation of `id` is queued.
    pub fn is_revoked(&self, id: Uuid) -> bool {
        self.revoked.contains_key(&id)
    }

    /// The latest queued identity for the token hashed as `key`, and when it was saved.
    pub fn session(&self, key: &str) -> Option<(&User, u64)> {
        self.sessions.get(key).map(|entry| (&entry.0, entry.1))
    }

    /// The highest queued seq of `room`, if any chat of it is queued.
    pub fn head(&self, room: &str) -> Option<u64> {
        self.heads.get(room).map(|head| head.0)
    }

    /// The seq of the queued chat `from` sent with `reference` in `room`.
    pub fn seq_of_ref(&self, room: &str, from: Uuid, reference: &str) -> Option<u64> {
        self.refs.get(&(room.to_owned(), from, reference.to_owned())).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_is_pending_until_its_last_queued_chat_leaves() {
        let mut pending = Pending::default();
        let a = Uuid::new_v4();
        pending.add("r", 5, a, Some("x"));
        pending.add("r", 6, a, None);
        assert_eq!((pending.head("r"), pending.seq_of_ref("r", a, "x")), (Some(6), Some(5)));
        pending.remove("r", a, Some("x"));
        assert_eq!((pending.head("r"), pending.seq_of_ref("r", a, "x")), (Some(6), None));
        pending.remove("r", a, None);
        assert_eq!(pending.head("r"), None);
    }
}
