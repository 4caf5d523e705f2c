//! A real Flock server on an ephemeral port and real WebSocket clients for it.
#![allow(dead_code)] // Each test file uses its own subset of these helpers.

use flock::protocol::{ChatMessage, ClientMsg, ServerMsg, User};
use flock::server::{config::Config, serve, AppState};
use futures_util::{SinkExt, StreamExt};
use leptos::prelude::LeptosOptions;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

pub mod redis_server;
pub mod sse;
pub mod tcp_proxy;

/// How long a test waits for an expected frame before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// Every default setting, with a store of its own in a fresh temporary directory (kept on
/// disk after the test, under the system's temp dir, so a failure can be inspected).
pub fn test_config() -> Config {
    let mut config = Config::defaults();
    config.data_dir = tempfile::tempdir().expect("temp dir").keep();
    // Every test client comes from 127.0.0.1, many at once: the per-client quotas are
    // tested on their own (tests/hostile.rs), with their defaults.
    (config.connects_per_sec, config.rooms_per_minute, config.chats_per_sec) = (1e6, 1e6, 1e6);
    config
}

/// Starts a server with `config` on 127.0.0.1 and an ephemeral port.
pub async fn start_with(config: Config) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let leptos = LeptosOptions::builder().output_name("flock").build();
    let state = AppState::new(config, leptos).expect("open the store");
    tokio::spawn(serve(listener, state));
    addr
}

/// Starts a server with every default setting and its own store.
pub async fn start() -> SocketAddr {
    start_with(test_config()).await
}

/// A connected client that has read its `welcome`.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub id: Uuid,
    pub room: String,
    pub users: Vec<User>,
    /// The welcome's session token, seq and history.
    pub session: String,
    pub seq: u64,
    pub history: Vec<ChatMessage>,
    /// Whether a `reset` came before the welcome.
    pub reset: bool,
    /// Whether the welcome left chats out (`more`).
    pub more: bool,
    markers: u64,
    /// Compact (binary) `cursors` frames received so far.
    pub binary_frames: usize,
}

/// Why a connection attempt was refused: the HTTP status and body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: String,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

/// A plain GET (no upgrade) of `/ws?{query}`: the server answers what the upgrade would
/// get now, taking nothing from the quotas (426 when it would pass).
pub async fn ask_why(addr: SocketAddr, query: &str) -> Refused {
    let response = reqwest::get(format!("http://{addr}/ws?{query}")).await.expect("GET /ws");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    Refused { status, body: response.text().await.unwrap_or_default(), retry_after }
}

pub async fn try_connect(addr: SocketAddr, query: &str) -> Result<Client, Refused> {
    let url = format!("ws://{addr}/ws?{query}");
    match tokio_tungstenite::connect_async(url).await {
        Ok((ws, _)) => {
            let mut client = Client {
                ws,
                id: Uuid::nil(),
                room: String::new(),
                users: vec![],
                session: String::new(),
                seq: 0,
                history: vec![],
                reset: false,
                more: false,
                markers: 0,
                binary_frames: 0,
            };
            let mut first = client.recv().await;
            if first == ServerMsg::Reset {
                client.reset = true;
                first = client.recv().await;
            }
            match first {
                ServerMsg::Welcome { you, room, users, seq, history, session, more } => {
                    client.more = more;
                    client.id = you;
                    client.room = room;
                    client.users = users;
                    client.seq = seq;
                    client.history = history;
                    client.session = session;
                }
                other => panic!("expected welcome first, got {other:?}"),
            }
            Ok(client)
        }
        Err(tungstenite::Error::Http(response)) => Err(Refused {
            status: response.status().as_u16(),
            body: String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned(),
            retry_after: response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned),
        }),
        Err(err) => panic!("connect failed: {err}"),
    }
}

/// Connects as `name` to `room`.
pub async fn connect(addr: SocketAddr, room: &str, name: &str) -> Client {
    try_connect(addr, &format!("room={room}&username={name}")).await.expect("connection refused")
}

/// Comes back to `room` as the user behind `session`, replaying the chats after `since`.
pub async fn resume(addr: SocketAddr, room: &str, session: &str, since: u64) -> Client {
    try_connect(addr, &format!("room={room}&session={session}&since={since}")).await.expect("resume refused")
}

