//! A node's link to Redis: the current connection (replaced by the [`super::supervisor`]
//! after an outage), the chat script, session lookups, and the publisher task that sends
//! what the rooms queue.

use super::event::{BusEvent, Envelope};
use super::forward::{Carried, Forwarding, NodeMessage, Outcome};
use super::scripts::{CHAT_SCRIPT, FORGET_SCRIPT, PUT_SCRIPT};
use super::{keys, Outgoing, PresenceChange};
use crate::protocol::{ChatMessage, Move, User};
use crate::server::metrics::{BUS_DROPPED, BUS_UP};
use redis::aio::MultiplexedConnection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Items the rooms may queue for the publisher before new ones are dropped (counted in
/// `flock_bus_dropped_total`; presence is re-sent whole after an outage anyway).
const QUEUE: usize = 65_536;
/// Items the publisher sends in one pipeline at most.
const BATCH: usize = 4096;
/// How long a chat, a session lookup or a stream read may wait for Redis.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a chat's `ref` is remembered in Redis (the local store remembers it as long
/// as it keeps the chat, so a resend after this is still caught on the node that saw it).
const REF_TTL_SECS: u64 = 24 * 3600;
/// Sessions unused this long are forgotten, as in the SQLite store.
const SESSION_TTL_SECS: u64 = 30 * 24 * 3600;

/// How long a node waits for another to answer the frames it forwarded.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the bus could not do something now; the caller refuses or retries, never crashes.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the cluster bus (Redis) is unreachable")]
    Down,
    #[error("the cluster bus (Redis) timed out")]
    Timeout,
    #[error("cluster bus: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cluster bus: unreadable entry: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("cannot read the bus CA file {path}: {source}")]
    CaFile { path: std::path::PathBuf, source: std::io::Error },
}

/// How a chat script call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbered {
    pub seq: u64,
    /// The ref was already used: nothing new was stored or published.
    pub duplicate: bool,
}

/// A room this node wants the events of (someone is about to join it here), and who
/// waits until the node has its presence and its chats.
pub struct Want {
    pub room: String,
    pub ready: tokio::sync::oneshot::Sender<()>,
}

/// Wants waiting for the supervisor at most; past it a join does not wait (the next beat
/// follows every room this node holds someone in).
const WANTS: usize = 1024;

/// This node's connection to Redis and its outgoing queue.
pub struct Link {
    /// This process's id in the cluster, new on every start.
    pub node: Uuid,
    pub(super) client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    up: AtomicBool,
    tx: mpsc::Sender<Outgoing>,
    /// Chats kept per room stream.
    keep: u64,
    /// How long a room's stream and counter live in Redis unused, in ms.
    pub ttl_ms: u64,
    chat_script: redis::Script,
    wants: mpsc::Sender<Want>,
    /// The receiving end of `wants`, until the supervisor takes it.
    wanted: Mutex<Option<mpsc::Receiver<Want>>>,
    /// The webhook kinds this node's scripts append to the cluster's outbox, as
    /// [`crate::server::webhooks::Kinds::letters`] (unset: none).
    webhook_letters: OnceLock<String>,
    /// Items the queue took so far, and how many of them the publisher has sent (or
    /// dropped): with webhooks on, a chat waits for what was queued before it, so a
    /// user's `user.joined` is in the outbox before their first `chat.created`.
    queued: AtomicU64,
    sent: tokio::sync::watch::Sender<u64>,
    /// The fallback transport's frames forwarded from and to this node.
    pub forwarding: Forwarding,
}

