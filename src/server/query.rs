//! The query string of `/ws`: parsed and checked as one pure function, so the upgrade can
//! answer 400 with a readable reason before upgrading, and a fuzz test can hammer it.

use super::cursor_board::Encoding;
use super::username::normalize_username;
use crate::protocol::compact::ENCODING_COMPACT;
use crate::protocol::{validate_room, NameError, DEFAULT_ROOM};
use serde::Deserialize;

/// Longest session or invitation token accepted, in bytes.
pub const MAX_TOKEN_BYTES: usize = 512;

/// What a connecting client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    pub room: String,
    /// `None`: a fresh user gets a guest name (a resumed one keeps theirs).
    pub username: Option<String>,
    /// A `welcome.session` from an earlier connection, to come back as the same user.
    pub session: Option<String>,
    /// The last chat `seq` the client has seen in this room: replay everything after it.
    pub since: Option<u64>,
    /// The invitation for a private room.
    pub token: Option<String>,
    /// How `cursors` frames are sent: `encoding=compact` asks for binary frames.
    pub encoding: Encoding,
    /// A JWT from the app's backend: who the user is (see [`super::jwt`]).
    pub jwt: Option<String>,
}

/// Why the query was refused (HTTP 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("bad query string: {0}")]
    Malformed(String),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{0} must be at most {MAX_TOKEN_BYTES} bytes")]
    TooLong(&'static str),
    #[error("jwt must be at most {} bytes", super::jwt::MAX_JWT_BYTES)]
    JwtTooLong,
    #[error("unknown encoding {0:?}: leave it out for JSON, or ask for \"compact\"")]
    Encoding(String),
}

/// Unknown keys are ignored, so a client may add its own (a cache buster, say).
#[derive(Deserialize)]
struct RawQuery {
    room: Option<String>,
    username: Option<String>,
    session: Option<String>,
    since: Option<u64>,
    token: Option<String>,
    encoding: Option<String>,
    jwt: Option<String>,
}

/// Parses and checks the raw query string (without the `?`).
pub fn parse_connect_query(raw: &str) -> Result<ConnectRequest, QueryError> {
    let query: RawQuery = serde_urlencoded::from_str(raw).map_err(|e| QueryError::Malformed(e.to_string()))?;
    let room = validate_room(query.room.as_deref().unwrap_or(DEFAULT_ROOM))?.to_owned();
    let username = query.username.as_deref().map(normalize_username).transpose()?;
    for (what, value) in [("session", &query.session), ("token", &query.token)] {
        if value.as_ref().is_some_and(|v| v.len() > MAX_TOKEN_BYTES) {
            return Err(QueryError::TooLong(what));
        }
    }
    let encoding = match query.encoding.as_deref() {
        None | Some("json") => Encoding::Json,
        Some(ENCODING_COMPACT) => Encoding::Compact,
        Some(other) => return Err(QueryError::Encoding(other.to_owned())),
    };
    if query.jwt.as_ref().is_some_and(|jwt| jwt.len() > super::jwt::MAX_JWT_BYTES) {
        return Err(QueryError::JwtTooLong);
    }
    let (session, since, token, jwt) = (query.session, query.since, query.token, query.jwt);
    Ok(ConnectRequest { room, username, session, since, token, encoding, jwt })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_full_query_parses() {
        let req =
            parse_connect_query("room=r1&username=%20Ann%20&session=abc&since=7&token=t.x&encoding=compact&jwt=h.c.s")
                .unwrap();
        assert_eq!(
            req,
            ConnectRequest {
                room: "r1".into(),
                username: Some("Ann".into()),
                session: Some("abc".into()),
                since: Some(7),
                token: Some("t.x".into()),
                encoding: Encoding::Compact,
                jwt: Some("h.c.s".into()),
            }
        );
        assert_eq!(parse_connect_query("").unwrap().room, DEFAULT_ROOM);
        assert_eq!(parse_connect_query("").unwrap().encoding, Encoding::Json);
    }

    #[test]
    fn bad_queries_are_refused_with_a_reason() {
        for raw in ["room=a%20b", "room=a&room=b", "since=-1", "since=x", "username="] {
            assert!(parse_connect_query(raw).is_err(), "{raw}");
        }
        let long = format!("session={}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert_eq!(parse_connect_query(&long), Err(QueryError::TooLong("session")));
        assert_eq!(parse_connect_query("encoding=msgpack"), Err(QueryError::Encoding("msgpack".into())));
    }

    proptest! {
        // Bounded fuzzing in every test run: any input gets Ok or Err, never a panic.
        #[test]
        fn any_query_string_is_parsed_or_refused(raw in ".{0,200}") {
            let _ = parse_connect_query(&raw);
        }

        #[test]
        fn queries_built_from_valid_parts_round_trip(
            room in "[A-Za-z0-9_-]{1,64}",
            name in "[a-zA-Z][a-zA-Z0-9 éü]{0,20}[a-z]",
            since in any::<u64>(),
        ) {
            let raw = serde_urlencoded::to_string([
                ("room", room.as_str()), ("username", name.as_str()), ("since", &since.to_string()),
            ]).unwrap();
            let req = parse_connect_query(&raw).unwrap();
            prop_assert_eq!(req.room, room);
            prop_assert_eq!(req.username, Some(name));
            prop_assert_eq!(req.since, Some(since));
        }

        // Any name, from any part of Unicode (bidi controls, zero-width characters,
        // combining marks, separators and all), percent-encoded as a browser would: it is
        // refused with a reason, or what the server keeps is NFC, trimmed, and passes
        // every name rule again unchanged.
        #[test]
        fn any_username_is_refused_or_kept_only_in_a_form_that_obeys_the_rules(
            name in prop::collection::vec(prop_oneof![
                any::<char>(),
                prop::sample::select(vec!['\u{202E}', '\u{200B}', '\u{2028}', '\u{0301}', '\u{3164}', ' ', 'a']),
            ], 0..40).prop_map(|chars| chars.into_iter().collect::<String>()),
        ) {
            let raw = serde_urlencoded::to_string([("username", name.as_str())]).unwrap();
            match parse_connect_query(&raw) {
                Ok(req) => {
                    let kept = req.username.expect("a name was given");
                    prop_assert_eq!(crate::protocol::validate_username(&kept), Ok(kept.as_str()));
                    prop_assert_eq!(normalize_username(&kept), Ok(kept.clone()), "kept in its normal form");
                }
                Err(err) => prop_assert!(matches!(err, QueryError::Name(_)), "refused as a name: {err}"),
            }
        }
    }
}
