//! Several real `flock` processes sharing rooms through a real Redis (`--bus`): every
//! message kind crosses nodes, a killed node's users leave and resume elsewhere, and a
//! Redis outage loses nothing that was acknowledged.

mod common;

use common::redis_server::RedisServer;
use common::tcp_proxy::TcpProxy;
use common::{connect, eventually, health, resume, spawn_server, Client, Process};
use flock::protocol::{close, ChatTarget, ClientMsg, ErrorCode, ServerMsg, UserState};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Presence TTL for these tests: short, so a dead node is noticed quickly.
const TTL_SECS: u64 = 3;

/// A node of the cluster on `redis`, with a store of its own; returns once it is on the bus.
async fn node(redis: &RedisServer) -> Process {
    node_with(redis, &[]).await
}

/// [`node`] with more settings.
async fn node_with(redis: &RedisServer, extra: &[(&str, &str)]) -> Process {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let ttl = TTL_SECS.to_string();
    let (url, mut envs) = (redis.url(), extra.to_vec());
    envs.extend([("FLOCK_BUS", url.as_str()), ("FLOCK_PRESENCE_TTL_SECS", ttl.as_str())]);
    let node = spawn_server(&dir, &envs).await;
    let addr = node.addr;
    eventually("the node reaches Redis", || async move { health(addr).await == "ok" }).await;
    node
}

/// A room name no other test uses.
fn fresh_room() -> String {
    format!("c-{}", &Uuid::new_v4().simple().to_string()[..12])
}

/// Waits until `client` knows `id` is in the room (from its welcome or a later `joined`).
async fn sees(client: &mut Client, id: Uuid) {
    if !client.users.iter().any(|u| u.id == id) {
        client.recv_until(|m| matches!(m, ServerMsg::Joined { user } if user.id == id).then_some(())).await;
    }
}

/// Sends a chat with `reference` and returns its ack's seq (failing on an `error`).
async fn chat_acked(client: &mut Client, text: &str, to: ChatTarget, reference: &str) -> u64 {
    chat_acked_seeing(client, text, to, reference).await.0
}

/// [`chat_acked`], also returning what arrived before the ack.
async fn chat_acked_seeing(client: &mut Client, text: &str, to: ChatTarget, reference: &str) -> (u64, Vec<ServerMsg>) {
    client.send(&ClientMsg::Chat { text: text.into(), to, reference: Some(reference.into()) }).await;
    client
        .recv_until(|m| match m {
            ServerMsg::Ack { reference: r, seq } if r == reference => Some(*seq),
            ServerMsg::Error { reference: Some(r), message, .. } if r == reference => panic!("refused: {message}"),
            _ => None,
        })
        .await
}

/// Waits for the chat with `text` and returns its seq.
async fn chat_seq(client: &mut Client, text: &str) -> u64 {
    client.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == text).then(|| chat_of(m).seq)).await.0
}

fn chat_of(msg: &ServerMsg) -> &flock::protocol::ChatMessage {
    match msg {
        ServerMsg::Chat(chat) => chat,
        _ => unreachable!("only called on chats"),
    }
}

/// Two nodes on one Redis, Ann on node 1 and Bob on node 2 in one room, each seeing the other.
struct Pair {
    redis: RedisServer,
    n1: Process,
    n2: Process,
    room: String,
    ann: Client,
    bob: Client,
}

impl Pair {
    async fn start() -> Pair {
        let redis = RedisServer::start().await;
        let (n1, n2) = (node(&redis).await, node(&redis).await);
        let room = fresh_room();
        let mut ann = connect(n1.addr, &room, "ann").await;
        let mut bob = connect(n2.addr, &room, "bob").await;
        sees(&mut bob, ann.id).await;
        sees(&mut ann, bob.id).await;
        Pair { redis, n1, n2, room, ann, bob }
    }
}

fn texts(msgs: &[ServerMsg]) -> Vec<String> {
    msgs.iter().filter(|&m| matches!(m, ServerMsg::Chat(_))).map(|m| chat_of(m).text.clone()).collect()
}