impl Client {
    pub async fn send(&mut self, msg: &ClientMsg) {
        self.send_text(&serde_json::to_string(msg).unwrap()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    pub async fn send_json(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    /// The next text frame, decoded (a compact binary frame as its `cursors`); fails the
    /// test after [`WAIT`].
    pub async fn recv(&mut self) -> ServerMsg {
        loop {
            match self.next_frame().await {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("undecodable frame {text}: {e}"))
                }
                Message::Binary(bytes) => {
                    self.binary_frames += 1;
                    let moves = flock::protocol::compact::decode_cursors(&bytes)
                        .unwrap_or_else(|e| panic!("undecodable binary frame {bytes:?}: {e}"));
                    return ServerMsg::Cursors { moves };
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text or binary frame, got {other:?}"),
            }
        }
    }

    async fn next_frame(&mut self) -> Message {
        match tokio::time::timeout(WAIT, self.ws.next()).await {
            Ok(Some(Ok(msg))) => msg,
            Ok(other) => panic!("socket ended while waiting for a frame: {other:?}"),
            Err(_) => panic!("no frame within {WAIT:?}"),
        }
    }

    /// Reads until `pick` returns something, and returns it with everything read before.
    pub async fn recv_until<T>(&mut self, pick: impl FnMut(&ServerMsg) -> Option<T>) -> (T, Vec<ServerMsg>) {
        read_until(self, async |client: &mut Self| client.recv().await, pick).await
    }

    /// Says goodbye (close code 1000, so the server announces `left` at once) and waits
    /// for the server's answering close.
    pub async fn goodbye(mut self) {
        let frame = tungstenite::protocol::CloseFrame {
            code: CloseCode::from(flock::protocol::close::NORMAL),
            reason: "".into(),
        };
        self.ws.close(Some(frame)).await.expect("send close");
        while let Ok(Some(Ok(_))) = tokio::time::timeout(WAIT, self.ws.next()).await {}
    }

    /// Reads every frame until the server closes; returns them with the close code.
    pub async fn read_until_closed(&mut self) -> (Vec<ServerMsg>, u16) {
        let mut seen = Vec::new();
        loop {
            match self.next_frame().await {
                Message::Text(text) => seen.push(serde_json::from_str(text.as_str()).expect("a server message")),
                Message::Close(frame) => return (seen, frame.map_or(1005, |f| u16::from(f.code))),
                _ => continue,
            }
        }
    }

    /// The next server message, or the close code if the server closed instead.
    pub async fn recv_or_closed(&mut self) -> Result<ServerMsg, u16> {
        loop {
            match self.next_frame().await {
                Message::Text(text) => return Ok(serde_json::from_str(text.as_str()).expect("a server message")),
                Message::Close(frame) => return Err(frame.map_or(1005, |f| u16::from(f.code))),
                _ => continue,
            }
        }
    }

    /// Waits for the server to close the socket and returns the close code.
    pub async fn closed_with(&mut self) -> u16 {
        loop {
            match self.next_frame().await {
                Message::Close(Some(frame)) => return u16::from(frame.code),
                Message::Close(None) => return u16::from(CloseCode::Status),
                _ => continue,
            }
        }
    }

    /// Asks for a `history` page and returns its chats and `more`.
    pub async fn page(
        &mut self,
        after: Option<u64>,
        before: Option<u64>,
        limit: Option<usize>,
    ) -> (Vec<ChatMessage>, bool) {
        self.send(&ClientMsg::History { after, before, limit }).await;
        let (page, _) = self
            .recv_until(|m| match m {
                ServerMsg::History { chats, more } => Some((chats.clone(), *more)),
                _ => None,
            })
            .await;
        page
    }

    /// Every chat the welcome left out (`more`), paged in from `since` up to its first.
    pub async fn missed_before_welcome(&mut self, since: u64) -> Vec<ChatMessage> {
        let Some(first) = self.history.first().map(|c| c.seq).filter(|_| self.more) else { return Vec::new() };
        let (mut missed, mut after) = (Vec::new(), since);
        loop {
            let (chats, more) = self.page(Some(after), None, Some(flock::protocol::MAX_PAGE_LEN)).await;
            let Some(last) = chats.last().map(|c| c.seq) else { return missed };
            missed.extend(chats.into_iter().filter(|c| c.seq < first));
            if !more || last + 1 >= first {
                return missed;
            }
            after = last;
        }
    }

    /// Returns every frame the server queued for this client before now.
    ///
    /// A direct chat to oneself goes through the same queue as everything else, so once it
    /// comes back (twice, to also flush cursor frames batched behind the first), nothing
    /// queued earlier can still be on its way.
    pub async fn drain(&mut self) -> Vec<ServerMsg> {
        let mut seen = Vec::new();
        for _ in 0..2 {
            self.markers += 1;
            let marker = format!("marker-{}-{}", self.id, self.markers);
            let to = flock::protocol::ChatTarget::User(self.id);
            self.send(&ClientMsg::chat(marker.clone(), to)).await;
            let ((), before) =
                self.recv_until(|m| matches!(m, ServerMsg::Chat(c) if c.text == marker).then_some(())).await;
            seen.extend(before);
        }
        seen
    }
}

/// Reads `client` with `recv` until `pick` returns something, and returns it with
/// everything read before: for a socket's client and a stream's alike.
pub async fn read_until<C, T>(
    client: &mut C,
    mut recv: impl AsyncFnMut(&mut C) -> ServerMsg,
    mut pick: impl FnMut(&ServerMsg) -> Option<T>,
) -> (T, Vec<ServerMsg>) {
    let mut before = Vec::new();
    loop {
        let msg = recv(client).await;
        if let Some(found) = pick(&msg) {
            return (found, before);
        }
        before.push(msg);
    }
}

/// `GET /api/rooms`.
pub async fn rooms(addr: SocketAddr) -> flock::protocol::RoomList {
    reqwest::get(format!("http://{addr}/api/rooms")).await.expect("GET /api/rooms").json().await.expect("a room list")
}

/// Users of `room` whose connection dropped and whose place is held for the grace period.
pub async fn away_in(addr: SocketAddr, room: &str) -> usize {
    rooms(addr).await.rooms.into_iter().find(|r| r.name == room).map_or(0, |r| r.away)
}

/// Polls `check` (every 20 ms, for at most 10 s) until it holds: for states that no event
/// announces to a test client, like a node reaching Redis.
pub async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A series' value in a server's `/metrics` (answered to loopback clients), if it is there.
pub async fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    let body = reqwest::get(format!("http://{addr}/metrics")).await.ok()?.text().await.ok()?;
    body.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `GET /healthz`'s body.
pub async fn health(addr: SocketAddr) -> String {
    match reqwest::get(format!("http://{addr}/healthz")).await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(err) => format!("unreachable: {err}"),
    }
}

/// The seqs of the chats in `msgs` (live ones) whose text satisfies `keep`.
pub fn chat_seqs(msgs: &[ServerMsg], keep: impl Fn(&str) -> bool) -> Vec<u64> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMsg::Chat(c) if keep(&c.text) => Some(c.seq),
            _ => None,
        })
        .collect()
}

