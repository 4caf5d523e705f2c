//! Connections that stop cooperating: one that stops reading, one that goes silent.
//! Neither may hold up the room.

mod common;

use common::{connect, start_with};
use flock::protocol::{ChatTarget, ClientMsg, ServerMsg};
use flock::server::config::Config;
use futures_util::{FutureExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_with_1013_while_the_room_flows_on() {
    let mut config = Config::defaults();
    // Ann floods on purpose; this test is about Bob, not about her rate limit.
    config.rate_per_sec = 1e9;
    config.rate_burst = 1e9;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "slow", "Ann").await;
    let mut bob = connect(addr, "slow", "Bob").await; // never reads until the end
    let mut cat = connect(addr, "slow", "Cat").await;
    ann.drain().await;
    let bob_id = bob.id;

    // Cat reads everything, counting Ann's chats until her last one.
    let cat_reader = tokio::spawn(async move {
        let mut chats = 0u64;
        loop {
            if let ServerMsg::Chat { text, .. } = cat.recv().await {
                if text == "done" {
                    return chats;
                }
                chats += 1;
            }
        }
    });

    let text = "x".repeat(1000);
    let mut sent = 0u64;
    'flood: loop {
        assert!(sent < 200_000, "Bob was never cut off");
        for _ in 0..100 {
            ann.send(&ClientMsg::Chat { text: text.clone(), to: ChatTarget::Others }).await;
            sent += 1;
        }
        while let Some(Some(Ok(Message::Text(frame)))) = ann.ws.next().now_or_never() {
            if serde_json::from_str::<ServerMsg>(frame.as_str()).ok() == Some(ServerMsg::Left { id: bob_id }) {
                break 'flood;
            }
        }
    }
    ann.send(&ClientMsg::Chat { text: "done".into(), to: ChatTarget::Others }).await;
    assert_eq!(cat_reader.await.unwrap(), sent, "Cat missed chats while Bob stalled");
    assert_eq!(bob.closed_with().await, 1013);
}

#[tokio::test]
async fn a_client_that_goes_silent_is_dropped_after_the_idle_timeout() {
    let mut config = Config::defaults();
    config.ping_secs = 1;
    config.idle_timeout_secs = 2;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "silent", "Ann").await;
    let bob = connect(addr, "silent", "Bob").await;
    ann.recv().await; // joined
    // Bob never reads again, so he never answers a ping; Ann does (she keeps reading).
    let bob_id = bob.id;
    let (left, _) = ann.recv_until(|m| matches!(m, ServerMsg::Left { .. }).then(|| m.clone())).await;
    assert_eq!(left, ServerMsg::Left { id: bob_id });
    drop(bob);
}