#[tokio::test]
async fn every_message_kind_crosses_nodes_and_rooms_stay_apart() {
    let Pair { redis: _redis, n1, n2, room, mut ann, mut bob } = Pair::start().await;
    let mut cat = connect(n2.addr, &room, "cat").await;
    sees(&mut cat, ann.id).await;
    sees(&mut ann, cat.id).await;
    assert_eq!(
        common::rooms(n1.addr).await.rooms.iter().find(|r| r.name == room).map(|r| r.users),
        Some(3),
        "/api/rooms counts the users of every node"
    );
    let mut dan = connect(n2.addr, &fresh_room(), "dan").await;
    let cluster: serde_json::Value =
        reqwest::get(format!("http://{}/api/cluster", n2.addr)).await.unwrap().json().await.unwrap();
    assert_eq!(cluster["bus"], "up");
    let nodes = cluster["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2, "both nodes are listed: {cluster}");
    assert_eq!(nodes[0]["here"], true);

    bob.send(&ClientMsg::Cursor { x: 0.25, y: 0.75 }).await;
    let (mv, _) = ann
        .recv_until(|m| match m {
            ServerMsg::Cursors { moves } => moves.iter().find(|mv| mv.id == bob.id).copied(),
            _ => None,
        })
        .await;
    assert_eq!((mv.x, mv.y), (0.25, 0.75));

    let state: UserState = serde_json::from_value(json!({"mood": "busy"})).unwrap();
    ann.send(&ClientMsg::State { state: state.clone() }).await;
    let (got, _) =
        bob.recv_until(|m| matches!(m, ServerMsg::State { id, .. } if *id == ann.id).then(|| m.clone())).await;
    assert_eq!(got, ServerMsg::State { id: ann.id, state });

    bob.send(&ClientMsg::Rename { username: "robert".into() }).await;
    ann.recv_until(|m| {
        matches!(m, ServerMsg::Renamed { id, username } if *id == bob.id && username == "robert").then_some(())
    })
    .await;

    // Chats of every target, numbered by one counter for the room whichever node takes them.
    let (s1, mut seen_by_ann) = chat_acked_seeing(&mut ann, "to all", ChatTarget::Room, "a1").await;
    let (s2, mut seen_by_bob) = chat_acked_seeing(&mut bob, "to the others", ChatTarget::Others, "b1").await;
    let (s3, more) = chat_acked_seeing(&mut ann, "to bob only", ChatTarget::User(bob.id), "a2").await;
    seen_by_ann.extend(more);
    assert_eq!((s2, s3), (s1 + 1, s1 + 2), "seqs are gap-free across nodes");
    seen_by_bob.extend(bob.drain().await);
    seen_by_ann.extend(ann.drain().await);
    let seen_by_cat = cat.drain().await;
    let real = |msgs: &[ServerMsg]| texts(msgs).into_iter().filter(|t| !t.starts_with("marker")).collect::<Vec<_>>();
    assert_eq!(real(&seen_by_ann), ["to all", "to the others", "to bob only"]);
    assert_eq!(real(&seen_by_bob), ["to all", "to bob only"], "an others chat skips its sender");
    assert_eq!(real(&seen_by_cat), ["to all", "to the others"], "cat gets no direct message");

    // App events cross nodes too, to each audience; a later `room` event from the same
    // node comes after a direct one, so cat seeing it first shows the direct one skipped cat.
    ann.send(&ClientMsg::Event { name: "typing".into(), data: json!({"n": 1}), to: ChatTarget::Others }).await;
    ann.send(&ClientMsg::Event { name: "poke".into(), data: json!(null), to: ChatTarget::User(bob.id) }).await;
    ann.send(&ClientMsg::Event { name: "wave".into(), data: json!([1]), to: ChatTarget::Room }).await;
    let event_names = |msgs: Vec<ServerMsg>| -> Vec<String> {
        msgs.into_iter()
            .filter_map(|m| match m {
                ServerMsg::Event { name, from, .. } if from == Some(ann.id) => Some(name),
                _ => None,
            })
            .collect()
    };
    let is_wave = |m: &ServerMsg| matches!(m, ServerMsg::Event { name, .. } if name == "wave").then_some(());
    let ((), before) = bob.recv_until(is_wave).await;
    assert_eq!(event_names(before), ["typing", "poke"]);
    let ((), before) = cat.recv_until(is_wave).await;
    assert_eq!(event_names(before), ["typing"], "cat gets no direct event");

    let seen_by_dan = dan.drain().await;
    assert!(
        seen_by_dan.iter().all(|m| !matches!(
            m,
            ServerMsg::Chat(_) | ServerMsg::Joined { .. } | ServerMsg::Cursors { .. } | ServerMsg::Event { .. }
        )),
        "another room hears nothing: {seen_by_dan:?}"
    );

    let bob_id = bob.id;
    bob.goodbye().await;
    ann.recv_until(|m| matches!(m, ServerMsg::Left { id } if *id == bob_id).then_some(())).await;
}

#[tokio::test]
async fn a_killed_nodes_users_leave_within_the_ttl_and_resume_on_a_survivor_missing_nothing() {
    let Pair { redis: _redis, n1, n2, room, mut ann, mut bob } = Pair::start().await;
    chat_acked(&mut bob, "from bob", ChatTarget::Room, "b1").await;
    chat_acked(&mut ann, "from ann", ChatTarget::Room, "a1").await;
    let last_seen = chat_seq(&mut bob, "from ann").await;

    n2.signal("KILL");
    let killed = Instant::now();
    let while_down = chat_acked(&mut ann, "while bob's node is down", ChatTarget::Room, "a2").await;
    let direct = chat_acked(&mut ann, "for bob", ChatTarget::User(bob.id), "a3").await;
    let mut left = false;
    while !left {
        let msg = tokio::time::timeout(Duration::from_secs(TTL_SECS + 2), ann.recv()).await.expect("bob never left");
        left = matches!(msg, ServerMsg::Left { id } if id == bob.id);
    }
    let after = killed.elapsed();
    assert!(after <= Duration::from_secs(TTL_SECS) + Duration::from_millis(700), "left after {after:?}");

    let back = resume(n1.addr, &room, &bob.session, last_seen).await;
    assert_eq!(back.id, bob.id, "the session is known on every node");
    let replayed: Vec<(u64, &str)> = back.history.iter().map(|c| (c.seq, c.text.as_str())).collect();
    assert_eq!(replayed, [(while_down, "while bob's node is down"), (direct, "for bob")]);
    sees(&mut ann, bob.id).await;
}

#[tokio::test]
async fn a_redis_outage_keeps_local_rooms_flowing_and_loses_no_acknowledged_chat() {
    let mut redis = RedisServer::start().await;
    let (n1, n2) = (node(&redis).await, node(&redis).await);
    let room = fresh_room();
    let mut ann = connect(n1.addr, &room, "ann").await;
    let mut cat = connect(n1.addr, &room, "cat").await;
    let mut bob = connect(n2.addr, &room, "bob").await;
    let (ann_id, bob_id, cat_id) = (ann.id, bob.id, cat.id);
    sees(&mut ann, bob_id).await;
    sees(&mut bob, ann_id).await;
    sees(&mut bob, cat_id).await;
    sees(&mut cat, bob_id).await;
    let before = chat_acked(&mut ann, "before", ChatTarget::Room, "a1").await;
    chat_seq(&mut bob, "before").await;

    redis.stop();
    for addr in [n1.addr, n2.addr] {
        eventually("the node reports degraded", || async move { health(addr).await.starts_with("degraded") }).await;
    }
    let metrics = reqwest::get(format!("http://{}/metrics", n1.addr)).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("flock_bus_up 0"), "{metrics}");

    // The node's own room goes on: cursors and state between ann and cat.
    ann.send(&ClientMsg::Cursor { x: 0.5, y: 0.5 }).await;
    cat.recv_until(|m| {
        matches!(m, ServerMsg::Cursors { moves } if moves.iter().any(|mv| mv.id == ann.id)).then_some(())
    })
    .await;
    let state: UserState = serde_json::from_value(json!({"away": "lunch"})).unwrap();
    bob.send(&ClientMsg::State { state: state.clone() }).await;
    bob.recv_until(|m| matches!(m, ServerMsg::State { id, .. } if *id == bob_id).then_some(())).await;
    // A chat cannot be numbered without Redis: refused as retryable, with its ref.
    ann.send(&ClientMsg::Chat { text: "during".into(), to: ChatTarget::Room, reference: Some("a2".into()) }).await;
    let (code, _) = ann
        .recv_until(|m| match m {
            ServerMsg::Error { code, reference: Some(r), .. } if r == "a2" => Some(*code),
            _ => None,
        })
        .await;
    assert_eq!(code, ErrorCode::Unavailable);
    assert!(code.is_retryable());
    // Cat leaves while no node can tell the others.
    cat.goodbye().await;

    // Redis comes back empty (it keeps nothing on disk).
    redis.restart().await;
    for addr in [n1.addr, n2.addr] {
        eventually("the node is back on the bus", || async move { health(addr).await == "ok" }).await;
    }
    // Presence converges: what changed on bob's node during the outage reaches ann, and
    // cat's leaving reaches bob (from ann's node's roster of its users).
    ann.recv_until(|m| matches!(m, ServerMsg::State { id, state: s } if *id == bob_id && *s == state).then_some(()))
        .await;
    bob.recv_until(|m| matches!(m, ServerMsg::Left { id } if *id == cat_id).then_some(())).await;
    // The client resends what was refused, and (having missed the ack, say) the old one.
    let during = chat_acked(&mut ann, "during", ChatTarget::Room, "a2").await;
    assert_eq!(during, before + 1, "seqs go on from the nodes' stores, not from an empty Redis");
    assert_eq!(chat_acked(&mut ann, "before", ChatTarget::Room, "a1").await, before, "a resend is not stored twice");
    let (after, mut seen) = chat_acked_seeing(&mut bob, "after", ChatTarget::Room, "b1").await;
    assert_eq!(after, during + 1);
    seen.extend(bob.drain().await);
    assert_eq!(texts(&seen)[..2], ["during", "after"], "bob gets each chat once: {seen:?}");
    let fresh = resume(n2.addr, &room, &bob.session, 0).await;
    let history: Vec<&str> =
        fresh.history.iter().filter(|c| !c.text.starts_with("marker")).map(|c| c.text.as_str()).collect();
    assert_eq!(history, ["before", "during", "after"], "every acknowledged chat once, in order");
}

