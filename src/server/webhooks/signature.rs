//! The `Flock-Signature` header: `t=<unix secs>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
//! The timestamp is signed with the body, so a receiver that refuses old timestamps
//! refuses a replayed request too.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header's name.
pub const HEADER: &str = "Flock-Signature";

fn mac(secret: &str, t: u64, body: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    mac
}

/// The header's value for `body` sent at `t`.
pub fn sign(secret: &str, t: u64, body: &str) -> String {
    let digest = mac(secret, t, body).finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

/// Whether `header` signs `body` with `secret` and its timestamp is at most `tolerance_secs`
/// away from `now`: what a receiver checks (in constant time).
pub fn verify(secret: &str, header: &str, body: &str, now: u64, tolerance_secs: u64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<u64>().ok(),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else { return false };
    if now.abs_diff(t) > tolerance_secs || v1.len() != 64 || !v1.is_ascii() {
        return false;
    }
    let Some(bytes) = (0..32).map(|i| u8::from_str_radix(&v1[2 * i..2 * i + 2], 16).ok()).collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    mac(secret, t, body).verify_slice(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_secret_body_and_time() {
        let header = sign("s3cret", 1_700_000_000, r#"{"id":1}"#);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify("s3cret", &header, r#"{"id":1}"#, 1_700_000_100, 300));
        assert!(!verify("other", &header, r#"{"id":1}"#, 1_700_000_100, 300));
        assert!(!verify("s3cret", &header, r#"{"id":2}"#, 1_700_000_100, 300));
        assert!(!verify("s3cret", &header, r#"{"id":1}"#, 1_700_001_000, 300), "too old");
        assert!(!verify("s3cret", "t=1700000000,v1=zz", r#"{"id":1}"#, 1_700_000_000, 300));
        assert!(!verify("s3cret", "garbage", "", 0, 300));
        // 64 bytes, not 64 ASCII characters: refused, not a panic.
        assert!(!verify("s3cret", &format!("t=1700000000,v1={}", "é".repeat(32)), "", 1_700_000_000, 300));
    }
}
