//! The hub against a real server: presence, cursors, state, names, chat targets, rooms.

mod common;

use common::{connect, start, start_with, test_config, try_connect};
use flock::protocol::{ChatMessage, ChatTarget, ClientMsg, Move, ServerMsg};
use serde_json::json;

#[tokio::test]
async fn the_welcome_snapshot_lists_everyone_including_the_newcomer() {
    let addr = start().await;
    let ann = connect(addr, "snap", "Ann").await;
    assert_eq!(ann.room, "snap");
    assert_eq!(ann.users.len(), 1);
    assert_eq!(ann.users[0].id, ann.id);
    assert!(ann.users[0].color.starts_with('#'));

    let bob = connect(addr, "snap", "Bob").await;
    let mut names: Vec<_> = bob.users.iter().map(|u| u.username.as_str()).collect();
    names.sort();
    assert_eq!(names, ["Ann", "Bob"]);
    assert!(bob.users.iter().all(|u| u.cursor.is_none() && u.state.is_empty()));
}

#[tokio::test]
async fn a_connection_without_a_name_or_room_gets_a_guest_name_in_the_lobby() {
    let addr = start().await;
    let guest = try_connect(addr, "").await.unwrap();
    assert_eq!(guest.room, "lobby");
    let me = guest.users.iter().find(|u| u.id == guest.id).unwrap();
    assert!(me.username.starts_with("guest-"), "{}", me.username);
}

#[tokio::test]
async fn others_hear_joined_and_left_exactly_once() {
    let addr = start().await;
    let mut ann = connect(addr, "presence", "Ann").await;
    let bob = connect(addr, "presence", "Bob").await;
    match ann.recv().await {
        ServerMsg::Joined { user } => assert_eq!((user.id, user.username.as_str()), (bob.id, "Bob")),
        other => panic!("expected joined, got {other:?}"),
    }
    let bob_id = bob.id;
    bob.goodbye().await;
    assert_eq!(ann.recv().await, ServerMsg::Left { id: bob_id });
    let rest = ann.drain().await;
    assert!(rest.is_empty(), "nothing else, and no second left: {rest:?}");
}

#[tokio::test]
async fn a_client_that_vanishes_without_a_close_frame_is_announced_left_after_the_grace() {
    let mut config = test_config();
    config.leave_grace_secs = 1;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "vanish", "Ann").await;
    let bob = connect(addr, "vanish", "Bob").await;
    let bob_id = bob.id;
    ann.recv().await; // joined
    drop(bob); // TCP goes away with no close frame
    assert_eq!(ann.recv().await, ServerMsg::Left { id: bob_id });
    assert!(ann.drain().await.is_empty());
}

#[tokio::test]
async fn cursor_moves_reach_others_but_never_echo_to_the_mover() {
    let addr = start().await;
    let mut ann = connect(addr, "cursors", "Ann").await;
    let mut bob = connect(addr, "cursors", "Bob").await;
    let mut cat = connect(addr, "cursors", "Cat").await;
    ann.drain().await;
    bob.drain().await;

    ann.send(&ClientMsg::Cursor { x: 0.42, y: 0.13 }).await;
    for receiver in [&mut bob, &mut cat] {
        let (moves, _) = receiver
            .recv_until(|m| match m {
                ServerMsg::Cursors { moves } => Some(moves.clone()),
                _ => None,
            })
            .await;
        assert_eq!(moves, vec![Move { id: ann.id, x: 0.42, y: 0.13 }]);
    }
    let echoed = ann.drain().await;
    assert!(!echoed.iter().any(|m| matches!(m, ServerMsg::Cursors { .. })), "{echoed:?}");

    // A newcomer sees the last position in its snapshot.
    let dan = connect(addr, "cursors", "Dan").await;
    let seen = dan.users.iter().find(|u| u.id == ann.id).and_then(|u| u.cursor).unwrap();
    assert_eq!((seen.x, seen.y), (0.42, 0.13));
}

