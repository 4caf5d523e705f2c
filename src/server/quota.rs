//! Quotas per client and in total: how fast one client may open connections and create
//! rooms, and how many rooms the server holds. Clients are counted as the connection
//! limits count them ([`client_key`]: an IPv6 client by its /64).
//!
//! Rooms are checked before a join creates one, outside the registry lock, so joins that
//! race may pass the total by as many as are under way at that moment: still bounded.

use super::hub::Hub;
use super::ip_limit::client_key;
use super::rate::TokenBucket;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Clients whose buckets are remembered; past it, full buckets (which say nothing a fresh
/// one would not) are forgotten, and if all are in use, all are.
const MAX_TRACKED: usize = 65_536;

/// Why a quota refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum QuotaError {
    #[error("too many new connections from this address: try again in {} ms", .0.as_millis())]
    Connects(Duration),
    #[error("too many new rooms from this address: try again in {} ms", .0.as_millis())]
    Rooms(Duration),
    #[error("this server holds its maximum of {0} rooms: join an existing room or try again later")]
    Full(usize),
}

impl QuotaError {
    /// How long until the same request could pass, if waiting helps.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            QuotaError::Connects(after) | QuotaError::Rooms(after) => Some(*after),
            QuotaError::Full(_) => None,
        }
    }
}

/// A token bucket per client.
struct PerClient {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, TokenBucket>>,
}

impl PerClient {
    fn new(per_sec: f64, burst: f64) -> Self {
        PerClient { per_sec, burst, buckets: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, TokenBucket>> {
        self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a token for `ip`, or says how long until there is one.
    fn take(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.lock();
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&client_key(ip)) {
            buckets.retain(|_, bucket| !bucket.is_full(now));
            if buckets.len() >= MAX_TRACKED {
                buckets.clear();
            }
        }
        buckets.entry(client_key(ip)).or_insert_with(|| TokenBucket::new(self.per_sec, self.burst, now)).admit(now)
    }
}

/// Every quota of the server.
pub struct Quotas {
    connects: PerClient,
    rooms: PerClient,
    max_rooms: usize,
}

impl Quotas {
    /// Quotas with `connects_per_sec` new connections per client (twice that at once),
    /// `rooms_per_minute` new rooms per client (a third of that at once) and `max_rooms`
    /// in all.
    pub fn new(connects_per_sec: f64, rooms_per_minute: f64, max_rooms: usize) -> Self {
        Quotas {
            connects: PerClient::new(connects_per_sec, connects_per_sec * 2.0),
            rooms: PerClient::new(rooms_per_minute / 60.0, (rooms_per_minute / 3.0).max(1.0)),
            max_rooms,
        }
    }

    /// One more WebSocket connection from `ip`.
    pub fn connect(&self, ip: IpAddr) -> Result<(), QuotaError> {
        self.connects.take(ip, Instant::now()).map_err(QuotaError::Connects)
    }

    /// A join of `room` by `ip`: free if the room is live, else one of the client's new
    /// rooms, and only while the server has room for more.
    pub fn enter(&self, hub: &Hub, room: &str, ip: IpAddr) -> Result<(), QuotaError> {
        if hub.has_room(room) {
            return Ok(());
        }
        if hub.room_count() >= self.max_rooms {
            return Err(QuotaError::Full(self.max_rooms));
        }
        self.rooms.take(ip, Instant::now()).map_err(QuotaError::Rooms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_has_its_own_bucket_and_a_64_is_one_client() {
        let per = PerClient::new(1.0, 2.0);
        let now = Instant::now();
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(per.take(a, now).is_ok() && per.take("2001:db8::2".parse().unwrap(), now).is_ok());
        assert_eq!(per.take(a, now), Err(Duration::from_secs(1)), "the same /64");
        assert!(per.take("10.0.0.1".parse().unwrap(), now).is_ok());
    }
}
