//! The accept loop: HTTP/1.1 connections with a deadline for their request headers and a
//! bound on how many one client may hold open before they become WebSockets, so
//! half-sent requests (slowloris) cannot pile up. `axum::serve` sets neither.
//!
//! A connection holds a place in the per-client count of pending HTTP connections until
//! hyper hands it over as a WebSocket, or an event stream of the fallback transport lets
//! go of it through [`PendingPlace`] (either is then counted by its own limit), or it
//! closes. Over the bound, a new connection is told 429 and closed at once.
//!
//! Every socket gets a `TCP_USER_TIMEOUT`: data the peer has not acknowledged for that long
//! fails the connection, so a client whose network vanished (no FIN, no RST) is noticed by
//! the next write to it, the event stream's comments included, not minutes later.

use super::ip_limit::{IpLimiter, IpSlot};
use super::shutdown::Shutdown;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// How long after a failed accept (out of file descriptors, say) the loop tries again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long a refused connection gets to take its 429.
const REFUSE_GRACE: Duration = Duration::from_secs(2);

/// How the loop treats each connection.
#[derive(Clone)]
pub struct Listen {
    pub router: Router,
    /// Pending (not yet upgraded) HTTP connections per client.
    pub pending: Arc<IpLimiter>,
    pub shutdown: Arc<Shutdown>,
    pub header_timeout: Duration,
    /// How long sent data may go unacknowledged before the connection fails.
    pub user_timeout: Duration,
}

/// A connection's place in the pending count, in each request's extensions: a handler
/// that turns the connection into a long-lived stream lets go of it.
#[derive(Clone)]
pub struct PendingPlace(Arc<Mutex<Option<IpSlot>>>);

impl PendingPlace {
    /// Frees the place now rather than when the connection closes.
    pub fn release(&self) {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    }
}

/// Accepts until `stop` completes; every connection then watches `shutdown`.
pub async fn run(listener: TcpListener, listen: Listen, stop: impl Future<Output = ()>) {
    let mut stop = pin!(stop);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::warn!("cannot accept a connection: {err}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        // The writer already batches frames and flushes once per batch: Nagle's algorithm
        // would only hold those flushes back (about 40 ms against delayed ACKs).
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {err}");
        }
        #[cfg(target_os = "linux")]
        if let Err(err) = socket2::SockRef::from(&tcp).set_tcp_user_timeout(Some(listen.user_timeout)) {
            tracing::debug!("cannot set TCP_USER_TIMEOUT: {err}");
        }
        match listen.pending.acquire(peer.ip()) {
            Ok(slot) => {
                let listen = listen.clone();
                tokio::spawn(async move {
                    let place = PendingPlace(Arc::new(Mutex::new(Some(slot))));
                    serve_connection(tcp, peer, &listen, place.clone()).await;
                    place.release();
                });
            }
            Err(err) => {
                tracing::warn!("refused a connection: {err}");
                tokio::spawn(refuse(tcp, err.to_string()));
            }
        }
    }
}

/// Serves one connection's requests until it closes, upgrades, or the server stops.
async fn serve_connection(tcp: TcpStream, peer: SocketAddr, listen: &Listen, place: PendingPlace) {
    let router = listen.router.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        // What `into_make_service_with_connect_info` would add: handlers read the peer.
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(place.clone());
        router.clone().oneshot(request.map(Body::new))
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(listen.header_timeout);
    let mut conn = pin!(builder.serve_connection(TokioIo::new(tcp), service).with_upgrades());
    let mut stopping = listen.shutdown.subscribe();
    let stopped = tokio::select! {
        result = conn.as_mut() => {
            if let Err(err) = result {
                tracing::debug!("connection from {peer}: {err}");
            }
            false
        }
        _ = stopping.wait_for(|stop| *stop) => true,
    };
    if stopped {
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// Answers 429 without reading the request and closes.
async fn refuse(mut tcp: TcpStream, why: String) {
    let body = format!("{why}\n");
    let response = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSE_GRACE, async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
}
