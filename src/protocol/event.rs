//! The rules for app events: the kinds of messages an app sends through a room without a
//! protocol change (a typing indicator, a reaction, a game move). Their name and size are
//! checked here, for the server and for any client that wants the same verdict first.

use serde_json::Value;
use thiserror::Error;

/// Longest event name, in characters.
pub const MAX_EVENT_NAME_CHARS: usize = 64;
/// Largest event `data`, in bytes of compact JSON.
pub const MAX_EVENT_DATA_BYTES: usize = 4096;

/// Why an event was refused; the message is shown to developers as it is.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EventError {
    #[error("event name must be 1-{MAX_EVENT_NAME_CHARS} characters of A-Z, a-z, 0-9, '_', '.', ':' or '-'")]
    BadName,
    #[error("event data is {0} bytes of JSON; the limit is {MAX_EVENT_DATA_BYTES}")]
    TooLarge(usize),
}

/// Checks an event name: 1–64 of `[A-Za-z0-9_.:-]`.
pub fn validate_event_name(name: &str) -> Result<(), EventError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_EVENT_NAME_CHARS
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(EventError::BadName)
    }
}

/// Checks an event's data: any JSON value, at most [`MAX_EVENT_DATA_BYTES`] when written
/// compactly (as it is sent on).
pub fn validate_event_data(data: &Value) -> Result<(), EventError> {
    let bytes = serde_json::to_string(data).map_or(usize::MAX, |json| json.len());
    if bytes > MAX_EVENT_DATA_BYTES {
        return Err(EventError::TooLarge(bytes));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_names_follow_the_contract() {
        for fine in ["typing", "game:move", "v1.reaction", "A_b-9", &"x".repeat(64)] {
            assert_eq!(validate_event_name(fine), Ok(()), "{fine:?}");
        }
        for bad in ["", "a b", "tipp/ing", "é", "x\n", &"x".repeat(65)] {
            assert_eq!(validate_event_name(bad), Err(EventError::BadName), "{bad:?}");
        }
    }

    #[test]
    fn event_data_is_bounded_in_bytes_of_compact_json() {
        assert_eq!(validate_event_data(&json!(null)), Ok(()));
        // `"` + 4094 + `"` is exactly the limit.
        assert_eq!(validate_event_data(&json!("x".repeat(MAX_EVENT_DATA_BYTES - 2))), Ok(()));
        assert_eq!(validate_event_data(&json!("x".repeat(MAX_EVENT_DATA_BYTES - 1))), Err(EventError::TooLarge(4097)));
    }
}
