//! `cursors`: N users in one room, each moving at R Hz for D seconds.
//!
//! Each move encodes its number in `x` (k / 2^20, exact in binary and so in JSON), so a
//! receiver knows which send it is seeing and how long ago that send was; moves the
//! server coalesced away show up as skipped numbers, and every receiver must end with
//! every mover's last number (nothing dropped silently).

use crate::client::{connect_all, next_message, ConnectError, Next};
use crate::report::{await_senders, latency_histogram, Report, ServerProbe};
use crate::{pace, Common};
use flock::protocol::{ClientMsg, ServerMsg};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// Move numbers are encoded as x = k / SCALE.
const SCALE: f64 = (1u64 << 20) as f64;
/// How long receivers may take, after the last send, to see every final position.
const SETTLE: Duration = Duration::from_secs(5);

#[derive(clap::Args, Debug, Clone)]
pub struct Params {
    /// Users in the room, every one of them moving.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// Moves per second per user.
    #[arg(long, default_value_t = 30.0)]
    hz: f64,
    /// Seconds of moving.
    #[arg(long, default_value_t = 60)]
    secs: u64,
    /// The room to use.
    #[arg(long, default_value = "bench-cursors")]
    room: String,
    /// A move seen later than this after its send counts as late.
    #[arg(long, default_value_t = 100)]
    late_ms: u64,
    /// Receivers that decode every frame and time every move; the others read and discard
    /// (the server's work is the same). Decoding everything in large rooms costs the
    /// generator more CPU than the server spends, on a box they share. 0: all of them.
    #[arg(long, default_value_t = 0)]
    observers: usize,
    /// How the server sends `cursors` frames: `json` (the contract's default) or
    /// `compact` (binary, 24 bytes a move; `encoding=compact` at connect).
    #[arg(long, value_enum, default_value_t = Encoding::Json)]
    encoding: Encoding,
}

/// The `encoding` a benchmark connection asks for.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Compact,
}

/// What one receiver saw.
struct Tally {
    latency: Histogram<u64>,
    moves: u64,
    /// When the last move arrived, in nanoseconds after the plan's epoch.
    last_at: u64,
    frames: u64,
    late: u64,
    coalesced: u64,
    errors: u64,
    disconnected: bool,
    finals_seen: usize,
}

/// Shared by every task: who is who, and when each move was sent.
struct Plan {
    index: HashMap<Uuid, usize>,
    /// `sent_at[mover][k]`: nanoseconds after `epoch` at which move k was sent.
    sent_at: Vec<Vec<AtomicU64>>,
    epoch: Instant,
    total: u64,
    late_us: u64,
}

pub async fn run(common: &Common, params: Params) -> Result<Report, ConnectError> {
    let n = params.users;
    let progress = ProgressBar::new(n as u64).with_message("connecting");
    let room = params.room.clone();
    let encoding = match params.encoding {
        Encoding::Json => "",
        Encoding::Compact => "&encoding=compact",
    };
    let users = connect_all(common, n, |i| format!("room={room}&username=mover-{i}{encoding}"), &progress).await?;
    progress.finish_and_clear();

    let total = (params.hz * params.secs as f64).round() as u64;
    if total >= 1 << 20 {
        return Err(ConnectError::Usage(format!(
            "hz x secs must stay under {}: each move's number travels in x = k / 2^20",
            1u64 << 20
        )));
    }
    let plan = Arc::new(Plan {
        index: users.iter().enumerate().map(|(i, u)| (u.id, i)).collect(),
        sent_at: (0..n).map(|_| (0..=total).map(|_| AtomicU64::new(0)).collect()).collect(),
        epoch: Instant::now(),
        total,
        late_us: params.late_ms * 1000,
    });
    let probe = ServerProbe::start(&common.server_pid);
    let running = ProgressBar::new(params.secs).with_message("moving");
    let ticker = {
        let running = running.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.tick().await;
            loop {
                every.tick().await;
                running.inc(1);
            }
        })
    };
    // Receivers stop SETTLE after the last send (a starved sender may run past `secs`).
    let (stop_at, deadline) = tokio::sync::watch::channel(None);
    let observers = if params.observers == 0 { n } else { params.observers.min(n) };
    let mut movers = Vec::new();
    let mut receivers = Vec::new();
    let mut discarders = Vec::new();
    for (i, user) in users.into_iter().enumerate() {
        let (sink, stream) = user.split();
        let tick = pace::ticker(plan.epoch, Duration::from_secs_f64(1.0 / params.hz), i, n, common.in_phase);
        movers.push(tokio::spawn(mover(sink, i, n, tick, plan.clone())));
        if i < observers {
            receivers.push(tokio::spawn(receiver(stream, n, plan.clone(), deadline.clone())));
        } else {
            discarders.push(tokio::spawn(discard(stream, deadline.clone())));
        }
    }
    let (send_failures, moving_secs) = await_senders(movers, plan.epoch, &stop_at, SETTLE).await;
    let mut report = Report::with_probe("cursors", probe.as_ref());
    let mut all = latency_histogram();
    let (mut moves, mut frames, mut late, mut coalesced, mut errors, mut disconnects, mut complete) =
        (0, 0, 0, 0, 0, 0, 0);
    let mut last_at = 0;
    for receiver in receivers {
        let tally = receiver.await.expect("a receiver task");
        all.add(&tally.latency).expect("same histogram bounds");
        moves += tally.moves;
        last_at = last_at.max(tally.last_at);
        frames += tally.frames;
        late += tally.late;
        coalesced += tally.coalesced;
        errors += tally.errors;
        disconnects += usize::from(tally.disconnected);
        complete += usize::from(tally.finals_seen == n - 1);
    }
    let mut discarded_disconnects = 0;
    for discarder in discarders {
        discarded_disconnects += usize::from(discarder.await.unwrap_or(true));
    }
    ticker.abort();
    running.finish_and_clear();
    report.add("users", n);
    report.add("hz", params.hz);
    report.add("secs", params.secs);
    report.add("encoding", format!("{:?}", params.encoding).to_lowercase());
    report.add("moves_sent", total * n as u64);
    report.add("achieved_hz", ((total as f64 / moving_secs) * 10.0).round() / 10.0);
    report.latency("latency", &all);
    report.add("moves_delivered_to_observers", moves);
    // Over the time until the last delivery: moves that trail the sends count.
    let delivering_secs = (last_at as f64 / 1e9).max(moving_secs);
    report.add("moves_delivered_per_sec_to_observers", (moves as f64 / delivering_secs).round());
    report.add("frames_per_sec_to_observers", (frames as f64 / delivering_secs).round());
    report.add("moves_coalesced", coalesced);
    report.add(&format!("moves_late_over_{}ms", params.late_ms), late);
    report.add("errors", errors);
    report.add("observers", observers);
    report.add("disconnects", disconnects + discarded_disconnects);
    report.add("send_failures", send_failures);
    report.add("observers_with_every_final_position", format!("{complete}/{observers}"));
    Ok(report)
}

