//! Identities from the app's backend: JWTs on `/ws` against a real server, signed in the
//! test with HS256 and with RS256 and ES256 keys `openssl` makes for it.

mod common;

use common::{start_with, test_config, try_connect};
use flock::protocol::{ClientMsg, ErrorCode, ServerMsg};
use flock::server::jwt::id_of_subject;
use jsonwebtoken::{encode, get_current_timestamp, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

const SECRET: &str = "jwt-secret-for-tests-at-least-32-bytes";
const INVITE_SECRET: &str = "test-secret-of-at-least-32-bytes";

fn exp(from_now: i64) -> i64 {
    get_current_timestamp() as i64 + from_now
}

fn hs256(claims: Value, secret: &str) -> String {
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

async fn hs256_server(require: bool) -> SocketAddr {
    let mut config = test_config();
    config.jwt_secret = Some(SECRET.into());
    config.require_jwt = require;
    config.secret = Some(INVITE_SECRET.into());
    start_with(config).await
}

/// Connects with `jwt`; the HTTP status of a refusal.
async fn with_jwt(addr: SocketAddr, room: &str, jwt: &str) -> Result<common::Client, u16> {
    try_connect(addr, &format!("room={room}&jwt={jwt}")).await.map_err(|refused| refused.status)
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl").args(args).current_dir(dir).status().expect("run openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// A key pair made by `openssl` for `kind` ("rsa" or "ec"): the private key's PEM and the
/// public key's file.
fn key_pair(kind: &str) -> (Vec<u8>, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir").keep();
    match kind {
        "rsa" => {
            openssl(&dir, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "private.pem"])
        }
        _ => openssl(
            &dir,
            &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "private.pem"],
        ),
    }
    openssl(&dir, &["pkey", "-in", "private.pem", "-pubout", "-out", "public.pem"]);
    (std::fs::read(dir.join("private.pem")).unwrap(), dir.join("public.pem"))
}

#[tokio::test]
async fn a_valid_hs256_token_is_the_users_identity_with_its_name() {
    let addr = hs256_server(false).await;
    let jwt = hs256(json!({"sub": "user-42", "exp": exp(60), "name": "Ann Smith"}), SECRET);
    let mut ann = with_jwt(addr, "lobby", &jwt).await.expect("admitted");
    assert_eq!(ann.id, id_of_subject("user-42"), "the id comes from sub");
    assert_eq!(ann.users.iter().find(|u| u.id == ann.id).map(|u| u.username.as_str()), Some("Ann Smith"));
    ann.send(&ClientMsg::Rename { username: "Someone Else".into() }).await;
    let (code, _) = ann
        .recv_until(|m| match m {
            ServerMsg::Error { code, .. } => Some(*code),
            _ => None,
        })
        .await;
    assert_eq!(code, ErrorCode::Forbidden, "the name is the token's");
    ann.goodbye().await;
    // The same sub later (another device, say) is the same user; a session of someone else
    // is not taken up.
    let stranger = try_connect(addr, "room=lobby&username=bob").await.expect("anonymous");
    let again = try_connect(addr, &format!("room=lobby&jwt={jwt}&session={}", stranger.session)).await.expect("in");
    assert_eq!(again.id, id_of_subject("user-42"));
    // Without a name claim the query's name is used, and rename works.
    let nameless = hs256(json!({"sub": "user-7", "exp": exp(60)}), SECRET);
    let cy = try_connect(addr, &format!("room=lobby&username=cy&jwt={nameless}")).await.expect("in");
    assert_eq!(cy.users.iter().find(|u| u.id == cy.id).map(|u| u.username.as_str()), Some("cy"));
    // Anonymous connections still work where no JWT is required.
    assert!(try_connect(addr, "room=lobby&username=dan").await.is_ok());
}

#[tokio::test]
async fn expired_forged_unsigned_and_wrong_room_tokens_get_403_before_the_upgrade() {
    let addr = hs256_server(false).await;
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
    let claims = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"sub": "u", "exp": exp(60)}).to_string())
    };
    let cases = [
        ("expired", hs256(json!({"sub": "u", "exp": exp(-120)}), SECRET)),
        ("forged", hs256(json!({"sub": "u", "exp": exp(60)}), "not-the-secret-but-32-bytes-long!!")),
        ("alg none", format!("{none_header}.{claims}.")),
        ("no exp", hs256(json!({"sub": "u"}), SECRET)),
        ("no sub", hs256(json!({"exp": exp(60)}), SECRET)),
        ("wrong room", hs256(json!({"sub": "u", "exp": exp(60), "rooms": ["team-*"]}), SECRET)),
        ("garbage", "x.y.z".to_owned()),
    ];
    for (what, jwt) in cases {
        assert_eq!(with_jwt(addr, "lobby", &jwt).await.err(), Some(403), "{what}");
        // A browser cannot read a refused upgrade's status: a plain GET says it too.
        assert_eq!(common::ask_why(addr, &format!("room=lobby&jwt={jwt}")).await.status, 403, "{what}");
    }
}

