//! When each simulated user sends. Independent users do not move or type in step, so by
//! default their ticks are spread evenly over one period; `--in-phase` starts them all at
//! the same instant, the worst case (and what flock-bench did before this option).

use std::time::{Duration, Instant};
use tokio::time::{Interval, MissedTickBehavior};

/// A ticker for user `me` of `n`, each sending every `period` from `epoch`. Spread, user
/// k's ticks fall k/n of a period after the epoch's, so n users at R Hz offer a steady n·R
/// messages a second instead of a burst of n every 1/R seconds. A late tick is delayed,
/// never made up in a burst.
pub fn ticker(epoch: Instant, period: Duration, me: usize, n: usize, in_phase: bool) -> Interval {
    let offset = if in_phase { Duration::ZERO } else { period.mul_f64(me as f64 / n.max(1) as f64) };
    let mut tick = tokio::time::interval_at(tokio::time::Instant::from_std(epoch) + offset, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick
}
