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
    let mut schema = schema.to_value();
    refs_beside_properties_to_all_of(&mut schema);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Rewrites `{"$ref": R, "properties": …}` (a message that is another type plus its
/// `type` tag, like `chat`) as `{"allOf": [{"$ref": R}], "properties": …}`: the same
/// schema, in the form code generators read as "R and these" (some drop the properties
/// beside a `$ref`).
fn refs_beside_properties_to_all_of(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            if map.contains_key("properties") {
                if let Some(reference) = map.remove("$ref") {
                    map.insert("allOf".into(), serde_json::json!([{ "$ref": reference }]));
                }
            }
            map.values_mut().for_each(refs_beside_properties_to_all_of);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(refs_beside_properties_to_all_of),
        _ => {}
    }
}
