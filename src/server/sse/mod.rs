//! The fallback transport for networks that block WebSocket upgrades: Server-Sent Events
//! down (`GET /sse`, the query of `/ws`), HTTP POSTs up (`POST /sse/send?stream=`).
//!
//! The stream is a connection like a socket: admitted by the same checks
//! ([`admission`]), served by the same [`connection::serve`] (session, resume, token
//! bucket, limits), with the same messages. Only the carriage differs: [`writer`] turns the
//! outbox into events, and a POST's lines become the frames a socket would have read,
//! handed over through [`Streams`] (from another node of a cluster, through the bus:
//! [`crate::server::bus::forward`]). See docs/protocol.md.

pub mod streams;
pub mod writer;

use super::admission::{self, Admitted, Refused};
use super::bus::forward::{Carried, Delivery, Outcome};
use super::bus::link::Link;
use super::connection::{self, Transport};
use super::cursor_board::Encoding;
use super::listen::PendingPlace;
use super::origin;
use super::outbox::Outbox;
use super::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::StreamExt;
use serde::Deserialize;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
pub use streams::Streams;
use tokio::sync::mpsc;

/// `GET /sse`: admits the client as `/ws` would, then streams its connection.
pub async fn open(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    place: Option<Extension<PendingPlace>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let allowed = state.config.allowed_origins.clone();
    let answer = match admit(&state, &headers, raw.as_deref(), peer).await {
        Ok((admitted, slot)) => {
            // From here the stream counts as a connection, not as a pending request.
            if let Some(Extension(place)) = place {
                place.release();
            }
            start(state, admitted, peer, slot)
        }
        Err(refusal) => refusal.into_response(),
    };
    origin::allow(&headers, &allowed, answer)
}

async fn admit(
    state: &AppState,
    headers: &HeaderMap,
    raw: Option<&str>,
    peer: SocketAddr,
) -> Result<(Admitted, super::ip_limit::IpSlot), Refused> {
    let admitted = admission::check(state, headers, raw).await?;
    if admitted.req.encoding != Encoding::Json {
        let why = "an event stream carries JSON only: leave `encoding` out";
        return Err(Refused::new(StatusCode::BAD_REQUEST, why));
    }
    let slot = admission::take_place(state, &admitted.req, peer)?;
    Ok((admitted, slot))
}

/// Opens the stream: its first event names its token, then the connection's frames.
fn start(state: AppState, admitted: Admitted, peer: SocketAddr, slot: super::ip_limit::IpSlot) -> Response {
    let Admitted { req, identity } = admitted;
    let (token, mut inbox, registration) = state.streams.open(state.node_id());
    // One chunk in flight: a client that stops reading backs up into its outbox, which
    // closes it with 1013 as it would a socket.
    let (body_tx, mut body_rx) = mpsc::channel::<Bytes>(1);
    let _ = body_tx.try_send(writer::stream_event(&token));
    let outbox = Arc::new(Outbox::new(state.config.outbox_frames, state.config.outbox_bytes, Encoding::Json));
    let keepalive = Duration::from_secs(state.config.ping_secs);
    let writer = tokio::spawn(writer::run(body_tx, outbox.clone(), keepalive));
    let incoming = futures_util::stream::poll_fn(move |cx| inbox.poll_recv(cx));
    // Liveness comes from the stream's writes (its comments, under the socket's
    // TCP_USER_TIMEOUT), not from the client, which need not send anything.
    let transport = Transport { incoming, writer, outbox, idle_timeout: None };
    tokio::spawn(async move {
        connection::serve(state, req, identity, peer, slot, transport).await;
        drop(registration);
    });
    let chunks = futures_util::stream::poll_fn(move |cx| body_rx.poll_recv(cx)).map(Ok::<_, Infallible>);
    let headers = [
        (CONTENT_TYPE, "text/event-stream"),
        (CACHE_CONTROL, "no-store"),
        // nginx buffers responses unless told not to.
        (axum::http::HeaderName::from_static("x-accel-buffering"), "no"),
    ];
    (headers, Body::from_stream(chunks)).into_response()
}

/// The query of `POST /sse/send` and `POST /sse/close`.
#[derive(Deserialize)]
pub struct StreamQuery {
    stream: String,
}

