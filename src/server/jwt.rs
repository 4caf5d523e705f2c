//! Identities from the app's backend: a JWT on `/ws` (`&jwt=<token>`) says who the user is,
//! what they are called and which rooms they may enter, signed with `--jwt-secret`
//! (HS256) or the private half of `--jwt-public-key` (RS256 or ES256).
//!
//! A token is checked before the upgrade (a bad one gets 403): its algorithm must be one a
//! key was given for (so `alg: none` and an HS256 token forged with the public key are
//! refused), `exp` and `sub` are required, and `rooms`, when present, must cover the room.
//! The user's Flock id is derived from `sub` (UUID v5), the same on every device and node.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use uuid::Uuid;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

/// Longest JWT taken on the query string, in bytes.
pub const MAX_JWT_BYTES: usize = 4096;
/// Seconds of clock skew allowed on `exp` between the app's backend and Flock.
pub const LEEWAY_SECS: u64 = 5;
/// Shortest HS256 secret taken.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// The namespace of the ids derived from JWT subjects: `sub` alone decides the id, so it is
/// the same for that user everywhere.
const SUBJECT_NAMESPACE: Uuid = Uuid::from_u128(0x6a1b_0c3e_5f2d_4b8a_9e71_f10c_0c5a_9d21);

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtIdentity {
    /// The Flock id, derived from `sub`.
    pub id: Uuid,
    /// The display name, if the token fixes it (then `rename` is refused).
    pub name: Option<String>,
    /// The rooms (or prefixes ending in `*`) the token may enter; `None`: any public room.
    pub rooms: Option<Vec<String>>,
}

impl JwtIdentity {
    /// Whether the token names `room` (a private room it names needs no invitation).
    pub fn names_room(&self, room: &str) -> bool {
        self.rooms.as_ref().is_some_and(|rooms| {
            rooms.iter().any(|r| match r.strip_suffix('*') {
                Some(prefix) => room.starts_with(prefix),
                None => r == room,
            })
        })
    }

    /// Whether the token lets its holder into `room` at all.
    pub fn may_enter(&self, room: &str) -> bool {
        self.rooms.is_none() || self.names_room(room)
    }
}

/// The Flock id of the app's user `sub`.
pub fn id_of_subject(sub: &str) -> Uuid {
    Uuid::new_v5(&SUBJECT_NAMESPACE, sub.as_bytes())
}

/// The claims Flock reads; others are ignored.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    name: Option<String>,
    rooms: Option<Vec<String>>,
}

/// Why a token was refused (HTTP 403, or a start-up error for the keys).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("this server takes no JWTs (start it with --jwt-secret or --jwt-public-key)")]
    NotConfigured,
    #[error("a JWT is required here (&jwt=<token>)")]
    Required,
    #[error("the JWT is over {MAX_JWT_BYTES} bytes")]
    TooLong,
    #[error("JWTs signed with {0:?} are not taken here")]
    Algorithm(Algorithm),
    #[error("the JWT is not valid: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the JWT's name is not a valid user name: {0}")]
    BadName(String),
    #[error("the JWT does not let you into room {0:?}")]
    WrongRoom(String),
    #[error("cannot read the JWT public key {path}: {why}")]
    Key { path: PathBuf, why: String },
}

/// The identity a connection to `room` comes with: `None` without a token (unless one is
/// required), the token's when it is valid, a refusal otherwise.
pub fn check(verifier: Option<&JwtVerifier>, token: Option<&str>, room: &str) -> Result<Option<JwtIdentity>, JwtError> {
    match (verifier, token) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(JwtError::NotConfigured),
        (Some(verifier), None) if verifier.required => Err(JwtError::Required),
        (Some(_), None) => Ok(None),
        (Some(verifier), Some(token)) => verifier.verify(token, room).map(Some),
    }
}

/// The keys tokens are checked with.
pub struct JwtVerifier {
    keys: Vec<(Algorithm, DecodingKey)>,
    /// Every connection needs a token (`--require-jwt`).
    pub required: bool,
}

