//! The HTTP side of the door: a request that never finishes its headers is closed after
//! the header timeout, and one client cannot hold more than a few connections open that
//! are not WebSockets; upgraded sockets do not count against that bound.

mod common;

use common::{connect, start_with, test_config};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bounds every wait here; the events themselves are awaited.
const DEADLINE: Duration = Duration::from_secs(10);

/// Opens a TCP connection and sends the start of a request whose headers never end.
async fn half_sent(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: flock\r\nX-Slow: ").await.expect("write");
    tcp
}

/// Everything the server sends until it closes the connection.
async fn until_closed(tcp: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    tokio::time::timeout(DEADLINE, tcp.read_to_end(&mut seen)).await.expect("closed in time").expect("read");
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn a_request_whose_headers_never_end_is_closed_after_the_header_timeout() {
    let mut config = test_config();
    config.header_timeout_secs = 1;
    let addr = start_with(config).await;
    let started = std::time::Instant::now();
    let mut slow = half_sent(addr).await;
    let answer = until_closed(&mut slow).await;
    assert!(started.elapsed() >= Duration::from_secs(1), "not before the timeout");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer:?}");
}

#[tokio::test]
async fn one_client_holds_a_bounded_number_of_pending_http_connections() {
    let mut config = test_config();
    config.max_pending_per_ip = 3;
    let addr = start_with(config).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(half_sent(addr).await);
    }
    let mut over = half_sent(addr).await;
    let answer = until_closed(&mut over).await;
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer:?}");
    // A connection that ends gives its place back.
    drop(held.pop());
    let mut next = TcpStream::connect(addr).await.expect("connect");
    let request = b"GET /healthz HTTP/1.1\r\nHost: flock\r\nConnection: close\r\n\r\n";
    // The server may not have seen the drop yet: retry until it has, as a client would.
    let answer = tokio::time::timeout(DEADLINE, async {
        loop {
            next.write_all(request).await.expect("write");
            let answer = until_closed(&mut next).await;
            if answer.starts_with("HTTP/1.1 200") {
                return answer;
            }
            tokio::task::yield_now().await;
            next = TcpStream::connect(addr).await.expect("connect");
        }
    })
    .await
    .expect("a place came free");
    assert!(answer.ends_with("ok"), "{answer:?}");
}

#[tokio::test]
async fn upgraded_sockets_do_not_count_as_pending() {
    let mut config = test_config();
    config.max_pending_per_ip = 2;
    let addr = start_with(config).await;
    let mut sockets = Vec::new();
    for i in 0..6 {
        sockets.push(connect(addr, "pending", &format!("user{i}")).await);
    }
    assert_eq!(sockets.len(), 6);
}
