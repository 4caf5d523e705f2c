//! Turning a client's text frame into a [`ClientMsg`], or into the precise reason it is not
//! one, so the client is told `bad_json`, `unknown_type` or `invalid` as the contract says.

use super::{ClientKind, ClientMsg, ErrorCode};
use serde_json::Value;
use thiserror::Error;

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
            DecodeError::Invalid(format!("bad {tag:?} message: {typed_err}"))
        }
        Some(Value::String(tag)) => DecodeError::UnknownType(format!("unknown type {tag:?}")),
        Some(_) => DecodeError::UnknownType("\"type\" must be a string".into()),
    }
}