impl JwtVerifier {
    /// The verifier for the configured keys, `None` when there are none (and none are
    /// required). A public key that is neither an RSA nor a P-256 key stops the start.
    pub fn new(secret: Option<&str>, public_key: Option<&Path>, required: bool) -> Result<Option<Self>, JwtError> {
        let mut keys = Vec::new();
        if let Some(secret) = secret {
            keys.push((Algorithm::HS256, DecodingKey::from_secret(secret.as_bytes())));
        }
        if let Some(path) = public_key {
            let key_error = |why: String| JwtError::Key { path: path.to_owned(), why };
            let pem = std::fs::read(path).map_err(|e| key_error(e.to_string()))?;
            match (DecodingKey::from_rsa_pem(&pem), DecodingKey::from_ec_pem(&pem)) {
                (Ok(rsa), _) => keys.push((Algorithm::RS256, rsa)),
                (_, Ok(ec)) => keys.push((Algorithm::ES256, ec)),
                (Err(err), _) => return Err(key_error(format!("not an RSA or EC public key in PEM: {err}"))),
            }
        }
        if keys.is_empty() && !required {
            return Ok(None);
        }
        Ok(Some(JwtVerifier { keys, required }))
    }

    /// Checks `token` for a connection to `room`.
    pub fn verify(&self, token: &str, room: &str) -> Result<JwtIdentity, JwtError> {
        if token.len() > MAX_JWT_BYTES {
            return Err(JwtError::TooLong);
        }
        // `none` is no algorithm the crate knows, so such a header fails to parse here.
        let alg = decode_header(token)?.alg;
        let (_, key) = self.keys.iter().find(|(a, _)| *a == alg).ok_or(JwtError::Algorithm(alg))?;
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let claims = decode::<Claims>(token, key, &validation)?.claims;
        let name = claims
            .name
            .map(|name| super::username::normalize_username(&name).map_err(|e| JwtError::BadName(e.to_string())))
            .transpose()?;
        let identity = JwtIdentity { id: id_of_subject(&claims.sub), name, rooms: claims.rooms };
        if !identity.may_enter(room) {
            return Err(JwtError::WrongRoom(room.to_owned()));
        }
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    const SECRET: &str = "a-jwt-secret-of-at-least-32-bytes!";

    fn token(claims: serde_json::Value, secret: &str) -> String {
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    }

    fn exp(from_now: i64) -> i64 {
        jsonwebtoken::get_current_timestamp() as i64 + from_now
    }

    #[test]
    fn a_valid_token_gives_the_subjects_id_name_and_rooms() {
        let verifier = JwtVerifier::new(Some(SECRET), None, false).unwrap().unwrap();
        let t =
            token(json!({"sub": "user-42", "exp": exp(60), "name": " Ann ", "rooms": ["team-*", "private-x"]}), SECRET);
        let identity = verifier.verify(&t, "team-blue").unwrap();
        assert_eq!(identity.id, id_of_subject("user-42"));
        assert_eq!(identity.name.as_deref(), Some("Ann"));
        assert!(identity.names_room("private-x") && !identity.names_room("private-y"));
        assert!(matches!(verifier.verify(&t, "lobby"), Err(JwtError::WrongRoom(_))));
        assert_ne!(id_of_subject("user-42"), id_of_subject("user-43"));
    }

    #[test]
    fn expired_forged_incomplete_and_unsigned_tokens_are_refused() {
        let verifier = JwtVerifier::new(Some(SECRET), None, false).unwrap().unwrap();
        let cases = [
            token(json!({"sub": "u", "exp": exp(-120)}), SECRET),
            token(json!({"sub": "u", "exp": exp(60)}), "another-secret-of-at-least-32-bytes"),
            token(json!({"sub": "u"}), SECRET),
            token(json!({"exp": exp(60)}), SECRET),
            // alg none: a header and claims with no signature.
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"sub": "u", "exp": exp(60)}).to_string())
            }),
            "not a token".to_owned(),
        ];
        for t in cases {
            assert!(verifier.verify(&t, "lobby").is_err(), "{t}");
        }
    }
}
