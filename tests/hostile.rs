//! Clients that do not play by the rules: whatever one connection sends, the others keep
//! their place and their messages, and the sender is limited or cut off, never the room.

mod common;

use common::{connect, start_with, test_config, Client};
use flock::protocol::{close, ChatTarget, ClientMsg, ErrorCode, ServerMsg, UserState};
use futures_util::StreamExt;
use serde_json::json;
use std::collections::HashMap;
use tokio_tungstenite::tungstenite::Message;

fn chat_with_ref(text: &str, reference: &str) -> ClientMsg {
    ClientMsg::Chat { text: text.into(), to: ChatTarget::Room, reference: Some(reference.into()) }
}

fn state(n: u64, pad: usize) -> UserState {
    let mut state = UserState::new();
    state.insert("n".into(), json!(n));
    state.insert("pad".into(), json!("x".repeat(pad)));
    state
}

fn rate_limited(msg: &ServerMsg) -> Option<(Option<String>, Option<u64>)> {
    match msg {
        ServerMsg::Error { code: ErrorCode::RateLimited, reference, retry_after_ms, .. } => {
            Some((reference.clone(), *retry_after_ms))
        }
        _ => None,
    }
}

#[tokio::test]
async fn a_chat_refused_by_the_rate_limit_gets_its_ref_back_and_when_to_retry() {
    let mut config = test_config();
    config.rate_per_sec = 1.0;
    config.rate_burst = 1.0;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "limits", "Ann").await;
    ann.send(&chat_with_ref("one", "r-1")).await;
    ann.send(&chat_with_ref("two", "r-2")).await;
    let ((reference, retry), _) = ann.recv_until(rate_limited).await;
    assert_eq!(reference.as_deref(), Some("r-2"), "the refused chat is named");
    assert!(retry.is_some_and(|ms| ms > 0 && ms <= 1000), "{retry:?}");
}

#[tokio::test]
async fn chats_are_counted_per_client_over_all_its_connections() {
    let mut config = test_config();
    config.chats_per_sec = flock::server::config::DEFAULT_CHATS_PER_SEC; // 10 a second, 20 at once
    let addr = start_with(config).await;
    // Every test client is 127.0.0.1: four connections share one budget.
    let mut floods = Vec::new();
    for i in 0..4 {
        floods.push(connect(addr, "chat-quota", &format!("flood-{i}")).await);
    }
    for n in 0..10 {
        for (i, flood) in floods.iter_mut().enumerate() {
            flood.send(&chat_with_ref("spam", &format!("f{i}-{n}"))).await;
        }
    }
    let (mut acked, mut refused) = (0, 0);
    for flood in &mut floods {
        // Ten answers each, one per chat it sent (the others' chats come in between).
        let mut answers = 0;
        while answers < 10 {
            match flood.recv().await {
                ServerMsg::Ack { .. } => acked += 1,
                msg @ ServerMsg::Error { .. } => {
                    let (reference, retry) =
                        rate_limited(&msg).unwrap_or_else(|| panic!("expected rate_limited: {msg:?}"));
                    assert!(reference.is_some() && retry.is_some_and(|ms| ms > 0), "{msg:?}");
                    refused += 1;
                }
                _ => continue,
            }
            answers += 1;
        }
    }
    assert!((20..=22).contains(&acked), "a burst of 20 over all four connections, not 20 each: {acked}");
    assert_eq!(acked + refused, 40);
}

#[tokio::test]
async fn joins_are_rate_limited_even_to_the_room_you_are_in() {
    let addr = start_with(test_config()).await; // 30 a minute, 10 at once
    let mut ann = connect(addr, "hop", "Ann").await;
    for _ in 0..15 {
        ann.send(&ClientMsg::join("hop")).await;
    }
    let (mut welcomes, mut refused) = (0, 0);
    while welcomes + refused < 15 {
        match ann.recv().await {
            ServerMsg::Welcome { .. } => welcomes += 1,
            msg => {
                let (_, retry) = rate_limited(&msg).unwrap_or_else(|| panic!("unexpected {msg:?}"));
                assert!(retry.is_some_and(|ms| ms > 0), "a refused join says when to retry");
                refused += 1;
            }
        }
    }
    assert_eq!((welcomes, refused), (10, 5));
}

