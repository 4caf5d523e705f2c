//! `/ws`: the upgrade and the per-connection socket loop.
//!
//! The request is checked before upgrading ([`admission`]), so a bad room or name gets
//! HTTP 400 with a readable body. After the upgrade the frames become [`Incoming`]s for
//! [`connection::serve`] and a writer drains the connection's [`Outbox`]; no room logic
//! lives here.

use super::admission::{self, Admitted};
use super::connection::{self, Incoming, Transport};
use super::ip_limit::IpSlot;
use super::jwt::JwtIdentity;
use super::metrics::{BATCH_FRAMES, BYTES_OUT};
use super::origin;
use super::outbox::Outbox;
use super::query::ConnectRequest;
use super::AppState;
use crate::protocol::close;
use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite;

/// Read buffer per connection. Client frames are small JSON, so 1 KiB chunks suffice and
/// an idle connection stays cheap: about 7 KiB of server memory in all (axum's defaults
/// are 128 KiB each way; see docs/performance.md).
const READ_BUFFER_BYTES: usize = 1024;
/// Bytes the writer gathers before a syscall: a batch of frames goes out in one write
/// (the buffer grows only as far as batches need it, so idle connections stay small).
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// Admits or refuses the connection ([`admission`]: 400, 403, 429 or 503 with a readable
/// body), then upgrades. Nothing is upgraded that the hub would have to throw out.
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Admitted { req, identity } = match admission::check(&state, &headers, raw.as_deref()).await {
        Ok(admitted) => admitted,
        Err(refusal) => return origin::allow(&headers, &state.config.allowed_origins, refusal.into_response()),
    };
    let ws = match ws {
        Ok(ws) => ws,
        // A plain GET of this URL: the refusal the upgrade would get now (429 or 503),
        // counting and taking nothing. A browser cannot read the status of a refused
        // upgrade, so clients ask this way why it was refused.
        Err(rejection) => {
            let answer = match admission::peek_place(&state, &req, peer) {
                Some(refusal) => refusal.into_response(),
                None => not_an_upgrade(&rejection),
            };
            return origin::allow(&headers, &state.config.allowed_origins, answer);
        }
    };
    let slot = match admission::take_place(&state, &req, peer) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.into_response(),
    };
    let max = state.config.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| run(socket, state, req, identity, peer, slot))
}

/// 426 for a request the upgrade would take but that is not one (a client asking why an
/// earlier one failed learns it would pass now, so something on the way blocks upgrades).
fn not_an_upgrade(rejection: &WebSocketUpgradeRejection) -> Response {
    let body = format!("this address takes WebSocket upgrades, and would take this one now ({rejection})");
    (StatusCode::UPGRADE_REQUIRED, [(axum::http::header::UPGRADE, "websocket")], body).into_response()
}

/// One socket: its frames become [`Incoming`]s, and a writer task drains its outbox.
async fn run(
    socket: WebSocket,
    state: AppState,
    req: ConnectRequest,
    identity: Option<JwtIdentity>,
    peer: SocketAddr,
    slot: IpSlot,
) {
    let outbox = Arc::new(Outbox::new(state.config.outbox_frames, state.config.outbox_bytes, req.encoding));
    let (sink, stream) = socket.split();
    let ping_every = Duration::from_secs(state.config.ping_secs);
    let writer = tokio::spawn(write_loop(sink, outbox.clone(), ping_every));
    let idle_timeout = Some(Duration::from_secs(state.config.idle_timeout_secs));
    let incoming = stream.map(incoming);
    let transport = Transport { incoming, writer, outbox, idle_timeout };
    connection::serve(state, req, identity, peer, slot, transport).await;
}

/// What a frame (or the socket's failure) means to the connection.
fn incoming(frame: Result<Message, axum::Error>) -> Incoming {
    match frame {
        Ok(Message::Text(text)) => Incoming::Text(text),
        Ok(Message::Binary(_)) => Incoming::Binary,
        Ok(Message::Close(frame)) => Incoming::Closed { goodbye: frame.is_some_and(|f| f.code == close::NORMAL) },
        // Tungstenite answers pings itself; a pong only proves the client is alive.
        Ok(Message::Ping(_) | Message::Pong(_)) => Incoming::Alive,
        Err(err) => match is_too_big(err) {
            true => Incoming::TooBig,
            false => Incoming::Gone,
        },
    }
}

/// A data frame's payload size, for the bytes-out counter.
fn payload_len(frame: &Message) -> usize {
    match frame {
        Message::Text(text) => text.len(),
        Message::Binary(bytes) => bytes.len(),
        _ => 0,
    }
}

/// Whether the socket failed on a frame over the size limit, which earns the client a 1009.
fn is_too_big(err: axum::Error) -> bool {
    let inner = err.into_inner();
    matches!(inner.downcast_ref::<tungstenite::Error>(), Some(tungstenite::Error::Capacity(_)))
}

/// Sends whatever the outbox holds, one flush per batch, and a ping every `ping_every`,
/// until a close or a dead socket.
async fn write_loop(mut sink: SplitSink<WebSocket, Message>, outbox: Arc<Outbox>, ping_every: Duration) {
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Looked up once: a registry lookup per batch showed in the profile.
    let (batch_frames, bytes_out) = (metrics::histogram!(BATCH_FRAMES), metrics::counter!(BYTES_OUT));
    loop {
        // `next_batch` may be cancelled by a ping: it takes nothing until it returns.
        let batch = tokio::select! {
            batch = outbox.next_batch() => batch,
            _ = pings.tick() => {
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        batch_frames.record(batch.frames.len() as f64);
        bytes_out.increment(batch.frames.iter().map(payload_len).sum::<usize>() as u64);
        for frame in batch.frames {
            if sink.feed(frame).await.is_err() {
                return; // The peer is gone; the reader will notice too.
            }
        }
        if let Some(close) = batch.close {
            let frame = CloseFrame { code: close.code, reason: close.reason.into() };
            let _ = sink.send(Message::Close(Some(frame))).await;
            return;
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