impl Link {
    /// A link to the Redis at `url` (not connected yet: the supervisor connects it) and the
    /// receiving end of its queue, for [`publish`].
    /// A link to the Redis at `url` (`redis://`, or `rediss://` for TLS; a password as
    /// `redis://:password@host:port`); a room's stream holds `keep` chats, and its stream
    /// and counter expire after `ttl` unused. `ca` is the PEM file of the authority that
    /// signed a TLS Redis's certificate, when the system's roots do not include it.
    pub fn new(
        url: &str,
        keep: u64,
        ttl: Duration,
        ca: Option<&std::path::Path>,
    ) -> Result<(Arc<Link>, mpsc::Receiver<Outgoing>), BusError> {
        use redis::IntoConnectionInfo;
        // Without TCP_NODELAY a small publish can wait for the previous one's ACK (up to
        // 40 ms with delayed ACKs): the publisher already batches, so send at once.
        let info =
            url.into_connection_info()?.set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client = match ca {
            None => redis::Client::open(info)?,
            Some(path) => {
                let root_cert = std::fs::read(path).map_err(|source| BusError::CaFile { path: path.into(), source })?;
                redis::Client::build_with_tls(
                    info,
                    redis::TlsCertificates { client_tls: None, root_cert: Some(root_cert) },
                )?
            }
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let (wants, wanted) = mpsc::channel(WANTS);
        let link = Link {
            node: Uuid::new_v4(),
            client,
            conn: Mutex::new(None),
            up: AtomicBool::new(false),
            tx,
            keep,
            ttl_ms: ttl.as_millis().min(u64::MAX as u128) as u64,
            chat_script: redis::Script::new(CHAT_SCRIPT),
            wants,
            wanted: Mutex::new(Some(wanted)),
            webhook_letters: OnceLock::new(),
            queued: AtomicU64::new(0),
            sent: tokio::sync::watch::Sender::new(0),
            forwarding: Forwarding::default(),
        };
        Ok((Arc::new(link), rx))
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Has this node's changes append webhook events of `kinds` to the cluster's outbox
    /// (set once, at start, before the node joins the cluster).
    pub fn set_webhook_kinds(&self, kinds: crate::server::webhooks::Kinds) {
        let _ = self.webhook_letters.set(kinds.letters());
    }

    /// The webhook kinds the scripts take, as letters (empty without webhooks).
    pub(super) fn webhook_letters(&self) -> &str {
        self.webhook_letters.get().map_or("", String::as_str)
    }

    /// Has this node follow `room` (subscribe to its channel, take in its presence and
    /// the chats its store lacks) and waits until it does, so a join's `welcome` shows the
    /// room as the cluster has it. Bounded: with the bus down, or slow, the join goes on
    /// and the events come after.
    pub async fn want(&self, room: &str) {
        if !self.is_up() {
            return;
        }
        let (ready, done) = tokio::sync::oneshot::channel();
        if self.wants.try_send(Want { room: room.to_owned(), ready }).is_ok() {
            let _ = tokio::time::timeout(REDIS_TIMEOUT * 3, done).await;
        }
    }

    /// The receiving end of [`Link::want`]'s requests (once).
    pub(super) fn take_wants(&self) -> Option<mpsc::Receiver<Want>> {
        self.wanted.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Every room with someone in it anywhere in the cluster, with how many (from the
    /// presence hashes), for the lobby.
    pub async fn room_sizes(&self) -> Result<Vec<(String, usize)>, BusError> {
        let mut conn = self.connection()?;
        let hashes = scan(&mut conn, &format!("{}*", keys::PRESENCE_PREFIX)).await?;
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for hash in &hashes {
            pipe.cmd("HLEN").arg(hash);
        }
        let sizes: Vec<usize> = timed(pipe.query_async(&mut conn)).await?;
        let rooms = hashes.iter().map(|hash| hash[keys::PRESENCE_PREFIX.len()..].to_owned());
        Ok(rooms.zip(sizes).filter(|(_, size)| *size > 0).collect())
    }

    /// Switches to a fresh connection (`Some`) or marks the bus down (`None`).
    pub(super) fn set_connection(&self, conn: Option<MultiplexedConnection>) {
        let up = conn.is_some();
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = conn;
        self.up.store(up, Ordering::Relaxed);
        metrics::gauge!(BUS_UP).set(if up { 1.0 } else { 0.0 });
    }

    /// The current connection (a cheap clone of a multiplexed handle).
    pub(super) fn connection(&self) -> Result<MultiplexedConnection, BusError> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or(BusError::Down)
    }

    pub(super) fn enqueue(&self, item: Outgoing) {
        if self.tx.try_send(item).is_ok() {
            self.queued.fetch_add(1, Ordering::Relaxed);
        } else {
            metrics::counter!(BUS_DROPPED).increment(1);
        }
    }

    /// Waits (at most [`REDIS_TIMEOUT`]) until the publisher has sent what was queued
    /// before now.
    async fn queue_sent(&self) {
        let target = self.queued.load(Ordering::Relaxed);
        let mut sent = self.sent.subscribe();
        let _ = tokio::time::timeout(REDIS_TIMEOUT, sent.wait_for(|sent| *sent >= target)).await;
    }

    /// Sends `frames` to the stream of `token` on `node` and waits for what became of them;
    /// `None` when no one reads that node's channel (it is gone, or resubscribing).
    pub async fn forward(&self, node: Uuid, token: &str, frames: Vec<Carried>) -> Result<Option<Outcome>, BusError> {
        let mut conn = self.connection()?;
        let mut waiting = self.forwarding.ask();
        let deadline_ms = crate::server::clock::now_ms() + FORWARD_TIMEOUT.as_millis() as u64;
        let request =
            NodeMessage::Deliver { id: waiting.id, from: self.node, token: token.to_owned(), frames, deadline_ms };
        let publish =
            redis::cmd("PUBLISH").arg(keys::node_channel(node)).arg(serde_json::to_string(&request)?).to_owned();
        let readers: u64 = timed(publish.query_async(&mut conn)).await?;
        if readers == 0 {
            return Ok(None);
        }
        match tokio::time::timeout(FORWARD_TIMEOUT, &mut waiting.answer).await {
            Ok(Ok(outcome)) => Ok(Some(outcome)),
            _ => Err(BusError::Timeout),
        }
    }

    /// Tells node `to` what became of the frames of its request `id`.
    pub async fn answer(&self, to: Uuid, id: u64, outcome: Outcome) -> Result<(), BusError> {
        let mut conn = self.connection()?;
        let answer = serde_json::to_string(&NodeMessage::Answer { id, outcome })?;
        let publish = redis::cmd("PUBLISH").arg(keys::node_channel(to)).arg(answer).to_owned();
        timed(publish.query_async::<()>(&mut conn)).await
    }

    /// Numbers `draft` (its seq is ignored) as the next chat of `room`, stores it in the
    /// room's stream and publishes it to every node, this one included; a `reference`
    /// already used gives back its seq and does nothing else.
    pub async fn chat(
        &self,
        room: &str,
        draft: &ChatMessage,
        reference: Option<&str>,
        floor: u64,
    ) -> Result<Numbered, BusError> {
        if !self.webhook_letters().is_empty() {
            self.queue_sent().await;
        }
        let mut conn = self.connection()?;
        let chat = serde_json::to_string(&ChatMessage { seq: 0, ..draft.clone() })?;
        let ref_key = reference.map_or_else(String::new, |r| keys::chat_ref(room, draft.from, r));
        let mut call = self.chat_script.key(keys::seq(room));
        call.key(keys::stream(room))
            .key(ref_key)
            .key(keys::WEBHOOKS)
            .arg(floor)
            .arg(chat)
            .arg(self.node.to_string())
            .arg(self.keep)
            .arg(if reference.is_some() { "1" } else { "0" })
            .arg(REF_TTL_SECS)
            .arg(keys::room_channel(room))
            .arg(serde_json::to_string(&reference)?)
            .arg(self.ttl_ms)
            .arg(self.webhook_letters())
            .arg(Uuid::new_v4().to_string())
            .arg(room)
            .arg(draft.ts);
        let (seq, duplicate): (u64, u8) = timed(call.invoke_async(&mut conn)).await?;
        Ok(Numbered { seq, duplicate: duplicate == 1 })
    }

    /// The chats of `room` numbered `from..=to` that the stream still holds, in order, each
    /// with its sender's ref. Takes the supervisor's connection: it reads while resyncing,
    /// before the link is up for everyone else.
    pub async fn range(
        conn: &mut MultiplexedConnection,
        room: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<(ChatMessage, Option<String>)>, BusError> {
        let cmd = redis::cmd("XRANGE").arg(keys::stream(room)).arg(format!("0-{from}")).arg(format!("0-{to}")).clone();
        let reply: redis::streams::StreamRangeReply = timed(cmd.query_async(conn)).await?;
        let mut chats = Vec::with_capacity(reply.ids.len());
        for entry in reply.ids {
            let Some(payload) = entry.get::<Vec<u8>>("m") else { continue };
            match Envelope::decode(&payload) {
                Ok(Envelope { event: BusEvent::Chat { chat, reference, .. }, .. }) => chats.push((chat, reference)),
                Ok(_) => {}
                // One bad entry (another version's, say) must not keep the node out.
                Err(err) => tracing::warn!(room, entry = entry.id, "unreadable chat in the stream: {err}"),
            }
        }
        Ok(chats)
    }

    /// The identity a session token (by its hash) stands for, whichever node issued it.
    pub async fn load_session(&self, key: &str) -> Result<Option<User>, BusError> {
        let mut conn = self.connection()?;
        let json: Option<String> = timed(redis::cmd("GET").arg(keys::session(key)).query_async(&mut conn)).await?;
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
    }

    /// Refuses `id` in `room` on every node for `ban`.
    pub async fn ban(&self, room: &str, id: Uuid, ban: Duration) -> Result<(), BusError> {
        let mut conn = self.connection()?;
        let cmd = redis::cmd("SET").arg(keys::ban(room, id)).arg(1).arg("EX").arg(ban.as_secs().max(1)).clone();
        timed(cmd.query_async::<()>(&mut conn)).await
    }

    /// Marks identity `id` revoked for every node, as long as any of its sessions could
    /// live, and returns the rooms it is in anywhere (from the presence hashes).
    pub async fn revoke(&self, id: Uuid) -> Result<Vec<String>, BusError> {
        let mut conn = self.connection()?;
        let mark = redis::cmd("SET").arg(keys::revoked(id)).arg(1).arg("EX").arg(SESSION_TTL_SECS).clone();
        timed(mark.query_async::<()>(&mut conn)).await?;
        let hashes = scan(&mut conn, &format!("{}*", keys::PRESENCE_PREFIX)).await?;
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for hash in &hashes {
            pipe.cmd("HEXISTS").arg(hash).arg(id.to_string());
        }
        let found: Vec<bool> = timed(pipe.query_async(&mut conn)).await?;
        let rooms = hashes.iter().map(|hash| hash[keys::PRESENCE_PREFIX.len()..].to_owned());
        Ok(rooms.zip(found).filter_map(|(room, there)| there.then_some(room)).collect())
    }

    /// Whether identity `id` was revoked (by any node).
    pub async fn is_revoked(&self, id: Uuid) -> Result<bool, BusError> {
        let mut conn = self.connection()?;
        timed(redis::cmd("EXISTS").arg(keys::revoked(id)).query_async(&mut conn)).await
    }

    /// Whether `id` is banned from `room` (by any node).
    pub async fn is_banned(&self, room: &str, id: Uuid) -> Result<bool, BusError> {
        let mut conn = self.connection()?;
        timed(redis::cmd("EXISTS").arg(keys::ban(room, id)).query_async(&mut conn)).await
    }

    /// The live nodes and what each last reported.
    pub async fn nodes(&self) -> Result<Vec<(Uuid, super::event::NodeLoad)>, BusError> {
        let mut conn = self.connection()?;
        let mut found = Vec::new();
        for name in scan(&mut conn, &format!("{}*", keys::NODE_PREFIX)).await? {
            let Ok(id) = Uuid::parse_str(&name[keys::NODE_PREFIX.len()..]) else { continue };
            let load: Option<String> = timed(redis::cmd("GET").arg(&name).query_async(&mut conn)).await?;
            if let Some(load) = load {
                found.push((id, serde_json::from_str(&load).unwrap_or_default()));
            }
        }
        Ok(found)
    }

    /// Records a session's identity now (a new session must be findable by the next node
    /// its client reaches, even if this one dies right after).
    pub async fn save_session_now(&self, key: &str, user: &User) -> Result<(), BusError> {
        let mut conn = self.connection()?;
        let cmd = session_cmd(key, user)?;
        timed(cmd.query_async::<()>(&mut conn)).await
    }
}

/// Whose entry [`forget_cmd`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forget {
    /// One this node wrote.
    Mine,
    /// One a node counted dead wrote, unless that node is beating again.
    OfDeadNode,
    /// Whichever node wrote it.
    Anyone,
}

/// The command that drops `id` from `room`'s presence if `node` wrote the entry (making
/// the webhook events of `letters`).
pub(super) fn forget_cmd(room: &str, id: Uuid, node: Uuid, whose: Forget, letters: &str) -> redis::Cmd {
    redis::cmd("EVAL")
        .arg(FORGET_SCRIPT)
        .arg(3)
        .arg(keys::presence(room))
        .arg(keys::node(node))
        .arg(keys::WEBHOOKS)
        .arg(id.to_string())
        .arg(if whose == Forget::Anyone { String::new() } else { super::event::PresenceEntry::prefix(node) })
        .arg(if whose == Forget::OfDeadNode { "1" } else { "0" })
        .arg(webhook_args(room, letters))
        .clone()
}

/// The arguments every presence script ends with (see [`super::scripts`]): the room, the
/// webhook kinds taken, two fresh event ids and the time.
pub(super) fn webhook_args(room: &str, letters: &str) -> Vec<String> {
    let now = crate::server::clock::now_ms().to_string();
    vec![room.to_owned(), letters.to_owned(), Uuid::new_v4().to_string(), Uuid::new_v4().to_string(), now]
}

/// The command that puts `entry` (its JSON) as `id`'s presence in `room`: a plain HSET
/// without webhooks, else the script that also makes `room.occupied` and `user.joined`.
pub(super) fn put_cmd(room: &str, id: Uuid, entry: &str, letters: &str) -> redis::Cmd {
    if letters.is_empty() {
        return redis::cmd("HSET").arg(keys::presence(room)).arg(id.to_string()).arg(entry).clone();
    }
    redis::cmd("EVAL")
        .arg(PUT_SCRIPT)
        .arg(2)
        .arg(keys::presence(room))
        .arg(keys::WEBHOOKS)
        .arg(id.to_string())
        .arg(entry)
        .arg(webhook_args(room, letters))
        .clone()
}

fn session_cmd(key: &str, user: &User) -> Result<redis::Cmd, serde_json::Error> {
    let user = User { cursor: None, ..user.clone() };
    Ok(redis::cmd("SET")
        .arg(keys::session(key))
        .arg(serde_json::to_string(&user)?)
        .arg("EX")
        .arg(SESSION_TTL_SECS)
        .clone())
}

/// A Redis call bounded by [`REDIS_TIMEOUT`].
pub(super) async fn timed<T>(call: impl std::future::Future<Output = redis::RedisResult<T>>) -> Result<T, BusError> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(BusError::Timeout),
    }
}

/// Sends what the rooms queue, one pipeline per batch. While a batch is in flight the
/// next one gathers, so under load a room's moves of many ticks go out as one event.
pub async fn publish(link: Arc<Link>, mut rx: mpsc::Receiver<Outgoing>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let items = batch.len() as u64;
        let pipe = pipeline(link.node, link.webhook_letters(), batch.drain(..));
        if !pipe.is_empty() {
            let sent = match link.connection() {
                Ok(mut conn) => timed(pipe.query_async::<()>(&mut conn)).await,
                Err(err) => Err(err),
            };
            if let Err(err) = sent {
                tracing::debug!("bus batch of {items} dropped: {err}");
                metrics::counter!(BUS_DROPPED).increment(items);
            }
        }
        link.sent.send_modify(|sent| *sent += items);
    }
}