#[tokio::test]
async fn a_bus_that_is_not_a_redis_url_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_flock"))
        .env("FLOCK_ADDR", "127.0.0.1:0")
        .env("FLOCK_DATA_DIR", dir.path())
        .env("FLOCK_BUS", "http://not-redis")
        .env("NO_COLOR", "1")
        .output()
        .expect("run flock");
    assert!(!output.status.success());
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(log.contains("bad --bus"), "{log}");
}

#[tokio::test]
async fn a_node_started_before_redis_serves_its_rooms_and_joins_when_redis_comes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let url = format!("redis://127.0.0.1:{port}");
    let n1 = spawn_server(&dir, &[("FLOCK_BUS", &url)]).await;
    assert!(health(n1.addr).await.starts_with("degraded"));
    let room = fresh_room();
    let mut ann = connect(n1.addr, &room, "ann").await;
    let cat = connect(n1.addr, &room, "cat").await;
    sees(&mut ann, cat.id).await;
    let redis = RedisServer::start_on(port).await;
    let addr = n1.addr;
    eventually("the node joins the cluster", || async move { health(addr).await == "ok" }).await;
    let n2 = node(&redis).await;
    let mut bob = connect(n2.addr, &room, "bob").await;
    sees(&mut bob, ann.id).await;
    sees(&mut bob, cat.id).await;
    sees(&mut ann, bob.id).await;
}

