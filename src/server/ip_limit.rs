//! Connections per client: one machine (or one bot) cannot take every socket the server
//! has. Counted from the TCP peer address, an IPv6 client by its /64 (one subscriber's
//! network: a host picks any address inside it at will); behind a reverse proxy every
//! client shares the proxy's address, so raise the limits there (see README).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

/// The IP already holds as many connections as allowed (HTTP 429 before the upgrade).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("too many connections from {ip}: the limit is {max}")]
pub struct TooManyConnections {
    pub ip: IpAddr,
    pub max: usize,
}

/// Live connection counts per IP.
pub struct IpLimiter {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; dropping it frees the place.
pub struct IpSlot {
    limiter: Arc<IpLimiter>,
    ip: IpAddr,
}

impl IpLimiter {
    pub fn new(max: usize) -> Self {
        IpLimiter { max, counts: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts one more connection from `ip`, unless its client already has the maximum.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<IpSlot, TooManyConnections> {
        let ip = client_key(ip);
        let mut counts = self.lock();
        let count = counts.entry(ip).or_insert(0);
        if *count >= self.max {
            return Err(TooManyConnections { ip, max: self.max });
        }
        *count += 1;
        Ok(IpSlot { limiter: self.clone(), ip })
    }

    /// Whether [`IpLimiter::acquire`] would count one more connection from `ip` now,
    /// counting none.
    pub fn peek(&self, ip: IpAddr) -> Result<(), TooManyConnections> {
        let ip = client_key(ip);
        match self.lock().get(&ip) {
            Some(count) if *count >= self.max => Err(TooManyConnections { ip, max: self.max }),
            _ => Ok(()),
        }
    }
}

/// The address a client is counted by: IPv4 as it is (also when mapped into IPv6), IPv6
/// by its /64 prefix.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.limiter.lock();
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_place_can_be_taken_again() {
        let limiter = Arc::new(IpLimiter::new(2));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = limiter.acquire(ip).unwrap();
        let _b = limiter.acquire(ip).unwrap();
        assert_eq!(limiter.acquire(ip).err(), Some(TooManyConnections { ip, max: 2 }));
        assert!(limiter.acquire("10.0.0.2".parse().unwrap()).is_ok(), "other IPs are counted apart");
        drop(a);
        assert!(limiter.acquire(ip).is_ok());
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let limiter = Arc::new(IpLimiter::new(1));
        let _a = limiter.acquire("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(limiter.acquire("2001:db8:1:2:ffff::9".parse().unwrap()).is_err(), "same /64");
        assert!(limiter.acquire("2001:db8:1:3::1".parse().unwrap()).is_ok(), "another /64");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
