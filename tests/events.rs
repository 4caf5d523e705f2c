//! App events against a real server: every audience, every limit, and nothing stored.

mod common;

use common::{connect, resume, start, start_with, test_config, Client};
use flock::protocol::{ChatTarget, ClientMsg, ErrorCode, ServerMsg, MAX_EVENT_DATA_BYTES};
use serde_json::{json, Value};
use uuid::Uuid;

fn event(name: &str, data: Value, to: ChatTarget) -> ClientMsg {
    ClientMsg::Event { name: name.into(), data, to }
}

/// The events among `msgs`, as (name, data, from).
fn events(msgs: &[ServerMsg]) -> Vec<(String, Value, Option<Uuid>)> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::Event { name, data, from } => Some((name.clone(), data.clone(), *from)),
            _ => None,
        })
        .collect()
}

/// Waits for an `error` and returns its code and `retry_after_ms`.
async fn refused(client: &mut Client) -> (ErrorCode, Option<u64>) {
    client
        .recv_until(|m| match m {
            ServerMsg::Error { code, retry_after_ms, .. } => Some((*code, *retry_after_ms)),
            _ => None,
        })
        .await
        .0
}

/// Three people in one room and one in another.
async fn room_of_three(addr: std::net::SocketAddr) -> (Client, Client, Client, Client) {
    let ann = connect(addr, "events", "ann").await;
    let bob = connect(addr, "events", "bob").await;
    let cat = connect(addr, "events", "cat").await;
    let dan = connect(addr, "elsewhere", "dan").await;
    (ann, bob, cat, dan)
}

#[tokio::test]
async fn an_event_reaches_exactly_its_audience_with_its_sender_and_data() {
    let addr = start().await;
    let (mut ann, mut bob, mut cat, mut dan) = room_of_three(addr).await;
    let typing = json!({"draft": 3});
    // `to` left out: everyone else.
    ann.send_json(json!({"type": "event", "name": "typing", "data": typing})).await;
    ann.send(&event("wave", json!(["hi", 1]), ChatTarget::Room)).await;
    ann.send(&event("game:move", json!({"to": "e4"}), ChatTarget::User(cat.id))).await;
    ann.send_json(json!({"type": "event", "name": "ping"})).await;

    let (typing_ev, wave, direct, ping) = (
        ("typing".to_owned(), typing, Some(ann.id)),
        ("wave".to_owned(), json!(["hi", 1]), Some(ann.id)),
        ("game:move".to_owned(), json!({"to": "e4"}), Some(ann.id)),
        ("ping".to_owned(), Value::Null, Some(ann.id)),
    );
    assert_eq!(events(&ann.drain().await), std::slice::from_ref(&wave), "the sender hears only its `room` event");
    assert_eq!(events(&bob.drain().await), [typing_ev.clone(), wave.clone(), ping.clone()]);
    assert_eq!(events(&cat.drain().await), [typing_ev, wave, direct, ping], "only cat gets the direct one");
    assert_eq!(events(&dan.drain().await), [], "another room hears nothing");

    // Events are not stored: a newcomer and a resume replay chats only.
    let newcomer = connect(addr, "events", "eve").await;
    assert!(newcomer.history.iter().all(|c| c.text.starts_with("marker")), "{:?}", newcomer.history);
    let (session, seq) = (bob.session.clone(), bob.seq);
    bob.ws.close(None).await.expect("close");
    let mut again = resume(addr, "events", &session, seq).await;
    assert_eq!(events(&again.drain().await), []);
}

#[tokio::test]
async fn a_bad_event_gets_an_error_and_reaches_no_one() {
    let addr = start().await;
    let (mut ann, mut bob, _cat, _dan) = room_of_three(addr).await;
    for name in ["", "has space", "slash/ed", &"x".repeat(65)] {
        ann.send(&event(name, json!(null), ChatTarget::Others)).await;
        assert_eq!(refused(&mut ann).await.0, ErrorCode::Invalid, "{name:?}");
    }
    // `"` + the string + `"`: one byte over the limit, then exactly at it.
    ann.send(&event("big", json!("x".repeat(MAX_EVENT_DATA_BYTES - 1)), ChatTarget::Others)).await;
    assert_eq!(refused(&mut ann).await.0, ErrorCode::TooLarge);
    ann.send(&event("nobody", json!(1), ChatTarget::User(Uuid::new_v4()))).await;
    assert_eq!(refused(&mut ann).await.0, ErrorCode::NoSuchUser);
    ann.send_json(json!({"type": "event", "name": "typing", "to": "everyone"})).await;
    assert_eq!(refused(&mut ann).await.0, ErrorCode::Invalid);
    ann.send_json(json!({"type": "event", "data": 1})).await;
    assert_eq!(refused(&mut ann).await.0, ErrorCode::Invalid, "a name is required");
    ann.send(&event("fits", json!("x".repeat(MAX_EVENT_DATA_BYTES - 2)), ChatTarget::Others)).await;
    let got = events(&bob.drain().await);
    assert_eq!(got.iter().map(|(name, ..)| name.as_str()).collect::<Vec<_>>(), ["fits"], "only the good one");
}

#[tokio::test]
async fn events_are_rate_limited_per_connection() {
    let mut config = test_config();
    config.events_per_sec = 1.0;
    let addr = start_with(config).await;
    let (mut ann, mut bob, _cat, _dan) = room_of_three(addr).await;
    // A second's worth twice over may come at once; the next is dropped.
    for n in 0..3 {
        ann.send(&event("tick", json!(n), ChatTarget::Others)).await;
    }
    let (code, retry_after) = refused(&mut ann).await;
    assert_eq!(code, ErrorCode::RateLimited);
    assert!(retry_after.is_some_and(|ms| ms > 0 && ms <= 1000), "{retry_after:?}");
    let got: Vec<Value> = events(&bob.drain().await).into_iter().map(|(_, data, _)| data).collect();
    assert_eq!(got, [json!(0), json!(1)]);
    // Another connection has a limit of its own.
    bob.send(&event("tock", json!(0), ChatTarget::Others)).await;
    assert_eq!(events(&ann.drain().await).len(), 1);
}
