//! Private rooms: a room named `private-…` admits only a connection that presents an
//! invitation signed with the server's secret for that room and that user name.
//!
//! An invitation is `base64url(claims JSON) "." base64url(HMAC-SHA256(secret, claims))`,
//! the claims being `{"room","name","exp"}` (`exp` in unix seconds). The server keeps no
//! list: whoever holds the secret (`flock mint-token`, or the operator's own backend) can
//! invite, and nobody else can forge or alter an invitation.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub use crate::protocol::PRIVATE_PREFIX;

/// What an invitation says.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub room: String,
    pub name: String,
    /// Expiry, unix seconds.
    pub exp: u64,
}

/// Why a connection was not let into a private room; it becomes HTTP 403 (or a
/// `forbidden` error for a `join`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InviteError {
    #[error("room {0:?} is private: this server has no secret configured, so nobody can be invited")]
    NoSecret(String),
    #[error("room {0:?} is private: an invitation token is required")]
    Missing(String),
    #[error("the invitation token is malformed")]
    Malformed,
    #[error("the invitation token's signature is wrong")]
    BadSignature,
    #[error("the invitation is for another room")]
    WrongRoom,
    #[error("the invitation is for another user name")]
    WrongName,
    #[error("the invitation has expired")]
    Expired,
}

/// Decides who may enter which room.
pub struct Gate {
    secret: Option<Vec<u8>>,
}

impl Gate {
    pub fn new(secret: Option<&str>) -> Self {
        Gate { secret: secret.filter(|s| !s.is_empty()).map(|s| s.as_bytes().to_vec()) }
    }

    /// Whether `room` needs an invitation.
    pub fn is_private(room: &str) -> bool {
        crate::protocol::is_private_room(room)
    }

    /// Lets `name` into `room`: any public room, or a private one with a valid invitation.
    pub fn admit(&self, room: &str, name: &str, token: Option<&str>, now_secs: u64) -> Result<(), InviteError> {
        if !Self::is_private(room) {
            return Ok(());
        }
        let secret = self.secret.as_deref().ok_or_else(|| InviteError::NoSecret(room.to_owned()))?;
        let token = token.filter(|t| !t.is_empty()).ok_or_else(|| InviteError::Missing(room.to_owned()))?;
        let claims = verify(secret, token)?;
        if claims.room != room {
            return Err(InviteError::WrongRoom);
        }
        if claims.name != name {
            return Err(InviteError::WrongName);
        }
        if claims.exp <= now_secs {
            return Err(InviteError::Expired);
        }
        Ok(())
    }
}

/// Signs `claims` with `secret`.
pub fn mint(secret: &str, claims: &Claims) -> String {
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims always serialize"));
    let tag = URL_SAFE_NO_PAD.encode(mac(secret.as_bytes(), &body).finalize().into_bytes());
    format!("{body}.{tag}")
}

fn verify(secret: &[u8], token: &str) -> Result<Claims, InviteError> {
    let (body, tag) = token.split_once('.').ok_or(InviteError::Malformed)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InviteError::Malformed)?;
    // Constant-time comparison, so the signature cannot be guessed byte by byte.
    mac(secret, body).verify_slice(&tag).map_err(|_| InviteError::BadSignature)?;
    let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| InviteError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| InviteError::Malformed)
}

fn mac(secret: &[u8], body: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims { room: "private-x".into(), name: "ann".into(), exp }
    }

    #[test]
    fn only_a_valid_invitation_opens_a_private_room() {
        let gate = Gate::new(Some("s3cret"));
        let token = mint("s3cret", &claims(100));
        assert_eq!(gate.admit("private-x", "ann", Some(&token), 99), Ok(()));
        assert_eq!(gate.admit("lobby", "bob", None, 99), Ok(()));
        assert_eq!(gate.admit("private-y", "ann", Some(&token), 99), Err(InviteError::WrongRoom));
        assert_eq!(gate.admit("private-x", "bob", Some(&token), 99), Err(InviteError::WrongName));
        assert_eq!(gate.admit("private-x", "ann", Some(&token), 100), Err(InviteError::Expired));
        assert!(matches!(gate.admit("private-x", "ann", None, 99), Err(InviteError::Missing(_))));
        let forged = mint("other", &claims(100));
        assert_eq!(gate.admit("private-x", "ann", Some(&forged), 99), Err(InviteError::BadSignature));
        assert_eq!(gate.admit("private-x", "ann", Some("junk"), 99), Err(InviteError::Malformed));
        let no_secret = Gate::new(None);
        assert!(matches!(no_secret.admit("private-x", "ann", Some(&token), 99), Err(InviteError::NoSecret(_))));
    }
}
