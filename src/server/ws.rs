//! `/ws`: the upgrade and the per-connection socket loop.
//!
//! The query is checked before upgrading, so a bad room or name gets HTTP 400 with a
//! readable body. After the upgrade a reader turns frames into [`Session`] calls and a
//! writer drains the connection's [`Outbox`]; no room logic lives here.

use super::clock::unix_secs;
use super::hub::Departure;
use super::ip_limit::IpSlot;
use super::jwt::{self, JwtIdentity};
use super::metrics::{BATCH_FRAMES, BYTES_IN, BYTES_OUT, SLOW_CLOSES};
use super::origin;
use super::outbox::Outbox;
use super::query::{parse_connect_query, ConnectRequest};
use super::quota::QuotaError;
use super::rate::TokenBucket;
use super::session::{is_banned, is_session_banned, Refusal, Session, REMOVED_MESSAGE};
use super::AppState;
use crate::protocol::close;
use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite;

/// Read buffer per connection. Client frames are small JSON, so 1 KiB chunks suffice and
/// an idle connection stays cheap: about 7 KiB of server memory in all (axum's defaults
/// are 128 KiB each way; see docs/performance.md).
const READ_BUFFER_BYTES: usize = 1024;
/// Bytes the writer gathers before a syscall: a batch of frames goes out in one write
/// (the buffer grows only as far as batches need it, so idle connections stay small).
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// How long a finished connection's writer may take to send its last frames and close.
const WRITER_GRACE: Duration = Duration::from_secs(2);
/// Refused frames in a row after which a flooding client is closed with 1008.
const FLOOD_STRIKES: u32 = 100;
/// How long a connection that fell too far behind may take to read what its socket still
/// holds and the 1013 close; one that reads nothing for this long is simply dropped.
const SLOW_CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Admits or refuses the connection, then upgrades: 403 for a foreign origin, a bad JWT (or
/// none where one is required), a private room without a valid invitation (or a JWT that
/// names it), or an identity the app's backend banned from the room; 400 for a bad query;
/// 429 for an IP over its connection limit. Nothing is upgraded that the hub would have
/// to throw out.
pub async fn upgrade(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Err(err) = origin::check(&headers, &state.config.allowed_origins) {
        tracing::warn!("refused upgrade: {err}");
        return (StatusCode::FORBIDDEN, err.to_string()).into_response();
    }
    let req = match parse_connect_query(raw.as_deref().unwrap_or_default()) {
        Ok(req) => req,
        Err(err) => return (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    };
    let identity = match jwt::check(state.jwt.as_deref(), req.jwt.as_deref(), &req.room) {
        Ok(identity) => identity,
        Err(err) => {
            tracing::info!(room = req.room, "refused upgrade: {err}");
            return (StatusCode::FORBIDDEN, err.to_string()).into_response();
        }
    };
    // A JWT that names the room stands in for its invitation.
    if !identity.as_ref().is_some_and(|identity| identity.names_room(&req.room)) {
        let name = identity.as_ref().and_then(|i| i.name.as_deref()).or(req.username.as_deref()).unwrap_or_default();
        if let Err(err) = state.gate.admit(&req.room, name, req.token.as_deref(), unix_secs()) {
            tracing::warn!(room = req.room, "refused upgrade: {err}");
            return (StatusCode::FORBIDDEN, err.to_string()).into_response();
        }
    }
    // Who this is: the JWT's identity, else the session's (a JWT user takes up no other).
    let banned = match (&identity, req.session.as_deref()) {
        (Some(identity), _) => is_banned(&state.services(), &req.room, identity.id).await,
        (None, Some(token)) => is_session_banned(&state.services(), &req.room, token).await,
        (None, None) => false,
    };
    if banned {
        tracing::info!(room = req.room, "refused upgrade: removed from the room");
        return (StatusCode::FORBIDDEN, REMOVED_MESSAGE).into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return why_not(&state, &req, peer).unwrap_or_else(|| not_an_upgrade(&rejection)),
    };
    let slot = match state.ips.acquire(peer.ip()) {
        Ok(slot) => slot,
        Err(err) => {
            tracing::warn!("refused upgrade: {err}");
            return (StatusCode::TOO_MANY_REQUESTS, err.to_string()).into_response();
        }
    };
    if let Err(err) = state.quotas.connect(&state.hub, &req.room, peer.ip()) {
        tracing::warn!(room = req.room, "refused upgrade: {err}");
        return quota_refusal(&err);
    }
    let max = state.config.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| run(socket, state, req, identity, peer, slot))
}

/// For a plain GET of an upgrade's URL: the refusal the upgrade would get now (429 or
/// 503; a bad query or invitation was answered before), counting and taking nothing, or
/// `None` when it would pass. A browser cannot read
/// the status of a refused upgrade, so the web client asks this way why it was refused.
fn why_not(state: &AppState, req: &ConnectRequest, peer: SocketAddr) -> Option<Response> {
    if let Err(err) = state.ips.peek(peer.ip()) {
        return Some((StatusCode::TOO_MANY_REQUESTS, err.to_string()).into_response());
    }
    state.quotas.peek(&state.hub, &req.room, peer.ip()).err().map(|err| quota_refusal(&err))
}

/// 426 for a request the upgrade would take but that is not one (a client asking why an
/// earlier one failed learns it would pass now).
fn not_an_upgrade(rejection: &WebSocketUpgradeRejection) -> Response {
    let body = format!("this address takes WebSocket upgrades, and would take this one now ({rejection})");
    (StatusCode::UPGRADE_REQUIRED, [(axum::http::header::UPGRADE, "websocket")], body).into_response()
}

/// 429 with `Retry-After` (whole seconds, rounded up) for a rate, 503 for a full server.
fn quota_refusal(err: &QuotaError) -> Response {
    match err.retry_after() {
        Some(after) => {
            let secs = after.as_millis().div_ceil(1000).max(1).to_string();
            (StatusCode::TOO_MANY_REQUESTS, [(RETRY_AFTER, secs)], err.to_string()).into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, err.to_string()).into_response(),
    }
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client sent a close frame; code 1000 is an explicit goodbye.
    Closed { goodbye: bool },
    /// The socket died without one.
    Gone,
    /// Nothing came from the client, not even a pong, for the idle timeout.
    Silent,
    /// The client sent a frame over the size limit.
    TooBig,
    /// The client kept sending past its rate limit.
    Flooding,
    /// The writer stopped first: the peer stopped taking frames.
    WriterStopped,
    /// The outbox overflowed: the client reads too slowly and is closed with 1013.
    TooSlow,
    /// The server is shutting down.
    ShuttingDown,
}

impl End {
    /// The close frame the server sends for this ending, if it still has one to send.
    fn close_frame(self) -> Option<(u16, &'static str)> {
        match self {
            End::Closed { .. } | End::Gone | End::Silent => Some((close::NORMAL, "")),
            End::TooBig => Some((close::TOO_BIG, "frame too large")),
            End::Flooding => Some((close::POLICY, "rate limit exceeded")),
            End::ShuttingDown => Some((close::GOING_AWAY, "server shutting down")),
            End::WriterStopped | End::TooSlow => None,
        }
    }

    /// A goodbye or a client thrown out leaves at once; anything else may come back.
    fn departure(self) -> Departure {
        match self {
            End::Closed { goodbye: true } | End::TooBig | End::Flooding => Departure::Goodbye,
            _ => Departure::Dropped,
        }
    }
}

/// One connection, from upgrade to close. `_slot` holds its place in the per-IP count.
async fn run(
    socket: WebSocket,
    state: AppState,
    req: ConnectRequest,
    identity: Option<JwtIdentity>,
    peer: SocketAddr,
    _slot: IpSlot,
) {
    let outbox = Arc::new(Outbox::new(state.config.outbox_frames, state.config.outbox_bytes, req.encoding));
    let (sink, stream) = socket.split();
    let ping_every = Duration::from_secs(state.config.ping_secs);
    let idle_timeout = Duration::from_secs(state.config.idle_timeout_secs);
    let mut writer = tokio::spawn(write_loop(sink, outbox.clone(), ping_every));
    // Boxed: the start (resume, join, welcome; a cluster round trip) is a large future that
    // would otherwise be reserved inside every connection's task for its whole life.
    let mut session = Box::pin(Session::start(state.services(), outbox.clone(), req, identity, peer.ip())).await;
    let (id, room) = (session.id(), session.room_name().to_owned());
    let mut stopping = state.shutdown.subscribe();
    let bucket = TokenBucket::new(state.config.rate_per_sec, state.config.rate_burst, Instant::now());
    tracing::info!(%id, room, "connected");
    super::metrics::connection(true);

    let end = tokio::select! {
        end = read_loop(stream, &mut session, idle_timeout, bucket) => end,
        _ = &mut writer => End::WriterStopped,
        _ = outbox.overflowed() => End::TooSlow,
        _ = stopping.wait_for(|stop| *stop) => End::ShuttingDown,
    };
    let room = session.room_name().to_owned();
    session.end(end.departure());
    super::metrics::connection(false);
    if end == End::TooSlow {
        metrics::counter!(SLOW_CLOSES).increment(1);
    }
    tracing::info!(%id, room, ?end, "disconnected");

    let grace = match end.close_frame() {
        Some((code, reason)) => {
            outbox.close(code, reason);
            WRITER_GRACE
        }
        // The writer is gone: nothing more can be sent.
        None if end == End::WriterStopped => return,
        // The overflow dropped its queue and queued the 1013 close in its place.
        None => SLOW_CLOSE_GRACE,
    };
    if tokio::time::timeout(grace, &mut writer).await.is_err() {
        writer.abort();
    }
}

async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    session: &mut Session,
    idle_timeout: Duration,
    mut bucket: TokenBucket,
) -> End {
    let mut strikes = 0u32;
    loop {
        let Ok(frame) = tokio::time::timeout(idle_timeout, stream.next()).await else {
            return End::Silent;
        };
        if matches!(frame, Some(Ok(Message::Text(_) | Message::Binary(_)))) {
            if let Err(retry_after) = bucket.admit(Instant::now()) {
                strikes += 1;
                if strikes >= FLOOD_STRIKES {
                    return End::Flooding;
                }
                let refusal = Refusal::RateLimited { retry_after };
                match &frame {
                    Some(Ok(Message::Text(text))) => session.refuse_text(text.as_str(), &refusal),
                    _ => session.refuse(&refusal),
                }
                continue;
            }
            strikes = 0;
        }
        match frame {
            None => return End::Gone,
            Some(Ok(Message::Text(text))) => {
                metrics::counter!(BYTES_IN).increment(text.len() as u64);
                session.handle_text(text.as_str()).await
            }
            Some(Ok(Message::Binary(_))) => session.refuse(&Refusal::Binary),
            Some(Ok(Message::Close(frame))) => {
                return End::Closed { goodbye: frame.is_some_and(|f| f.code == close::NORMAL) }
            }
            // Tungstenite answers pings itself; a pong only proves the client is alive.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Err(err)) => return if is_too_big(err) { End::TooBig } else { End::Gone },
        }
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
