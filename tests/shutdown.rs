//! The real server binary under SIGTERM: every client is told 1001 and the process exits 0.

mod common;

use common::{connect, spawn_server};
use flock::protocol::close;

#[tokio::test]
async fn sigterm_closes_every_client_with_1001_and_exits_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let server = spawn_server(data.path(), &[]).await;
    let mut ann = connect(server.addr, "bye", "Ann").await;
    let mut bob = connect(server.addr, "bye", "Bob").await;
    server.signal("TERM");
    assert_eq!(ann.closed_with().await, close::GOING_AWAY);
    assert_eq!(bob.closed_with().await, close::GOING_AWAY);
    let exit = server.wait().await;
    assert!(exit.success(), "{exit:?}");
}