/// The real `flock` binary, running on an ephemeral port with the store in `data_dir`;
/// killed when dropped, so a failing test leaves no server behind.
pub struct Process {
    child: Option<std::process::Child>,
    pub addr: SocketAddr,
}

/// Starts the binary with extra `FLOCK_*` settings in `envs` and waits for it to log the
/// address it bound.
pub async fn spawn_server(data_dir: &std::path::Path, envs: &[(&str, &str)]) -> Process {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flock"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("FLOCK_ADDR", "127.0.0.1:0")
        .env("FLOCK_DATA_DIR", data_dir)
        .env("FLOCK_LOG", "info")
        // As in `test_config`: the per-client quotas are tested on their own.
        .env("FLOCK_CONNECTS_PER_SEC", "1000000")
        .env("FLOCK_ROOMS_PER_MINUTE", "1000000")
        .env("FLOCK_CHATS_PER_SEC", "1000000")
        .env("LEPTOS_OUTPUT_NAME", "flock")
        .env("NO_COLOR", "1")
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the flock binary");
    let stdout = child.stdout.take().expect("piped stdout");
    let addr = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let addr = lines
            .find_map(|line| line.split("listening on http://").nth(1).map(|a| a.trim().parse().expect("an address")))
            .expect("the server never said where it listens");
        // Keep reading, so the server's later log lines do not hit a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        addr
    })
    .await
    .expect("read the server's log");
    Process { child: Some(child), addr }
}

impl Process {
    /// Sends `signal` (e.g. "KILL", "TERM") to the process.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// Waits (at most 10 s) for the process to exit.
    pub async fn wait(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("a running child");
        tokio::time::timeout(Duration::from_secs(10), tokio::task::spawn_blocking(move || child.wait()))
            .await
            .expect("the server did not exit")
            .expect("join")
            .expect("wait")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