#[tokio::test]
async fn a_chat_sent_just_before_moving_rooms_is_still_acknowledged() {
    let redis = RedisServer::start().await;
    let n1 = node(&redis).await;
    let mut ann = connect(n1.addr, &fresh_room(), "ann").await;
    // Alone in the room: moving empties it, possibly before the bus delivers the chat back.
    ann.send(&ClientMsg::Chat { text: "bye".into(), to: ChatTarget::Room, reference: Some("r1".into()) }).await;
    ann.send(&ClientMsg::join(fresh_room())).await;
    ann.recv_until(|m| matches!(m, ServerMsg::Ack { reference, .. } if reference == "r1").then_some(())).await;
}

#[tokio::test]
async fn after_a_partition_in_which_two_nodes_took_one_user_the_later_take_wins() {
    let redis = RedisServer::start().await;
    let proxy = TcpProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let ttl = TTL_SECS.to_string();
    // Node 1 reaches Redis through a relay the test can cut; node 2 holds a dropped user
    // for 30 s.
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let n1 =
        spawn_server(&dir, &[("FLOCK_BUS", &format!("redis://{}", proxy.addr)), ("FLOCK_PRESENCE_TTL_SECS", &ttl)])
            .await;
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let n2 = spawn_server(
        &dir,
        &[("FLOCK_BUS", &redis.url()), ("FLOCK_PRESENCE_TTL_SECS", &ttl), ("FLOCK_LEAVE_GRACE_SECS", "30")],
    )
    .await;
    for addr in [n1.addr, n2.addr] {
        eventually("the node reaches Redis", || async move { health(addr).await == "ok" }).await;
    }
    let room = fresh_room();
    let mut ann = connect(n2.addr, &room, "ann").await;
    // Bob starts on node 1 (which keeps his session) and moves to node 2...
    let mut first = connect(n1.addr, &room, "bob").await;
    sees(&mut ann, first.id).await;
    let on_n2 = resume(n2.addr, &room, &first.session, 0).await;
    assert_eq!(first.closed_with().await, close::REPLACED, "node 1 lets go when node 2 takes bob");
    // ...where his socket dies: node 2 keeps his place.
    drop(on_n2);
    let n2_addr = n2.addr;
    let away_on_n2 = |n: usize| {
        let room = room.clone();
        move || {
            let room = room.clone();
            async move { common::away_in(n2_addr, &room).await == n }
        }
    };
    eventually("bob is away on node 2", away_on_n2(1)).await;

    proxy.cut();
    let n1_addr = n1.addr;
    eventually("node 1 is cut off", || async move { health(n1_addr).await.starts_with("degraded") }).await;
    // Bob comes back on node 1, which cannot tell anyone.
    let mut bob = resume(n1.addr, &room, &first.session, 0).await;
    assert_eq!(bob.id, first.id, "node 1 knows the session from its own store");
    proxy.heal();
    eventually("node 1 is back", || async move { health(n1_addr).await == "ok" }).await;

    // Node 1's take is the later one: node 2 lets go of its away copy, bob's connection on
    // node 1 stays, and ann never sees him leave.
    eventually("node 2 no longer holds bob", away_on_n2(0)).await;
    let (_, seen) = chat_acked_seeing(&mut bob, "still here", ChatTarget::Room, "s1").await;
    assert!(!seen.iter().any(|m| matches!(m, ServerMsg::Error { .. })), "{seen:?}");
    let (_, before) = ann.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "still here").then_some(())).await;
    assert!(!before.iter().any(|m| matches!(m, ServerMsg::Left { .. })), "ann saw a leave: {before:?}");
}