/// Sends `plan.total` moves at `hz`; false if the socket failed first.
async fn mover(
    mut sink: crate::client::Outgoing,
    me: usize,
    n: usize,
    mut tick: tokio::time::Interval,
    plan: Arc<Plan>,
) -> bool {
    let y = (me as f64 + 0.5) / n as f64;
    for k in 1..=plan.total {
        tick.tick().await;
        let x = k as f64 / SCALE;
        plan.sent_at[me][k as usize].store(plan.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let frame = serde_json::to_string(&ClientMsg::Cursor { x, y }).expect("a cursor move always serializes");
        if sink.send(Message::text(frame)).await.is_err() {
            return false;
        }
    }
    true
}

/// Reads and drops frames until the deadline; true if the socket ended first.
async fn discard(
    mut stream: crate::client::Incoming,
    mut deadline: tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
) -> bool {
    loop {
        tokio::select! {
            next = stream.next() => if !matches!(next, Some(Ok(_))) { return true },
            () = crate::report::until(&mut deadline) => return false,
        }
    }
}

/// Reads until every other mover's final move arrived, or the deadline.
async fn receiver(
    mut stream: crate::client::Incoming,
    n: usize,
    plan: Arc<Plan>,
    mut deadline: tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
) -> Tally {
    let mut tally = Tally {
        latency: latency_histogram(),
        moves: 0,
        last_at: 0,
        frames: 0,
        late: 0,
        coalesced: 0,
        errors: 0,
        disconnected: false,
        finals_seen: 0,
    };
    let mut last_k = vec![0u64; n];
    while tally.finals_seen < n - 1 {
        let msg = match next_message(&mut stream, &mut deadline).await {
            Next::Message(msg) => msg,
            Next::Deadline => break,
            Next::Ended => {
                tally.disconnected = true;
                break;
            }
        };
        let now = plan.epoch.elapsed().as_nanos() as u64;
        match msg {
            ServerMsg::Cursors { moves } => {
                tally.frames += 1;
                for mv in moves {
                    let Some(&who) = plan.index.get(&mv.id) else { continue };
                    let k = (mv.x * SCALE).round() as u64;
                    if k == 0 || k > plan.total || k <= last_k[who] {
                        continue;
                    }
                    tally.moves += 1;
                    tally.last_at = now;
                    tally.coalesced += k - last_k[who] - 1;
                    last_k[who] = k;
                    if k == plan.total {
                        tally.finals_seen += 1;
                    }
                    let sent = plan.sent_at[who][k as usize].load(Ordering::Relaxed);
                    let us = now.saturating_sub(sent) / 1000;
                    let _ = tally.latency.record(us.max(1));
                    if us > plan.late_us {
                        tally.late += 1;
                    }
                }
            }
            ServerMsg::Error { .. } => tally.errors += 1,
            _ => {}
        }
    }
    tally
}