/// The Redis commands for one batch: events and presence in the order they happened, then
/// one `cursors` event per room with each user's latest move.
fn pipeline(node: Uuid, letters: &str, items: impl Iterator<Item = Outgoing>) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    let mut moves: HashMap<String, HashMap<Uuid, Move>> = HashMap::new();
    let publish = |pipe: &mut redis::Pipeline, room: &str, event: BusEvent| {
        let envelope = Envelope { node, event };
        // Envelopes hold only strings, numbers, UUIDs and JSON objects: they serialize.
        if let Ok(json) = serde_json::to_string(&envelope) {
            pipe.cmd("PUBLISH").arg(keys::room_channel(room)).arg(json).ignore();
        }
    };
    for item in items {
        match item {
            Outgoing::Event { room, event, presence } => {
                match presence {
                    Some(PresenceChange::Put(user, taken_at)) => {
                        let entry = super::event::PresenceEntry { node, taken_at, user: User { cursor: None, ..user } };
                        if let Ok(json) = serde_json::to_string(&entry) {
                            pipe.add_command(put_cmd(&room, entry.user.id, &json, letters)).ignore();
                        }
                    }
                    Some(PresenceChange::Remove(id)) => {
                        pipe.add_command(forget_cmd(&room, id, node, Forget::Mine, letters)).ignore();
                    }
                    Some(PresenceChange::RemoveAny(id)) => {
                        pipe.add_command(forget_cmd(&room, id, node, Forget::Anyone, letters)).ignore();
                    }
                    None => {}
                }
                publish(&mut pipe, &room, event);
            }
            Outgoing::Move { room, mv } => {
                moves.entry(room).or_default().insert(mv.id, mv);
            }
            Outgoing::Session { key, user } => {
                if let Ok(cmd) = session_cmd(&key, &user) {
                    pipe.add_command(cmd).ignore();
                }
            }
        }
    }
    for (room, moves) in moves {
        publish(&mut pipe, &room, BusEvent::Cursors { moves: moves.into_values().collect() });
    }
    pipe
}

/// Keys per SCAN round.
const SCAN_COUNT: usize = 500;

/// Every key matching `pattern` (SCAN, so Redis is never blocked by a big keyspace).
pub(super) async fn scan(conn: &mut MultiplexedConnection, pattern: &str) -> Result<Vec<String>, BusError> {
    let mut found = Vec::new();
    let mut cursor = 0u64;
    loop {
        let cmd = redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(SCAN_COUNT).clone();
        let (next, keys): (u64, Vec<String>) = timed(cmd.query_async(conn)).await?;
        found.extend(keys);
        if next == 0 {
            return Ok(found);
        }
        cursor = next;
    }
}
