//! `abuse`: the attacks an open server meets, all from one address, while an honest room
//! chats. Attackers never read what the server sends them, and each one that is cut off
//! comes back (as fast as the server lets it). Four kinds take turns:
//!
//! - **amplifiers** fill a room of their own with large chats, then `join` it over and
//!   over, asking for one full `welcome` after another;
//! - **state flooders** sit in the honest room and send large `state` objects as fast as
//!   they can, so every honest member's queue would fill;
//! - **chat flooders** send the largest chats in the honest room as fast as they can;
//! - **room hoppers** `join` a new room with every frame.
//!
//! Beside them, `--half-open` connections send half a request and hold it (slowloris).
//! The honest users connect from addresses of their own (127.0.0.10, .11, …) and chat as
//! the `chat` scenario does; the figures say whether any of them was cut off or missed a
//! chat, and the server's peak memory against the budget of 64 MiB plus 8 KiB per
//! connection.

use crate::chat::{gather, receiver, sender, Gathered, Plan, SETTLE};
use crate::client::{connect_from, ConnectError};
use crate::report::{await_senders, rss_kib, Report, ServerProbe};
use crate::{pace, Common};
use flock::protocol::{ChatTarget, ClientMsg, UserState};
use futures_util::SinkExt;
use indicatif::ProgressBar;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

/// Where every attack comes from.
const ATTACKER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// The first honest user's address; user i is at .(10 + i).
const FIRST_HONEST: u8 = 10;
/// The memory budget: a fixed part, and a part per connection.
const BUDGET_BASE_KIB: u64 = 64 * 1024;
const BUDGET_PER_CONNECTION_KIB: u64 = 8;
/// Characters of an attacker's chat: the most the contract allows, each three bytes of
/// UTF-8.
const BIG_CHAT_CHARS: usize = 2000;
/// Bytes of padding in an attacker's `state` (the contract allows 4096 in all).
const BIG_STATE_BYTES: usize = 4000;
/// Chats an amplifier puts in its room before it starts asking for welcomes.
const AMPLIFIER_CHATS: usize = 60;

#[derive(clap::Args, Debug, Clone)]
pub struct Params {
    /// Attacking WebSocket connections, all from 127.0.0.1.
    #[arg(long, default_value_t = 64)]
    attackers: usize,
    /// Frames per second each attacker sends (it never reads).
    #[arg(long, default_value_t = 200.0)]
    attack_rate: f64,
    /// Half-sent HTTP requests held open from the attacker's address. They count against
    /// its pending HTTP connections (`--max-pending-per-ip`, 32), as its upgrades do: at 32
    /// the attacker locks its own WebSockets out.
    #[arg(long, default_value_t = 16)]
    half_open: usize,
    /// Honest users in the honest room, each from an address of its own (at most 200).
    #[arg(long, default_value_t = 10)]
    users: usize,
    /// Chats per second per honest user.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds of chatting.
    #[arg(long, default_value_t = 30)]
    secs: u64,
    /// Room names start with this; change it to start from empty histories.
    #[arg(long, default_value = "bench-abuse")]
    room_prefix: String,
}

/// What the attackers achieved, counted as they go.
#[derive(Default)]
struct Attack {
    frames: AtomicU64,
    connects: AtomicU64,
    refused: AtomicU64,
    cut_off: AtomicU64,
    half_open_closed: AtomicU64,
    stop: AtomicBool,
}