/// A counter in a node's `/metrics` (0 before it is first counted).
async fn counter(addr: std::net::SocketAddr, name: &str) -> f64 {
    common::metric(addr, name).await.unwrap_or(0.0)
}

#[tokio::test]
async fn a_node_hears_only_the_rooms_it_holds_someone_in() {
    let redis = RedisServer::start().await;
    let (n1, n2) = (node(&redis).await, node(&redis).await);
    let (busy, quiet) = (fresh_room(), fresh_room());
    let mut ann = connect(n1.addr, &busy, "ann").await;
    let mut bob = connect(n2.addr, &quiet, "bob").await;
    let before = counter(n2.addr, "flock_bus_events_in_total").await;
    for i in 0..20 {
        chat_acked(&mut ann, &format!("busy {i}"), ChatTarget::Room, &format!("a{i}")).await;
        ann.send(&ClientMsg::Cursor { x: f64::from(i) / 20.0, y: 0.5 }).await;
    }
    // Bob's own chat crosses the bus to his node after Ann's 40 events were published.
    chat_acked(&mut bob, "quiet here", ChatTarget::Room, "b0").await;
    let heard = counter(n2.addr, "flock_bus_events_in_total").await - before;
    assert!(heard < 10.0, "node 2 received {heard} events: its own room's, not the 40 of a room it does not hold");
    let listed = common::rooms(n2.addr).await.rooms.into_iter().find(|r| r.name == busy).map(|r| r.users);
    assert_eq!(listed, Some(1), "node 2's lobby still lists the room only node 1 holds");

    // Once Bob moves into the busy room, node 2 follows it: its history, then live chats.
    bob.send(&ClientMsg::join(busy.clone())).await;
    let (history, _) = bob
        .recv_until(|m| match m {
            ServerMsg::Welcome { history, .. } => Some(history.iter().map(|c| c.text.clone()).collect::<Vec<_>>()),
            _ => None,
        })
        .await;
    assert_eq!(history.len(), 20, "node 2 caught up on the busy room before the welcome: {history:?}");
    chat_acked(&mut ann, "now you hear me", ChatTarget::Room, "a20").await;
    assert_eq!(chat_seq(&mut bob, "now you hear me").await, 21);
}

#[tokio::test]
async fn a_node_joining_a_busy_room_catches_up_and_then_delivers_live_in_order() {
    let redis = RedisServer::start().await;
    let n1 = node(&redis).await;
    let room = fresh_room();
    let mut ann = connect(n1.addr, &room, "ann").await;
    for i in 1..=30 {
        chat_acked(&mut ann, &format!("m{i}"), ChatTarget::Room, &format!("r{i}")).await;
    }
    // A node that never held the room, started after all of it.
    let n2 = node(&redis).await;
    let mut cat = connect(n2.addr, &room, "cat").await;
    assert_eq!(cat.seq, 30, "the welcome knows the room's latest seq");
    let seqs: Vec<u64> = cat.history.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>(), "the whole history, from Redis");
    assert!(cat.users.iter().any(|u| u.id == ann.id), "and who is there on the other node");
    for i in 31..=40 {
        ann.send(&ClientMsg::Chat { text: format!("m{i}"), to: ChatTarget::Room, reference: Some(format!("r{i}")) })
            .await;
    }
    let mut live = Vec::new();
    while live.len() < 10 {
        if let ServerMsg::Chat(chat) = cat.recv().await {
            live.push(chat.seq);
        }
    }
    assert_eq!(live, (31..=40).collect::<Vec<_>>(), "then live, in order");
}

/// The HTTP API's key in the cluster tests.
const API_KEY: &str = "cluster-api-key-0123456789";

async fn api_post(node: &Process, path: &str, body: serde_json::Value) -> reqwest::Response {
    let url = format!("http://{}/api/v1{path}", node.addr);
    reqwest::Client::new().post(url).bearer_auth(API_KEY).json(&body).send().await.expect("POST")
}

