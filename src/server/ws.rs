//! `/ws`: the upgrade and the per-connection socket loop.
//!
//! The query is checked before upgrading, so a bad room or name gets HTTP 400 with a
//! readable body. After the upgrade a reader turns frames into [`Session`] calls and a
//! writer drains the connection's [`Outbox`]; no room logic lives here.

use super::outbox::{Outbox, CLOSE_TOO_BIG};
use super::session::{Refusal, Session};
use super::AppState;
use crate::protocol::{validate_room, validate_username, DEFAULT_ROOM};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite;

/// Read and write buffer per connection. Frames are small JSON, so a few KiB suffice and
/// an idle connection stays cheap (axum's defaults are 128 KiB each).
const SOCKET_BUFFER_BYTES: usize = 4 * 1024;
/// How long a finished connection's writer may take to send its last frames and close.
const WRITER_GRACE: Duration = Duration::from_secs(2);

/// The query string of `/ws`.
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    room: Option<String>,
    username: Option<String>,
}

/// Checks the query, then upgrades.
pub async fn upgrade(
    State(state): State<AppState>,
    query: Result<Query<WsQuery>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return (StatusCode::BAD_REQUEST, rejection.body_text()).into_response(),
    };
    let room = match query.room.as_deref().map(validate_room).unwrap_or(Ok(DEFAULT_ROOM)) {
        Ok(room) => room.to_owned(),
        Err(err) => return (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    };
    let username = match query.username.as_deref().map(validate_username).transpose() {
        Ok(name) => name.map(str::to_owned),
        Err(err) => return (StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let max = state.config.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(SOCKET_BUFFER_BYTES)
        .on_upgrade(move |socket| run(socket, state, room, username))
}

/// How the reading side of a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The client sent a close frame.
    Closed,
    /// The socket died without one.
    Gone,
    /// The client sent a frame over the size limit.
    TooBig,
}

async fn run(socket: WebSocket, state: AppState, room: String, username: Option<String>) {
    let outbox = Arc::new(Outbox::new(state.config.outbox_frames));
    let (sink, stream) = socket.split();
    let mut writer = tokio::spawn(write_loop(sink, outbox.clone()));
    let mut session =
        Session::start(state.hub.clone(), state.limits(), outbox.clone(), &room, username.as_deref());
    let id = session.id();
    tracing::info!(%id, room, "connected");

    let end = read_loop(stream, &mut session).await;
    let room = session.room_name().to_owned();
    session.end();
    tracing::info!(%id, room, ?end, "disconnected");

    match end {
        End::TooBig => outbox.close(CLOSE_TOO_BIG, "frame too large"),
        End::Closed | End::Gone => outbox.close(1000, ""),
    }
    if tokio::time::timeout(WRITER_GRACE, &mut writer).await.is_err() {
        writer.abort();
    }
}

async fn read_loop(mut stream: SplitStream<WebSocket>, session: &mut Session) -> End {
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(Message::Text(text)) => session.handle_text(text.as_str()),
            Ok(Message::Binary(_)) => session.refuse(&Refusal::Binary),
            Ok(Message::Close(_)) => return End::Closed,
            // Tungstenite answers pings itself.
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Err(err) => return if is_too_big(err) { End::TooBig } else { End::Gone },
        }
    }
    End::Gone
}

fn is_too_big(err: axum::Error) -> bool {
    let inner = err.into_inner();
    matches!(inner.downcast_ref::<tungstenite::Error>(), Some(tungstenite::Error::Capacity(_)))
}

/// Sends whatever the outbox holds, one flush per batch, until a close or a dead socket.
async fn write_loop(mut sink: SplitSink<WebSocket, Message>, outbox: Arc<Outbox>) {
    loop {
        let batch = outbox.next_batch().await;
        for frame in batch.frames {
            if sink.feed(Message::Text(frame)).await.is_err() {
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
