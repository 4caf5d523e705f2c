//! Round trips and contract shapes: a change that breaks an external client fails here.

use super::*;
use serde_json::json;

fn id(n: u8) -> Uuid {
    Uuid::from_bytes([n; 16])
}

fn user(n: u8) -> User {
    let mut state = UserState::new();
    state.insert("status".into(), json!("busy"));
    User {
        id: id(n),
        username: format!("user{n}"),
        color: "#e6194b".into(),
        cursor: Some(Point { x: 0.4, y: 0.1 }),
        state,
    }
}

fn chat(seq: u64) -> ChatMessage {
    ChatMessage {
        seq,
        from: id(1),
        username: "Alex".into(),
        text: "hi <b>".into(),
        to: ChatTarget::User(id(2)),
        ts: 1_700_000_000_000,
        server: false,
    }
}

fn every_client_msg() -> Vec<ClientMsg> {
    vec![
        ClientMsg::Cursor { x: 0.42, y: 0.13 },
        ClientMsg::State { state: user(1).state },
        ClientMsg::Rename { username: "Bo".into() },
        ClientMsg::chat("hi", ChatTarget::Room),
        ClientMsg::chat("psst", ChatTarget::Others),
        ClientMsg::Chat { text: "dm".into(), to: ChatTarget::User(id(9)), reference: Some("r-1".into()) },
        ClientMsg::join("other"),
        ClientMsg::Join { room: "private-x".into(), token: Some("v1.a.b".into()) },
        ClientMsg::History { after: Some(7), before: None, limit: Some(100) },
        ClientMsg::History { after: None, before: Some(7), limit: None },
        ClientMsg::Event { name: "typing".into(), data: serde_json::json!({"on": true}), to: ChatTarget::Others },
        ClientMsg::Event { name: "game:move".into(), data: serde_json::json!([1, 2]), to: ChatTarget::User(id(2)) },
    ]
}

fn every_server_msg() -> Vec<ServerMsg> {
    vec![
        ServerMsg::Welcome {
            you: id(1),
            room: "lobby".into(),
            users: vec![user(1), user(2)],
            seq: 7,
            history: vec![chat(7)],
            session: "s3cr3t".into(),
            more: true,
        },
        ServerMsg::Joined { user: user(3) },
        ServerMsg::Left { id: id(3) },
        ServerMsg::Cursors { moves: vec![Move { id: id(2), x: 0.5, y: 1.0 }] },
        ServerMsg::State { id: id(2), state: UserState::new() },
        ServerMsg::Renamed { id: id(2), username: "Bo".into() },
        ServerMsg::Chat(chat(8)),
        ServerMsg::History { chats: vec![chat(5), chat(6)], more: false },
        ServerMsg::Ack { reference: "r-1".into(), seq: 8 },
        ServerMsg::Reset,
        ServerMsg::Error {
            code: ErrorCode::TooLarge,
            message: "too big".into(),
            reference: None,
            retry_after_ms: None,
        },
        ServerMsg::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            reference: Some("r-3".into()),
            retry_after_ms: Some(250),
        },
        ServerMsg::Event { name: "typing".into(), data: serde_json::json!({}), from: Some(id(1)) },
        ServerMsg::Event { name: "deploy".into(), data: serde_json::json!("v2"), from: None },
    ]
}

#[test]
fn every_client_message_round_trips() {
    for msg in every_client_msg() {
        let text = serde_json::to_string(&msg).unwrap();
        assert_eq!(decode_client_msg(&text), Ok(msg.clone()), "{text}");
    }
}

#[test]
fn every_server_message_round_trips() {
    for msg in every_server_msg() {
        let text = serde_json::to_string(&msg).unwrap();
        let back: ServerMsg = serde_json::from_str(&text).unwrap();
        assert_eq!(back, msg, "{text}");
    }
}

