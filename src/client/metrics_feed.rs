//! The figures the `/admin` page charts, read from the server's `/metrics` text.
//!
//! Prometheus text is one `name{labels} value` per line; the page needs only a few totals,
//! so it sums the series it wants rather than pulling in a parser.

use crate::protocol::metric_names::{CONNECTIONS, MESSAGES_IN, MESSAGES_OUT, ROOMS, WEBHOOKS_DEAD, WEBHOOKS_PENDING};

/// Totals at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    pub connections: f64,
    pub rooms: f64,
    /// Client frames received so far, all types.
    pub messages_in: f64,
    /// Frames queued for clients so far, all types.
    pub messages_out: f64,
    /// Webhook events waiting for the app's backend, and given up so far.
    pub webhooks_pending: f64,
    pub webhooks_dead: f64,
}

/// Sums the series of each metric the page shows.
pub fn parse_totals(text: &str) -> Totals {
    let mut totals = Totals::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.trim().parse::<f64>() else { continue };
        let name = series.split('{').next().unwrap_or_default();
        match name {
            CONNECTIONS => totals.connections += value,
            ROOMS => totals.rooms += value,
            MESSAGES_IN => totals.messages_in += value,
            MESSAGES_OUT => totals.messages_out += value,
            WEBHOOKS_PENDING => totals.webhooks_pending += value,
            WEBHOOKS_DEAD => totals.webhooks_dead += value,
            _ => {}
        }
    }
    totals
}

/// Per-second rates between two readings `secs` apart (never negative: a restarted
/// server starts its counters over).
pub fn rates(before: &Totals, after: &Totals, secs: f64) -> (f64, f64) {
    let rate = |a: f64, b: f64| if secs > 0.0 { ((b - a) / secs).max(0.0) } else { 0.0 };
    (rate(before.messages_in, after.messages_in), rate(before.messages_out, after.messages_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_every_series_of_a_metric() {
        let text = r#"# TYPE flock_connections gauge
flock_connections 3
flock_rooms 2
flock_messages_in_total{type="chat"} 10
flock_messages_in_total{type="cursor"} 5
flock_messages_out_total{type="chat"} 30
flock_fanout_seconds_sum 0.1
flock_webhooks_pending 4
flock_webhooks_dead_total 1
"#;
        let totals = parse_totals(text);
        let want = Totals {
            connections: 3.0,
            rooms: 2.0,
            messages_in: 15.0,
            messages_out: 30.0,
            webhooks_pending: 4.0,
            webhooks_dead: 1.0,
        };
        assert_eq!(totals, want);
        let later = Totals { messages_in: 25.0, messages_out: 90.0, ..totals };
        assert_eq!(rates(&totals, &later, 2.0), (5.0, 30.0));
        assert_eq!(rates(&later, &totals, 2.0), (0.0, 0.0), "a restart is not a negative rate");
    }
}
