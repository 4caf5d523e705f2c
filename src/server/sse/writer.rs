//! The event stream's writer: drains a connection's [`Outbox`] into `text/event-stream`
//! chunks, one chunk per batch, with a comment every ping interval.
//!
//! Each server message is one unnamed event (`data: <json>`), so an `EventSource`'s
//! `message` handler gets exactly what a WebSocket's would. The stream's own events are
//! named: `stream` first (the token POSTs name), `close` last (the code a socket's close
//! frame would carry). The comments keep proxies from timing the stream out, and a write
//! that no longer gets through ends the connection (see [`crate::server::listen`]).

use crate::server::metrics::{BATCH_FRAMES, BYTES_OUT};
use crate::server::outbox::{Close, Outbox};
use axum::body::Bytes;
use axum::extract::ws::Message;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The first event of a stream: what the client needs to send.
#[derive(Serialize)]
pub struct StreamEvent<'a> {
    /// The token of `POST /sse/send?stream=`.
    pub stream: &'a str,
}

/// The `stream` event's bytes.
pub fn stream_event(token: &str) -> Bytes {
    named("stream", &StreamEvent { stream: token })
}

/// Sends what the outbox holds until a close or until the response is dropped.
pub async fn run(body: mpsc::Sender<Bytes>, outbox: Arc<Outbox>, keepalive: Duration) {
    let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
    beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (batch_frames, bytes_out) = (metrics::histogram!(BATCH_FRAMES), metrics::counter!(BYTES_OUT));
    loop {
        // `next_batch` may be cancelled by a beat: it takes nothing until it returns.
        let batch = tokio::select! {
            batch = outbox.next_batch() => batch,
            _ = beats.tick() => {
                if body.send(Bytes::from_static(b":\n\n")).await.is_err() {
                    return;
                }
                continue;
            }
        };
        batch_frames.record(batch.frames.len() as f64);
        let mut chunk = Vec::with_capacity(batch.frames.iter().map(|f| frame_len(f) + 8).sum());
        for frame in &batch.frames {
            // The stream asks the outbox for JSON only, so every frame is text.
            if let Message::Text(text) = frame {
                bytes_out.increment(text.len() as u64);
                // A JSON frame is one line: serde escapes every newline inside strings.
                chunk.extend_from_slice(b"data: ");
                chunk.extend_from_slice(text.as_bytes());
                chunk.extend_from_slice(b"\n\n");
            }
        }
        if let Some(Close { code, reason }) = batch.close {
            chunk.extend_from_slice(&named("close", &CloseEvent { code, reason }));
            let _ = body.send(chunk.into()).await;
            return;
        }
        if !chunk.is_empty() && body.send(chunk.into()).await.is_err() {
            return;
        }
    }
}

/// The last event of a stream the server ends: what a socket's close frame would say.
#[derive(Serialize)]
struct CloseEvent {
    code: u16,
    reason: &'static str,
}

fn named(event: &str, data: &impl Serialize) -> Bytes {
    let data = serde_json::to_string(data).unwrap_or_default();
    format!("event: {event}\ndata: {data}\n\n").into()
}

fn frame_len(frame: &Message) -> usize {
    match frame {
        Message::Text(text) => text.len(),
        _ => 0,
    }
}
