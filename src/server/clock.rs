//! The server's wall clock, as the wire and the store count it.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in milliseconds (chat `ts`, session `touched`).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Unix time in seconds (invitation expiry).
pub fn unix_secs() -> u64 {
    now_ms() / 1000
}
