//! The HTTP API for the app's backend against a real server over real HTTP: every endpoint
//! and its refusals, with WebSocket clients seeing what it publishes.

mod common;

use common::{connect, start_with, test_config, try_connect, Client};
use flock::protocol::api::{HistoryPage, Posted, Presence};
use flock::protocol::{ChatTarget, ClientMsg, RoomList, ServerMsg};
use flock::server::invite::{mint, Claims};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

const KEY: &str = "test-api-key-0123456789";
const OTHER_KEY: &str = "second-api-key-0123456789";
const SECRET: &str = "test-secret-of-at-least-32-bytes";

async fn api_server() -> SocketAddr {
    let mut config = test_config();
    config.api_keys = vec![KEY.into(), OTHER_KEY.into()];
    config.secret = Some(SECRET.into());
    start_with(config).await
}

/// A request to `path` under `/api/v1` with `key`.
fn call(method: reqwest::Method, addr: SocketAddr, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
    let request = reqwest::Client::new().request(method, format!("http://{addr}/api/v1{path}"));
    match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

async fn post(addr: SocketAddr, path: &str, body: Value) -> reqwest::Response {
    call(reqwest::Method::POST, addr, path, Some(KEY)).json(&body).send().await.expect("POST")
}

async fn get(addr: SocketAddr, path: &str) -> reqwest::Response {
    call(reqwest::Method::GET, addr, path, Some(KEY)).send().await.expect("GET")
}

/// The status and the `error` code of a refusal.
async fn refusal(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON refusal");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "a message for people: {body}");
    (status, body["error"].as_str().expect("an error code").to_owned())
}

async fn posted(response: reqwest::Response) -> u64 {
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Posted>().await.expect("a seq").seq
}

/// Waits for the chat with `text`.
async fn chat_with(client: &mut Client, text: &str) -> flock::protocol::ChatMessage {
    client
        .recv_until(|m| match m {
            ServerMsg::Chat(chat) if chat.text == text => Some(chat.clone()),
            _ => None,
        })
        .await
        .0
}

#[tokio::test]
async fn without_a_key_configured_the_api_is_not_there() {
    let addr = start_with(test_config()).await;
    let response = call(reqwest::Method::GET, addr, "/rooms", Some(KEY)).send().await.unwrap();
    assert_eq!(refusal(response).await, (StatusCode::NOT_FOUND, "not_found".into()));
}

#[tokio::test]
async fn a_missing_or_wrong_key_gets_401_and_every_configured_key_works() {
    let addr = api_server().await;
    let missing = call(reqwest::Method::GET, addr, "/rooms", None).send().await.unwrap();
    assert!(missing.headers().contains_key("www-authenticate"));
    assert_eq!(refusal(missing).await, (StatusCode::UNAUTHORIZED, "unauthorized".into()));
    let wrong = call(reqwest::Method::GET, addr, "/rooms", Some("not-the-key-0123456789")).send().await.unwrap();
    assert_eq!(refusal(wrong).await.0, StatusCode::UNAUTHORIZED);
    let wrong_scheme = reqwest::Client::new()
        .get(format!("http://{addr}/api/v1/rooms"))
        .basic_auth("x", Some(KEY))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_scheme.status(), StatusCode::UNAUTHORIZED, "only a bearer key");
    for key in [KEY, OTHER_KEY] {
        let ok = call(reqwest::Method::GET, addr, "/rooms", Some(key)).send().await.unwrap();
        assert_eq!(ok.status(), StatusCode::OK);
    }
    let unknown = get(addr, "/nothing-here").await;
    assert_eq!(refusal(unknown).await, (StatusCode::NOT_FOUND, "not_found".into()));
    let unauthorized_unknown = call(reqwest::Method::GET, addr, "/nothing-here", None).send().await.unwrap();
    assert_eq!(unauthorized_unknown.status(), StatusCode::UNAUTHORIZED, "nothing is told without a key");
}

