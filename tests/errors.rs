//! Bad input against a real server: every error code, the frame size limit and bad
//! query values. None of it may take the connection, the room or the hub down.

mod common;

use common::{connect, start, start_with, test_config, try_connect, Client};
use flock::protocol::{close, ChatMessage, ChatTarget, ClientMsg, ErrorCode, ServerMsg};
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

async fn expect_error(client: &mut Client, want: ErrorCode) {
    match client.recv().await {
        ServerMsg::Error { code, message, .. } => {
            assert_eq!(code, want, "{message}");
            assert!(!message.is_empty());
        }
        other => panic!("expected error {want:?}, got {other:?}"),
    }
}

/// The connection still works: a chat to the room comes back.
async fn still_open(client: &mut Client) {
    client.send(&ClientMsg::chat("still here", ChatTarget::Room)).await;
    assert!(matches!(client.recv().await, ServerMsg::Chat(ChatMessage { text, .. }) if text == "still here"));
}

#[tokio::test]
async fn every_bad_frame_gets_its_error_code_and_the_connection_stays_open() {
    let addr = start().await;
    let mut ann = connect(addr, "errors", "Ann").await;
    let big_state = json!({"blob": "x".repeat(5000)});
    let cases: Vec<(String, ErrorCode)> = vec![
        ("{not json".into(), ErrorCode::BadJson),
        ("[1,2,3]".into(), ErrorCode::BadJson),
        (r#"{"x":1}"#.into(), ErrorCode::UnknownType),
        (r#"{"type":"teleport"}"#.into(), ErrorCode::UnknownType),
        (r#"{"type":"cursor","x":"a","y":0}"#.into(), ErrorCode::Invalid),
        (r#"{"type":"cursor","x":1.5,"y":0}"#.into(), ErrorCode::Invalid),
        (r#"{"type":"cursor","x":-0.1,"y":0}"#.into(), ErrorCode::Invalid),
        (r#"{"type":"state","state":"happy"}"#.into(), ErrorCode::Invalid),
        (json!({"type":"state","state":big_state}).to_string(), ErrorCode::TooLarge),
        (r#"{"type":"rename","username":"   "}"#.into(), ErrorCode::Invalid),
        (r#"{"type":"rename","username":"a\u0007b"}"#.into(), ErrorCode::Invalid),
        (json!({"type":"rename","username":"x".repeat(33)}).to_string(), ErrorCode::Invalid),
        (r#"{"type":"chat","text":""}"#.into(), ErrorCode::Invalid),
        (json!({"type":"chat","text":"x".repeat(2001)}).to_string(), ErrorCode::TooLarge),
        (r#"{"type":"chat","text":"hi","to":"nobody"}"#.into(), ErrorCode::Invalid),
        (json!({"type":"chat","text":"hi","to":Uuid::new_v4()}).to_string(), ErrorCode::NoSuchUser),
        (r#"{"type":"join","room":"no spaces"}"#.into(), ErrorCode::Invalid),
    ];
    for (frame, code) in cases {
        ann.send_text(&frame).await;
        expect_error(&mut ann, code).await;
    }
    ann.ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    expect_error(&mut ann, ErrorCode::BinaryUnsupported).await;
    still_open(&mut ann).await;
}

#[tokio::test]
async fn text_and_state_at_the_limits_are_accepted() {
    let addr = start().await;
    let mut ann = connect(addr, "limits", "Ann").await;
    let text = "é".repeat(2000); // 2000 characters, 4000 bytes
    ann.send(&ClientMsg::chat(text.clone(), ChatTarget::Room)).await;
    assert!(matches!(ann.recv().await, ServerMsg::Chat(ChatMessage { text: got, .. }) if got == text));
    // {"b":"…"} is 8 bytes of framing around the value.
    let state = json!({"b": "x".repeat(4096 - 8)}).as_object().unwrap().clone();
    assert_eq!(serde_json::to_string(&state).unwrap().len(), 4096);
    ann.send(&ClientMsg::State { state }).await;
    assert!(matches!(ann.recv().await, ServerMsg::State { .. }));
}

#[tokio::test]
async fn a_frame_over_the_size_limit_closes_with_1009_and_the_room_carries_on() {
    let addr = start().await;
    let mut ann = connect(addr, "huge", "Ann").await;
    let mut bob = connect(addr, "huge", "Bob").await;
    ann.recv().await; // joined
    let huge = json!({"type":"chat","text":"x".repeat(70 * 1024)}).to_string();
    bob.send_text(&huge).await;
    assert_eq!(bob.closed_with().await, close::TOO_BIG);
    assert_eq!(ann.recv().await, ServerMsg::Left { id: bob.id });
    still_open(&mut ann).await;
    // The hub still takes newcomers.
    let cat = connect(addr, "huge", "Cat").await;
    assert_eq!(cat.users.len(), 2);
}

#[tokio::test]
async fn the_frame_limit_is_a_setting() {
    let mut config = test_config();
    config.max_frame_bytes = 1024;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "small", "Ann").await;
    ann.send_text(&json!({"type":"chat","text":"x".repeat(1100)}).to_string()).await;
    assert_eq!(ann.closed_with().await, close::TOO_BIG);
}

#[tokio::test]
async fn bad_query_values_are_refused_with_400_before_the_upgrade() {
    let addr = start().await;
    let long_room = "r".repeat(65);
    let long_name = "n".repeat(33);
    let cases = [
        ("room=has%20space", "room"),
        ("room=", "room"),
        ("room=caf%C3%A9", "room"),
        (&*format!("room={long_room}"), "room"),
        ("username=", "username"),
        ("username=%20%20", "username"),
        ("username=a%0Ab", "username"),
        (&*format!("username={long_name}"), "username"),
        ("room=ok&room=twice", "room"),
    ];
    for (query, mentions) in cases {
        let refused = try_connect(addr, query).await.err().unwrap_or_else(|| panic!("{query} was accepted"));
        assert_eq!(refused.status, 400, "{query}");
        assert!(refused.body.contains(mentions), "{query}: {:?}", refused.body);
    }
    // The longest valid values are fine.
    let ok = try_connect(addr, &format!("room={}&username={}", "r".repeat(64), "n".repeat(32))).await;
    assert!(ok.is_ok());
}

#[tokio::test]
async fn past_the_rate_limit_frames_are_dropped_with_rate_limited_and_floods_close_with_1008() {
    let mut config = test_config();
    config.rate_per_sec = 0.001; // no refill within the test
    config.rate_burst = 3.0;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "rate", "Ann").await;
    for i in 0..4 {
        ann.send(&ClientMsg::chat(format!("m{i}"), ChatTarget::Room)).await;
    }
    // The refusal is immediate, the three chats come once stored: in any interleaving,
    // the chats in their order and one `rate_limited`.
    let (mut texts, mut refused) = (Vec::new(), Vec::new());
    while texts.len() + refused.len() < 4 {
        match ann.recv().await {
            ServerMsg::Chat(ChatMessage { text, .. }) => texts.push(text),
            ServerMsg::Error { code, .. } => refused.push(code),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((texts, refused), (vec!["m0".to_owned(), "m1".into(), "m2".into()], vec![ErrorCode::RateLimited]));
    // Keeping at it gets the connection closed.
    for _ in 0..100 {
        ann.send_text("{}").await;
    }
    assert_eq!(ann.closed_with().await, close::POLICY);
}

#[tokio::test]
async fn browsers_on_other_origins_are_refused_with_403() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let addr = start().await;
    let attempt = |origin: String| async move {
        let mut request = format!("ws://{addr}/ws?room=o").into_client_request().unwrap();
        request.headers_mut().insert("origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request).await.map(|_| ())
    };
    match attempt("http://evil.example".into()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    assert!(attempt(format!("http://{addr}")).await.is_ok(), "the site's own origin is allowed");

    let mut config = test_config();
    config.allowed_origins = vec!["https://flock.example".into()];
    let addr = start_with(config).await;
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.headers_mut().insert("origin", "https://flock.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_ok(), "a configured origin is allowed");
}
