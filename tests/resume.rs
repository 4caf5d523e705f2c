//! Coming back: a dropped connection keeps its place for the grace period, a resume keeps
//! the identity (also across a restart) and replays what was missed, and a connection that
//! stops answering heartbeats is let go.

mod common;

use common::{connect, resume, spawn_server, start, start_with, test_config};
use flock::protocol::{close, ChatTarget, ClientMsg, ServerMsg};
use serde_json::json;

fn presence_changes(msgs: &[ServerMsg]) -> Vec<&ServerMsg> {
    msgs.iter().filter(|m| matches!(m, ServerMsg::Left { .. } | ServerMsg::Joined { .. })).collect()
}

#[tokio::test]
async fn a_quick_reconnect_after_a_drop_is_invisible_to_the_others_and_misses_nothing() {
    let addr = start().await; // the default grace: 5 s
    let mut ann = connect(addr, "flaky", "Ann").await;
    let bob = connect(addr, "flaky", "Bob").await;
    ann.drain().await;
    let (session, since, bob_id) = (bob.session.clone(), bob.seq, bob.id);
    drop(bob); // TCP goes away without a close frame
    for text in ["while", "you", "were out"] {
        ann.send(&ClientMsg::chat(text, ChatTarget::Room)).await;
    }
    let mut back = resume(addr, "flaky", &session, since).await;
    assert_eq!(back.id, bob_id);
    // Whatever was stored before the resume is replayed; the rest arrives live.
    let mut texts: Vec<String> = back.history.iter().map(|c| c.text.clone()).collect();
    while texts.last().map(String::as_str) != Some("were out") {
        if let ServerMsg::Chat(chat) = back.recv().await {
            texts.push(chat.text);
        }
    }
    assert_eq!(texts, ["while", "you", "were out"]);
    let seen = ann.drain().await;
    assert!(presence_changes(&seen).is_empty(), "Ann saw Bob flicker: {seen:?}");
}

#[tokio::test]
async fn a_resume_keeps_the_name_colour_and_state_even_on_a_restarted_server() {
    let data = tempfile::tempdir().unwrap();
    let server = spawn_server(data.path(), &[]).await;
    let mut ann = connect(server.addr, "keep", "Ann").await;
    ann.send(&ClientMsg::Rename { username: "Annie".into() }).await;
    ann.send_json(json!({"type":"state","state":{"mood":"sunny"}})).await;
    ann.drain().await;
    let before = ann.users.iter().find(|u| u.id == ann.id).unwrap().clone();
    server.signal("TERM");
    assert!(server.wait().await.success());

    let server = spawn_server(data.path(), &[]).await;
    let back = resume(server.addr, "keep", &ann.session, ann.seq).await;
    let me = back.users.iter().find(|u| u.id == back.id).expect("I am in my welcome");
    assert_eq!(back.id, ann.id);
    assert_eq!((me.username.as_str(), me.color.as_str()), ("Annie", before.color.as_str()));
    assert_eq!(me.state.get("mood"), Some(&json!("sunny")));
}

#[tokio::test]
async fn a_second_server_on_the_same_data_directory_refuses_to_start() {
    let config = test_config();
    let data_dir = config.data_dir.clone();
    let _first = start_with(config).await;
    let mut second = test_config();
    second.data_dir = data_dir;
    let leptos = leptos::prelude::LeptosOptions::builder().output_name("flock").build();
    assert!(flock::server::AppState::new(second, leptos).is_err(), "two servers would issue the same seqs");
}

#[tokio::test]
async fn an_unknown_session_gets_a_fresh_identity() {
    let addr = start().await;
    let ann = connect(addr, "fresh", "Ann").await;
    let stranger = resume(addr, "fresh", "not-a-session-we-issued", 0).await;
    assert_ne!(stranger.id, ann.id);
    assert_ne!(stranger.session, "not-a-session-we-issued");
}

#[tokio::test]
async fn a_connection_that_stops_answering_pings_is_announced_left_after_the_grace() {
    let mut config = test_config();
    config.ping_secs = 1;
    config.idle_timeout_secs = 2;
    config.leave_grace_secs = 1;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "heartbeat", "Ann").await;
    let bob = connect(addr, "heartbeat", "Bob").await;
    ann.recv().await; // joined
                      // Bob's socket stays open but he never reads again, so he never answers a ping: to the
                      // server it is a network drop without a close frame.
    let (left, before) = ann.recv_until(|m| matches!(m, ServerMsg::Left { .. }).then(|| m.clone())).await;
    assert_eq!(left, ServerMsg::Left { id: bob.id });
    assert!(before.is_empty(), "nothing but the one left: {before:?}");
    drop(bob);
}

#[tokio::test]
async fn a_goodbye_leaves_at_once_even_with_a_long_grace() {
    let mut config = test_config();
    config.leave_grace_secs = 3600;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "bye", "Ann").await;
    let bob = connect(addr, "bye", "Bob").await;
    ann.recv().await; // joined
    let bob_id = bob.id;
    bob.goodbye().await;
    assert_eq!(ann.recv().await, ServerMsg::Left { id: bob_id });
}

#[tokio::test]
async fn a_resumed_user_is_not_announced_left_when_the_old_grace_runs_out() {
    let mut config = test_config();
    config.leave_grace_secs = 1;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "steady", "Ann").await;
    let bob = connect(addr, "steady", "Bob").await;
    ann.drain().await;
    let (session, since) = (bob.session.clone(), bob.seq);
    drop(bob);
    let _back = resume(addr, "steady", &session, since).await;
    // Nothing to await here: the point is that nothing happens once the dropped
    // connection's grace period has passed.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let seen = ann.drain().await;
    assert!(presence_changes(&seen).is_empty(), "{seen:?}");
}

#[tokio::test]
async fn a_resume_after_the_grace_is_a_new_arrival_with_the_same_identity() {
    let mut config = test_config();
    config.leave_grace_secs = 1;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "late", "Ann").await;
    let bob = connect(addr, "late", "Bob").await;
    ann.recv().await; // joined
    let (session, since, bob_id) = (bob.session.clone(), bob.seq, bob.id);
    drop(bob);
    assert_eq!(ann.recv().await, ServerMsg::Left { id: bob_id });
    let back = resume(addr, "late", &session, since).await;
    assert_eq!(back.id, bob_id);
    assert!(matches!(ann.recv().await, ServerMsg::Joined { user } if user.id == bob_id && user.username == "Bob"));
}

#[tokio::test]
async fn resuming_in_another_room_takes_the_user_out_of_the_first() {
    let addr = start().await;
    let mut ann = connect(addr, "first", "Ann").await;
    let mut bob = connect(addr, "first", "Bob").await;
    ann.recv().await; // joined
    let elsewhere = resume(addr, "second", &bob.session, 0).await;
    assert_eq!((elsewhere.id, elsewhere.room.as_str()), (bob.id, "second"));
    assert_eq!(bob.closed_with().await, close::REPLACED);
    assert_eq!(ann.recv().await, ServerMsg::Left { id: bob.id });
}
