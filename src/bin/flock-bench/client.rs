//! Opening benchmark connections: from a chosen 127.0.0.x source address, many at once,
//! each read up to its `welcome`, over a WebSocket or the fallback transport
//! (`--transport sse`, [`crate::sse`]), which the scenarios see alike.

use crate::{Common, Transport};
use flock::protocol::ServerMsg;
use futures_util::{Sink, Stream, StreamExt};
use indicatif::ProgressBar;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::{self, Message};
use uuid::Uuid;

/// What a connection sends with, whatever carries it.
pub type Outgoing = Pin<Box<dyn Sink<Message, Error = tungstenite::Error> + Send>>;
/// What a connection receives, whatever carries it.
pub type Incoming = Pin<Box<dyn Stream<Item = Result<Message, tungstenite::Error>> + Send>>;

/// Why a benchmark run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("tcp connect: {0}")]
    Tcp(#[from] std::io::Error),
    #[error("the server refused the upgrade with HTTP {0} (raise FLOCK_MAX_CONNS_PER_IP, FLOCK_MAX_PENDING_PER_IP, FLOCK_CONNECTS_PER_SEC, FLOCK_ROOMS_PER_MINUTE and FLOCK_CHATS_PER_SEC, or use --source-ips)")]
    Refused(u16),
    #[error("websocket: {0}")]
    Ws(tungstenite::Error),
    #[error("http: {0}")]
    Http(String),
    #[error("the server closed before its welcome")]
    NoWelcome,
    #[error("{0}")]
    Usage(String),
}

/// A connected user: the halves of its connection and the id the server gave it.
pub struct Connected {
    outgoing: Outgoing,
    incoming: Incoming,
    pub id: Uuid,
}

impl Connected {
    /// Its sending and its receiving halves.
    pub fn split(self) -> (Outgoing, Incoming) {
        (self.outgoing, self.incoming)
    }
}

/// Connects user number `n` to `/ws?{query}` on server n mod count, from source address
/// 127.0.0.(1 + n % source_ips).
pub async fn connect(common: &Common, n: usize, query: String) -> Result<Connected, ConnectError> {
    let source = Ipv4Addr::new(127, 0, 0, 1 + (n % usize::from(common.source_ips.max(1))) as u8);
    connect_from(common, n, source, query).await
}

/// [`connect`] from a chosen source address.
pub async fn connect_from(
    common: &Common,
    n: usize,
    source: Ipv4Addr,
    query: String,
) -> Result<Connected, ConnectError> {
    let server = *common.server.get(n % common.server.len().max(1)).ok_or(ConnectError::Usage("no --server".into()))?;
    if common.transport == Transport::Sse {
        let opened = crate::sse::open(server, source, &query).await?;
        return Ok(Connected { outgoing: opened.outgoing, incoming: opened.incoming, id: opened.id });
    }
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    let url = format!("ws://{server}/ws?{query}");
    let handshake = tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config()));
    let (mut ws, _) = handshake.await.map_err(|err| match err {
        tungstenite::Error::Http(response) => ConnectError::Refused(response.status().as_u16()),
        other => ConnectError::Ws(other),
    })?;
    while let Some(frame) = ws.next().await {
        if let Message::Text(text) = frame.map_err(ConnectError::Ws)? {
            if let Ok(ServerMsg::Welcome { you, .. }) = serde_json::from_str(text.as_str()) {
                let (sink, stream) = ws.split();
                return Ok(Connected { outgoing: Box::pin(sink), incoming: Box::pin(stream), id: you });
            }
        }
    }
    Err(ConnectError::NoWelcome)
}

/// tungstenite zero-fills its whole read buffer (128 KiB by default) before every read:
/// with thousands of sockets each reading small frames, that memset was an eighth of the
/// generator's CPU. 8 KiB still takes a 500-move `cursors` frame in a few reads.
fn ws_config() -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default().read_buffer_size(8 * 1024)
}

/// Opens `count` connections, `common.connect_concurrency` at a time; `query(n)` gives
/// user n's query string. Returns them in order of `n`.
pub async fn connect_all(
    common: &Common,
    count: usize,
    query: impl Fn(usize) -> String,
    progress: &ProgressBar,
) -> Result<Vec<Connected>, ConnectError> {
    let mut connected = Vec::with_capacity(count);
    let mut started = 0;
    while started < count {
        let batch = common.connect_concurrency.max(1).min(count - started);
        let attempts: Vec<_> = (started..started + batch).map(|n| connect(common, n, query(n))).collect();
        for result in futures_util::future::join_all(attempts).await {
            connected.push(result?);
            progress.inc(1);
        }
        started += batch;
    }
    Ok(connected)
}

/// What a receiver read next.
pub enum Next {
    /// A server message (frames that are not messages are skipped); a compact `cursors`
    /// frame arrives as the same message.
    Message(ServerMsg),
    /// The run's deadline passed.
    Deadline,
    /// The socket ended or failed.
    Ended,
}

/// The next server message on `stream`, unless the deadline comes first.
pub async fn next_message(
    stream: &mut Incoming,
    deadline: &mut tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
) -> Next {
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            () = crate::report::until(deadline) => return Next::Deadline,
        };
        match next {
            Some(Ok(Message::Text(text))) => {
                if let Ok(msg) = serde_json::from_str(text.as_str()) {
                    return Next::Message(msg);
                }
            }
            Some(Ok(Message::Binary(bytes))) => {
                if let Ok(moves) = flock::protocol::compact::decode_cursors(&bytes) {
                    return Next::Message(ServerMsg::Cursors { moves });
                }
            }
            Some(Ok(_)) => {}
            _ => return Next::Ended,
        }
    }
}
