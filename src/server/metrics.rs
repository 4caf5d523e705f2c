//! What the hub counts, exported at `GET /metrics` in Prometheus text format.
//!
//! The `metrics` macros are called where things happen (socket loop, fan-out, outbox);
//! this module installs the one process-wide recorder. Every metric's name is in
//! [`crate::protocol::metric_names`], the whole catalogue.

use crate::protocol::{ClientKind, ServerKind};
use metrics::Counter;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

pub use crate::protocol::metric_names::*;

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
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(STORE_BATCH.into()), &[1.0, 2.0, 4.0, 16.0, 64.0, 256.0, 1024.0])
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(STORE_COMMIT_SECONDS.into()),
                    &[1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0],
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

/// Counts one client message of `kind`.
pub fn count_in(kind: ClientKind) {
    static COUNTERS: OnceLock<Vec<Counter>> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        handle();
        ClientKind::ALL.iter().map(|k| metrics::counter!(MESSAGES_IN, "type" => k.as_str())).collect()
    });
    counters[kind as usize].increment(1);
}

/// Counts `n` server messages of `kind` fanned out.
pub fn count_out(kind: ServerKind, n: u64) {
    static COUNTERS: OnceLock<Vec<Counter>> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        handle();
        ServerKind::ALL.iter().map(|k| metrics::counter!(MESSAGES_OUT, "type" => k.as_str())).collect()
    });
    counters[kind as usize].increment(n);
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