#[tokio::test]
async fn state_and_rename_have_a_rate_of_their_own() {
    let addr = start_with(test_config()).await; // 10 a second, 20 at once
    let mut ann = connect(addr, "moods", "Ann").await;
    for n in 0..20 {
        ann.send(&ClientMsg::State { state: state(n, 0) }).await;
    }
    ann.send(&ClientMsg::Rename { username: "Annie".into() }).await;
    ann.send(&chat_with_ref("still here", "c-1")).await;
    let ((), before) = ann.recv_until(|m| matches!(m, ServerMsg::Ack { .. }).then_some(())).await;
    // Ann's own queue may have superseded some of her states: the last one is there.
    let last = before.iter().rev().find_map(|m| match m {
        ServerMsg::State { state, .. } => state["n"].as_u64(),
        _ => None,
    });
    assert_eq!(last, Some(19), "every state within the burst was taken");
    assert_eq!(before.iter().filter_map(rate_limited).count(), 1, "the rename over the rate: {before:?}");
    assert!(!before.iter().any(|m| matches!(m, ServerMsg::Renamed { .. })));
}

/// Reads `client` until `answers` join answers (welcomes or refusals) arrived or the server
/// closed it; returns the welcomes and refusals seen and the close code, if any.
async fn read_join_answers(client: &mut Client, answers: usize) -> (usize, usize, Option<u16>) {
    let (mut welcomes, mut refused) = (0, 0);
    while welcomes + refused < answers {
        match client.recv_or_closed().await {
            Ok(ServerMsg::Welcome { .. }) => welcomes += 1,
            Ok(msg) if rate_limited(&msg).is_some() => refused += 1,
            Ok(_) => {}
            Err(code) => return (welcomes, refused, Some(code)),
        }
    }
    (welcomes, refused, None)
}

