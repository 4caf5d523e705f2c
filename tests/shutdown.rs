//! The real server binary under SIGTERM: every client is told 1001 and the process exits 0.

mod common;

use common::connect;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn sigterm_closes_every_client_with_1001_and_exits_cleanly() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_flock"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("FLOCK_ADDR", "127.0.0.1:0")
        .env("FLOCK_LOG", "info")
        .env("LEPTOS_OUTPUT_NAME", "flock")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the flock binary");
    let stdout = server.stdout.take().unwrap();
    // The binary logs the address it really bound.
    let addr: SocketAddr = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.split("listening on http://").nth(1).map(|a| a.trim().parse().unwrap()))
            .expect("the server never said where it listens")
    })
    .await
    .unwrap();

    let mut ann = connect(addr, "bye", "Ann").await;
    let mut bob = connect(addr, "bye", "Bob").await;
    let status = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(status.success());

    assert_eq!(ann.closed_with().await, 1001);
    assert_eq!(bob.closed_with().await, 1001);
    let exit = tokio::time::timeout(Duration::from_secs(10), tokio::task::spawn_blocking(move || server.wait()))
        .await
        .expect("the server did not exit")
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}
