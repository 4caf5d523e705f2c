//! `chat`: M rooms of K users, each sending chats to its whole room at R messages per
//! second. Every chat's text names its sender and number, so each receipt is matched to
//! its send: delivery rate, latency, and anything missing after the run.

use crate::client::{connect_all, next_message, ConnectError, Next};
use crate::report::{await_senders, latency_histogram, Report, ServerProbe};
use crate::{pace, Common};
use flock::protocol::{ChatTarget, ClientMsg, ServerMsg};
use futures_util::SinkExt;
use indicatif::ProgressBar;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// How long receivers may take, after the last send, to get every chat.
pub const SETTLE: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug, Clone)]
pub struct Params {
    /// Rooms.
    #[arg(long, default_value_t = 100)]
    rooms: usize,
    /// Users per room.
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// Chats per second per user.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds of chatting.
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// Room names are `<prefix>-<n>`; change it to start from empty histories.
    #[arg(long, default_value = "bench-chat")]
    room_prefix: String,
}

pub struct Plan {
    /// `sent_at[user][k]`: nanoseconds after `epoch` at which chat k was sent.
    sent_at: Vec<Vec<AtomicU64>>,
    pub epoch: Instant,
    total: u64,
}

pub struct Tally {
    /// Each delivery's latency in microseconds, folded into one histogram after the run:
    /// a histogram per receiver (about 240 KiB each) would mean gigabytes to zero at the
    /// start of a 10,000-user run, stalling the generator exactly when chatting starts.
    pub latency_us: Vec<u64>,
    pub delivered: u64,
    /// When the last delivery arrived, in nanoseconds after the plan's epoch.
    pub last_at: u64,
    pub errors: u64,
    pub disconnected: bool,
}

pub async fn run(common: &Common, params: Params) -> Result<Report, ConnectError> {
    let (rooms, k) = (params.rooms.max(1), params.users.max(1));
    let n = rooms * k;
    let progress = ProgressBar::new(n as u64).with_message("connecting");
    let prefix = params.room_prefix.clone();
    let users = connect_all(common, n, |i| format!("room={prefix}-{}&username=chatter-{i}", i / k), &progress).await?;
    progress.finish_and_clear();

    let total = (params.rate * params.secs as f64).round() as u64;
    let plan = Arc::new(Plan::new(n, total));
    let probe = ServerProbe::start(&common.server_pid);
    let running = ProgressBar::new_spinner().with_message("chatting");
    running.enable_steady_tick(Duration::from_millis(200));
    // Receivers stop SETTLE after the last send (a starved sender may run past `secs`).
    let (stop_at, deadline) = tokio::sync::watch::channel(None);
    let expected_each = total * k as u64;
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (i, user) in users.into_iter().enumerate() {
        let (sink, stream) = user.split();
        let tick = pace::ticker(plan.epoch, Duration::from_secs_f64(1.0 / params.rate), i, n, common.in_phase);
        senders.push(tokio::spawn(sender(sink, i, tick, plan.clone())));
        receivers.push(tokio::spawn(receiver(stream, expected_each, plan.clone(), deadline.clone())));
    }
    let (send_failures, sending_secs) = await_senders(senders, plan.epoch, &stop_at, SETTLE).await;
    let mut report = Report::with_probe("chat", probe.as_ref());
    let Gathered { latency: all, delivered, last_at, errors, disconnects } = gather(receivers).await;
    running.finish_and_clear();
    report.add("rooms", rooms);
    report.add("users_per_room", k);
    report.add("rate_per_user", params.rate);
    report.add("secs", params.secs);
    report.add("chats_sent", total * n as u64);
    report.add("deliveries", delivered);
    report.add("deliveries_missing", (expected_each * n as u64).saturating_sub(delivered));
    // Over the time until the last delivery: deliveries that trail the sends count.
    let delivering_secs = (last_at as f64 / 1e9).max(sending_secs);
    report.add("sending_secs", (sending_secs * 10.0).round() / 10.0);
    report.add("deliveries_per_sec", (delivered as f64 / delivering_secs).round());
    if let Some(cpu) = probe.as_ref().and_then(ServerProbe::server_cpu).filter(|_| delivered > 0) {
        // What a bigger machine would need per delivery: CPU, not this box's cores.
        report.add("server_cpu_us_per_delivery", (cpu.as_secs_f64() * 1e6 / delivered as f64 * 100.0).round() / 100.0);
    }
    report.latency("latency", &all);
    report.add("errors", errors);
    report.add("disconnects", disconnects);
    report.add("send_failures", send_failures);
    Ok(report)
}

/// Every receiver's tally, added up.
pub struct Gathered {
    pub latency: hdrhistogram::Histogram<u64>,
    pub delivered: u64,
    /// When the last delivery of all arrived, in nanoseconds after the plan's epoch.
    pub last_at: u64,
    pub errors: u64,
    pub disconnects: usize,
}

/// Waits for every receiver and adds up what they counted.
pub async fn gather(receivers: Vec<tokio::task::JoinHandle<Tally>>) -> Gathered {
    let mut all = Gathered { latency: latency_histogram(), delivered: 0, last_at: 0, errors: 0, disconnects: 0 };
    for receiver in receivers {
        let tally = receiver.await.expect("a receiver task");
        for us in tally.latency_us {
            let _ = all.latency.record(us);
        }
        all.delivered += tally.delivered;
        all.last_at = all.last_at.max(tally.last_at);
        all.errors += tally.errors;
        all.disconnects += usize::from(tally.disconnected);
    }
    all
}

impl Plan {
    /// A plan for `n` users each sending `total` chats, starting now.
    pub fn new(n: usize, total: u64) -> Self {
        Plan {
            sent_at: (0..n).map(|_| (0..=total).map(|_| AtomicU64::new(0)).collect()).collect(),
            epoch: Instant::now(),
            total,
        }
    }
}

/// Sends user `me`'s chats to its room, one per tick: the text is `me:k`.
pub async fn sender(
    mut sink: crate::client::Outgoing,
    me: usize,
    mut tick: tokio::time::Interval,
    plan: Arc<Plan>,
) -> bool {
    for k in 1..=plan.total {
        tick.tick().await;
        plan.sent_at[me][k as usize].store(plan.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let chat = ClientMsg::chat(format!("{me}:{k}"), ChatTarget::Room);
        let frame = serde_json::to_string(&chat).expect("a chat always serializes");
        if sink.send(Message::text(frame)).await.is_err() {
            return false;
        }
    }
    true
}

/// Reads until `expected` chats of the plan's senders have arrived (anything else is
/// skipped, other senders' chats included) or the deadline passes.
pub async fn receiver(
    mut stream: crate::client::Incoming,
    expected: u64,
    plan: Arc<Plan>,
    mut deadline: tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
) -> Tally {
    let latency_us = Vec::with_capacity((expected as usize).min(4096));
    let mut tally = Tally { latency_us, delivered: 0, last_at: 0, errors: 0, disconnected: false };
    while tally.delivered < expected {
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
            ServerMsg::Chat(chat) => {
                let Some((who, k)) = chat.text.split_once(':') else { continue };
                let (Ok(who), Ok(k)) = (who.parse::<usize>(), k.parse::<usize>()) else { continue };
                let Some(sent) = plan.sent_at.get(who).and_then(|s| s.get(k)) else { continue };
                tally.delivered += 1;
                tally.last_at = now;
                let us = now.saturating_sub(sent.load(Ordering::Relaxed)) / 1000;
                tally.latency_us.push(us.max(1));
            }
            ServerMsg::Error { .. } => tally.errors += 1,
            _ => {}
        }
    }
    tally
}
