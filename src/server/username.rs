//! The server's half of the user-name rules: a name is NFC-normalized before it is checked
//! and stored, so "é" typed as one character or as "e" and an accent is one name, the
//! same in an invitation and in the query that presents it.

use crate::protocol::{validate_username, NameError};
use unicode_normalization::UnicodeNormalization;

/// The name normalized, trimmed and checked ([`validate_username`]).
pub fn normalize_username(name: &str) -> Result<String, NameError> {
    let nfc: String = name.nfc().collect();
    validate_username(&nfc).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_and_decomposed_spellings_are_one_name() {
        assert_eq!(normalize_username(" Jose\u{0301} "), Ok("Jos\u{e9}".to_owned()));
        assert_eq!(normalize_username("Jos\u{e9}"), Ok("Jos\u{e9}".to_owned()));
        assert_eq!(normalize_username("\u{202E}x"), Err(NameError::UsernameFormat));
    }
}
