//! A cluster whose Redis speaks only TLS and asks for a password: nodes that trust its
//! authority (`--bus-ca-file`) share a room through `rediss://`, and a node that does not
//! trust it refuses the connection and says so on `/healthz` instead of talking in clear.

mod common;

use common::redis_server::RedisServer;
use common::{connect, eventually, health, spawn_server, Process};
use flock::protocol::{ChatTarget, ClientMsg, ServerMsg};
use uuid::Uuid;

/// A node on the TLS Redis, trusting `ca` when given.
async fn node(redis: &RedisServer, ca: Option<&std::path::Path>) -> Process {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    let url = redis.tls_url();
    let mut envs = vec![("FLOCK_BUS", url.as_str())];
    let ca = ca.map(|path| path.display().to_string());
    if let Some(ca) = &ca {
        envs.push(("FLOCK_BUS_CA_FILE", ca.as_str()));
    }
    spawn_server(&dir, &envs).await
}

#[tokio::test]
async fn nodes_share_a_room_over_rediss_and_an_untrusting_node_stays_degraded() {
    let redis = RedisServer::start_tls().await;
    let ca = redis.tls.as_ref().expect("a TLS Redis").ca.clone();
    let (n1, n2) = (node(&redis, Some(&ca)).await, node(&redis, Some(&ca)).await);
    for addr in [n1.addr, n2.addr] {
        eventually("a trusting node reaches Redis over TLS", || async move { health(addr).await == "ok" }).await;
    }

    let room = format!("tls-{}", &Uuid::new_v4().simple().to_string()[..12]);
    let mut ann = connect(n1.addr, &room, "ann").await;
    let mut bob = connect(n2.addr, &room, "bob").await;
    let bob_id = bob.id;
    if !ann.users.iter().any(|u| u.id == bob_id) {
        ann.recv_until(|m| matches!(m, ServerMsg::Joined { user } if user.id == bob_id).then_some(())).await;
    }
    bob.send(&ClientMsg::Chat { text: "over tls".into(), to: ChatTarget::Room, reference: Some("t1".into()) }).await;
    let (chat, _) = ann
        .recv_until(|m| match m {
            ServerMsg::Chat(chat) if chat.text == "over tls" => Some(chat.clone()),
            _ => None,
        })
        .await;
    assert_eq!(chat.from, bob_id, "the chat crossed nodes through the TLS Redis");

    // Without the authority, the same URL must fail verification: attempts are refused
    // (counted) and the node never reports the bus up.
    let stranger = node(&redis, None).await;
    let addr = stranger.addr;
    eventually("an untrusting node has been refused twice", || async move { bus_failures(addr).await >= 2.0 }).await;
    let said = health(addr).await;
    assert!(said.starts_with("degraded"), "a node that cannot verify Redis never joins the cluster: {said}");
    assert!(common::metric(addr, "flock_bus_up").await == Some(0.0), "the bus is reported down");
}

async fn bus_failures(addr: std::net::SocketAddr) -> f64 {
    common::metric(addr, "flock_bus_connect_failures_total").await.unwrap_or(0.0)
}
