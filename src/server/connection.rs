//! One admitted connection's life, whatever carries it: a WebSocket (`/ws`) or the
//! fallback of an event stream down and POSTs up (`/sse`).
//!
//! A transport turns what arrives into [`Incoming`]s and runs a writer that drains the
//! connection's [`Outbox`]; [`serve`] does the rest the same way for both: the session's
//! start and end, the token bucket, the flood and size limits, and the close it owes.

use super::hub::Departure;
use super::ip_limit::IpSlot;
use super::jwt::JwtIdentity;
use super::metrics::{BYTES_IN, SLOW_CLOSES};
use super::outbox::Outbox;
use super::query::ConnectRequest;
use super::rate::TokenBucket;
use super::session::{Refusal, Session};
use super::AppState;
use crate::protocol::close;
use axum::extract::ws::Utf8Bytes;
use futures_util::{Stream, StreamExt};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How long a finished connection's writer may take to send its last frames and close.
const WRITER_GRACE: Duration = Duration::from_secs(2);
/// Refused frames in a row after which a flooding client is closed with 1008.
const FLOOD_STRIKES: u32 = 100;
/// How long a connection that fell too far behind may take to read what its transport
/// still holds and the 1013 close; one that reads nothing for this long is simply dropped.
const SLOW_CLOSE_GRACE: Duration = Duration::from_secs(10);

/// What a transport received from its client.
#[derive(Debug)]
pub enum Incoming {
    /// A text frame: one client message.
    Text(Utf8Bytes),
    /// A binary frame, which the contract has no use for.
    Binary,
    /// A sign of life that carries no message (a pong).
    Alive,
    /// A frame over the size limit.
    TooBig,
    /// The client said goodbye (`goodbye`: with code 1000) or closed otherwise.
    Closed { goodbye: bool },
    /// The transport failed.
    Gone,
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client closed; `goodbye` is an explicit one.
    Closed { goodbye: bool },
    /// The transport died without a close.
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
    /// The close the server sends for this ending, if it still has one to send.
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

/// What a transport hands [`serve`].
pub struct Transport<S> {
    /// What the client sends, in order; its end is the transport's.
    pub incoming: S,
    /// The task draining `outbox`; it ends when the peer stops taking what it sends.
    pub writer: JoinHandle<()>,
    pub outbox: Arc<Outbox>,
    /// How long the client may stay silent before it is dropped; `None` where the
    /// transport proves the client alive by other means.
    pub idle_timeout: Option<Duration>,
}

/// One connection, from admission to close. `_slot` holds its place in the per-IP count.
pub async fn serve<S>(
    state: AppState,
    req: ConnectRequest,
    identity: Option<JwtIdentity>,
    peer: SocketAddr,
    _slot: IpSlot,
    transport: Transport<S>,
) where
    S: Stream<Item = Incoming> + Unpin,
{
    let Transport { incoming, mut writer, outbox, idle_timeout } = transport;
    // Boxed: the start (resume, join, welcome; a cluster round trip) is a large future that
    // would otherwise be reserved inside every connection's task for its whole life.
    let mut session = Box::pin(Session::start(state.services(), outbox.clone(), req, identity, peer.ip())).await;
    let (id, room) = (session.id(), session.room_name().to_owned());
    let mut stopping = state.shutdown.subscribe();
    let bucket = TokenBucket::new(state.config.rate_per_sec, state.config.rate_burst, Instant::now());
    tracing::info!(%id, room, "connected");
    super::metrics::connection(true);

    let end = tokio::select! {
        end = read_loop(incoming, &mut session, idle_timeout, bucket) => end,
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

/// Hands each message to the session, through the connection's token bucket.
async fn read_loop<S>(
    mut incoming: S,
    session: &mut Session,
    idle_timeout: Option<Duration>,
    mut bucket: TokenBucket,
) -> End
where
    S: Stream<Item = Incoming> + Unpin,
{
    let mut strikes = 0u32;
    loop {
        let next = match idle_timeout {
            Some(idle) => match tokio::time::timeout(idle, incoming.next()).await {
                Ok(next) => next,
                Err(_) => return End::Silent,
            },
            None => incoming.next().await,
        };
        let Some(next) = next else { return End::Gone };
        if matches!(next, Incoming::Text(_) | Incoming::Binary) {
            if let Err(retry_after) = bucket.admit(Instant::now()) {
                strikes += 1;
                if strikes >= FLOOD_STRIKES {
                    return End::Flooding;
                }
                let refusal = Refusal::RateLimited { retry_after };
                match &next {
                    Incoming::Text(text) => session.refuse_text(text.as_str(), &refusal),
                    _ => session.refuse(&refusal),
                }
                continue;
            }
            strikes = 0;
        }
        match next {
            Incoming::Text(text) => {
                metrics::counter!(BYTES_IN).increment(text.len() as u64);
                session.handle_text(text.as_str()).await
            }
            Incoming::Binary => session.refuse(&Refusal::Binary),
            Incoming::Alive => {}
            Incoming::TooBig => return End::TooBig,
            Incoming::Closed { goodbye } => return End::Closed { goodbye },
            Incoming::Gone => return End::Gone,
        }
    }
}
