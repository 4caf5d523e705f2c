//! The checked-in JSON Schema of the wire contract (`docs/protocol.schema.json`) is what
//! the protocol types generate, and real messages of every type fit it where it matters.
#![cfg(feature = "schema")]

use flock::protocol::schema::contract;
use flock::protocol::{
    ChatMessage, ChatTarget, ClientKind, ClientMsg, ErrorCode, Move, Point, ServerKind, ServerMsg, User, UserState,
};
use serde_json::{json, Value};
use uuid::Uuid;

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.schema.json");

#[test]
fn the_checked_in_schema_is_what_the_protocol_types_generate() {
    let generated = contract();
    if std::env::var_os("FLOCK_WRITE_SCHEMA").is_some() {
        std::fs::write(CHECKED_IN, &generated).expect("write the schema");
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/protocol.schema.json is stale: run `FLOCK_WRITE_SCHEMA=1 cargo test --features bench --test schema` \
         and regenerate the TypeScript types (clients/typescript: npm run types)"
    );
}

#[test]
fn every_message_type_is_in_the_schema_with_its_tag() {
    let schema: Value = serde_json::from_str(&contract()).unwrap();
    let tags = |def: &str| -> Vec<String> {
        let variants = schema["$defs"][def]["oneOf"].as_array().unwrap_or_else(|| panic!("{def} is a oneOf"));
        variants
            .iter()
            .map(|v| {
                let tag = &v["properties"]["type"];
                tag["const"].as_str().or_else(|| tag["enum"][0].as_str()).expect("a type tag").to_owned()
            })
            .collect()
    };
    let client: Vec<&str> = ClientKind::ALL.iter().map(|k| k.as_str()).collect();
    let server: Vec<&str> = ServerKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(sorted(tags("ClientMsg")), sorted(client));
    assert_eq!(sorted(tags("ServerMsg")), sorted(server));
    assert_eq!(schema["$defs"]["ChatTarget"]["anyOf"][0]["enum"], serde_json::json!(["room", "others"]));
}

fn sorted<T: AsRef<str>>(list: Vec<T>) -> Vec<String> {
    let mut list: Vec<String> = list.iter().map(|s| s.as_ref().to_owned()).collect();
    list.sort();
    list
}

/// One message of every type, as the Rust types serialize them.
fn samples() -> (Vec<ClientMsg>, Vec<ServerMsg>) {
    let id = Uuid::new_v4();
    let state: UserState = serde_json::from_value(json!({"mood": "busy", "n": 1})).unwrap();
    let user =
        User { id, username: "ann".into(), color: "#e11d48".into(), cursor: Some(Point { x: 0.5, y: 0.25 }), state };
    let chat = ChatMessage {
        seq: 7,
        from: id,
        username: "ann".into(),
        text: "hi".into(),
        to: ChatTarget::User(Uuid::new_v4()),
        ts: 1_767_225_600_123,
        server: true,
    };
    let client = vec![
        ClientMsg::Cursor { x: 0.1, y: 0.9 },
        ClientMsg::State { state: user.state.clone() },
        ClientMsg::Rename { username: "bo".into() },
        ClientMsg::Chat { text: "hi".into(), to: ChatTarget::Others, reference: Some("r1".into()) },
        ClientMsg::join("lobby"),
        ClientMsg::Event { name: "typing".into(), data: json!([1, "two", null]), to: ChatTarget::Room },
        ClientMsg::History { after: None, before: Some(40), limit: Some(20) },
    ];
    let server = vec![
        ServerMsg::Welcome {
            you: id,
            room: "lobby".into(),
            users: vec![user.clone()],
            seq: 7,
            history: vec![chat.clone()],
            session: "s".into(),
            more: true,
        },
        ServerMsg::Joined { user: user.clone() },
        ServerMsg::Left { id },
        ServerMsg::Cursors { moves: vec![Move { id, x: 0.5, y: 0.5 }] },
        ServerMsg::State { id, state: user.state.clone() },
        ServerMsg::Renamed { id, username: "bo".into() },
        ServerMsg::Chat(chat.clone()),
        ServerMsg::History { chats: vec![chat], more: false },
        ServerMsg::Ack { reference: "r1".into(), seq: 7 },
        ServerMsg::Reset,
        ServerMsg::Error {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            reference: Some("r1".into()),
            retry_after_ms: Some(250),
        },
        ServerMsg::Event { name: "typing".into(), data: json!({"on": true}), from: None },
    ];
    (client, server)
}

#[test]
fn every_message_the_server_sends_or_takes_fits_the_schema_and_malformed_ones_do_not() {
    let schema: Value = serde_json::from_str(&contract()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let (client, server) = samples();
    let kinds: Vec<&str> = client.iter().map(|m| m.kind().as_str()).collect();
    assert_eq!(sorted(kinds), sorted(ClientKind::ALL.iter().map(|k| k.as_str()).collect()));
    let kinds: Vec<&str> = server.iter().map(|m| m.kind().as_str()).collect();
    assert_eq!(sorted(kinds), sorted(ServerKind::ALL.iter().map(|k| k.as_str()).collect()));
    let messages = client.iter().map(|m| serde_json::to_value(m).unwrap());
    for message in messages.chain(server.iter().map(|m| serde_json::to_value(m).unwrap())) {
        let errors: Vec<String> = validator.iter_errors(&message).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{message}: {errors:?}");
    }
    let malformed = [
        json!({"text": "no type"}),
        json!({"type": "shout", "text": "an unknown type"}),
        json!({"type": "chat"}),
        json!({"type": "chat", "text": "hi", "to": 5}),
        json!({"type": "cursor", "x": "left", "y": 0.5}),
        json!({"type": "error", "code": "oops", "message": "an unknown code"}),
    ];
    for message in malformed {
        assert!(!validator.is_valid(&message), "{message} fits the schema");
    }
}