#[tokio::test]
async fn a_published_chat_is_stored_numbered_and_delivered_from_the_server_and_a_ref_makes_it_idempotent() {
    let addr = api_server().await;
    let mut ann = connect(addr, "deploys", "ann").await;
    let mut bob = connect(addr, "deploys", "bob").await;
    let first = posted(
        post(addr, "/rooms/deploys/messages", json!({"text": "v2 is out", "username": "Deploy bot", "ref": "d-1"}))
            .await,
    )
    .await;
    for client in [&mut ann, &mut bob] {
        let chat = chat_with(client, "v2 is out").await;
        assert_eq!(
            (chat.seq, chat.from, chat.username.as_str(), chat.server),
            (first, Uuid::nil(), "Deploy bot", true)
        );
        assert_eq!(chat.to, ChatTarget::Room);
    }
    // On the wire: `"server":true`, and a client's own chats carry no `server` at all.
    let again = posted(post(addr, "/rooms/deploys/messages", json!({"text": "v2 is out", "ref": "d-1"})).await).await;
    assert_eq!(again, first, "a retry with the same ref is the same chat");
    let direct =
        posted(post(addr, "/rooms/deploys/messages", json!({"text": "your build broke", "to": bob.id})).await).await;
    assert_eq!(direct, first + 1, "the retry took no seq");
    let chat = chat_with(&mut bob, "your build broke").await;
    assert_eq!((chat.to, chat.username.as_str()), (ChatTarget::User(bob.id), "server"));
    let seen_by_ann = ann.drain().await;
    let texts: Vec<&str> = seen_by_ann
        .iter()
        .filter_map(|m| match m {
            ServerMsg::Chat(c) if !c.text.starts_with("marker") => Some(c.text.as_str()),
            _ => None,
        })
        .collect();
    assert!(texts.is_empty(), "ann got neither the retry nor bob's direct chat: {texts:?}");

    // A room no one is in: stored there, and the room is not kept open for it.
    let quiet = posted(post(addr, "/rooms/quiet/messages", json!({"text": "for later"})).await).await;
    assert_eq!(quiet, 1);
    let later = connect(addr, "quiet", "cat").await;
    assert_eq!(
        later.history.iter().map(|c| (c.seq, c.text.as_str(), c.server)).collect::<Vec<_>>(),
        [(1, "for later", true)]
    );
    let frame = serde_json::to_value(&later.history[0]).unwrap();
    assert_eq!(frame["server"], json!(true));
    assert_eq!(frame["from"], json!(Uuid::nil()));
}

