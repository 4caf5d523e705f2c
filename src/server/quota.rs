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
    #[error("too many chats from this address: try again in {} ms", .0.as_millis())]
    Chats(Duration),
    #[error("this server holds its maximum of {0} rooms: join an existing room or try again later")]
    Full(usize),
}

impl QuotaError {
    /// How long until the same request could pass, if waiting helps.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            QuotaError::Connects(after) | QuotaError::Rooms(after) | QuotaError::Chats(after) => Some(*after),
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

    /// Whether `ip` could take a token now, taking none.
    fn peek(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        match self.lock().get_mut(&client_key(ip)) {
            Some(bucket) => match bucket.retry_after(now) {
                Duration::ZERO => Ok(()),
                after => Err(after),
            },
            None => Ok(()),
        }
    }
}

/// Every quota of the server.
pub struct Quotas {
    connects: PerClient,
    rooms: PerClient,
    chats: PerClient,
    max_rooms: usize,
}

/// The rates [`Quotas`] allows each client, and the rooms it allows in all.
#[derive(Debug, Clone, Copy)]
pub struct QuotaLimits {
    /// New connections per second (twice that at once).
    pub connects_per_sec: f64,
    /// New rooms per minute (a third of that at once).
    pub rooms_per_minute: f64,
    /// Chats per second over all the client's connections (twice that at once).
    pub chats_per_sec: f64,
    pub max_rooms: usize,
}

impl Quotas {
    pub fn new(limits: QuotaLimits) -> Self {
        let QuotaLimits { connects_per_sec, rooms_per_minute, chats_per_sec, max_rooms } = limits;
        Quotas {
            connects: PerClient::new(connects_per_sec, connects_per_sec * 2.0),
            rooms: PerClient::new(rooms_per_minute / 60.0, (rooms_per_minute / 3.0).max(1.0)),
            chats: PerClient::new(chats_per_sec, chats_per_sec * 2.0),
            max_rooms,
        }
    }

    /// One more chat from `ip`, on any of its connections.
    pub fn chat(&self, ip: IpAddr) -> Result<(), QuotaError> {
        self.chats.take(ip, Instant::now()).map_err(QuotaError::Chats)
    }

    /// A new WebSocket from `ip` into `room`: refused while the server is full and `room`
    /// would be new (whatever the client's rates: waiting for them would not help), then
    /// one of the client's new connections, and one of its new rooms if `room` is not live.
    pub fn connect(&self, hub: &Hub, room: &str, ip: IpAddr) -> Result<(), QuotaError> {
        self.check_connect(hub, room, ip, PerClient::take)
    }

    /// [`Quotas::connect`] with `charge` as the way a bucket is asked: taking a token, or
    /// only looking.
    fn check_connect(
        &self,
        hub: &Hub,
        room: &str,
        ip: IpAddr,
        charge: fn(&PerClient, IpAddr, Instant) -> Result<(), Duration>,
    ) -> Result<(), QuotaError> {
        let now = Instant::now();
        let creates = self.creates_room(hub, room)?;
        charge(&self.connects, ip, now).map_err(QuotaError::Connects)?;
        if creates {
            charge(&self.rooms, ip, now).map_err(QuotaError::Rooms)?;
        }
        Ok(())
    }

    /// A join of `room` by `ip`: free if the room is live, else one of the client's new
    /// rooms, and only while the server has room for more.
    pub fn enter(&self, hub: &Hub, room: &str, ip: IpAddr) -> Result<(), QuotaError> {
        if self.creates_room(hub, room)? {
            self.rooms.take(ip, Instant::now()).map_err(QuotaError::Rooms)?;
        }
        Ok(())
    }

    /// Whether a join of `room` would create it; refused while the server is full.
    fn creates_room(&self, hub: &Hub, room: &str) -> Result<bool, QuotaError> {
        if hub.has_room(room) {
            return Ok(false);
        }
        if hub.room_count() >= self.max_rooms {
            return Err(QuotaError::Full(self.max_rooms));
        }
        Ok(true)
    }

    /// What [`Quotas::connect`] would answer now, taking nothing: for a client that asks
    /// why its upgrade failed.
    pub fn peek(&self, hub: &Hub, room: &str, ip: IpAddr) -> Result<(), QuotaError> {
        self.check_connect(hub, room, ip, PerClient::peek)
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

    #[test]
    fn a_peek_takes_nothing() {
        let per = PerClient::new(1.0, 1.0);
        let (now, ip): (_, IpAddr) = (Instant::now(), "10.0.0.2".parse().unwrap());
        assert!(per.peek(ip, now).is_ok() && per.peek(ip, now).is_ok(), "an unknown client could connect");
        assert!(per.take(ip, now).is_ok());
        assert_eq!(per.peek(ip, now), Err(Duration::from_secs(1)));
        assert_eq!(per.peek(ip, now), Err(Duration::from_secs(1)), "peeking did not take a token");
        assert!(per.take(ip, now + Duration::from_secs(1)).is_ok());
    }
}