#[test]
fn kind_lists_match_the_enums() {
    let mut tags: Vec<String> = every_client_msg()
        .iter()
        .map(|m| serde_json::to_value(m).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    tags.dedup();
    assert_eq!(tags, ClientKind::ALL.map(ClientKind::as_str), "every kind, in the enum's order");
    let mut tags: Vec<String> = every_server_msg()
        .iter()
        .map(|m| serde_json::to_value(m).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    tags.dedup();
    assert_eq!(tags, ServerKind::ALL.map(ServerKind::as_str), "every kind, in the enum's order");
}

#[test]
fn contract_examples_decode_as_documented() {
    let cases = [
        (r#"{"type":"cursor","x":0.42,"y":0.13}"#, ClientMsg::Cursor { x: 0.42, y: 0.13 }),
        (r#"{"type":"rename","username":"Bo"}"#, ClientMsg::Rename { username: "Bo".into() }),
        (r#"{"type":"chat","text":"hi"}"#, ClientMsg::chat("hi", ChatTarget::Room)),
        (r#"{"type":"join","room":"other"}"#, ClientMsg::join("other")),
        (r#"{"type":"state","state":{}}"#, ClientMsg::State { state: UserState::new() }),
        (
            r#"{"type":"event","name":"typing"}"#,
            ClientMsg::Event { name: "typing".into(), data: Value::Null, to: ChatTarget::Others },
        ),
        (
            r#"{"type":"event","name":"typing","data":{"on":true},"to":"room"}"#,
            ClientMsg::Event { name: "typing".into(), data: json!({"on": true}), to: ChatTarget::Room },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(decode_client_msg(text), Ok(want), "{text}");
    }
}

#[test]
fn unknown_fields_are_ignored_so_clients_can_grow() {
    let msg = decode_client_msg(r#"{"type":"chat","text":"hi","to":"others","ref":"r1","mood":"x"}"#);
    let want = ClientMsg::Chat { text: "hi".into(), to: ChatTarget::Others, reference: Some("r1".into()) };
    assert_eq!(msg, Ok(want));
}

#[test]
fn server_messages_have_the_contract_shape() {
    let chat = serde_json::to_value(&every_server_msg()[6]).unwrap();
    assert_eq!(
        chat,
        json!({"type":"chat","seq":8,"from":id(1),"username":"Alex","text":"hi <b>",
               "to":id(2),"ts":1_700_000_000_000u64})
    );
    let welcome = serde_json::to_value(&every_server_msg()[0]).unwrap();
    assert_eq!(welcome["users"][0]["cursor"], json!({"x":0.4,"y":0.1}));
    assert_eq!(welcome["users"][0]["color"], json!("#e6194b"));
    assert_eq!(welcome["seq"], json!(7));
    assert_eq!(welcome["session"], json!("s3cr3t"));
    assert_eq!(welcome["history"][0]["seq"], json!(7));
    assert_eq!(welcome["more"], json!(true));
    let page = serde_json::to_value(&every_server_msg()[7]).unwrap();
    assert_eq!((&page["type"], &page["chats"][1]["seq"], &page["more"]), (&json!("history"), &json!(6), &json!(false)));
    let ack = serde_json::to_value(&every_server_msg()[8]).unwrap();
    assert_eq!(ack, json!({"type":"ack","ref":"r-1","seq":8}));
    assert_eq!(serde_json::to_value(&every_server_msg()[9]).unwrap(), json!({"type":"reset"}));
    let error = serde_json::to_value(&every_server_msg()[10]).unwrap();
    assert_eq!(error, json!({"type":"error","code":"too_large","message":"too big"}));
    let error = serde_json::to_value(&every_server_msg()[11]).unwrap();
    assert_eq!((&error["ref"], &error["retry_after_ms"]), (&json!("r-3"), &json!(250)));
    let fresh = ServerMsg::Welcome {
        you: id(1),
        room: "r".into(),
        users: vec![],
        seq: 0,
        history: vec![],
        session: "s".into(),
        more: false,
    };
    assert!(serde_json::to_value(&fresh).unwrap().get("more").is_none(), "`more` only when true");
    let event = serde_json::to_value(&every_server_msg()[12]).unwrap();
    assert_eq!(event, json!({"type":"event","name":"typing","data":{},"from":id(1)}));
    let event = serde_json::to_value(&every_server_msg()[13]).unwrap();
    assert_eq!(event, json!({"type":"event","name":"deploy","data":"v2","from":null}), "`from` is null, not left out");
    let request = serde_json::to_value(ClientMsg::History { after: None, before: Some(9), limit: None }).unwrap();
    assert_eq!(request, json!({"type":"history","before":9}));
}

#[test]
fn malformed_frames_decode_to_bad_json() {
    for text in ["", "{", "not json", "[1,2]", "42", "\"cursor\"", "null"] {
        let err = decode_client_msg(text).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadJson, "{text:?}: {err}");
    }
}

#[test]
fn frames_without_a_known_type_decode_to_unknown_type() {
    for text in [r#"{"x":1}"#, r#"{"type":"dance"}"#, r#"{"type":7}"#, r#"{"type":"Cursor","x":0,"y":0}"#] {
        let err = decode_client_msg(text).unwrap_err();
        assert_eq!(err.code(), ErrorCode::UnknownType, "{text}: {err}");
    }
}

#[test]
fn known_types_with_bad_fields_decode_to_invalid() {
    for text in [
        r#"{"type":"cursor","x":"left","y":0}"#,
        r#"{"type":"cursor","x":0.5}"#,
        r#"{"type":"state","state":[1]}"#,
        r#"{"type":"state","state":"happy"}"#,
        r#"{"type":"chat","text":"hi","to":"everyone"}"#,
        r#"{"type":"chat"}"#,
        r#"{"type":"join","room":5}"#,
    ] {
        let err = decode_client_msg(text).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Invalid, "{text}: {err}");
    }
}

#[test]
fn points_outside_the_board_are_rejected() {
    assert!(Point { x: 0.0, y: 1.0 }.is_on_board());
    assert!(!Point { x: -0.01, y: 0.5 }.is_on_board());
    assert!(!Point { x: 0.5, y: 1.5 }.is_on_board());
    assert!(!Point { x: f64::NAN, y: 0.5 }.is_on_board());
}

#[test]
fn direct_messages_are_visible_only_to_their_two_parties() {
    let dm = chat(1); // from id(1) to id(2)
    assert!(dm.visible_to(id(1)) && dm.visible_to(id(2)));
    assert!(!dm.visible_to(id(3)));
    let others = ChatMessage { to: ChatTarget::Others, ..chat(2) };
    assert!(others.visible_to(id(1)) && others.visible_to(id(3)));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    /// JSON-ish text: fragments of real messages glued at random, so the fuzzer reaches
    /// past the first parse error.
    fn jsonish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("\"type\":".to_owned()),
            Just("\"chat\"".to_owned()),
            Just("\"cursor\"".to_owned()),
            Just("\"join\"".to_owned()),
            Just("\"history\"".to_owned()),
            Just("\"after\":".to_owned()),
            Just("\"before\":".to_owned()),
            Just("\"limit\":".to_owned()),
            Just("\"text\":".to_owned()),
            Just("\"to\":".to_owned()),
            Just("\"ref\":".to_owned()),
            Just("\"x\":".to_owned()),
            Just(",".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just("null".to_owned()),
            Just("1e999".to_owned()),
            Just("-0.5".to_owned()),
            "\"[^\"]{0,8}\"",
            ".{0,4}",
        ];
        prop::collection::vec(piece, 0..24).prop_map(|p| p.concat())
    }

    proptest! {
        // Bounded fuzzing that runs with every `cargo test`: the decoder answers every
        // input with a message or a classified error, never a panic.
        #[test]
        fn the_decoder_never_panics_on_text(text in ".{0,300}") {
            let _ = decode_client_msg(&text);
        }

        #[test]
        fn the_decoder_never_panics_on_jsonish_text(text in jsonish()) {
            if let Err(err) = decode_client_msg(&text) {
                prop_assert!(!err.to_string().is_empty());
            }
        }

        #[test]
        fn every_history_request_round_trips(after in proptest::option::of(0u64..u64::MAX), before in proptest::option::of(0u64..u64::MAX), limit in proptest::option::of(0usize..200)) {
            let msg = ClientMsg::History { after, before, limit };
            let wire = serde_json::to_string(&msg).unwrap();
            prop_assert_eq!(decode_client_msg(&wire), Ok(msg));
        }

        #[test]
        fn every_chat_round_trips(text in ".{1,50}", reference in proptest::option::of("[a-z0-9-]{1,20}")) {
            let msg = ClientMsg::Chat { text, to: ChatTarget::Others, reference };
            let wire = serde_json::to_string(&msg).unwrap();
            prop_assert_eq!(decode_client_msg(&wire), Ok(msg));
        }
    }
}

#[test]
fn error_codes_are_spelled_as_on_the_wire() {
    use ErrorCode::*;
    for code in
        [BadJson, UnknownType, Invalid, TooLarge, NoSuchUser, BinaryUnsupported, RateLimited, Forbidden, Unavailable]
    {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
    }
}

#[test]
fn kinds_are_the_wire_type_tags() {
    for msg in every_client_msg() {
        assert_eq!(serde_json::to_value(&msg).unwrap()["type"], msg.kind().as_str());
    }
    for msg in every_server_msg() {
        assert_eq!(serde_json::to_value(&msg).unwrap()["type"], msg.kind().as_str());
    }
}

#[test]
fn close_codes_are_the_documented_numbers() {
    // The numbers are the contract (docs/protocol.md); the names are ours.
    assert_eq!(
        [close::NORMAL, close::GOING_AWAY, close::POLICY, close::TOO_BIG, close::TRY_AGAIN, close::REPLACED],
        [1000, 1001, 1008, 1009, 1013, 4001]
    );
}
