//! Turning a client's text frame into a [`ClientMsg`], or into the precise reason it is not
//! one, so the client is told `bad_json`, `unknown_type` or `invalid` as the contract says.

use super::{ClientKind, ClientMsg, ErrorCode};
use serde_json::Value;
use thiserror::Error;

/// Longest piece of a client's own input that an `error` message quotes back: enough to
/// recognise it, not enough to make the server amplify what it was sent.
pub const ECHO_CHARS: usize = 40;

/// `text` cut to [`ECHO_CHARS`] characters, with an ellipsis when something was cut.
pub fn clip(text: &str) -> String {
    match text.char_indices().nth(ECHO_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Why a text frame is not a client message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("{0}")]
    BadJson(String),
    #[error("{0}")]
    UnknownType(String),
    #[error("{0}")]
    Invalid(String),
}

impl DecodeError {
    /// The error code the client is sent for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::BadJson(_) => ErrorCode::BadJson,
            DecodeError::UnknownType(_) => ErrorCode::UnknownType,
            DecodeError::Invalid(_) => ErrorCode::Invalid,
        }
    }
}

/// Decodes one text frame.
///
/// The well-formed case parses once; only a failure pays for a second, untyped parse that
/// finds out which of the three error codes applies.
pub fn decode_client_msg(text: &str) -> Result<ClientMsg, DecodeError> {
    serde_json::from_str::<ClientMsg>(text).map_err(|typed_err| classify(text, typed_err))
}

fn classify(text: &str, typed_err: serde_json::Error) -> DecodeError {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => return DecodeError::BadJson(format!("not valid JSON: {err}")),
    };
    let Some(object) = value.as_object() else {
        return DecodeError::BadJson("a frame must be a JSON object".into());
    };
    match object.get("type") {
        None => DecodeError::UnknownType("the frame has no \"type\" field".into()),
        Some(Value::String(tag)) if ClientKind::from_tag(tag).is_some() => {
            // serde quotes the offending value: a long one is cut.
            DecodeError::Invalid(format!("bad {tag:?} message: {}", clip_quotes(&typed_err.to_string())))
        }
        Some(Value::String(tag)) => DecodeError::UnknownType(format!("unknown type {:?}", clip(tag))),
        Some(_) => DecodeError::UnknownType("\"type\" must be a string".into()),
    }
}

/// `message` with every double-quoted piece longer than [`ECHO_CHARS`] cut (serde quotes
/// the client's values in its errors).
fn clip_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4 * ECHO_CHARS));
    for (i, piece) in message.split('"').enumerate() {
        if i > 0 {
            out.push('"');
        }
        if i % 2 == 1 {
            out.push_str(&clip(piece));
        } else {
            out.push_str(piece);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_quote_at_most_a_few_dozen_characters_of_the_input() {
        let long = "x".repeat(10_000);
        for frame in [
            format!(r#"{{"type":"{long}"}}"#),
            format!(r#"{{"type":"chat","text":"hi","to":"{long}"}}"#),
            format!(r#"{{"type":"join","room":{{"{long}":1}}}}"#),
        ] {
            let err = decode_client_msg(&frame).unwrap_err().to_string();
            assert!(err.len() < 300, "{} bytes: {}", err.len(), &err[..300.min(err.len())]);
        }
        assert_eq!(clip("short"), "short");
        assert_eq!(clip(&"é".repeat(50)).chars().count(), ECHO_CHARS + 1);
    }
}
