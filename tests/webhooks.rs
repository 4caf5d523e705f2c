//! Webhooks to a real local HTTP receiver: it checks every signature, is down at first,
//! then answers 500 to the first tries, and still gets every event exactly once by id and
//! in order per room, also across a SIGKILL of Flock with events pending, and from a
//! two-node cluster (each event sent by one node, the survivor taking over from a killed one).

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::redis_server::RedisServer;
use common::{connect, eventually, health, metric, rooms, spawn_server, Client, Process};
use flock::protocol::metric_names::{WEBHOOKS_FAILED, WEBHOOKS_PENDING};
use flock::protocol::{ChatTarget, ClientMsg, ClusterInfo, ServerMsg};
use flock::server::webhooks::signature::{verify, HEADER};
use serde_json::Value;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

const SECRET: &str = "webhook-secret-of-at-least-32-bytes";

/// What the receiver saw.
#[derive(Default)]
struct Received {
    /// Every request, in arrival order.
    bodies: Vec<Value>,
    /// Requests whose signature did not verify.
    bad_signatures: usize,
    /// Requests still to answer with 500.
    fail_next: usize,
}

async fn receive(State(seen): State<Arc<Mutex<Received>>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let body = String::from_utf8_lossy(&body).into_owned();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let signed = headers.get(HEADER).and_then(|v| v.to_str().ok()).is_some_and(|h| verify(SECRET, h, &body, now, 300));
    let mut seen = seen.lock().unwrap();
    if !signed {
        seen.bad_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    seen.bodies.push(serde_json::from_str(&body).expect("a JSON body"));
    if seen.fail_next > 0 {
        seen.fail_next -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

/// Starts the receiver on `addr`, answering 500 to its first `fail` requests.
async fn receiver(addr: SocketAddr, fail: usize) -> Arc<Mutex<Received>> {
    let seen = Arc::new(Mutex::new(Received { fail_next: fail, ..Received::default() }));
    let app = Router::new().route("/hook", post(receive)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind the receiver's port again");
    tokio::spawn(async move { axum::serve(listener, app).await });
    seen
}

/// A port nothing listens on yet (the receiver takes it later).
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// Polls `check` until it holds, for at most `secs`: deliveries wait out the backoff
/// (1 s, 2 s, 4 s, … after each failed try), longer than `eventually` waits.
async fn within<F: std::future::Future<Output = bool>>(secs: u64, what: &str, mut check: impl FnMut() -> F) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Each event once (by id), in the order first received, as (room, type, detail).
fn delivered(seen: &Received) -> Vec<(String, String, String)> {
    let mut ids = HashSet::new();
    seen.bodies
        .iter()
        .filter(|b| ids.insert(b["id"].as_str().unwrap().to_owned()))
        .map(|b| {
            let detail = match b["type"].as_str().unwrap() {
                "chat.created" => b["data"]["text"].as_str().unwrap().to_owned(),
                "user.joined" | "user.left" => b["data"]["user"]["username"].as_str().unwrap().to_owned(),
                _ => String::new(),
            };
            (b["room"].as_str().unwrap().to_owned(), b["type"].as_str().unwrap().to_owned(), detail)
        })
        .collect()
}

#[tokio::test]
async fn every_event_arrives_once_signed_and_in_order_per_room_despite_failures_and_a_sigkill() {
    let hook = free_port();
    let url = format!("http://{hook}/hook");
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let envs = [("FLOCK_WEBHOOK_URL", url.as_str()), ("FLOCK_WEBHOOK_SECRET", SECRET)];
    let flock = spawn_server(&dir, &envs).await;
    let addr = flock.addr;

    let mut ann = connect(addr, "hooked", "ann").await;
    ann.send(&ClientMsg::Chat { text: "hello".into(), to: ChatTarget::Room, reference: Some("a1".into()) }).await;
    ann.recv_until(|m| matches!(m, ServerMsg::Ack { .. }).then_some(())).await;
    let bob = connect(addr, "hooked", "bob").await;
    bob.goodbye().await;
    ann.goodbye().await;
    let mut cat = connect(addr, "other", "cat").await;
    cat.send(&ClientMsg::Chat { text: "meow".into(), to: ChatTarget::Room, reference: Some("c1".into()) }).await;
    cat.recv_until(|m| matches!(m, ServerMsg::Ack { .. }).then_some(())).await;
    cat.goodbye().await;

    // The receiver is down: the tries fail, and every event waits in the outbox.
    eventually("a try failed", || async move { metric(addr, WEBHOOKS_FAILED).await.unwrap_or(0.0) >= 1.0 }).await;
    eventually("all 12 events are in the outbox", || async move { metric(addr, WEBHOOKS_PENDING).await == Some(12.0) })
        .await;
    flock.signal("KILL");
    flock.wait().await;

    let again = spawn_server(&dir, &envs).await;
    let seen = receiver(hook, 3).await;
    let check = seen.clone();
    within(60, "every event arrived", move || {
        let check = check.clone();
        async move { delivered(&check.lock().unwrap()).len() >= 12 }
    })
    .await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.bad_signatures, 0, "every request was signed");
    let all = delivered(&seen);
    let in_room = |room: &str| -> Vec<(String, String)> {
        all.iter().filter(|(r, ..)| r == room).map(|(_, kind, detail)| (kind.clone(), detail.clone())).collect()
    };
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter().map(|(k, d)| ((*k).to_owned(), (*d).to_owned())).collect()
    };
    assert_eq!(
        in_room("hooked"),
        pairs(&[
            ("room.occupied", ""),
            ("user.joined", "ann"),
            ("chat.created", "hello"),
            ("user.joined", "bob"),
            ("user.left", "bob"),
            ("user.left", "ann"),
            ("room.vacated", ""),
        ])
    );
    assert_eq!(
        in_room("other"),
        pairs(&[
            ("room.occupied", ""),
            ("user.joined", "cat"),
            ("chat.created", "meow"),
            ("user.left", "cat"),
            ("room.vacated", "")
        ])
    );
    let chat = seen.bodies.iter().find(|b| b["type"] == "chat.created").unwrap();
    assert_eq!((chat["data"]["seq"].as_u64(), chat["data"]["to"].as_str()), (Some(1), Some("room")));
    assert!(chat["ts"].as_u64().is_some_and(|ts| ts > 1_700_000_000_000), "ts in unix ms");
    drop(again);
}

#[tokio::test]
async fn webhook_settings_are_checked_at_start() {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let flock = env!("CARGO_BIN_EXE_flock");
    let cases: [&[(&str, &str)]; 4] = [
        &[("FLOCK_WEBHOOK_URL", "http://127.0.0.1:9/hook")],
        &[("FLOCK_WEBHOOK_SECRET", SECRET)],
        &[("FLOCK_WEBHOOK_URL", "ftp://example.com/x"), ("FLOCK_WEBHOOK_SECRET", SECRET)],
        &[
            ("FLOCK_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
            ("FLOCK_WEBHOOK_SECRET", SECRET),
            ("FLOCK_WEBHOOK_EVENTS", "chat.deleted"),
        ],
    ];
    for envs in cases {
        let output = std::process::Command::new(flock)
            .env("FLOCK_ADDR", "127.0.0.1:0")
            .env("FLOCK_DATA_DIR", &dir)
            .envs(envs.iter().copied())
            .output()
            .expect("run flock");
        assert!(!output.status.success(), "{envs:?} is refused");
        let said = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
        assert!(said.contains("webhook"), "{envs:?}: {said}");
    }
}

#[tokio::test]
async fn only_the_chosen_types_are_sent_and_an_event_never_taken_is_given_up_and_counted() {
    let hook = free_port();
    // The receiver refuses everything at first: the first event is given up after a second.
    let seen = receiver(hook, usize::MAX).await;
    let url = format!("http://{hook}/hook");
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let envs = [
        ("FLOCK_WEBHOOK_URL", url.as_str()),
        ("FLOCK_WEBHOOK_SECRET", SECRET),
        ("FLOCK_WEBHOOK_EVENTS", "chat.created"),
        ("FLOCK_WEBHOOK_GIVE_UP_SECS", "1"),
    ];
    let flock = spawn_server(&dir, &envs).await;
    let addr = flock.addr;
    let mut ann = connect(addr, "picky", "ann").await;
    let chat = |text: &str, reference: &str| ClientMsg::Chat {
        text: text.into(),
        to: ChatTarget::Room,
        reference: Some(reference.into()),
    };
    ann.send(&chat("first", "a1")).await;
    ann.recv_until(|m| matches!(m, ServerMsg::Ack { .. }).then_some(())).await;
    eventually("the first chat's event is given up", || async move {
        metric(addr, flock::protocol::metric_names::WEBHOOKS_DEAD).await.unwrap_or(0.0) >= 1.0
    })
    .await;
    seen.lock().unwrap().fail_next = 0;
    ann.send(&chat("second", "a2")).await;
    let check = seen.clone();
    within(60, "the next one is delivered", move || {
        let check = check.clone();
        async move { delivered(&check.lock().unwrap()).iter().any(|(_, _, text)| text == "second") }
    })
    .await;
    let seen = seen.lock().unwrap();
    let types: HashSet<&str> = seen.bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, HashSet::from(["chat.created"]), "no join or room events");
    assert!(seen.bodies.iter().filter(|b| b["data"]["text"] == "first").count() >= 2, "it was tried again first");
}

/// A cluster node on `redis` sending webhooks to `url`, once it is on the bus.
async fn cluster_node(redis: &RedisServer, url: &str) -> Process {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let bus = redis.url();
    let envs = [
        ("FLOCK_BUS", bus.as_str()),
        ("FLOCK_PRESENCE_TTL_SECS", "3"),
        ("FLOCK_WEBHOOK_URL", url),
        ("FLOCK_WEBHOOK_SECRET", SECRET),
    ];
    let node = spawn_server(&dir, &envs).await;
    let addr = node.addr;
    eventually("the node reaches Redis", || async move { health(addr).await == "ok" }).await;
    node
}

/// The node's id in the cluster.
async fn node_id(node: &Process) -> Uuid {
    let info: ClusterInfo =
        reqwest::get(format!("http://{}/api/cluster", node.addr)).await.unwrap().json().await.unwrap();
    info.nodes.into_iter().find(|n| n.here).and_then(|n| n.id).expect("a cluster node has an id")
}

/// Sends a chat and waits for its ack.
async fn chat(client: &mut Client, text: &str) {
    client.send(&ClientMsg::Chat { text: text.into(), to: ChatTarget::Room, reference: Some(text.into()) }).await;
    client.recv_until(|m| matches!(m, ServerMsg::Ack { reference, .. } if reference == text).then_some(())).await;
}

/// Waits until `client` has heard that `id` joined (or knew it from its welcome).
async fn sees_join(client: &mut Client, id: Uuid) {
    if !client.users.iter().any(|u| u.id == id) {
        client.recv_until(|m| matches!(m, ServerMsg::Joined { user } if user.id == id).then_some(())).await;
    }
}

#[tokio::test]
async fn a_cluster_sends_each_event_once_in_order_and_a_survivor_takes_over_from_a_killed_sender() {
    let redis = RedisServer::start().await;
    let hook = free_port();
    let url = format!("http://{hook}/hook");
    let (n1, n2) = (cluster_node(&redis, &url).await, cluster_node(&redis, &url).await);
    let lease = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let holder = |mut lease: redis::aio::MultiplexedConnection| async move {
        let id: Option<String> = redis::cmd("GET").arg("flock:webhooks:lease").query_async(&mut lease).await.unwrap();
        id.and_then(|id| id.parse::<Uuid>().ok())
    };
    let sending = |lease| async move { holder(lease).await.is_some() };
    let l = lease.clone();
    eventually("a node takes the webhook lease", move || sending(l.clone())).await;
    let sender_id = holder(lease.clone()).await.unwrap();
    let (sender, other) = if node_id(&n1).await == sender_id { (n1, n2) } else { (n2, n1) };
    assert_eq!(node_id(&sender).await, sender_id);
    let (on_sender, on_other) = (sender.addr, other.addr);

    // Ann on the sending node, Bob on the other, Dan on the sending node again: the
    // cluster's room has one `room.occupied`, one `user.joined` each, chats in seq order.
    let room = format!("hooked-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let mut ann = connect(on_sender, &room, "ann").await;
    let r = room.clone();
    eventually("the other node counts Ann", move || {
        let r = r.clone();
        async move { rooms(on_other).await.rooms.iter().any(|info| info.name == r && info.users == 1) }
    })
    .await;
    let mut bob = connect(on_other, &room, "bob").await;
    sees_join(&mut ann, bob.id).await;
    chat(&mut ann, "a1").await;
    chat(&mut bob, "b1").await;
    chat(&mut ann, "a2").await;
    let dan = connect(on_sender, &room, "dan").await;
    sees_join(&mut bob, dan.id).await;
    let bob_id = bob.id;
    bob.goodbye().await;
    ann.recv_until(|m| matches!(m, ServerMsg::Left { id } if *id == bob_id).then_some(())).await;

    // The receiver is down: only the sender tries, and all 8 events wait in the outbox.
    eventually("the sender tried", || async move { metric(on_sender, WEBHOOKS_FAILED).await.unwrap_or(0.0) >= 1.0 })
        .await;
    eventually("8 events wait", || async move { metric(on_other, WEBHOOKS_PENDING).await == Some(8.0) }).await;
    assert_eq!(metric(on_other, WEBHOOKS_FAILED).await.unwrap_or(0.0), 0.0, "the other node never tried");

    // Killed with its events pending (and Ann and Dan with it): the survivor takes the
    // lease, drops the dead node's users, and sends everything.
    sender.signal("KILL");
    sender.wait().await;
    drop((ann, dan));
    let seen = receiver(hook, 3).await;
    let check = seen.clone();
    within(90, "every event arrived", move || {
        let check = check.clone();
        async move { delivered(&check.lock().unwrap()).len() >= 11 }
    })
    .await;
    eventually("the outbox is empty", || async move { metric(on_other, WEBHOOKS_PENDING).await == Some(0.0) }).await;
    assert!(!rooms(on_other).await.rooms.iter().any(|info| info.name == room), "no ghosts in the lobby");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.bad_signatures, 0, "every request was signed");
    let all = delivered(&seen);
    assert_eq!(seen.bodies.len(), all.len() + 3, "each event sent once, but for the 3 refused tries");
    assert!(all.iter().all(|(r, ..)| *r == room), "{all:?}");
    let events: Vec<(&str, &str)> = all.iter().map(|(_, kind, detail)| (kind.as_str(), detail.as_str())).collect();
    assert_eq!(
        events[..8],
        [
            ("room.occupied", ""),
            ("user.joined", "ann"),
            ("user.joined", "bob"),
            ("chat.created", "a1"),
            ("chat.created", "b1"),
            ("chat.created", "a2"),
            ("user.joined", "dan"),
            ("user.left", "bob"),
        ]
    );
    let mut gone = events[8..10].to_vec();
    gone.sort();
    assert_eq!(gone, [("user.left", "ann"), ("user.left", "dan")], "the dead node's users left");
    assert_eq!(events[10..], [("room.vacated", "")]);
    let seqs: Vec<u64> = seen.bodies.iter().filter_map(|b| b["data"]["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]) && seqs.contains(&3), "chats by seq: {seqs:?}");
    drop(other);
}