async fn api_get(node: &Process, path: &str) -> serde_json::Value {
    let url = format!("http://{}/api/v1{path}", node.addr);
    let response = reqwest::Client::new().get(url).bearer_auth(API_KEY).send().await.expect("GET");
    assert_eq!(response.status(), reqwest::StatusCode::OK, "{path}");
    response.json().await.expect("JSON")
}

/// Three nodes taking the API key (and `extra` settings), Ann on node 1 and Bob on node 2
/// in one room, seeing each other; node 3 holds no one. Bind every field: a node (or
/// Redis) dropped is stopped.
struct Trio {
    _redis: RedisServer,
    n1: Process,
    n2: Process,
    n3: Process,
    room: String,
    ann: Client,
    bob: Client,
}

impl Trio {
    async fn start(extra: &[(&str, &str)]) -> Trio {
        let redis = RedisServer::start().await;
        let mut keys = vec![("FLOCK_API_KEYS", API_KEY)];
        keys.extend_from_slice(extra);
        let (n1, n2, n3) =
            (node_with(&redis, &keys).await, node_with(&redis, &keys).await, node_with(&redis, &keys).await);
        let room = fresh_room();
        let mut ann = connect(n1.addr, &room, "ann").await;
        let mut bob = connect(n2.addr, &room, "bob").await;
        sees(&mut bob, ann.id).await;
        sees(&mut ann, bob.id).await;
        Trio { _redis: redis, n1, n2, n3, room, ann, bob }
    }
}

#[tokio::test]
async fn the_api_on_a_node_that_holds_no_one_publishes_to_every_node_once_and_sees_the_whole_room() {
    let Trio { _redis, n1, n2: _n2, n3, room, mut ann, mut bob } = Trio::start(&[]).await;

    let body = json!({"text": "from the api", "username": "Deploy bot", "ref": "deploy-1"});
    let response = api_post(&n3, &format!("/rooms/{room}/messages"), body.clone()).await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let seq = response.json::<serde_json::Value>().await.unwrap()["seq"].as_u64().expect("a seq");
    for client in [&mut ann, &mut bob] {
        let got = chat_seq(client, "from the api").await;
        assert_eq!(got, seq);
    }
    // A retry through another node is the same chat, delivered once.
    let retry = api_post(&n1, &format!("/rooms/{room}/messages"), body).await;
    assert_eq!(retry.json::<serde_json::Value>().await.unwrap()["seq"].as_u64(), Some(seq));
    let direct = api_post(&n3, &format!("/rooms/{room}/messages"), json!({"text": "psst", "to": bob.id})).await;
    assert_eq!(direct.status(), reqwest::StatusCode::OK, "a user on another node is a valid target");
    assert_eq!(chat_seq(&mut bob, "psst").await, seq + 1);
    let seen_by_ann = texts(&ann.drain().await);
    assert!(!seen_by_ann.iter().any(|t| t == "from the api" || t == "psst"), "{seen_by_ann:?}");

    let presence = api_get(&n3, &format!("/rooms/{room}/presence")).await;
    let mut names: Vec<&str> =
        presence["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ann", "bob"]);
    let history = api_get(&n3, &format!("/rooms/{room}/history")).await;
    // Every chat, direct ones included: the markers are ann's chats to herself.
    let said: Vec<&str> = history["chats"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).collect();
    let said: Vec<&str> = said.into_iter().filter(|t| !t.starts_with("marker")).collect();
    assert_eq!(said, ["from the api", "psst"]);
    let rooms = api_get(&n3, "/rooms").await;
    assert!(
        rooms["rooms"].as_array().unwrap().iter().any(|r| r["name"] == room.as_str() && r["users"] == 2),
        "{rooms}"
    );

    let event = api_post(&n3, &format!("/rooms/{room}/events"), json!({"name": "deploy:done"})).await;
    assert_eq!(event.status(), reqwest::StatusCode::ACCEPTED);
    for client in [&mut ann, &mut bob] {
        let ((), _) = client
            .recv_until(|m| {
                matches!(m, ServerMsg::Event { name, from: None, .. } if name == "deploy:done").then_some(())
            })
            .await;
    }
}

#[tokio::test]
async fn a_user_removed_through_any_node_is_closed_where_it_is_and_banned_on_every_node() {
    let Trio { _redis, n1, n2, n3, room, mut ann, mut bob } = Trio::start(&[("FLOCK_LEAVE_GRACE_SECS", "600")]).await;
    let bob_id = bob.id;
    let url = format!("http://{}/api/v1/rooms/{room}/users/{bob_id}?ban_secs=60", n3.addr);
    let response = reqwest::Client::new().delete(url).bearer_auth(API_KEY).send().await.expect("DELETE");
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(bob.closed_with().await, close::REMOVED);
    ann.recv_until(|m| matches!(m, ServerMsg::Left { id } if *id == bob_id).then_some(())).await;
    for node in [&n1, &n2, &n3] {
        let refused = common::try_connect(node.addr, &format!("room={room}&session={}", bob.session)).await.err();
        assert_eq!(refused.map(|r| r.status), Some(403), "banned on every node");
    }
}