#[tokio::test]
async fn a_tokens_rooms_admit_it_to_private_rooms_and_keep_it_out_of_others() {
    let addr = hs256_server(false).await;
    let jwt = hs256(json!({"sub": "u-1", "exp": exp(60), "name": "Zed", "rooms": ["private-team", "open-*"]}), SECRET);
    let mut zed = with_jwt(addr, "private-team", &jwt).await.expect("the token stands in for the invitation");
    assert_eq!(zed.room, "private-team");
    assert!(with_jwt(addr, "private-other", &jwt).await.is_err());
    for (room, allowed) in [("open-plan", true), ("lobby", false)] {
        zed.send(&ClientMsg::join(room)).await;
        let (ok, _) = zed
            .recv_until(|m| match m {
                ServerMsg::Welcome { room: r, .. } if r == room => Some(true),
                ServerMsg::Error { code: ErrorCode::Forbidden, .. } => Some(false),
                _ => None,
            })
            .await;
        assert_eq!(ok, allowed, "{room}");
    }
}

#[tokio::test]
async fn require_jwt_refuses_every_connection_without_one_and_a_server_without_keys_refuses_tokens() {
    let addr = hs256_server(true).await;
    assert_eq!(try_connect(addr, "room=lobby&username=anon").await.err().map(|r| r.status), Some(403));
    let jwt = hs256(json!({"sub": "u", "exp": exp(60)}), SECRET);
    assert!(with_jwt(addr, "lobby", &jwt).await.is_ok());

    let plain = start_with(test_config()).await;
    assert_eq!(with_jwt(plain, "lobby", &jwt).await.err(), Some(403), "no keys: no JWTs");
}

#[tokio::test]
async fn rs256_and_es256_tokens_are_checked_with_the_public_key_and_alg_confusion_fails() {
    for (kind, alg) in [("rsa", Algorithm::RS256), ("ec", Algorithm::ES256)] {
        let (private, public) = key_pair(kind);
        let mut config = test_config();
        config.jwt_public_key = Some(public.clone());
        let addr = start_with(config).await;
        let key = match kind {
            "rsa" => EncodingKey::from_rsa_pem(&private).unwrap(),
            _ => EncodingKey::from_ec_pem(&private).unwrap(),
        };
        let claims = json!({"sub": format!("{kind}-user"), "exp": exp(60)});
        let jwt = encode(&Header::new(alg), &claims, &key).unwrap();
        let client = with_jwt(addr, "lobby", &jwt).await.unwrap_or_else(|status| panic!("{kind}: {status}"));
        assert_eq!(client.id, id_of_subject(&format!("{kind}-user")));
        // The public key used as an HS256 secret: refused, HS256 was never configured.
        let public_pem = std::fs::read(&public).unwrap();
        let confused = encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&public_pem)).unwrap();
        assert_eq!(with_jwt(addr, "lobby", &confused).await.err(), Some(403), "{kind}");
        let expired = encode(&Header::new(alg), &json!({"sub": "x", "exp": exp(-120)}), &key).unwrap();
        assert_eq!(with_jwt(addr, "lobby", &expired).await.err(), Some(403), "{kind}");
    }
}

