//! The rules for room names, user names and chat text, shared by the server's checks and
//! the page's forms so a user sees the same verdict before and after submitting.

use thiserror::Error;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

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
    #[error("username must not contain control characters or line breaks")]
    UsernameControl,
    #[error("username must not contain invisible formatting characters (direction overrides, zero-width characters)")]
    UsernameFormat,
    #[error("username must not stack more than {MAX_COMBINING_RUN} accents on one character")]
    UsernameMarks,
    #[error("username must have at least one visible character")]
    UsernameInvisible,
    #[error("text must not contain control characters other than newline and tab")]
    TextControl,
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

/// Most combining marks allowed in a row in a user name: enough for any script's
/// stacked accents, not enough to smear a name over its neighbours ("Zalgo" text).
pub const MAX_COMBINING_RUN: usize = 4;

/// Checks a user name and returns it trimmed: 1–32 characters, at least one visible one,
/// none of the characters that make a name lie about itself: controls, format characters
/// (bidi overrides, zero-width joiners and spaces), line and paragraph separators, and no
/// more than [`MAX_COMBINING_RUN`] combining marks in a row. The server NFC-normalizes a
/// name before checking it, so the same name is stored one way.
pub fn validate_username(name: &str) -> Result<&str, NameError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_USERNAME_CHARS {
        return Err(NameError::UsernameLength);
    }
    let mut marks = 0usize;
    for c in name.chars() {
        match c.general_category() {
            GeneralCategory::Control => return Err(NameError::UsernameControl),
            GeneralCategory::Format => return Err(NameError::UsernameFormat),
            GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
                return Err(NameError::UsernameControl)
            }
            GeneralCategory::NonspacingMark | GeneralCategory::SpacingMark | GeneralCategory::EnclosingMark => {
                marks += 1;
                if marks > MAX_COMBINING_RUN {
                    return Err(NameError::UsernameMarks);
                }
                continue;
            }
            _ => {}
        }
        marks = 0;
    }
    if !name.chars().any(is_visible) {
        return Err(NameError::UsernameInvisible);
    }
    Ok(name)
}

/// Letters that render as nothing: the Hangul fillers and the blank Braille pattern.
const BLANK_LETTERS: [char; 5] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}'];

/// Whether `c` leaves a mark on the screen by itself.
fn is_visible(c: char) -> bool {
    !c.is_whitespace()
        && !BLANK_LETTERS.contains(&c)
        && !matches!(
            c.general_category_group(),
            GeneralCategoryGroup::Mark | GeneralCategoryGroup::Other | GeneralCategoryGroup::Separator
        )
}

/// Checks a chat text's characters: no control characters but newline and tab.
pub fn validate_chat_text(text: &str) -> Result<(), NameError> {
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(NameError::TextControl);
    }
    Ok(())
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

    #[test]
    fn names_that_lie_about_themselves_are_refused() {
        let cases = [
            ("evil\u{202E}gnp.exe", NameError::UsernameFormat),
            ("a\u{200B}b", NameError::UsernameFormat),
            ("a\u{2066}b", NameError::UsernameFormat),
            ("\u{3164}", NameError::UsernameInvisible),
            ("\u{115F}\u{1160}", NameError::UsernameInvisible),
            ("a\u{2028}b", NameError::UsernameControl),
            ("a\u{2029}b", NameError::UsernameControl),
        ];
        for (name, err) in cases {
            assert_eq!(validate_username(name), Err(err), "{name:?}");
        }
        let zalgo = format!("a{}", "\u{0301}".repeat(MAX_COMBINING_RUN + 1));
        assert_eq!(validate_username(&zalgo), Err(NameError::UsernameMarks));
        let accented = format!("a{}b", "\u{0301}".repeat(MAX_COMBINING_RUN));
        assert_eq!(validate_username(&accented), Ok(accented.as_str()));
        for fine in ["José", "Zoë", "李小龙", "Ärzte-Ünion", "नमस्ते", "🦆 duck", "O'Brien"] {
            assert_eq!(validate_username(fine), Ok(fine), "{fine:?}");
        }
    }

    #[test]
    fn chat_text_may_break_lines_but_carry_no_other_control_character() {
        assert_eq!(validate_chat_text("line one\nline two\tend"), Ok(()));
        for bad in ["\u{1}", "a\u{7}b", "\r", "\u{1b}[31m"] {
            assert_eq!(validate_chat_text(bad), Err(NameError::TextControl), "{bad:?}");
        }
    }
}
