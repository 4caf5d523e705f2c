//! `idle`: many quiet connections. Measures the connect rate and, with `--server-pid`, the
//! server's resident memory per connection.

use crate::client::connect_all;
use crate::report::{rss_kib, Report};
use crate::Common;
use futures_util::StreamExt;
use indicatif::ProgressBar;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Params {
    /// Connections to open.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Rooms to spread them over.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Seconds to hold them open once all are connected.
    #[arg(long, default_value_t = 5)]
    hold_secs: u64,
}

pub async fn run(common: &Common, params: Params) -> Result<Report, crate::client::ConnectError> {
    let rss_before = crate::report::total(&common.server_pid, rss_kib);
    let progress = ProgressBar::new(params.connections as u64).with_message("connecting");
    let started = Instant::now();
    let rooms = params.rooms.max(1);
    let connected =
        connect_all(common, params.connections, |n| format!("room=idle-{}&username=idle-{n}", n % rooms), &progress)
            .await?;
    let connect_secs = started.elapsed().as_secs_f64();
    progress.finish_and_clear();
    // Every connection keeps reading (pings, joins), as a real client would.
    let readers: Vec<_> =
        connected.into_iter().map(|c| tokio::spawn(async move { c.split().1.for_each(|_| async {}).await })).collect();
    tokio::time::sleep(Duration::from_secs(params.hold_secs)).await;
    let rss_after = crate::report::total(&common.server_pid, rss_kib);

    let mut report = Report::new("idle");
    report.add("connections", params.connections);
    report.add("rooms", rooms);
    report.add("connect_secs", (connect_secs * 100.0).round() / 100.0);
    report.add("connects_per_sec", (params.connections as f64 / connect_secs).round());
    let still_open = readers.iter().filter(|r| !r.is_finished()).count();
    report.add("still_open", still_open);
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        report.add("server_rss_before_kib", before);
        report.add("server_rss_after_kib", after);
        let per = (after.saturating_sub(before) as f64 * 1024.0) / params.connections as f64;
        report.add("server_bytes_per_connection", per.round());
    }
    for reader in readers {
        reader.abort();
    }
    Ok(report)
}