#[tokio::test]
async fn a_ban_holds_the_jwt_identity_on_every_connection_and_only_it() {
    let mut config = test_config();
    config.jwt_secret = Some(SECRET.into());
    config.api_keys = vec!["jwt-test-api-key-0123456789".into()];
    let addr = start_with(config).await;
    let jwt = hs256(json!({"sub": "banned-user", "exp": exp(60)}), SECRET);
    let mut ann = with_jwt(addr, "strict", &jwt).await.expect("in");
    let stranger = try_connect(addr, "room=strict&username=zed").await.expect("anonymous");
    let url = format!("http://{addr}/api/v1/rooms/strict/users/{}?ban_secs=60", ann.id);
    let response =
        reqwest::Client::new().delete(url).bearer_auth("jwt-test-api-key-0123456789").send().await.expect("DELETE");
    assert_eq!(response.status(), 204);
    assert_eq!(ann.closed_with().await, flock::protocol::close::REMOVED);
    // A fresh connection with the same JWT (another device: no session) is refused too.
    assert_eq!(with_jwt(addr, "strict", &jwt).await.err(), Some(403));
    // Another JWT user who brings the banned user's session is not the banned user.
    let other = hs256(json!({"sub": "someone-else", "exp": exp(60)}), SECRET);
    let query = format!("room=strict&jwt={other}&session={}", ann.session);
    assert!(try_connect(addr, &query).await.is_ok(), "the JWT says who this is");
    drop(stranger);
}

#[tokio::test]
async fn two_connections_of_one_jwt_identity_are_one_member_that_leaves_after_both() {
    let mut config = test_config();
    config.jwt_secret = Some(SECRET.into());
    // A long grace: a `left` that comes is the last connection's goodbye, not a timer's.
    config.leave_grace_secs = 600;
    let addr = start_with(config).await;
    let jwt = hs256(json!({"sub": "two-tabs", "exp": exp(60), "name": "Ann"}), SECRET);
    let mut laptop = with_jwt(addr, "tabs", &jwt).await.expect("in");
    let mut bob = try_connect(addr, "room=tabs&username=bob").await.expect("in");
    let mut phone = with_jwt(addr, "tabs", &jwt).await.expect("a second connection is let in");
    let ann = laptop.id;
    assert_eq!(phone.id, ann, "the same identity");
    assert_eq!(phone.users.iter().filter(|u| u.id == ann).count(), 1, "listed once");
    assert_eq!(phone.users.len(), 2);

    // Bob's chat reaches both; the phone's chat is acked on the phone and reaches the laptop.
    bob.send(&ClientMsg::chat("hi ann", flock::protocol::ChatTarget::User(ann))).await;
    for device in [&mut laptop, &mut phone] {
        device.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "hi ann").then_some(())).await;
    }
    let reference = "from-the-phone";
    phone
        .send(&ClientMsg::Chat { text: "on my way".into(), to: Default::default(), reference: Some(reference.into()) })
        .await;
    phone.recv_until(|m| matches!(m, ServerMsg::Ack { reference: r, .. } if r == reference).then_some(())).await;
    laptop.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "on my way").then_some(())).await;
    // State set on one device shows on the other and to bob.
    let state: flock::protocol::UserState = serde_json::from_value(json!({"mood": "busy"})).unwrap();
    laptop.send(&ClientMsg::State { state: state.clone() }).await;
    for device in [&mut phone, &mut bob] {
        device.recv_until(|m| matches!(m, ServerMsg::State { id, .. } if *id == ann).then_some(())).await;
    }

    // The laptop goes: the member stays (bob hears no `left`), the phone still gets chats.
    laptop.goodbye().await;
    bob.send(&ClientMsg::chat("still there?", flock::protocol::ChatTarget::Room)).await;
    phone.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == "still there?").then_some(())).await;
    let seen = bob.drain().await;
    assert!(!seen.iter().any(|m| matches!(m, ServerMsg::Left { .. } | ServerMsg::Joined { .. })), "{seen:?}");
    // The last connection goes: now `left`, once.
    phone.goodbye().await;
    let ((), _) = bob.recv_until(|m| matches!(m, ServerMsg::Left { id } if *id == ann).then_some(())).await;
    let seen = bob.drain().await;
    assert!(!seen.iter().any(|m| matches!(m, ServerMsg::Left { .. })), "left once: {seen:?}");
}
