//! When each simulated user sends. Independent users do not move or type in step, so by
//! default their ticks are spread evenly over one period; `--in-phase` starts them all at
//! the same instant, the worst case (and what flock-bench did before this option).

use std::time::{Duration, Instant};
use tokio::time::{Interval, MissedTickBehavior};

/// A ticker for user `me` of `n`, each sending every `period` from `epoch`. Spread, user
/// k's ticks fall k/n of a period after the epoch's, so n users at R Hz offer a steady n·R
/// messages a second instead of a burst of n every 1/R seconds. The first tick is the first
/// of that phase not yet past (the users are set up after the epoch: starting every late
/// one at once would bunch them for the whole run). A late tick is delayed, never made up
/// in a burst.
pub fn ticker(epoch: Instant, period: Duration, me: usize, n: usize, in_phase: bool) -> Interval {
    let offset = if in_phase { Duration::ZERO } else { period.mul_f64(me as f64 / n.max(1) as f64) };
    let first = first_after_now(epoch + offset, period);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::from_std(first), period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick
}

/// `start` moved on by whole periods until it is not in the past.
fn first_after_now(start: Instant, period: Duration) -> Instant {
    let behind = Instant::now().saturating_duration_since(start);
    if behind.is_zero() || period.is_zero() {
        return start;
    }
    let periods = behind.as_nanos().div_ceil(period.as_nanos());
    start + Duration::from_nanos((period.as_nanos() * periods) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_already_past_starts_at_its_next_tick_not_at_once() {
        let period = Duration::from_millis(100);
        let start = Instant::now() - Duration::from_millis(250);
        let first = first_after_now(start, period);
        assert!(first >= Instant::now() - Duration::from_millis(1));
        let since_start = first - start;
        assert_eq!(since_start.as_millis() % 100, 0, "keeps its phase: {since_start:?}");
        assert!(since_start <= Duration::from_millis(300));
    }

    #[test]
    fn a_phase_still_ahead_is_kept() {
        let start = Instant::now() + Duration::from_millis(50);
        assert_eq!(first_after_now(start, Duration::from_millis(100)), start);
    }
}
