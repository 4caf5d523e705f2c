//! The wire contract as JSON Schema, generated from the protocol types themselves, so a
//! client made from it (the TypeScript SDK's types) cannot drift from the server. The
//! schema is checked in as `docs/protocol.schema.json`; a test fails when it is stale.
//!
//! It covers the JSON messages of `/ws` both ways; the opt-in binary `cursors` frame is
//! described in `docs/protocol.md` and [`super::compact`].

use super::{ClientMsg, ServerMsg};
use schemars::JsonSchema;

/// Every JSON message of the protocol: what a client sends, or what the server sends.
#[derive(JsonSchema)]
#[schemars(title = "FlockMessage")]
#[allow(dead_code)]
#[serde(untagged)]
enum FlockMessage {
    Client(ClientMsg),
    Server(ServerMsg),
}

/// The schema as it is checked in: pretty JSON with a final newline.
pub fn contract() -> String {
    let mut schema = schemars::schema_for!(FlockMessage);
    schema.insert("$id".into(), "https://flock.dev/protocol.schema.json".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
