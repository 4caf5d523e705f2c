//! The fallback transport, an event stream down and POSTs up, against a real server: it
//! shares rooms with sockets, carries every message both ways, resumes, and is held to
//! the socket's admission checks and limits.

mod common;

use common::sse::{open, try_open};
use common::{ask_why, connect, resume, start, start_with, test_config, WAIT};
use flock::protocol::{close, ChatTarget, ClientMsg, ErrorCode, ServerMsg};
use serde_json::json;

#[tokio::test]
async fn a_stream_and_a_socket_share_a_room_both_ways() {
    let addr = start().await;
    let mut ann = connect(addr, "mixed", "Ann").await;
    let mut bob = open(addr, "mixed", "Bob").await;
    let ServerMsg::Welcome { users, .. } = &bob.welcome else { unreachable!() };
    assert!(users.iter().any(|u| u.id == ann.id), "Bob's welcome lists Ann: {users:?}");
    ann.recv_until(|m| matches!(m, ServerMsg::Joined { user } if user.id == bob.id).then_some(())).await;

    // Up: one POST may carry several messages, one per line, taken in order.
    let lines = [
        json!({"type":"chat","text":"hello from a stream","ref":"b1"}).to_string(),
        json!({"type":"cursor","x":0.25,"y":0.75}).to_string(),
        json!({"type":"state","state":{"mood":"calm"}}).to_string(),
    ];
    let answer = bob.post("send", lines.join("\n")).await;
    assert_eq!(answer.status, 204, "{answer:?}");
    let (seq, _) = bob
        .recv_until(|m| matches!(m, ServerMsg::Ack { reference, .. } if reference == "b1").then(|| ack_seq(m)))
        .await;
    // A chat goes out once it is stored, and cursor moves in the board's own frames: the
    // three may reach Ann in any order.
    let (mut chatted, mut moved, mut stated) = (None, false, false);
    while !(chatted.is_some() && moved && stated) {
        match ann.recv().await {
            ServerMsg::Chat(chat) if chat.from == bob.id => chatted = Some((chat.text, chat.seq)),
            ServerMsg::Cursors { moves } => moved |= moves.iter().any(|mv| mv.id == bob.id && mv.x == 0.25),
            ServerMsg::State { id, state } => stated |= id == bob.id && state.get("mood") == Some(&json!("calm")),
            _ => {}
        }
    }
    assert_eq!(chatted, Some(("hello from a stream".to_owned(), seq)));

    // Down: what Ann sends reaches the stream as it would a socket.
    ann.send(&ClientMsg::chat("hello from a socket", ChatTarget::Room)).await;
    ann.send(&ClientMsg::Cursor { x: 0.5, y: 0.5 }).await;
    bob.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "hello from a socket").then_some(())).await;
    bob.recv_until(|m| match m {
        ServerMsg::Cursors { moves } => moves.iter().any(|mv| mv.id == ann.id).then_some(()),
        _ => None,
    })
    .await;
}

fn ack_seq(msg: &ServerMsg) -> u64 {
    match msg {
        ServerMsg::Ack { seq, .. } => *seq,
        _ => unreachable!("only called on acks"),
    }
}

#[tokio::test]
async fn a_goodbye_leaves_at_once_and_ends_the_stream() {
    let addr = start().await;
    let mut ann = connect(addr, "bye", "Ann").await;
    let bob = open(addr, "bye", "Bob").await;
    let (bob_id, token) = (bob.id, bob.token.clone());
    ann.recv_until(|m| matches!(m, ServerMsg::Joined { user } if user.id == bob_id).then_some(())).await;
    let probe = open(addr, "bye", "Probe").await;
    assert_eq!(bob.goodbye().await, close::NORMAL);
    ann.recv_until(|m| matches!(m, ServerMsg::Left { id } if *id == bob_id).then_some(())).await;
    // The token is spent: a POST naming it finds no stream.
    let stale = probe_post(&probe, &token).await;
    assert_eq!(stale, 404);
}

/// The status of an empty POST to `/sse/send` naming `token`, sent from `via`'s server.
async fn probe_post(via: &common::sse::SseClient, token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/sse/send?stream={token}", via.base))
        .body("")
        .send()
        .await
        .expect("POST")
        .status()
        .as_u16()
}

#[tokio::test]
async fn posts_are_answered_for_what_became_of_them() {
    let addr = start().await;
    let mut bob = open(addr, "posts", "Bob").await;
    assert_eq!(probe_post(&bob, "no-such-stream").await, 404);
    assert_eq!(probe_post(&bob, &bob.token).await, 204, "an empty POST says whether the stream is there");
    let too_many = vec![json!({"type":"cursor","x":0.1,"y":0.1}).to_string(); 65].join("\n");
    let answer = bob.post("send", too_many).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(bob.post("send", vec![0xffu8, 0xfe]).await.status, 400, "a body must be UTF-8");
    // A message the server cannot read gets its `error` down the stream, as on a socket.
    assert_eq!(bob.post("send", "not json").await.status, 204);
    bob.recv_until(|m| matches!(m, ServerMsg::Error { code: ErrorCode::BadJson, .. }).then_some(())).await;
    // A body over the frame limit ends the stream as an over-size frame ends a socket.
    let huge = "x".repeat(test_config().max_frame_bytes + 1);
    let answer = bob.post("send", huge).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    let (_, code) = bob.read_until_closed().await;
    assert_eq!(code, close::TOO_BIG);
}