#[tokio::test]
async fn a_burst_of_moves_ends_at_the_final_position_for_every_receiver() {
    let addr = start().await;
    let mut ann = connect(addr, "burst", "Ann").await;
    let mut bob = connect(addr, "burst", "Bob").await;
    ann.drain().await;
    for i in 0..=200 {
        ann.send(&ClientMsg::Cursor { x: f64::from(i) / 200.0, y: 0.5 }).await;
    }
    let (last, _) = bob
        .recv_until(|m| match m {
            ServerMsg::Cursors { moves } => moves.iter().find(|mv| mv.x == 1.0).copied(),
            _ => None,
        })
        .await;
    assert_eq!(last, Move { id: ann.id, x: 1.0, y: 0.5 });
}

#[tokio::test]
async fn state_changes_reach_the_whole_room_and_the_snapshot() {
    let addr = start().await;
    let mut ann = connect(addr, "state", "Ann").await;
    let mut bob = connect(addr, "state", "Bob").await;
    ann.recv().await; // joined
    let state = json!({"status":"coding","emoji":"🔥"}).as_object().unwrap().clone();
    ann.send(&ClientMsg::State { state: state.clone() }).await;
    let want = ServerMsg::State { id: ann.id, state: state.clone() };
    assert_eq!(ann.recv().await, want);
    assert_eq!(bob.recv().await, want);
    let cat = connect(addr, "state", "Cat").await;
    assert_eq!(cat.users.iter().find(|u| u.id == ann.id).unwrap().state, state);
}

#[tokio::test]
async fn renames_reach_the_whole_room_and_sign_later_chats() {
    let addr = start().await;
    let mut ann = connect(addr, "rename", "Ann").await;
    let mut bob = connect(addr, "rename", "Bob").await;
    ann.recv().await; // joined
    ann.send(&ClientMsg::Rename { username: "  Annie ".into() }).await;
    let want = ServerMsg::Renamed { id: ann.id, username: "Annie".into() };
    assert_eq!(ann.recv().await, want);
    assert_eq!(bob.recv().await, want);
    ann.send(&ClientMsg::chat("hi", ChatTarget::Room)).await;
    match bob.recv().await {
        ServerMsg::Chat(ChatMessage { from, username, .. }) => assert_eq!((from, username.as_str()), (ann.id, "Annie")),
        other => panic!("expected chat, got {other:?}"),
    }
}

/// Three clients in one room; the first has read everyone's joins.
async fn trio(room: &str) -> [common::Client; 3] {
    let addr = start().await;
    let mut ann = connect(addr, room, "Ann").await;
    let mut bob = connect(addr, room, "Bob").await;
    let cat = connect(addr, room, "Cat").await;
    ann.drain().await;
    bob.drain().await;
    [ann, bob, cat]
}

