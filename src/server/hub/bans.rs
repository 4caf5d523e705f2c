//! Who the app's backend removed from a room and for how long (`DELETE
//! /api/v1/rooms/{room}/users/{id}?ban_secs=N`): such an identity is refused there until
//! the ban runs out, on this node; a cluster keeps the same bans in Redis for every node.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Most bans held at once: a full table first forgets the expired ones, then the one
/// that would run out soonest.
pub const MAX_BANS: usize = 100_000;

/// The live bans of this node, by room and identity.
#[derive(Default)]
pub struct Bans {
    until: HashMap<(String, Uuid), Instant>,
}

impl Bans {
    /// Refuses `id` in `room` for `ban` from `now` (a longer ban already there stays).
    pub fn ban(&mut self, room: &str, id: Uuid, ban: Duration, now: Instant) {
        if self.until.len() >= MAX_BANS {
            self.until.retain(|_, until| *until > now);
        }
        if self.until.len() >= MAX_BANS {
            if let Some(soonest) = self.until.iter().min_by_key(|(_, until)| **until).map(|(key, _)| key.clone()) {
                self.until.remove(&soonest);
            }
        }
        let until = now + ban;
        let entry = self.until.entry((room.to_owned(), id)).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Whether no ban is held (expired ones may be).
    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }

    /// Whether `id` is refused in `room` at `now`.
    pub fn is_banned(&self, room: &str, id: Uuid, now: Instant) -> bool {
        self.until.get(&(room.to_owned(), id)).is_some_and(|until| *until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_holds_in_its_room_until_it_runs_out() {
        let (mut bans, now, id) = (Bans::default(), Instant::now(), Uuid::from_u128(1));
        bans.ban("r", id, Duration::from_secs(10), now);
        assert!(bans.is_banned("r", id, now + Duration::from_secs(9)));
        assert!(!bans.is_banned("r", id, now + Duration::from_secs(10)));
        assert!(!bans.is_banned("other", id, now));
        assert!(!bans.is_banned("r", Uuid::from_u128(2), now));
        bans.ban("r", id, Duration::from_secs(1), now);
        assert!(bans.is_banned("r", id, now + Duration::from_secs(5)), "a shorter ban does not cut a longer one");
    }

    #[test]
    fn the_table_is_bounded() {
        let (mut bans, now) = (Bans::default(), Instant::now());
        for n in 0..=MAX_BANS as u128 {
            bans.ban("r", Uuid::from_u128(n), Duration::from_secs(60 + n as u64), now);
        }
        assert_eq!(bans.until.len(), MAX_BANS);
        assert!(!bans.is_banned("r", Uuid::from_u128(0), now), "the soonest to run out went first");
        assert!(bans.is_banned("r", Uuid::from_u128(MAX_BANS as u128), now));
    }
}
