//! A token bucket per connection: a steady rate of messages with room for short bursts,
//! so a browser's 60 Hz cursor stream and a chat fit, and a flooding bot does not.

use std::time::{Duration, Instant};

/// Messages per second and burst allowance of one connection.
#[derive(Debug)]
pub struct TokenBucket {
    per_sec: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket that refills at `per_sec` up to `burst`.
    pub fn new(per_sec: f64, burst: f64, now: Instant) -> Self {
        let burst = burst.max(1.0);
        TokenBucket { per_sec: per_sec.max(0.0), burst, tokens: burst, last: now }
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes one token, or says how long until there is one (for `retry_after_ms`).
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        if self.take(now) {
            Ok(())
        } else {
            Err(self.retry_after(now))
        }
    }

    /// How long until a token is there (zero if one is now), for `retry_after_ms`.
    pub fn retry_after(&mut self, now: Instant) -> Duration {
        self.refill(now);
        let missing = (1.0 - self.tokens).max(0.0);
        if missing == 0.0 {
            Duration::ZERO
        } else if self.per_sec > 0.0 {
            Duration::from_secs_f64(missing / self.per_sec)
        } else {
            Duration::MAX
        }
    }

    /// Whether the bucket has refilled to its burst: it then says nothing a new one
    /// would not.
    pub fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.per_sec >= self.burst
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_applies() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10.0, 3.0, start);
        assert!((0..3).all(|_| bucket.take(start)));
        assert!(!bucket.take(start));
        assert_eq!(bucket.retry_after(start), Duration::from_millis(100));
        assert!(bucket.take(start + Duration::from_millis(100)));
        assert!(!bucket.take(start + Duration::from_millis(150)));
        // A long pause refills only up to the burst.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| bucket.take(later)));
        assert!(!bucket.take(later));
    }
}