/// `POST /sse/send?stream=`: the body's lines are client messages, in order. 204 once
/// they are handed to the connection (whose answers come down the stream), 400 for a body
/// that is not UTF-8, has too many lines or broke off, 404 for a stream that ended, 413
/// for a body over the frame limit (which ends the stream with 1009, as an over-size
/// frame ends a socket), 429 while the stream has [`streams::INBOX_FRAMES`] waiting, 503
/// while the node that holds it cannot be reached.
pub async fn send(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<StreamQuery>,
    body: Body,
) -> Response {
    let max = state.config.max_frame_bytes;
    let answer = match axum::body::to_bytes(body, max).await {
        Ok(bytes) => match frames(bytes) {
            Ok(frames) => deliver(&state, &query.stream, frames).await,
            Err(why) => (StatusCode::BAD_REQUEST, why).into_response(),
        },
        Err(err) if is_too_big(&err) => {
            let _ = deliver(&state, &query.stream, vec![Carried::TooBig]).await;
            (StatusCode::PAYLOAD_TOO_LARGE, format!("a POST's body may be at most {max} bytes")).into_response()
        }
        // A body that broke off (the client's network) is no message: nothing is taken.
        Err(_) => (StatusCode::BAD_REQUEST, "the POST's body broke off").into_response(),
    };
    origin::allow(&headers, &state.config.allowed_origins, answer)
}

/// `POST /sse/close?stream=`: the client's goodbye (a socket's close with 1000): it
/// leaves the room at once. 204, or 404 for a stream that ended.
pub async fn goodbye(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<StreamQuery>) -> Response {
    let answer = deliver(&state, &query.stream, vec![Carried::Goodbye]).await;
    origin::allow(&headers, &state.config.allowed_origins, answer)
}

/// Whether reading a body failed on the size limit (and not on the connection).
fn is_too_big(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// A body's non-empty lines, each one frame.
fn frames(bytes: Bytes) -> Result<Vec<Carried>, String> {
    let text = std::str::from_utf8(&bytes).map_err(|_| "a POST's body must be UTF-8 text".to_owned())?;
    let frames: Vec<Carried> = (text.split('\n'))
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .filter(|line| !line.trim().is_empty())
        .map(|line| Carried::Text(line.to_owned()))
        .collect();
    if frames.len() > streams::INBOX_FRAMES {
        return Err(format!("a POST may carry at most {} messages", streams::INBOX_FRAMES));
    }
    Ok(frames)
}

/// Hands `frames` to the stream of `token`: here if this node holds it, else through the
/// bus to the node its token names.
async fn deliver(state: &AppState, token: &str, frames: Vec<Carried>) -> Response {
    let outcome = match streams::node_of(token) {
        Some(node) if node != state.node_id() => match state.hub.bus().forward(node, token, frames).await {
            Ok(Some(outcome)) => outcome,
            Ok(None) => return unreachable_node(),
            Err(err) => {
                tracing::warn!("cannot forward a POST to the node of its stream: {err}");
                return unreachable_node();
            }
        },
        _ => state.streams.deliver(token, frames),
    };
    match outcome {
        Outcome::Taken => StatusCode::NO_CONTENT.into_response(),
        Outcome::NoStream => (StatusCode::NOT_FOUND, "no such stream: it ended, or never was").into_response(),
        Outcome::Full => {
            let why =
                format!("the stream has {} messages waiting already: send again in a moment", streams::INBOX_FRAMES);
            (StatusCode::TOO_MANY_REQUESTS, [(RETRY_AFTER, "1")], why).into_response()
        }
    }
}

/// 503: the node that holds the stream does not answer now (or no node reads its
/// channel: it is gone, or resubscribing); nothing was taken.
fn unreachable_node() -> Response {
    let why = "the node that holds this stream cannot be reached now: send again in a moment";
    (StatusCode::SERVICE_UNAVAILABLE, [(RETRY_AFTER, "1")], why).into_response()
}

/// Hands the frames other nodes forward to this node's streams, in the order they came,
/// and answers each (each answer on a task of its own, so one slow answer holds up no
/// delivery). A request its asker has stopped waiting for (it answered 503) is dropped:
/// its client sends it again.
pub fn serve_forwarded(link: Arc<Link>, streams: Arc<Streams>) {
    let Some(mut deliveries) = link.forwarding.take_deliveries() else { return };
    tokio::spawn(async move {
        while let Some(Delivery { id, from, token, frames, deadline_ms }) = deliveries.recv().await {
            if super::clock::now_ms() > deadline_ms {
                continue;
            }
            let outcome = streams.deliver(&token, frames);
            let link = link.clone();
            tokio::spawn(async move {
                if let Err(err) = link.answer(from, id, outcome).await {
                    tracing::warn!(%from, "cannot answer forwarded frames: {err}");
                }
            });
        }
    });
}