#[tokio::test]
async fn a_bad_message_gets_a_json_refusal_and_nothing_is_sent() {
    let addr = api_server().await;
    let mut ann = connect(addr, "strict", "ann").await;
    let cases = [
        ("/rooms/strict/messages", json!({"text": ""}), StatusCode::BAD_REQUEST, "invalid"),
        ("/rooms/strict/messages", json!({"text": "x".repeat(2001)}), StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        ("/rooms/strict/messages", json!({"text": "bell\u{7}"}), StatusCode::BAD_REQUEST, "invalid"),
        ("/rooms/strict/messages", json!({"text": "hi", "to": Uuid::new_v4()}), StatusCode::NOT_FOUND, "no_such_user"),
        ("/rooms/strict/messages", json!({"text": "hi", "to": "everyone"}), StatusCode::BAD_REQUEST, "invalid"),
        (
            "/rooms/strict/messages",
            json!({"text": "hi", "username": "\u{202E}evil"}),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        ("/rooms/strict/messages", json!({"text": "hi", "ref": ""}), StatusCode::BAD_REQUEST, "invalid"),
        ("/rooms/strict/messages", json!({"text": "hi", "mood": "x"}), StatusCode::BAD_REQUEST, "invalid"),
        ("/rooms/strict/messages", json!({"words": "hi"}), StatusCode::BAD_REQUEST, "invalid"),
        ("/rooms/not%20a%20room/messages", json!({"text": "hi"}), StatusCode::BAD_REQUEST, "invalid"),
        ("/rooms/strict/events", json!({"name": "bad name"}), StatusCode::BAD_REQUEST, "invalid"),
        (
            "/rooms/strict/events",
            json!({"name": "big", "data": "x".repeat(4095)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
    ];
    for (path, body, status, code) in cases {
        let response = post(addr, path, body.clone()).await;
        assert_eq!(refusal(response).await, (status, code.to_owned()), "{path} {body}");
    }
    let not_json = call(reqwest::Method::POST, addr, "/rooms/strict/messages", Some(KEY))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(not_json).await, (StatusCode::BAD_REQUEST, "invalid".into()));
    let huge = call(reqwest::Method::POST, addr, "/rooms/strict/messages", Some(KEY))
        .header("content-type", "application/json")
        .body(format!(r#"{{"text":"{}"}}"#, "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(huge).await, (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into()));
    let seen = ann.drain().await;
    assert!(
        seen.iter().all(|m| matches!(m, ServerMsg::Chat(c) if c.text.starts_with("marker"))),
        "nothing reached the room: {seen:?}"
    );
}

#[tokio::test]
async fn a_published_event_reaches_the_whole_room_from_null() {
    let addr = api_server().await;
    let mut ann = connect(addr, "live", "ann").await;
    let mut bob = connect(addr, "live", "bob").await;
    let mut elsewhere = connect(addr, "other", "cat").await;
    let response = post(addr, "/rooms/live/events", json!({"name": "deploy:started", "data": {"v": 2}})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    for client in [&mut ann, &mut bob] {
        let (event, _) =
            client.recv_until(|m| matches!(m, ServerMsg::Event { .. }).then(|| serde_json::to_value(m).unwrap())).await;
        assert_eq!(event, json!({"type": "event", "name": "deploy:started", "data": {"v": 2}, "from": null}));
    }
    assert!(elsewhere.drain().await.iter().all(|m| !matches!(m, ServerMsg::Event { .. })));
    // A room no one is in takes it too (and no one hears it).
    let nobody = post(addr, "/rooms/empty/events", json!({"name": "ping"})).await;
    assert_eq!(nobody.status(), StatusCode::ACCEPTED);
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn rooms_and_presence_show_everyone_private_rooms_included() {
    let addr = api_server().await;
    let ann = connect(addr, "open", "ann").await;
    let bob = connect(addr, "open", "bob").await;
    let invitation = mint(SECRET, &Claims { room: "private-team".into(), name: "Zed".into(), exp: now() + 60 });
    let zed = try_connect(addr, &format!("room=private-team&username=Zed&token={invitation}")).await.expect("invited");

    let rooms: RoomList = get(addr, "/rooms").await.json().await.unwrap();
    let mut listed: Vec<(String, usize)> = rooms.rooms.into_iter().map(|r| (r.name, r.users)).collect();
    listed.sort();
    assert_eq!(listed, [("open".to_owned(), 2), ("private-team".to_owned(), 1)]);
    assert!(common::rooms(addr).await.rooms.iter().all(|r| r.name != "private-team"), "the lobby still hides it");

    let presence: Presence = get(addr, "/rooms/open/presence").await.json().await.unwrap();
    let users: Vec<(Uuid, &str)> = presence.users.iter().map(|u| (u.id, u.username.as_str())).collect();
    assert_eq!(users, [(ann.id, "ann"), (bob.id, "bob")]);
    let private: Presence = get(addr, "/rooms/private-team/presence").await.json().await.unwrap();
    assert_eq!(private.users.iter().map(|u| u.id).collect::<Vec<_>>(), [zed.id]);
    let empty: Presence = get(addr, "/rooms/nobody-here/presence").await.json().await.unwrap();
    assert!(empty.users.is_empty());
    assert_eq!(refusal(get(addr, "/rooms/bad%20name/presence").await).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn history_pages_every_chat_direct_ones_included() {
    let addr = api_server().await;
    let mut ann = connect(addr, "paged", "ann").await;
    let mut bob = connect(addr, "paged", "bob").await;
    ann.send(&ClientMsg::Chat { text: "one".into(), to: ChatTarget::Room, reference: Some("a1".into()) }).await;
    ann.send(&ClientMsg::Chat {
        text: "two, for bob".into(),
        to: ChatTarget::User(bob.id),
        reference: Some("a2".into()),
    })
    .await;
    ann.recv_until(|m| matches!(m, ServerMsg::Ack { reference, .. } if reference == "a2").then_some(())).await;
    bob.send(&ClientMsg::Chat { text: "three".into(), to: ChatTarget::Others, reference: Some("b1".into()) }).await;
    chat_with(&mut ann, "three").await;
    posted(post(addr, "/rooms/paged/messages", json!({"text": "four"})).await).await;

    let page = |query: &'static str| async move {
        let response = get(addr, &format!("/rooms/paged/history{query}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        let page: HistoryPage = response.json().await.unwrap();
        (page.chats.iter().map(|c| c.text.clone()).collect::<Vec<_>>(), page.more)
    };
    assert_eq!(page("").await, (vec!["one".into(), "two, for bob".into(), "three".into(), "four".into()], false));
    assert_eq!(page("?limit=2").await, (vec!["three".into(), "four".into()], true), "the newest, oldest first");
    assert_eq!(page("?before=3&limit=1").await, (vec!["two, for bob".into()], true));
    assert_eq!(page("?after=1&limit=2").await, (vec!["two, for bob".into(), "three".into()], true));
    assert_eq!(page("?after=2&before=4").await, (vec!["three".into()], false));
    let response = get(addr, "/rooms/paged/history?limit=2").await;
    let raw: Value = response.json().await.unwrap();
    assert_eq!(raw["chats"][0]["to"], json!("others"));
    assert_eq!(raw["chats"][1]["server"], json!(true));
    let direct: HistoryPage = get(addr, "/rooms/paged/history?after=1&limit=1").await.json().await.unwrap();
    assert_eq!(direct.chats[0].to, ChatTarget::User(bob.id), "a direct chat says whom it was for");
    for bad in ["?limit=0", "?limit=101", "?after=x", "?page=2"] {
        let response = get(addr, &format!("/rooms/paged/history{bad}")).await;
        assert_eq!(refusal(response).await, (StatusCode::BAD_REQUEST, "invalid".into()), "{bad}");
    }
}

async fn delete(addr: SocketAddr, path: &str) -> reqwest::Response {
    call(reqwest::Method::DELETE, addr, path, Some(KEY)).send().await.expect("DELETE")
}

#[tokio::test]
async fn a_removed_user_is_closed_with_4003_announced_left_at_once_and_banned_for_a_while() {
    let mut config = test_config();
    config.api_keys = vec![KEY.into()];
    // A long grace: the `left` that comes at once is the removal's, not a dropped socket's.
    config.leave_grace_secs = 600;
    let addr = start_with(config).await;
    let mut ann = connect(addr, "kick", "ann").await;
    let mut bob = connect(addr, "kick", "bob").await;
    let bob_id = bob.id;

    let response = delete(addr, &format!("/rooms/kick/users/{bob_id}?ban_secs=60")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(bob.closed_with().await, flock::protocol::close::REMOVED);
    ann.recv_until(|m| matches!(m, ServerMsg::Left { id } if *id == bob_id).then_some(())).await;
    let presence: Presence = get(addr, "/rooms/kick/presence").await.json().await.unwrap();
    assert_eq!(presence.users.iter().map(|u| u.id).collect::<Vec<_>>(), [ann.id]);

    // Banned there: refused before the upgrade, and a `join` from elsewhere is forbidden.
    let refused = try_connect(addr, &format!("room=kick&session={}", bob.session)).await.err().expect("refused");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("removed"), "{}", refused.body);
    let mut elsewhere =
        try_connect(addr, &format!("room=other&session={}", bob.session)).await.expect("other rooms are open");
    assert_eq!(elsewhere.id, bob_id, "the same identity");
    elsewhere.send(&ClientMsg::join("kick")).await;
    let (code, _) = elsewhere
        .recv_until(|m| match m {
            ServerMsg::Error { code, .. } => Some(*code),
            _ => None,
        })
        .await;
    assert_eq!(code, flock::protocol::ErrorCode::Forbidden);

    // Without a ban the user may come straight back.
    let ann_session = ann.session.clone();
    assert_eq!(delete(addr, &format!("/rooms/kick/users/{}", ann.id)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(ann.closed_with().await, flock::protocol::close::REMOVED);
    let back = try_connect(addr, &format!("room=kick&session={ann_session}")).await.expect("not banned");
    assert_eq!(back.id, ann.id);

    // Someone not there: nothing to do, still 204; bad input: 400.
    assert_eq!(delete(addr, &format!("/rooms/kick/users/{}", Uuid::new_v4())).await.status(), StatusCode::NO_CONTENT);
    for bad in [
        "/rooms/kick/users/not-an-id",
        "/rooms/kick/users/00000000-0000-0000-0000-000000000001?ban_secs=0",
        "/rooms/kick/users/00000000-0000-0000-0000-000000000001?ban_secs=x",
        "/rooms/bad%20room/users/00000000-0000-0000-0000-000000000001",
    ] {
        assert_eq!(refusal(delete(addr, bad).await).await, (StatusCode::BAD_REQUEST, "invalid".into()), "{bad}");
    }
}

#[tokio::test]
async fn a_revoked_identity_is_closed_with_4003_and_its_session_tokens_stop_working() {
    let addr = api_server().await;
    let mut ann = connect(addr, "revoke", "ann").await;
    let mut bob = connect(addr, "revoke", "bob").await;
    let (ann_id, token) = (ann.id, ann.session.clone());
    let response =
        call(reqwest::Method::POST, addr, &format!("/users/{ann_id}/revoke"), Some(KEY)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(ann.closed_with().await, flock::protocol::close::REMOVED);
    bob.recv_until(|m| matches!(m, ServerMsg::Left { id } if *id == ann_id).then_some(())).await;
    // The old token is no one's any more: coming back with it makes a new identity.
    let back =
        try_connect(addr, &format!("room=revoke&session={token}&username=ann")).await.expect("let in as someone new");
    assert_ne!(back.id, ann_id);
    assert_ne!(back.session, token);
    // Others are untouched.
    let bob_again = try_connect(addr, &format!("room=revoke&session={}", bob.session)).await.expect("bob resumes");
    assert_eq!(bob_again.id, bob.id);
    let bad = call(reqwest::Method::POST, addr, "/users/not-an-id/revoke", Some(KEY)).send().await.unwrap();
    assert_eq!(refusal(bad).await, (StatusCode::BAD_REQUEST, "invalid".into()));
}

#[tokio::test]
async fn the_openapi_description_covers_every_endpoint_and_body() {
    let addr = api_server().await;
    let response = get(addr, "/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')), "OpenAPI 3: {}", doc["openapi"]);
    let endpoints = [
        ("/api/v1/rooms", "get"),
        ("/api/v1/rooms/{room}/messages", "post"),
        ("/api/v1/rooms/{room}/events", "post"),
        ("/api/v1/rooms/{room}/presence", "get"),
        ("/api/v1/rooms/{room}/history", "get"),
        ("/api/v1/rooms/{room}/users/{id}", "delete"),
        ("/api/v1/users/{id}/revoke", "post"),
    ];
    for (path, method) in endpoints {
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is described");
    }
    assert_eq!(doc["paths"].as_object().map(|p| p.len()), Some(endpoints.len()), "and nothing else");
    let schemas = &doc["components"]["schemas"];
    for name in ["PostMessage", "Posted", "PostEvent", "Presence", "HistoryPage", "ApiError", "ChatMessage", "User"] {
        assert!(schemas[name].is_object(), "{name} is described");
    }
    assert!(schemas["PostMessage"]["required"].as_array().unwrap().contains(&json!("text")));
    assert!(schemas["PostMessage"]["properties"]["ref"].is_object(), "fields as on the wire");
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["scheme"], json!("bearer"));
    let unauthorized = call(reqwest::Method::GET, addr, "/openapi.json", None).send().await.unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
}