#[tokio::test]
async fn an_identity_revoked_through_any_node_is_closed_where_it_is_and_no_node_takes_its_token() {
    let Trio { _redis, n1, n2, n3, room, mut ann, mut bob } = Trio::start(&[]).await;
    let ann_id = ann.id;
    let url = format!("http://{}/api/v1/users/{ann_id}/revoke", n3.addr);
    let response = reqwest::Client::new().post(url).bearer_auth(API_KEY).send().await.expect("POST");
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    assert_eq!(ann.closed_with().await, close::REMOVED);
    bob.recv_until(|m| matches!(m, ServerMsg::Left { id } if *id == ann_id).then_some(())).await;
    for node in [&n1, &n2, &n3] {
        let back = resume(node.addr, &room, &ann.session, 0).await;
        assert_ne!(back.id, ann_id, "the token is no one's on any node");
    }
}

const JWT_SECRET: &str = "jwt-secret-for-tests-at-least-32-bytes";

#[tokio::test]
async fn one_jwt_identity_on_two_nodes_is_one_member_that_leaves_after_its_last_device() {
    use jsonwebtoken::{encode, get_current_timestamp, EncodingKey, Header};
    let redis = RedisServer::start().await;
    // A long grace: a `left` that comes is the last device's goodbye, not a timer's. The
    // webhooks go nowhere: what they would say stays in the cluster's outbox, to read.
    let extra = [
        ("FLOCK_JWT_SECRET", JWT_SECRET),
        ("FLOCK_LEAVE_GRACE_SECS", "600"),
        ("FLOCK_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
        ("FLOCK_WEBHOOK_SECRET", "webhook-secret-of-at-least-32-bytes"),
    ];
    let (n1, n2) = (node_with(&redis, &extra).await, node_with(&redis, &extra).await);
    let room = fresh_room();
    let claims = json!({"sub": "ann-of-the-app", "exp": get_current_timestamp() + 600, "name": "Ann"});
    let jwt = encode(&Header::default(), &claims, &EncodingKey::from_secret(JWT_SECRET.as_bytes())).unwrap();
    let query = format!("room={room}&jwt={jwt}");

    let mut laptop = common::try_connect(n1.addr, &query).await.expect("the laptop is let in");
    let ann = laptop.id;
    let mut bob = connect(n2.addr, &room, "bob").await;
    let mut cat = connect(n1.addr, &room, "cat").await;
    sees(&mut bob, ann).await;
    sees(&mut laptop, bob.id).await;
    sees(&mut bob, cat.id).await;
    let mut phone = common::try_connect(n2.addr, &query).await.expect("the phone is let in on the other node");
    assert_eq!(phone.id, ann, "the same identity");
    assert_eq!(phone.users.iter().filter(|u| u.id == ann).count(), 1, "listed once");
    for node in [&n1, &n2] {
        let users = common::rooms(node.addr).await.rooms.iter().find(|r| r.name == room).map(|r| r.users);
        assert_eq!(users, Some(3), "one Ann, Bob and Cat on every node");
    }

    // A chat and a direct message reach both devices; state set on the phone shows on the
    // laptop and to Cat, on the laptop's node.
    bob.send(&ClientMsg::chat("hi all", ChatTarget::Room)).await;
    bob.send(&ClientMsg::chat("hi ann", ChatTarget::User(ann))).await;
    for device in [&mut laptop, &mut phone] {
        device.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "hi ann").then_some(())).await;
    }
    let state: UserState = serde_json::from_value(json!({"mood": "busy"})).unwrap();
    phone.send(&ClientMsg::State { state: state.clone() }).await;
    for device in [&mut laptop, &mut cat] {
        let (got, _) =
            device.recv_until(|m| matches!(m, ServerMsg::State { id, .. } if *id == ann).then(|| m.clone())).await;
        assert_eq!(got, ServerMsg::State { id: ann, state: state.clone() });
    }
    let reference = "from-the-laptop";
    let (seq, _) = chat_acked_seeing(&mut laptop, "on my way", ChatTarget::Room, reference).await;
    assert_eq!(chat_seq(&mut phone, "on my way").await, seq);

    // The laptop goes, on the node whose presence entry it may have written: Ann stays.
    laptop.goodbye().await;
    bob.send(&ClientMsg::chat("still there?", ChatTarget::Room)).await;
    phone.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "still there?").then_some(())).await;
    cat.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "still there?").then_some(())).await;
    for node in [&n1, &n2] {
        let users = common::rooms(node.addr).await.rooms.iter().find(|r| r.name == room).map(|r| r.users);
        assert_eq!(users, Some(3), "Ann is still here on every node");
    }
    // The phone keeps its place: a newcomer on the laptop's node is told of Ann.
    let dan = connect(n1.addr, &room, "dan").await;
    assert!(dan.users.iter().any(|u| u.id == ann), "{:?}", dan.users);
    for watcher in [&mut bob, &mut cat] {
        let seen = watcher.drain().await;
        assert!(!seen.iter().any(|m| matches!(m, ServerMsg::Left { id } if *id == ann)), "{seen:?}");
    }

    // The last device goes: now `left`, once, on both nodes.
    phone.goodbye().await;
    for watcher in [&mut bob, &mut cat] {
        watcher.recv_until(|m| matches!(m, ServerMsg::Left { id } if *id == ann).then_some(())).await;
    }
    eventually("Ann is gone from the cluster's presence", || {
        let room = room.clone();
        async move {
            let rooms = common::rooms(n2.addr).await;
            rooms.rooms.iter().find(|r| r.name == room).map(|r| r.users) == Some(3)
        }
    })
    .await;
    let seen = bob.drain().await;
    assert!(!seen.iter().any(|m| matches!(m, ServerMsg::Left { id } if *id == ann)), "left once: {seen:?}");

    // The app's backend hears of one Ann: joined once, left once.
    let conn = redis::Client::open(redis.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let anns = |mut conn: redis::aio::MultiplexedConnection| async move {
        let outbox: redis::streams::StreamRangeReply =
            redis::cmd("XRANGE").arg("flock:webhooks").arg("-").arg("+").query_async(&mut conn).await.unwrap();
        let user = |entry: &redis::streams::StreamId| -> Option<Uuid> {
            let presence: serde_json::Value = serde_json::from_str(&entry.get::<String>("entry")?).ok()?;
            presence["user"]["id"].as_str()?.parse().ok()
        };
        let of_ann = outbox.ids.iter().filter(|entry| user(entry) == Some(ann));
        of_ann.filter_map(|entry| entry.get::<String>("type")).collect::<Vec<_>>()
    };
    let c = conn.clone();
    eventually("Ann's leave is in the outbox", move || {
        let c = c.clone();
        async move { anns(c).await.len() >= 2 }
    })
    .await;
    assert_eq!(anns(conn).await, ["user.joined", "user.left"]);
    drop(dan);
}