/// Fills `room` with 50 chats of 2000 characters that JSON doubles: a 200 KB `welcome`.
async fn fill_history(client: &mut Client) {
    for i in 0..50 {
        client.send(&chat_with_ref(&"\"".repeat(2000), &format!("fill-{i}"))).await;
    }
    client.recv_until(|m| matches!(m, ServerMsg::Ack { reference, .. } if reference == "fill-49").then_some(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_flood_is_limited_and_the_room_reads_on() {
    let addr = start_with(test_config()).await;
    let mut eve = connect(addr, "amplify", "Eve").await;
    let mut ann = connect(addr, "amplify", "Ann").await;
    fill_history(&mut eve).await;
    for _ in 0..300 {
        eve.send(&ClientMsg::join("amplify")).await;
    }
    ann.send(&chat_with_ref("hello", "a-1")).await;
    let ((), seen) = ann.recv_until(|m| matches!(m, ServerMsg::Ack { .. }).then_some(())).await;
    assert_eq!(seen.iter().filter(|m| matches!(m, ServerMsg::Chat(c) if c.text.starts_with('"'))).count(), 50);
    let (welcomes, refused, closed) = read_join_answers(&mut eve, 300).await;
    assert!(welcomes <= 10, "at most a burst of joins is answered with a welcome: {welcomes}");
    assert!(refused > 0 || closed == Some(close::TRY_AGAIN), "{welcomes} {refused} {closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_falls_behind_by_more_than_the_byte_bound_is_cut_off_alone() {
    // A server process of its own, so its /metrics count only this test's connections.
    let data = tempfile::tempdir().expect("temp dir");
    // This test is about the byte bound, not the join rate.
    let server = common::spawn_server(data.path(), &[("FLOCK_JOINS_PER_MINUTE", "1000000000")]).await;
    let addr = server.addr;
    let mut eve = connect(addr, "bytes", "Eve").await;
    let mut ann = connect(addr, "bytes", "Ann").await;
    fill_history(&mut eve).await;
    // 300 welcomes of 200 KB: far more than the kernel's socket buffers and the 1 MiB
    // queue. Eve reads nothing until the server has given up on her.
    for _ in 0..300 {
        eve.send(&ClientMsg::join("bytes")).await;
    }
    common::eventually("Eve is cut off as too slow", || async move {
        common::metric(addr, "flock_slow_closes_total").await.unwrap_or(0.0) >= 1.0
    })
    .await;
    // What the sockets held still comes, then the 1013 (or a reset: the server closes
    // while Eve's unread joins still wait on its side).
    let ending = loop {
        match tokio::time::timeout(common::WAIT, eve.ws.next()).await.expect("the socket ends") {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break None,
        }
    };
    assert!(matches!(ending, Some(close::TRY_AGAIN) | None), "{ending:?}");
    ann.send(&chat_with_ref("still here", "a-1")).await;
    ann.recv_until(|m| matches!(m, ServerMsg::Ack { .. }).then_some(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_flood_costs_a_slow_reader_one_frame_per_user_and_the_latest_wins() {
    const ATTACKERS: usize = 10;
    const STATES: u64 = 600;
    let mut config = test_config();
    // The attackers flood as fast as the socket allows: this test is about the queue.
    (config.rate_per_sec, config.rate_burst, config.state_per_sec) = (1e9, 1e9, 1e9);
    config.outbox_bytes = 256 * 1024;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "flood", "Ann").await; // reads nothing until the end
    let mut attackers = Vec::new();
    for i in 0..ATTACKERS {
        attackers.push(connect(addr, "flood", &format!("Eve{i}")).await);
    }
    // 10 x 600 states of 3.5 KB: 21 MB for every member, far past buffers and queue.
    let floods = attackers.into_iter().enumerate().map(|(i, mut eve)| {
        tokio::spawn(async move {
            for n in 1..=STATES {
                eve.send(&ClientMsg::State { state: state(n, 3500) }).await;
            }
            eve.send(&chat_with_ref(&format!("done-{i}"), "done")).await;
            eve.recv_until(|m| matches!(m, ServerMsg::Ack { .. }).then_some(())).await;
            eve.id
        })
    });
    let mut latest: HashMap<uuid::Uuid, u64> = HashMap::new();
    for flood in floods {
        latest.insert(flood.await.expect("an attacker finished"), 0);
    }
    let mut done = 0;
    while done < ATTACKERS {
        match ann.recv_or_closed().await {
            Ok(ServerMsg::State { id, state }) => {
                let n = state["n"].as_u64().unwrap();
                let last = latest.get_mut(&id).expect("an attacker's state");
                assert!(n > *last, "states of one user stay in order");
                *last = n;
            }
            Ok(ServerMsg::Chat(chat)) if chat.text.starts_with("done-") => done += 1,
            Ok(_) => {}
            Err(code) => panic!("the slow reader was cut off with {code}"),
        }
    }
    assert!(latest.values().all(|&n| n == STATES), "each attacker's last state arrived: {latest:?}");
}

#[tokio::test]
async fn names_that_lie_about_themselves_are_refused_at_the_door_and_on_rename() {
    let addr = start_with(test_config()).await;
    for (name, why) in [
        ("%E2%80%AEevil", "formatting"), // U+202E, a right-to-left override
        ("a%E2%80%8Bb", "formatting"),   // U+200B, a zero-width space
        ("%E3%85%A4", "visible"),        // U+3164, the Hangul filler alone
        ("a%E2%80%A8b", "line breaks"),  // U+2028, a line separator
    ] {
        let refused = common::try_connect(addr, &format!("room=names&username={name}")).await.err();
        let refused = refused.unwrap_or_else(|| panic!("{name} was let in"));
        assert_eq!(refused.status, 400, "{name}");
        assert!(refused.body.contains(why), "{name}: {}", refused.body);
    }
    let composed = common::try_connect(addr, "room=names&username=Jose%CC%81").await.expect("a combining accent");
    let me = composed.users.iter().find(|u| u.id == composed.id).expect("in the welcome");
    assert_eq!(me.username, "Jos\u{e9}", "names are stored NFC-normalized");
    let mut ann = connect(addr, "names", "Ann").await;
    ann.send(&ClientMsg::Rename { username: format!("a{}", "\u{301}".repeat(10)) }).await;
    let ServerMsg::Error { code, message, .. } = ann.recv().await else { panic!("expected an error") };
    assert_eq!(code, ErrorCode::Invalid);
    assert!(message.contains("accents"), "{message}");
}

#[tokio::test]
async fn chat_text_with_control_characters_is_refused_with_its_ref() {
    let addr = start_with(test_config()).await;
    let mut ann = connect(addr, "text", "Ann").await;
    ann.send(&chat_with_ref("bell\u{7}", "t-1")).await;
    let ServerMsg::Error { code, reference, .. } = ann.recv().await else { panic!("expected an error") };
    assert_eq!((code, reference.as_deref()), (ErrorCode::Invalid, Some("t-1")));
    ann.send(&chat_with_ref("two\nlines\tand a tab", "t-2")).await;
    ann.recv_until(|m| matches!(m, ServerMsg::Ack { reference, .. } if reference == "t-2").then_some(())).await;
}

#[tokio::test]
async fn new_connections_from_one_client_are_rate_limited() {
    let mut config = test_config();
    config.connects_per_sec = flock::server::config::DEFAULT_CONNECTS_PER_SEC; // 10 a second, 20 at once
    let addr = start_with(config).await;
    let mut open = Vec::new();
    let refused = loop {
        assert!(open.len() < 200, "never refused");
        match common::try_connect(addr, "room=quota&username=Eve").await {
            Ok(client) => open.push(client),
            Err(refused) => break refused,
        }
    };
    assert!(open.len() >= 20, "the burst passes: {}", open.len());
    assert_eq!(refused.status, 429);
    assert!(refused.body.contains("new connections"), "{}", refused.body);
    assert_eq!(refused.retry_after.as_deref(), Some("1"), "a tenth of a second, rounded up to whole seconds");
}

#[tokio::test]
async fn a_plain_get_of_the_upgrade_url_says_why_the_upgrade_is_refused_and_takes_nothing() {
    let mut config = test_config();
    config.connects_per_sec = 1.0; // two at once, then one a second
    config.max_rooms = 1;
    let addr = start_with(config).await;
    let query = "room=why&username=Eve";
    let _held = (connect(addr, "why", "Ann").await, connect(addr, "why", "Bob").await);
    let refused = common::try_connect(addr, query).await.err().expect("the third connection this second is refused");
    let why = common::ask_why(addr, query).await;
    assert_eq!((why.status, why.retry_after.as_deref()), (429, Some("1")), "{}", why.body);
    assert!(why.body.starts_with("too many new connections") && refused.body.starts_with("too many new connections"));

    common::eventually("the bucket refills", || async { common::ask_why(addr, query).await.status == 426 }).await;
    for _ in 0..3 {
        assert_eq!(common::ask_why(addr, query).await.status, 426, "asking takes no token");
    }
    let _eve = common::try_connect(addr, query).await.expect("the token asking left is there");

    common::eventually("the bucket refills", || async { common::ask_why(addr, query).await.status == 426 }).await;
    let full = common::ask_why(addr, "room=another&username=Eve").await;
    assert_eq!((full.status, full.retry_after), (503, None), "a full server: {}", full.body);
    let bad = common::ask_why(addr, "room=no%20spaces").await;
    assert_eq!(bad.status, 400, "a bad query says so as the upgrade would: {}", bad.body);
}

#[tokio::test]
async fn new_rooms_per_client_are_rate_limited_and_their_total_is_bounded() {
    let mut config = test_config();
    config.rooms_per_minute = flock::server::config::DEFAULT_ROOMS_PER_MINUTE; // 30 a minute, 10 at once
    let addr = start_with(config).await;
    // Every test client is 127.0.0.1: Ann's room is the first of its ten at once.
    let _ann = connect(addr, "lived-in", "Ann").await;
    let mut eve = connect(addr, "hop-0", "Eve").await;
    for i in 1..9 {
        eve.send(&ClientMsg::join(format!("hop-{i}"))).await;
        assert!(matches!(eve.recv().await, ServerMsg::Welcome { .. }), "room {i} is within the burst");
    }
    eve.send(&ClientMsg::join("hop-9")).await;
    let msg = eve.recv().await;
    let (_, retry) = rate_limited(&msg).unwrap_or_else(|| panic!("expected rate_limited, got {msg:?}"));
    assert!(retry.is_some_and(|ms| ms > 0));
    eve.send(&ClientMsg::join("lived-in")).await;
    assert!(matches!(eve.recv().await, ServerMsg::Welcome { .. }), "a live room costs nothing");

    let mut config = test_config();
    config.max_rooms = 3;
    let addr = start_with(config).await;
    let mut held = Vec::new();
    for i in 1..=3 {
        held.push(connect(addr, &format!("m{i}"), "Ann").await);
    }
    let full = common::try_connect(addr, "room=m4&username=Bob").await.err().expect("a fourth room is refused");
    assert_eq!(full.status, 503, "{}", full.body);
    let mut bob = connect(addr, "m1", "Bob").await;
    bob.send(&ClientMsg::join("m5")).await;
    let ServerMsg::Error { code, .. } = bob.recv().await else { panic!("expected an error") };
    assert_eq!(code, ErrorCode::Unavailable);
}