#[tokio::test]
async fn a_stream_is_admitted_as_a_socket_would_be() {
    let mut config = test_config();
    config.allowed_origins = vec!["https://app.example".into()];
    let addr = start_with(config).await;
    for query in ["room=bad%20name&username=Ann", "room=ok&encoding=morse"] {
        let (stream, socket) = (try_open(addr, query).await.err().expect("refused"), ask_why(addr, query).await);
        assert_eq!((stream.status, &stream.body), (socket.status, &socket.body), "{query}");
    }
    let compact = try_open(addr, "room=c&username=Ann&encoding=compact").await.err().expect("refused");
    assert_eq!(compact.status, 400, "{compact:?}");

    // A page of an allowed origin may read the stream and the POSTs' answers; another
    // origin is refused, and told nothing it could read.
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/sse?room=cors&username=Ann");
    let foreign = http.get(&url).header("origin", "https://evil.example").send().await.expect("GET");
    assert_eq!(foreign.status(), 403);
    assert!(foreign.headers().get("access-control-allow-origin").is_none());
    let allowed = http.get(&url).header("origin", "https://app.example").send().await.expect("GET");
    assert_eq!(allowed.status(), 200);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example");
    let post = http.post(format!("http://{addr}/sse/send?stream=gone")).header("origin", "https://app.example");
    let post = post.body("").send().await.expect("POST");
    assert_eq!(
        (post.status().as_u16(), &post.headers()["access-control-allow-origin"]),
        (404, &"https://app.example".parse().unwrap())
    );
}

#[tokio::test]
async fn a_dropped_stream_resumes_with_nothing_lost() {
    let addr = start().await;
    let mut ann = connect(addr, "drop", "Ann").await;
    let bob = open(addr, "drop", "Bob").await;
    ann.recv_until(|m| matches!(m, ServerMsg::Joined { user } if user.id == bob.id).then_some(())).await;
    let (session, since, bob_id) = (bob.session.clone(), bob.seq, bob.id);
    drop(bob); // the HTTP connection goes away with no goodbye
    for text in ["while", "you", "were out"] {
        ann.send(&ClientMsg::chat(text, ChatTarget::Room)).await;
    }
    let query = format!("room=drop&session={session}&since={since}");
    let mut back = try_open(addr, &query).await.expect("resumed");
    assert_eq!(back.id, bob_id);
    let ServerMsg::Welcome { history, .. } = &back.welcome else { unreachable!() };
    let mut texts: Vec<String> = history.iter().map(|c| c.text.clone()).collect();
    while texts.last().map(String::as_str) != Some("were out") {
        if let ServerMsg::Chat(chat) = back.recv().await {
            texts.push(chat.text);
        }
    }
    assert_eq!(texts, ["while", "you", "were out"]);
    let seen = ann.drain().await;
    assert!(!seen.iter().any(|m| matches!(m, ServerMsg::Left { .. })), "Ann saw Bob leave: {seen:?}");
    // And a socket may take the session back from the stream.
    let socket = resume(addr, "drop", &session, back.seq).await;
    assert_eq!(socket.id, bob_id);
}

#[tokio::test]
async fn a_stream_is_held_to_the_rate_limit_of_a_socket() {
    let addr = start().await;
    let mut bob = open(addr, "flood", "Bob").await;
    let body = vec![json!({"type":"cursor","x":0.1,"y":0.1}).to_string(); 64].join("\n");
    let deadline = tokio::time::Instant::now() + WAIT;
    // Sent faster than any rate allows: refused with `rate_limited`, then closed with 1008.
    loop {
        let answer = bob.post("send", body.clone()).await;
        match answer.status {
            204 | 429 => {}
            404 => break, // the stream ended
            other => panic!("unexpected {other}: {answer:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "never closed for flooding");
    }
    let (seen, code) = bob.read_until_closed().await;
    assert_eq!(code, close::POLICY);
    assert!(seen.iter().any(|m| matches!(m, ServerMsg::Error { code: ErrorCode::RateLimited, .. })));
}

#[tokio::test]
async fn streams_do_not_count_as_pending_requests() {
    let mut config = test_config();
    config.max_pending_per_ip = 2;
    let addr = start_with(config).await;
    let mut streams = Vec::new();
    for name in ["A", "B", "C", "D"] {
        streams.push(open(addr, "many", name).await);
    }
    let last = streams.last_mut().expect("streams");
    last.send(&ClientMsg::chat("still heard", ChatTarget::Room)).await;
    for stream in &mut streams {
        stream.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "still heard").then_some(())).await;
    }
}