pub async fn run(common: &Common, params: Params) -> Result<Report, ConnectError> {
    let k = params.users.clamp(1, 200);
    let room = format!("{}-room", params.room_prefix);
    let honest = futures_util::future::try_join_all((0..k).map(|i| {
        let source = Ipv4Addr::new(127, 0, 0, FIRST_HONEST + i as u8);
        connect_from(common, i, source, format!("room={room}&username=honest-{i}"))
    }))
    .await?;

    let total = (params.rate * params.secs as f64).round() as u64;
    let plan = Arc::new(Plan::new(k, total));
    let probe = ServerProbe::start(&common.server_pid);
    let running = ProgressBar::new_spinner().with_message("chatting under attack");
    running.enable_steady_tick(Duration::from_millis(200));
    // The honest users read from the start, before any attack begins.
    let (stop_at, deadline) = tokio::sync::watch::channel(None);
    let (mut senders, mut receivers) = (Vec::new(), Vec::new());
    for (i, user) in honest.into_iter().enumerate() {
        let (sink, stream) = user.split();
        let tick = pace::ticker(plan.epoch, Duration::from_secs_f64(1.0 / params.rate), i, k, common.in_phase);
        senders.push(tokio::spawn(sender(sink, i, tick, plan.clone())));
        receivers.push(tokio::spawn(receiver(stream, total * k as u64, plan.clone(), deadline.clone())));
    }
    let attack = Arc::new(Attack::default());
    let peak = Arc::new(AtomicU64::new(0));
    let watcher =
        common.server_pid.first().copied().map(|pid| tokio::spawn(watch_rss(pid, peak.clone(), attack.clone())));
    let mut attackers = Vec::new();
    for a in 0..params.attackers {
        let (common, params, attack) = (common.clone(), params.clone(), attack.clone());
        attackers.push(tokio::spawn(async move { attacker(&common, &params, a, &attack).await }));
    }
    for h in 0..params.half_open {
        let (server, attack) = (common.server[h % common.server.len().max(1)], attack.clone());
        attackers.push(tokio::spawn(async move { half_open(server, &attack).await }));
    }

    let (send_failures, _) = await_senders(senders, plan.epoch, &stop_at, SETTLE).await;
    let mut report = Report::with_probe("abuse", probe.as_ref());
    let Gathered { latency, delivered, disconnects, .. } = gather(receivers).await;
    attack.stop.store(true, Ordering::Relaxed);
    for task in attackers {
        task.abort();
    }
    if let Some(watcher) = watcher {
        watcher.abort();
    }
    running.finish_and_clear();

    let connections = (params.attackers + params.half_open + k) as u64;
    let budget = BUDGET_BASE_KIB + BUDGET_PER_CONNECTION_KIB * connections;
    report.add("attackers", params.attackers);
    report.add("half_open", params.half_open);
    report.add("attack_frames", attack.frames.load(Ordering::Relaxed));
    report.add("attacker_connects", attack.connects.load(Ordering::Relaxed));
    report.add("attacker_upgrades_refused", attack.refused.load(Ordering::Relaxed));
    report.add("attackers_cut_off", attack.cut_off.load(Ordering::Relaxed));
    report.add("half_open_closed", attack.half_open_closed.load(Ordering::Relaxed));
    report.add("honest_users", k);
    report.add("honest_chats_sent", total * k as u64);
    report.add("deliveries_missing", (total * (k * k) as u64).saturating_sub(delivered));
    report.latency("latency", &latency);
    report.add("honest_disconnects", disconnects);
    report.add("send_failures", send_failures);
    if !common.server_pid.is_empty() {
        report.add("server_rss_peak_kib", peak.load(Ordering::Relaxed));
        report.add("rss_budget_kib", budget);
    }
    Ok(report)
}

/// One attacker's life: connect (again and again), attack, never read.
async fn attacker(common: &Common, params: &Params, a: usize, attack: &Attack) {
    let period = Duration::from_secs_f64(1.0 / params.attack_rate.max(0.1));
    let mut round = 0usize;
    while !attack.stop.load(Ordering::Relaxed) {
        round += 1;
        let room = match a % 4 {
            0 => format!("{}-amp-{a}", params.room_prefix),
            3 => format!("{}-hop-{a}-{round}", params.room_prefix),
            _ => format!("{}-room", params.room_prefix),
        };
        let query = format!("room={room}&username=attacker-{a}");
        let connected = match connect_from(common, a, ATTACKER, query).await {
            Ok(connected) => connected,
            Err(_) => {
                attack.refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        attack.connects.fetch_add(1, Ordering::Relaxed);
        // The stream is kept, unread: what the server sends piles up on its side.
        let (mut sink, _unread) = connected.split();
        let mut tick = tokio::time::interval(period);
        for n in 0usize.. {
            tick.tick().await;
            let frame = attack_frame(a, n, &room, &params.room_prefix);
            if sink.send(Message::text(frame)).await.is_err() {
                attack.cut_off.fetch_add(1, Ordering::Relaxed);
                break;
            }
            attack.frames.fetch_add(1, Ordering::Relaxed);
            if attack.stop.load(Ordering::Relaxed) {
                return;
            }
        }
    }
}

/// Attacker `a`'s `n`th frame.
fn attack_frame(a: usize, n: usize, room: &str, prefix: &str) -> String {
    let big_chat = || ClientMsg::chat("€".repeat(BIG_CHAT_CHARS), ChatTarget::Room);
    let msg = match a % 4 {
        0 if n < AMPLIFIER_CHATS => big_chat(),
        0 => ClientMsg::join(room.to_owned()),
        1 => {
            let mut state = UserState::new();
            state.insert("pad".into(), format!("{n}{}", "x".repeat(BIG_STATE_BYTES)).into());
            ClientMsg::State { state }
        }
        2 => big_chat(),
        _ => ClientMsg::join(format!("{prefix}-hop-{a}-x{n}")),
    };
    serde_json::to_string(&msg).expect("a client message always serializes")
}

/// Sends half a request and holds it; when the server closes it, starts again.
async fn half_open(server: SocketAddr, attack: &Attack) {
    while !attack.stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = open_from(ATTACKER, server).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        if tcp.write_all(b"GET / HTTP/1.1\r\nHost: flock\r\n").await.is_err() {
            continue;
        }
        let mut buf = [0u8; 512];
        // Holds until the server answers or closes: either ends the connection.
        let _ = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await;
        attack.half_open_closed.fetch_add(1, Ordering::Relaxed);
    }
}

async fn open_from(source: Ipv4Addr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source.into(), 0))?;
    socket.connect(server).await
}

/// Samples the server's resident memory every 50 ms and keeps the peak.
async fn watch_rss(pid: u32, peak: Arc<AtomicU64>, attack: Arc<Attack>) {
    while !attack.stop.load(Ordering::Relaxed) {
        if let Some(rss) = rss_kib(pid) {
            peak.fetch_max(rss, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
