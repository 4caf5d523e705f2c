//! Benchmark connections over the fallback transport (docs/protocol.md, "Fallback
//! transport"): the event stream read chunk by chunk, each client message one POST, as a
//! plain HTTP client would do it. They look like sockets to the scenarios: a stream of
//! text frames and a sink of them.

use crate::client::{ConnectError, Incoming, Outgoing};
use flock::protocol::ServerMsg;
use futures_util::{Sink, Stream};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, OnceLock};
use tokio_tungstenite::tungstenite::{self, Message};
use uuid::Uuid;

/// An open stream that has read its `welcome`.
pub struct Opened {
    pub id: Uuid,
    pub incoming: Incoming,
    pub outgoing: Outgoing,
}

/// What the reader of a stream holds between chunks.
struct Reader {
    response: reqwest::Response,
    buffer: String,
}

/// One event: its name (`None` for a server message) and its data.
type Event = (Option<String>, String);

impl Reader {
    /// The next event (comments skipped), or `None` when the stream ended.
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (None, None);
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        name = Some(value.to_owned());
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data = Some(value.to_owned());
                    }
                }
                match data {
                    Some(data) => return Some((name, data)),
                    None => continue,
                }
            }
            let chunk = self.response.chunk().await.ok()??;
            self.buffer.push_str(std::str::from_utf8(&chunk).ok()?);
        }
    }
}

/// Opens `GET /sse?{query}` on `server` from `source` and reads up to the `welcome`.
pub async fn open(server: SocketAddr, source: Ipv4Addr, query: &str) -> Result<Opened, ConnectError> {
    let http = client_from(source)?;
    let response = http
        .get(format!("http://{server}/sse?{query}"))
        .send()
        .await
        .map_err(|err| ConnectError::Http(err.to_string()))?;
    if !response.status().is_success() {
        return Err(ConnectError::Refused(response.status().as_u16()));
    }
    let mut reader = Reader { response, buffer: String::new() };
    let token = match reader.next_event().await {
        Some((Some(name), data)) if name == "stream" => serde_json::from_str::<serde_json::Value>(&data)
            .ok()
            .and_then(|named| named["stream"].as_str().map(str::to_owned))
            .ok_or(ConnectError::NoWelcome)?,
        _ => return Err(ConnectError::NoWelcome),
    };
    let id = loop {
        match reader.next_event().await {
            Some((None, data)) => {
                if let Ok(ServerMsg::Welcome { you, .. }) = serde_json::from_str(&data) {
                    break you;
                }
            }
            Some(_) => {}
            None => return Err(ConnectError::NoWelcome),
        }
    };
    let url = format!("http://{server}/sse/send?stream={token}");
    Ok(Opened { id, incoming: Box::pin(frames(reader)), outgoing: Box::pin(posts(http, url)) })
}

/// The HTTP client of `source`, made once: a client's setup (its TLS roots) costs far more
/// than a request, and its pool lets POSTs reuse connections, as a browser's would.
fn client_from(source: Ipv4Addr) -> Result<reqwest::Client, ConnectError> {
    static CLIENTS: OnceLock<Mutex<HashMap<Ipv4Addr, reqwest::Client>>> = OnceLock::new();
    let mut clients = CLIENTS.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(client) = clients.get(&source) {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .local_address(IpAddr::V4(source))
        .tcp_nodelay(true)
        .build()
        .map_err(|err| ConnectError::Http(err.to_string()))?;
    clients.insert(source, client.clone());
    Ok(client)
}

/// The stream's server messages as text frames; a `close` event ends it.
fn frames(reader: Reader) -> impl Stream<Item = Result<Message, tungstenite::Error>> + Send {
    futures_util::stream::unfold(reader, |mut reader| async move {
        match reader.next_event().await? {
            (None, data) => Some((Ok(Message::text(data)), reader)),
            (Some(_), _) => None,
        }
    })
}

/// A sink of text frames, each sent as one POST; one that is not taken fails the sink.
fn posts(http: reqwest::Client, url: String) -> impl Sink<Message, Error = tungstenite::Error> + Send {
    futures_util::sink::unfold((http, url), |(http, url), frame: Message| async move {
        let Message::Text(text) = frame else { return Ok((http, url)) };
        let body = text.as_str().to_owned();
        let answer = http.post(&url).header("content-type", "text/plain").body(body).send().await;
        match answer.map(|response| response.status().as_u16()) {
            Ok(204) => Ok((http, url)),
            Ok(status) => Err(failed(format!("a POST was answered {status}"))),
            Err(err) => Err(failed(err.to_string())),
        }
    })
}

fn failed(why: String) -> tungstenite::Error {
    tungstenite::Error::Io(std::io::Error::other(why))
}