#[tokio::test]
async fn a_post_to_a_node_that_does_not_hold_its_stream_is_forwarded_in_order() {
    let Pair { redis: _redis, n1, n2, room, mut ann, bob: _bob } = Pair::start().await;
    let query = format!("room={room}&username=sue");
    let mut sue = common::sse::try_open(n2.addr, &query).await.expect("a stream on node 2");
    sees(&mut ann, sue.id).await;
    // Sue's POSTs go to node 1, as a load balancer without sticky sessions might send them.
    sue.base = format!("http://{}", n1.addr);
    for text in ["one", "two", "three"] {
        let line = json!({"type":"chat","text":text,"ref":text}).to_string();
        let answer = sue.post("send", line).await;
        assert_eq!(answer.status, 204, "{answer:?}");
    }
    let mut heard = Vec::new();
    while heard.len() < 3 {
        if let ServerMsg::Chat(chat) = ann.recv().await {
            heard.push(chat.text);
        }
    }
    assert_eq!(heard, ["one", "two", "three"]);
    let (_, before) =
        sue.recv_until(|m| matches!(m, ServerMsg::Ack { reference, .. } if reference == "three").then_some(())).await;
    assert_eq!(before.iter().filter(|m| matches!(m, ServerMsg::Ack { .. })).count(), 2);
    // A token that names node 2 but no stream of it: 404 from node 2. One that names a
    // node no one hears (gone, or resubscribing): 503, nothing taken.
    let stale = format!("{}{}", &sue.token[..32], "0".repeat(64));
    let dead = format!("{}{}", Uuid::new_v4().simple(), "0".repeat(64));
    for (token, status) in [(stale, 404), (dead, 503)] {
        let response = reqwest::Client::new().post(format!("http://{}/sse/send?stream={token}", n1.addr)).body("");
        assert_eq!(response.send().await.expect("POST").status(), status);
    }
    let id = sue.id;
    assert_eq!(sue.goodbye().await, close::NORMAL);
    ann.recv_until(|m| matches!(m, ServerMsg::Left { id: left } if *left == id).then_some(())).await;
}
