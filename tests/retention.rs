//! What the server keeps does not grow for ever: chats past the history TTL go from every
//! room (quiet ones too), unused sessions are refused and forgotten, and on a cluster a
//! room's Redis stream and counter expire when the room is not used.

mod common;

use common::redis_server::RedisServer;
use common::{connect, eventually, health, resume, spawn_server, start_with, test_config};
use flock::protocol::{ChatMessage, ChatTarget, ClientMsg, ServerMsg, User, UserState};
use flock::server::clock::now_ms;
use flock::server::store::{Store, SESSION_TTL};
use std::time::Duration;
use uuid::Uuid;

const DAY_MS: u64 = 24 * 3600 * 1000;

#[tokio::test]
async fn a_quiet_rooms_expired_chats_and_a_stale_session_are_gone_after_a_restart() {
    let config = test_config(); // 30 days of history
    let (keep, ttl) = (config.history_keep, Duration::from_secs(config.history_ttl_days * 24 * 3600));
    let stale = User {
        id: Uuid::new_v4(),
        username: "Old".into(),
        color: "#000".into(),
        cursor: None,
        state: UserState::new(),
    };
    {
        // A store as a server left it a month and more ago.
        let store = Store::open(&config.data_dir, keep, ttl).expect("open the store");
        let chat = |seq, ts| ChatMessage {
            seq,
            from: stale.id,
            username: "Old".into(),
            text: format!("c{seq}"),
            to: ChatTarget::Room,
            ts,
            server: false,
        };
        store.append("quiet", &chat(1, now_ms() - 31 * DAY_MS), None).unwrap();
        store.append("quiet", &chat(2, now_ms() - DAY_MS), None).unwrap();
        store.save_session("stale-token", &stale, now_ms() - SESSION_TTL.as_millis() as u64 - 1000);
    }
    let addr = start_with(config).await;
    let ann = connect(addr, "quiet", "Ann").await;
    let texts: Vec<&str> = ann.history.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(texts, ["c2"], "the chat older than 30 days is gone, the recent one kept");
    let back = resume(addr, "quiet", "stale-token", 0).await;
    assert_ne!(back.id, stale.id, "a session unused for 30 days is not honoured");
}

#[tokio::test]
async fn a_cluster_rooms_stream_and_counter_expire_unless_used() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let node = spawn_server(dir.path(), &[("FLOCK_BUS", &redis.url()), ("FLOCK_HISTORY_TTL_DAYS", "2")]).await;
    let addr = node.addr;
    eventually("the node reaches Redis", || async move { health(addr).await == "ok" }).await;
    let mut ann = connect(addr, "ttl-room", "Ann").await;
    ann.send(&ClientMsg::Chat { text: "hi".into(), to: ChatTarget::Room, reference: Some("t".into()) }).await;
    ann.recv_until(|m| matches!(m, ServerMsg::Ack { .. }).then_some(())).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for key in ["flock:chat:ttl-room", "flock:seq:ttl-room"] {
        let pttl: i64 = redis::cmd("PTTL").arg(key).query_async(&mut conn).await.unwrap();
        assert!(pttl > DAY_MS as i64 && pttl <= 2 * DAY_MS as i64, "{key} expires in the TTL: {pttl} ms");
    }
}
