//! Who gets in: private rooms need an invitation signed with the server's secret, and one
//! IP address cannot hold more than its share of connections.

mod common;

use common::{connect, rooms, start_with, test_config, try_connect};
use flock::protocol::{ErrorCode, ServerMsg};
use flock::server::invite::{mint, Claims};
use serde_json::json;
use std::time::{SystemTime, UNIX_EPOCH};

const SECRET: &str = "test-secret-of-at-least-32-bytes";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn invite(room: &str, name: &str, exp: u64) -> String {
    mint(SECRET, &Claims { room: room.into(), name: name.into(), exp })
}

async fn private_server() -> std::net::SocketAddr {
    let mut config = test_config();
    config.secret = Some(SECRET.into());
    start_with(config).await
}

#[tokio::test]
async fn a_private_room_admits_only_a_valid_invitation_for_that_room_and_name() {
    let addr = private_server().await;
    let valid = invite("private-team", "Ann", now() + 60);
    let ann = try_connect(addr, &format!("room=private-team&username=Ann&token={valid}")).await.expect("invited");
    assert_eq!(ann.room, "private-team");

    let cases = [
        ("missing", "room=private-team&username=Ann".to_owned()),
        ("wrong room", format!("room=private-other&username=Ann&token={valid}")),
        ("wrong name", format!("room=private-team&username=Bob&token={valid}")),
        ("expired", format!("room=private-team&username=Ann&token={}", invite("private-team", "Ann", now() - 1))),
        (
            "forged",
            format!(
                "room=private-team&username=Ann&token={}",
                mint("other", &Claims { room: "private-team".into(), name: "Ann".into(), exp: now() + 60 })
            ),
        ),
        ("garbage", "room=private-team&username=Ann&token=xyz".to_owned()),
    ];
    for (what, query) in cases {
        let refused = try_connect(addr, &query).await.err().unwrap_or_else(|| panic!("{what}: let in"));
        assert_eq!(refused.status, 403, "{what}: {}", refused.body);
    }
    assert!(rooms(addr).await.rooms.is_empty(), "private rooms are not listed in the lobby");
}

#[tokio::test]
async fn without_a_secret_no_one_enters_a_private_room() {
    let addr = start_with(test_config()).await;
    let token = invite("private-team", "Ann", now() + 60);
    let refused = try_connect(addr, &format!("room=private-team&username=Ann&token={token}")).await.err().unwrap();
    assert_eq!(refused.status, 403);
}

#[tokio::test]
async fn joining_a_private_room_by_message_needs_the_invitation_too() {
    let addr = private_server().await;
    let mut ann = connect(addr, "hall", "Ann").await;
    ann.send_json(json!({"type":"join","room":"private-team"})).await;
    assert!(matches!(ann.recv().await, ServerMsg::Error { code: ErrorCode::Forbidden, .. }));
    let token = invite("private-team", "Ann", now() + 60);
    ann.send_json(json!({"type":"join","room":"private-team","token":token})).await;
    assert!(matches!(ann.recv().await, ServerMsg::Welcome { room, .. } if room == "private-team"));
    // The invitation names her: she cannot rename herself in there.
    ann.send_json(json!({"type":"rename","username":"Mallory"})).await;
    assert!(matches!(ann.recv().await, ServerMsg::Error { code: ErrorCode::Forbidden, .. }));
}

#[tokio::test]
async fn an_ip_over_its_connection_limit_gets_429_until_a_place_frees_up() {
    let mut config = test_config();
    config.max_conns_per_ip = 2;
    let addr = start_with(config).await;
    let ann = connect(addr, "busy", "Ann").await;
    let _bob = connect(addr, "busy", "Bob").await;
    let refused = try_connect(addr, "room=busy&username=Cat").await.err().expect("a third is refused");
    assert_eq!(refused.status, 429, "{}", refused.body);
    ann.goodbye().await;
    // The place is freed when the server finishes Ann's connection, just after her close.
    let mut attempts = 0;
    let cat = loop {
        attempts += 1;
        match try_connect(addr, "room=busy&username=Cat").await {
            Ok(cat) => break cat,
            Err(refused) if refused.status == 429 && attempts < 1000 => tokio::task::yield_now().await,
            Err(refused) => panic!("still refused: {refused:?}"),
        }
    };
    assert_eq!(cat.room, "busy");
}

#[test]
fn mint_token_prints_an_invitation_the_server_accepts() {
    let flock = env!("CARGO_BIN_EXE_flock");
    let out = std::process::Command::new(flock)
        .args(["--secret", SECRET, "mint-token", "--room", "private-team", "--username", "Ann", "--ttl-secs", "60"])
        .output()
        .expect("run flock mint-token");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap();
    let gate = flock::server::invite::Gate::new(Some(SECRET));
    assert_eq!(gate.admit("private-team", "Ann", Some(token.trim()), now()), Ok(()));

    let public = std::process::Command::new(flock)
        .args(["--secret", SECRET, "mint-token", "--room", "lobby", "--username", "Ann"])
        .output()
        .unwrap();
    assert!(!public.status.success(), "an invitation to a public room makes no sense");
    let no_secret = std::process::Command::new(flock)
        .args(["mint-token", "--room", "private-team", "--username", "Ann"])
        .env_remove("FLOCK_SECRET")
        .output()
        .unwrap();
    assert!(!no_secret.status.success());
    assert!(String::from_utf8_lossy(&no_secret.stderr).contains("FLOCK_SECRET"));
}