#[tokio::test]
async fn chat_to_the_room_reaches_everyone_including_the_sender() {
    let [mut ann, mut bob, mut cat] = trio("chat-room").await;
    ann.send_json(json!({"type":"chat","text":"hello all"})).await;
    let ann_id = ann.id;
    for client in [&mut ann, &mut bob, &mut cat] {
        match client.recv().await {
            ServerMsg::Chat(ChatMessage { from, username, text, to, ts, .. }) => {
                assert_eq!(
                    (from, username.as_str(), text.as_str(), to),
                    (ann_id, "Ann", "hello all", ChatTarget::Room)
                );
                assert!(ts > 1_600_000_000_000);
            }
            other => panic!("expected chat, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn chat_to_others_skips_the_sender() {
    let [mut ann, mut bob, mut cat] = trio("chat-others").await;
    ann.send(&ClientMsg::chat("psst", ChatTarget::Others)).await;
    for client in [&mut bob, &mut cat] {
        assert!(
            matches!(client.recv().await, ServerMsg::Chat(ChatMessage { text, to: ChatTarget::Others, .. }) if text == "psst")
        );
    }
    let own = ann.drain().await;
    assert!(own.is_empty(), "the sender got {own:?}");
}

#[tokio::test]
async fn a_direct_chat_reaches_its_target_and_a_copy_to_the_sender_only() {
    let [mut ann, mut bob, mut cat] = trio("chat-direct").await;
    let to = ChatTarget::User(bob.id);
    ann.send(&ClientMsg::chat("just you", to)).await;
    for client in [&mut ann, &mut bob] {
        assert!(
            matches!(client.recv().await, ServerMsg::Chat(ChatMessage { text, to: t, .. }) if text == "just you" && t == to)
        );
    }
    let overheard = cat.drain().await;
    assert!(overheard.is_empty(), "a bystander got {overheard:?}");
}

#[tokio::test]
async fn rooms_are_isolated_from_each_other() {
    let addr = start().await;
    let mut ann = connect(addr, "red", "Ann").await;
    let mut bob = connect(addr, "red", "Bob").await;
    let mut zed = connect(addr, "blue", "Zed").await;
    assert_eq!(zed.users.len(), 1);
    ann.drain().await;
    ann.send(&ClientMsg::Cursor { x: 0.1, y: 0.1 }).await;
    ann.send(&ClientMsg::chat("red only", ChatTarget::Room)).await;
    ann.send(&ClientMsg::Rename { username: "Anna".into() }).await;
    let (_, _) = bob.recv_until(|m| matches!(m, ServerMsg::Renamed { .. }).then_some(())).await;
    let leaked = zed.drain().await;
    assert!(leaked.is_empty(), "blue saw {leaked:?}");
    // And a direct chat cannot cross rooms.
    zed.send(&ClientMsg::chat("hi", ChatTarget::User(ann.id))).await;
    assert!(matches!(zed.recv().await, ServerMsg::Error { code: flock::protocol::ErrorCode::NoSuchUser, .. }));
}

#[tokio::test]
async fn join_moves_a_connection_to_another_room() {
    let addr = start().await;
    let mut ann = connect(addr, "here", "Ann").await;
    let mut bob = connect(addr, "here", "Bob").await;
    let mut zed = connect(addr, "there", "Zed").await;
    ann.recv().await; // joined
    bob.send(&ClientMsg::join("there")).await;
    match bob.recv().await {
        ServerMsg::Welcome { you, room, users, .. } => {
            assert_eq!((you, room.as_str()), (bob.id, "there"));
            let mut names: Vec<_> = users.iter().map(|u| u.username.as_str()).collect();
            names.sort();
            assert_eq!(names, ["Bob", "Zed"]);
        }
        other => panic!("expected welcome, got {other:?}"),
    }
    assert_eq!(ann.recv().await, ServerMsg::Left { id: bob.id });
    assert!(matches!(zed.recv().await, ServerMsg::Joined { user } if user.id == bob.id && user.username == "Bob"));
    // Chat now goes to the new room only.
    bob.send(&ClientMsg::chat("moved", ChatTarget::Room)).await;
    assert!(matches!(zed.recv().await, ServerMsg::Chat(ChatMessage { text, .. }) if text == "moved"));
    assert!(ann.drain().await.is_empty());
}

#[tokio::test]
async fn api_rooms_lists_live_rooms_with_head_counts() {
    let addr = start().await;
    let url = format!("http://{addr}/api/rooms");
    let empty: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(empty, json!({"rooms": []}));

    let _a = connect(addr, "alpha", "A").await;
    let _b = connect(addr, "alpha", "B").await;
    let c = connect(addr, "beta", "C").await;
    let rooms: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(rooms, json!({"rooms": [{"name":"alpha","users":2,"away":0},{"name":"beta","users":1,"away":0}]}));

    // A room exists only while someone is in it: once C moves to alpha, beta is gone.
    let mut c = c;
    c.send(&ClientMsg::join("alpha")).await;
    assert!(matches!(c.recv().await, ServerMsg::Welcome { .. }));
    let rooms: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(rooms, json!({"rooms": [{"name":"alpha","users":3,"away":0}]}));
}

#[tokio::test]
async fn healthz_answers_ok_and_a_single_node_is_its_own_cluster() {
    let addr = start().await;
    let response = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    let _ann = connect(addr, "counted", "Ann").await;
    let cluster: serde_json::Value =
        reqwest::get(format!("http://{addr}/api/cluster")).await.unwrap().json().await.unwrap();
    assert_eq!(cluster["bus"], "local");
    assert_eq!(cluster["nodes"].as_array().map(Vec::len), Some(1));
    assert_eq!(cluster["nodes"][0]["here"], true);
    assert!(cluster["nodes"][0]["connections"].as_u64() >= Some(1), "{cluster}");
}

#[tokio::test]
async fn after_moving_rooms_no_cursor_from_the_old_room_arrives() {
    let addr = start().await;
    let mut ann = connect(addr, "old", "Ann").await;
    let mut bob = connect(addr, "old", "Bob").await;
    ann.drain().await;
    for i in 0..100 {
        ann.send(&ClientMsg::Cursor { x: f64::from(i) / 100.0, y: 0.5 }).await;
    }
    // Bob has not read any of those moves when he leaves for another room.
    bob.send(&ClientMsg::join("new")).await;
    bob.recv_until(|m| matches!(m, ServerMsg::Welcome { room, .. } if room == "new").then_some(())).await;
    let after = bob.drain().await;
    assert!(!after.iter().any(|m| matches!(m, ServerMsg::Cursors { .. })), "{after:?}");
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format() {
    let addr = start().await;
    let mut ann = connect(addr, "metrics", "Ann").await;
    ann.send(&ClientMsg::chat("counted", ChatTarget::Room)).await;
    ann.recv().await;
    let body = reqwest::get(format!("http://{addr}/metrics")).await.unwrap().text().await.unwrap();
    for name in ["flock_connections", "flock_rooms", "flock_messages_in_total{type=\"chat\"}", "flock_bytes_out_total"]
    {
        assert!(body.contains(name), "{name} missing from:\n{body}");
    }
    assert!(body.contains("# TYPE flock_fanout_seconds histogram"), "{body}");
}

#[tokio::test]
async fn a_users_cursor_never_arrives_before_their_joined_or_after_their_left() {
    let addr = start().await;
    let mut cat = connect(addr, "order", "Cat").await;
    let mut dan = connect(addr, "order", "Dan").await;
    for i in 0..200 {
        dan.send(&ClientMsg::Cursor { x: f64::from(i) / 200.0, y: 0.5 }).await;
    }
    let dan_id = dan.id;
    dan.goodbye().await;
    let (_, before) = cat.recv_until(|m| matches!(m, ServerMsg::Left { id } if *id == dan_id).then_some(())).await;
    let joined_at = before.iter().position(|m| matches!(m, ServerMsg::Joined { user } if user.id == dan_id));
    let first_cursor =
        before.iter().position(|m| matches!(m, ServerMsg::Cursors { moves } if moves.iter().any(|mv| mv.id == dan_id)));
    assert!(joined_at.is_some() && joined_at < first_cursor, "{before:?}");
    let after = cat.drain().await;
    let late =
        after.iter().any(|m| matches!(m, ServerMsg::Cursors { moves } if moves.iter().any(|mv| mv.id == dan_id)));
    assert!(!late, "a cursor after its user's left: {after:?}");
}

#[tokio::test]
async fn compact_clients_get_binary_cursors_and_json_clients_json_in_the_same_room() {
    let addr = start().await;
    let mut ann = connect(addr, "compact", "Ann").await;
    let mut bob = try_connect(addr, "room=compact&username=Bob&encoding=compact").await.expect("compact connect");
    ann.drain().await;

    ann.send(&ClientMsg::Cursor { x: 0.25, y: 0.75 }).await;
    let (moves, _) =
        bob.recv_until(|m| if let ServerMsg::Cursors { moves } = m { Some(moves.clone()) } else { None }).await;
    assert_eq!(moves, vec![Move { id: ann.id, x: 0.25, y: 0.75 }]);
    assert_eq!(bob.binary_frames, 1, "a compact client gets cursors as binary frames");

    bob.send(&ClientMsg::Cursor { x: 0.5, y: 0.125 }).await;
    let (moves, _) =
        ann.recv_until(|m| if let ServerMsg::Cursors { moves } = m { Some(moves.clone()) } else { None }).await;
    assert_eq!(moves, vec![Move { id: bob.id, x: 0.5, y: 0.125 }]);
    assert_eq!(ann.binary_frames, 0, "the default stays JSON");

    // Everything but cursors stays JSON for a compact client.
    ann.send(&ClientMsg::chat("hi", ChatTarget::Room)).await;
    let (text, _) = bob.recv_until(|m| if let ServerMsg::Chat(c) = m { Some(c.text.clone()) } else { None }).await;
    assert_eq!((text.as_str(), bob.binary_frames), ("hi", 1));
}

#[tokio::test]
async fn an_unknown_encoding_is_refused_before_the_upgrade() {
    let addr = start().await;
    let refused = try_connect(addr, "room=r&encoding=msgpack").await.err().expect("refused");
    assert_eq!(refused.status, 400);
    assert!(refused.body.contains("encoding"), "{}", refused.body);
}
