//! A real client of the fallback transport: an event stream read off `GET /sse` chunk by
//! chunk, and POSTs to `/sse/send` and `/sse/close`.

use super::{Refused, WAIT};
use flock::protocol::{ClientMsg, ServerMsg};
use std::net::SocketAddr;
use uuid::Uuid;

/// One event of the stream: its name (`None` for a server message) and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

/// An open stream that has read its `stream` event and its `welcome`.
pub struct SseClient {
    response: reqwest::Response,
    buffer: String,
    http: reqwest::Client,
    /// Where POSTs go: by default the server the stream came from.
    pub base: String,
    pub token: String,
    pub id: Uuid,
    pub session: String,
    pub seq: u64,
    pub welcome: ServerMsg,
}

/// What a POST was answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: String,
}

/// Opens `GET /sse?{query}` and reads up to the `welcome`.
pub async fn try_open(addr: SocketAddr, query: &str) -> Result<SseClient, Refused> {
    let http = reqwest::Client::new();
    let response = http
        .get(format!("http://{addr}/sse?{query}"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("GET /sse");
    let status = response.status().as_u16();
    if status != 200 {
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        return Err(Refused { status, body: response.text().await.unwrap_or_default(), retry_after });
    }
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut client = SseClient {
        response,
        buffer: String::new(),
        http,
        base: format!("http://{addr}"),
        token: String::new(),
        id: Uuid::nil(),
        session: String::new(),
        seq: 0,
        welcome: ServerMsg::Reset,
    };
    let first = client.next_event().await.expect("a stream event");
    assert_eq!(first.name.as_deref(), Some("stream"), "the first event names the stream: {first:?}");
    let named: serde_json::Value = serde_json::from_str(&first.data).expect("JSON");
    client.token = named["stream"].as_str().expect("a token").to_owned();
    let mut welcome = client.recv().await;
    if welcome == ServerMsg::Reset {
        welcome = client.recv().await;
    }
    match &welcome {
        ServerMsg::Welcome { you, seq, session, .. } => {
            (client.id, client.seq, client.session) = (*you, *seq, session.clone());
        }
        other => panic!("expected welcome, got {other:?}"),
    }
    client.welcome = welcome;
    Ok(client)
}

/// Opens a stream into `room` as `name`.
pub async fn open(addr: SocketAddr, room: &str, name: &str) -> SseClient {
    try_open(addr, &format!("room={room}&username={name}")).await.expect("stream refused")
}

impl SseClient {
    /// The next event (comments skipped), or `None` when the stream ended; fails the test
    /// after [`WAIT`].
    pub async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (None, Vec::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        name = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push(value);
                    }
                }
                if name.is_none() && data.is_empty() {
                    continue; // a comment
                }
                return Some(Event { name, data: data.join("\n") });
            }
            match tokio::time::timeout(WAIT, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8 events")),
                Ok(Ok(None)) => return None,
                Ok(Err(err)) => panic!("the stream failed: {err}"),
                Err(_) => panic!("no event within {WAIT:?}"),
            }
        }
    }

    /// The next server message; fails the test on a `close` event.
    pub async fn recv(&mut self) -> ServerMsg {
        match self.next_event().await {
            Some(Event { name: None, data }) => {
                serde_json::from_str(&data).unwrap_or_else(|e| panic!("undecodable event {data}: {e}"))
            }
            other => panic!("expected a server message, got {other:?}"),
        }
    }

    /// Reads until `pick` returns something, and returns it with everything read before.
    pub async fn recv_until<T>(&mut self, pick: impl FnMut(&ServerMsg) -> Option<T>) -> (T, Vec<ServerMsg>) {
        super::read_until(self, async |client: &mut Self| client.recv().await, pick).await
    }

    /// Reads until the stream ends; returns the messages with the `close` event's code.
    pub async fn read_until_closed(&mut self) -> (Vec<ServerMsg>, u16) {
        let mut seen = Vec::new();
        loop {
            match self.next_event().await {
                Some(Event { name: None, data }) => seen.push(serde_json::from_str(&data).expect("a server message")),
                Some(Event { name: Some(name), data }) if name == "close" => {
                    let close: serde_json::Value = serde_json::from_str(&data).expect("JSON");
                    let code = close["code"].as_u64().expect("a code") as u16;
                    assert!(self.next_event().await.is_none(), "the close event is the last");
                    return (seen, code);
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
    }

    /// POSTs `body` to `/sse/{path}?stream=` of [`SseClient::base`].
    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> Answer {
        let response = self
            .http
            .post(format!("{}/sse/{path}?stream={}", self.base, self.token))
            .header("content-type", "text/plain")
            .body(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Answer { status, retry_after, body: response.text().await.unwrap_or_default() }
    }

    /// Sends one message; the server must take it.
    pub async fn send(&self, msg: &ClientMsg) {
        let answer = self.post("send", serde_json::to_string(msg).expect("JSON")).await;
        assert_eq!(answer.status, 204, "a send was refused: {answer:?}");
    }

    /// Says goodbye and reads the stream to its end.
    pub async fn goodbye(mut self) -> u16 {
        let answer = self.post("close", "").await;
        assert_eq!(answer.status, 204, "the goodbye was refused: {answer:?}");
        self.read_until_closed().await.1
    }
}
