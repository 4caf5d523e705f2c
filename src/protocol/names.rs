//! The rules for room names and user names, shared by the server's upgrade check and the
//! lobby form so a user sees the same verdict before and after submitting.

use thiserror::Error;

/// The room a connection enters when it names none.
pub const DEFAULT_ROOM: &str = "lobby";
/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 64;
/// Longest user name, in characters, after trimming.
pub const MAX_USERNAME_CHARS: usize = 32;

/// Why a room or user name was refused; the message is shown to people as it is.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NameError {
    #[error("room must be 1-{MAX_ROOM_CHARS} characters of A-Z, a-z, 0-9, '_' or '-'")]
    BadRoom,
    #[error("username must be 1-{MAX_USERNAME_CHARS} characters after trimming")]
    UsernameLength,
    #[error("username must not contain control characters")]
    UsernameControl,
}

/// Rooms whose name starts with this admit only invited users (see `server::invite`).
pub const PRIVATE_PREFIX: &str = "private-";

/// Whether `room` needs an invitation.
pub fn is_private_room(room: &str) -> bool {
    room.starts_with(PRIVATE_PREFIX)
}

/// Checks a room name: 1–64 of `[A-Za-z0-9_-]`.
pub fn validate_room(room: &str) -> Result<&str, NameError> {
    let ok = !room.is_empty()
        && room.len() <= MAX_ROOM_CHARS
        && room.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(room)
    } else {
        Err(NameError::BadRoom)
    }
}

/// Checks a user name and returns it trimmed: 1–32 characters, no control characters.
pub fn validate_username(name: &str) -> Result<&str, NameError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_USERNAME_CHARS {
        return Err(NameError::UsernameLength);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::UsernameControl);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_follow_the_contract() {
        assert_eq!(validate_room("lobby"), Ok("lobby"));
        assert_eq!(validate_room("Team_7-a"), Ok("Team_7-a"));
        assert_eq!(validate_room(&"a".repeat(64)), Ok("a".repeat(64).as_str()));
        for bad in ["", "a b", "ü", "a/b", "x.y", &"a".repeat(65)] {
            assert_eq!(validate_room(bad), Err(NameError::BadRoom), "{bad:?}");
        }
    }

    #[test]
    fn usernames_are_trimmed_and_bounded_in_characters() {
        assert_eq!(validate_username("  Bo "), Ok("Bo"));
        assert_eq!(validate_username(&"é".repeat(32)), Ok("é".repeat(32).as_str()));
        assert_eq!(validate_username(&"é".repeat(33)), Err(NameError::UsernameLength));
        assert_eq!(validate_username("   "), Err(NameError::UsernameLength));
        assert_eq!(validate_username("a\u{7}b"), Err(NameError::UsernameControl));
        assert_eq!(validate_username("a\nb"), Err(NameError::UsernameControl));
    }
}
