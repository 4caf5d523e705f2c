//! What the hub counts, exported at `GET /metrics` in Prometheus text format.
//!
//! The `metrics` macros are called where things happen (socket loop, fan-out, outbox);
//! this module installs the one process-wide recorder and names every metric, so the
//! list below is the whole catalogue.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Open WebSocket connections (gauge).
pub const CONNECTIONS: &str = "flock_connections";
/// Live rooms (gauge).
pub const ROOMS: &str = "flock_rooms";
/// Client messages received and decoded, by `type` (counter; refused frames are in
/// `flock_refused_total`).
pub const MESSAGES_IN: &str = "flock_messages_in_total";
/// Messages fanned out to clients, by `type` (counter): one per recipient, except
/// `cursors`, counted once per frame sent. Replies to one client (welcome, ack, error,
/// reset) are not counted.
pub const MESSAGES_OUT: &str = "flock_messages_out_total";
/// Bytes of text frames received and sent (counters).
pub const BYTES_IN: &str = "flock_bytes_in_total";
pub const BYTES_OUT: &str = "flock_bytes_out_total";
/// Cursor moves replaced by a newer move of the same user before they were sent (counter).
pub const MOVES_COALESCED: &str = "flock_moves_coalesced_total";
/// Frames a writer sent in one batch: how deep outboxes get (histogram).
pub const BATCH_FRAMES: &str = "flock_outbox_batch_frames";
/// Seconds one fan-out (a move, a chat, a state change) takes under the room lock (histogram).
pub const FANOUT_SECONDS: &str = "flock_fanout_seconds";
/// Client frames refused, by `code` (counter).
pub const REFUSED: &str = "flock_refused_total";
/// Connections closed as too slow with 1013 (counter).
pub const SLOW_CLOSES: &str = "flock_slow_closes_total";
/// 1 while the cluster bus reaches Redis, 0 while it does not (absent on a single node).
pub const BUS_UP: &str = "flock_bus_up";
/// Bus items (events, cursor moves, session saves) not sent: queue full or Redis down.
pub const BUS_DROPPED: &str = "flock_bus_dropped_total";
/// Users of other nodes this node has announced `left` because their node stopped.
pub const NODE_LEFT: &str = "flock_node_left_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Open connections, readable (the gauge is write-only): the heartbeat reports it.
static OPEN: AtomicU64 = AtomicU64::new(0);

/// Counts a connection opening (`true`) or closing.
pub fn connection(opened: bool) {
    if opened {
        OPEN.fetch_add(1, Ordering::Relaxed);
        metrics::gauge!(CONNECTIONS).increment(1.0);
    } else {
        OPEN.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!(CONNECTIONS).decrement(1.0);
    }
}

/// Connections open on this node now.
pub fn connections() -> u64 {
    OPEN.load(Ordering::Relaxed)
}

/// Installs the recorder on first use and returns the handle that renders `/metrics`.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(FANOUT_SECONDS.into()),
                &[1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(BATCH_FRAMES.into()),
                    &[1.0, 2.0, 4.0, 16.0, 64.0, 256.0, 1024.0],
                )
            })
            .expect("bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; the handle still renders ours.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Counts one message of `kind` in or `n` out. The labels are literals, so the macros
/// build no label list per call (an expression label would allocate one each time).
pub fn count_in(kind: &'static str) {
    match kind {
        "cursor" => metrics::counter!(MESSAGES_IN, "type" => "cursor").increment(1),
        "state" => metrics::counter!(MESSAGES_IN, "type" => "state").increment(1),
        "rename" => metrics::counter!(MESSAGES_IN, "type" => "rename").increment(1),
        "chat" => metrics::counter!(MESSAGES_IN, "type" => "chat").increment(1),
        _ => metrics::counter!(MESSAGES_IN, "type" => "join").increment(1),
    }
}

/// See [`count_in`].
pub fn count_out(kind: &'static str, n: u64) {
    match kind {
        "joined" => metrics::counter!(MESSAGES_OUT, "type" => "joined").increment(n),
        "left" => metrics::counter!(MESSAGES_OUT, "type" => "left").increment(n),
        "cursors" => metrics::counter!(MESSAGES_OUT, "type" => "cursors").increment(n),
        "state" => metrics::counter!(MESSAGES_OUT, "type" => "state").increment(n),
        "renamed" => metrics::counter!(MESSAGES_OUT, "type" => "renamed").increment(n),
        "chat" => metrics::counter!(MESSAGES_OUT, "type" => "chat").increment(n),
        _ => metrics::counter!(MESSAGES_OUT, "type" => "other").increment(n),
    }
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Folds histogram samples into buckets every [`UPKEEP_EVERY`]: the exporter keeps raw
/// samples until then, so without a scraper they would pile up (tens of MB a minute
/// under load). Runs until the runtime stops.
pub async fn upkeep() {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    loop {
        every.tick().await;
        handle().run_upkeep();
    }
}

/// `GET /metrics`.
pub async fn render() -> String {
    handle().render()
}
