//! One connection's life in the hub, apart from the socket: who it is, which room it is
//! in, and how each client message becomes a room call or an `error` reply.
//!
//! Everything a client controls is checked here before it reaches a room; ids, names in
//! chats, colours and timestamps are always the server's own.

use super::clock::{now_ms, unix_secs};
use super::hub::{Arrival, Departure, Hub};
use super::invite::Gate;
use super::jwt::{JwtError, JwtIdentity};
use super::outbox::Outbox;
use super::query::ConnectRequest;
use super::quota::{QuotaError, Quotas};
use super::rate::TokenBucket;
use super::room::{encode, ChatError, ChatSender, Room};
use super::store::{token_key, End, SeqRange, Store};
use super::username::normalize_username;
use crate::protocol::{
    decode_client_msg, validate_chat_text, validate_event_data, validate_event_name, validate_room, ClientMsg,
    DecodeError, ErrorCode, Point, ServerMsg, User, UserState, DEFAULT_PAGE_LEN, MAX_PAGE_LEN, MAX_REF_CHARS,
};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Twenty colours that stay distinct from each other on a light board.
const PALETTE: [&str; 20] = [
    "#e6194b", "#3cb44b", "#c9a100", "#4363d8", "#f58231", "#911eb4", "#1fa3a3", "#f032e6", "#7fa10b", "#d6336c",
    "#469990", "#9a6324", "#800000", "#2f9e44", "#808000", "#e8590c", "#000075", "#5c5f66", "#ae3ec9", "#1971c2",
];

/// `history` requests a connection may send per second, and at once: a browser pages
/// when its user scrolls back, and a resume fills a gap a page at a time.
const PAGES_PER_SEC: f64 = 2.0;
const PAGES_BURST: f64 = 20.0;

/// Numbers connections, so a member can tell its current connection from a stale one.
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// The content limits and per-kind rates a session enforces (the frame size and the
/// overall message rate are enforced by the socket).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_chat_chars: usize,
    pub max_state_bytes: usize,
    /// `join`s per minute; a third of a minute's worth may come at once.
    pub joins_per_minute: f64,
    /// `state` and `rename` messages per second; two seconds' worth may come at once.
    pub state_per_sec: f64,
    /// App `event` messages per second; two seconds' worth may come at once.
    pub events_per_sec: f64,
}

/// The shared parts of the server a session works with.
#[derive(Clone)]
pub struct Services {
    pub hub: Arc<Hub>,
    pub store: Arc<Store>,
    pub gate: Arc<Gate>,
    pub quotas: Arc<Quotas>,
    pub limits: Limits,
}

/// Why a client frame was refused; each becomes an `error` message with its code.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("no user {0} in this room")]
    NoSuchUser(Uuid),
    #[error("binary frames are not supported: send JSON text frames")]
    Binary,
    #[error("too many messages: this one was dropped, slow down")]
    RateLimited { retry_after: Duration },
    #[error("too many {0} messages: this one was dropped, slow down")]
    KindRateLimited(&'static str, Duration),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Quota(#[from] QuotaError),
}

impl From<ChatError> for Refusal {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::NoSuchUser(id) => Refusal::NoSuchUser(id),
            ChatError::NotHere => Refusal::Unavailable(err.to_string()),
            ChatError::Store(_) | ChatError::Bus(_) => {
                tracing::error!("{err}");
                Refusal::Unavailable(err.to_string())
            }
        }
    }
}

impl Refusal {
    /// How long the client should wait before sending the same again, for a rate limit.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Refusal::RateLimited { retry_after } | Refusal::KindRateLimited(_, retry_after) => Some(*retry_after),
            Refusal::Quota(err) => err.retry_after(),
            _ => None,
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Refusal::Decode(err) => err.code(),
            Refusal::Invalid(_) => ErrorCode::Invalid,
            Refusal::TooLarge(_) => ErrorCode::TooLarge,
            Refusal::NoSuchUser(_) => ErrorCode::NoSuchUser,
            Refusal::Binary => ErrorCode::BinaryUnsupported,
            Refusal::RateLimited { .. } | Refusal::KindRateLimited(..) => ErrorCode::RateLimited,
            Refusal::Forbidden(_) => ErrorCode::Forbidden,
            Refusal::Unavailable(_) => ErrorCode::Unavailable,
            Refusal::Quota(QuotaError::Full(_)) => ErrorCode::Unavailable,
            Refusal::Quota(_) => ErrorCode::RateLimited,
        }
    }
}

/// A connected user and the room it is in.
pub struct Session {
    id: Uuid,
    conn: u64,
    /// The session token: the key to this identity on a later connection.
    token: String,
    services: Services,
    room: Arc<Room>,
    outbox: Arc<Outbox>,
    /// The client's address, which room quotas count by.
    peer: IpAddr,
    /// `join`s, each answered with a whole `welcome`.
    joins: TokenBucket,
    /// `state` and `rename`, each of which reaches the whole room.
    changes: TokenBucket,
    /// `history` requests, each a read of the store.
    pages: TokenBucket,
    /// App events, each of which may reach the whole room.
    events: TokenBucket,
    /// The app backend's word on who this is, when the connection came with a JWT.
    jwt: Option<JwtIdentity>,
}

impl Session {
    /// Restores the identity behind `req.session` (or makes a new one with a fresh token)
    /// and puts it in the requested room, resuming after `req.since` if given. The request
    /// must already be checked (the upgrade did: names, and the invitation of a private room).
    pub async fn start(
        services: Services,
        outbox: Arc<Outbox>,
        req: ConnectRequest,
        jwt: Option<JwtIdentity>,
        peer: IpAddr,
    ) -> Self {
        let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        let restored = match req.session.as_deref() {
            Some(token) => load_session(&services, token).await.map(|user| (token.to_owned(), user)),
            None => None,
        };
        // A JWT says who this is: a session of someone else is not taken up.
        let restored = restored.filter(|(_, user)| jwt.as_ref().is_none_or(|jwt| jwt.id == user.id));
        let (token, mut user) = restored.unwrap_or_else(|| {
            let id = jwt.as_ref().map_or_else(Uuid::new_v4, |jwt| jwt.id);
            (new_token(), new_user(id, req.username.as_deref()))
        });
        if let Some(name) = jwt.as_ref().and_then(|jwt| jwt.name.clone()) {
            user.username = name;
        } else if Gate::is_private(&req.room) {
            // The invitation, checked before the upgrade, names the user.
            if let Some(name) = req.username {
                user.username = name;
            }
        }
        services.store.save_session(&token, &user, now_ms());
        services.hub.bus().share_session(&token, &user).await;
        services.hub.bus().enter(&req.room).await;
        let id = user.id;
        let multi = jwt.is_some();
        let arrival = Arrival { user, outbox: outbox.clone(), conn, session: token.clone(), since: req.since, multi };
        let (room, welcome) = services.hub.join(&req.room, arrival);
        welcome.send().await;
        let (limits, now) = (services.limits, Instant::now());
        let joins = TokenBucket::new(limits.joins_per_minute / 60.0, limits.joins_per_minute / 3.0, now);
        let changes = TokenBucket::new(limits.state_per_sec, limits.state_per_sec * 2.0, now);
        let pages = TokenBucket::new(PAGES_PER_SEC, PAGES_BURST, now);
        let events = TokenBucket::new(limits.events_per_sec, limits.events_per_sec * 2.0, now);
        Session { id, conn, token, services, room, outbox, peer, joins, changes, pages, events, jwt }
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn room_name(&self) -> &str {
        self.room.name()
    }

    /// Applies one text frame; a refused frame gets an `error` (carrying the chat's `ref`,
    /// so the client knows which one) and nothing else happens.
    pub async fn handle_text(&mut self, text: &str) {
        let msg = match decode_client_msg(text) {
            Ok(msg) => msg,
            Err(err) => return self.refuse(&err.into()),
        };
        super::metrics::count_in(msg.kind());
        let reference = chat_ref(&msg);
        if let Err(refusal) = self.apply(msg).await {
            self.send_refusal(&refusal, reference);
        }
    }

    /// Tells the client it sent something the server will not take.
    pub fn refuse(&self, refusal: &Refusal) {
        self.send_refusal(refusal, None);
    }

    /// Refuses a text frame before applying it (the rate limit), still naming the chat's
    /// `ref` so the client knows which message to resend.
    pub fn refuse_text(&self, text: &str, refusal: &Refusal) {
        // Only a frame that names a `ref` is worth decoding: a flood costs no more parsing.
        let reference = text.contains("\"ref\"").then(|| decode_client_msg(text).ok()).flatten();
        let reference = reference.as_ref().and_then(chat_ref);
        self.send_refusal(refusal, reference);
    }

    fn send_refusal(&self, refusal: &Refusal, reference: Option<String>) {
        metrics::counter!(super::metrics::REFUSED, "code" => refusal.code().as_str()).increment(1);
        let msg = ServerMsg::Error {
            code: refusal.code(),
            message: refusal.to_string(),
            reference,
            retry_after_ms: refusal.retry_after().map(|d| d.as_millis().min(u64::MAX as u128) as u64),
        };
        self.outbox.push(encode(&msg));
    }

    async fn apply(&mut self, msg: ClientMsg) -> Result<(), Refusal> {
        let limits = self.services.limits;
        match msg {
            ClientMsg::Cursor { x, y } => {
                let point = Point { x, y };
                if !point.is_on_board() {
                    return Err(Refusal::Invalid("cursor x and y must be numbers in [0, 1]".into()));
                }
                self.room.cursor(self.id, point);
            }
            ClientMsg::State { state } => {
                self.changes.admit(Instant::now()).map_err(|after| Refusal::KindRateLimited("state", after))?;
                let size = serde_json::to_string(&state).map_or(usize::MAX, |s| s.len());
                if size > limits.max_state_bytes {
                    return Err(Refusal::TooLarge(format!(
                        "state is {size} bytes; the limit is {}",
                        limits.max_state_bytes
                    )));
                }
                self.room.set_state(self.id, state);
                self.save_identity();
            }
            ClientMsg::Rename { username } => {
                self.changes.admit(Instant::now()).map_err(|after| Refusal::KindRateLimited("rename", after))?;
                let name = normalize_username(&username).map_err(|e| Refusal::Invalid(e.to_string()))?;
                if self.jwt.as_ref().is_some_and(|jwt| jwt.name.is_some()) {
                    return Err(Refusal::Forbidden("your name comes from your login (the JWT)".into()));
                }
                if Gate::is_private(self.room.name()) {
                    return Err(Refusal::Forbidden(
                        "in a private room your name is the one you were invited as".into(),
                    ));
                }
                self.room.rename(self.id, name);
                self.save_identity();
            }
            ClientMsg::Chat { text, to, reference } => {
                check_chat(&text, reference.as_deref(), limits.max_chat_chars)?;
                self.services.quotas.chat(self.peer)?;
                // Boxed: a chat's future (a Redis round trip on a cluster node) is large, and
                // unboxed it would be reserved in every connection's task, chatting or not.
                let sender = ChatSender::Member(self.id, self.outbox.clone());
                Box::pin(self.room.chat(sender, text, to, now_ms(), reference.as_deref())).await?;
            }
            ClientMsg::Join { room, token } => {
                self.joins.admit(Instant::now()).map_err(|after| Refusal::KindRateLimited("join", after))?;
                let room = validate_room(&room).map_err(|e| Refusal::Invalid(e.to_string()))?;
                if self.jwt.as_ref().is_some_and(|jwt| !jwt.may_enter(room)) {
                    return Err(Refusal::Forbidden(JwtError::WrongRoom(room.to_owned()).to_string()));
                }
                // A JWT that names the room stands in for its invitation.
                if !self.jwt.as_ref().is_some_and(|jwt| jwt.names_room(room)) {
                    let name = self.room.user(self.id).map(|u| u.username).unwrap_or_default();
                    self.services
                        .gate
                        .admit(room, &name, token.as_deref(), unix_secs())
                        .map_err(|e| Refusal::Forbidden(e.to_string()))?;
                }
                if is_banned(&self.services, room, self.id).await {
                    return Err(Refusal::Forbidden(REMOVED_MESSAGE.into()));
                }
                if room != self.room.name() {
                    self.services.quotas.enter(&self.services.hub, room, self.peer)?;
                    self.services.hub.bus().enter(room).await;
                }
                self.move_to(room).await;
            }
            ClientMsg::Event { name, data, to } => {
                self.events.admit(Instant::now()).map_err(|after| Refusal::KindRateLimited("event", after))?;
                check_event(&name, &data)?;
                self.room.event(Some(self.id), name, data, to)?;
            }
            ClientMsg::History { after, before, limit } => {
                self.pages.admit(Instant::now()).map_err(|after| Refusal::KindRateLimited("history", after))?;
                let (range, end) = match (after, before) {
                    (Some(after), None) => (SeqRange { after, before: u64::MAX }, End::Oldest),
                    (None, Some(before)) => (SeqRange { after: 0, before }, End::Newest),
                    _ => return Err(Refusal::Invalid("history needs exactly one of after and before".into())),
                };
                let limit = limit.unwrap_or(DEFAULT_PAGE_LEN);
                if !(1..=MAX_PAGE_LEN).contains(&limit) {
                    return Err(Refusal::Invalid(format!("history limit must be 1-{MAX_PAGE_LEN}")));
                }
                let read = self.services.store.read_page(self.room.name(), Some(self.id), range, limit, end);
                let page = read.await.map_err(|err| {
                    tracing::error!("cannot read a history page: {err}");
                    Refusal::Unavailable("the history could not be read; try again".into())
                })?;
                self.outbox.push(encode(&ServerMsg::History { chats: page.chats, more: page.more }));
            }
        }
        Ok(())
    }

    /// Leaves the current room (announced there) and enters `room` with the same name,
    /// colour and state; the cursor starts over, since it belonged to the old board.
    async fn move_to(&mut self, room: &str) {
        if room == self.room.name() {
            if let Some(welcome) = self.room.welcome(self.id, &self.outbox, &self.token) {
                welcome.send().await;
            }
            return;
        }
        let hub = &self.services.hub;
        let Some(mut user) = hub.depart(&self.room, self.id, self.conn, Departure::Goodbye) else { return };
        user.cursor = None;
        let arrival = Arrival {
            user,
            outbox: self.outbox.clone(),
            conn: self.conn,
            session: self.token.clone(),
            since: None,
            multi: self.jwt.is_some(),
        };
        let (joined, welcome) = hub.join(room, arrival);
        self.room = joined;
        welcome.send().await;
    }

    /// Keeps the stored identity in step with a rename or a state change, so a resume
    /// (even after a restart) brings back the latest.
    fn save_identity(&self) {
        if let Some(user) = self.room.user(self.id) {
            self.services.store.save_session(&self.token, &user, now_ms());
            self.services.hub.bus().save_session(token_key(&self.token), user);
        }
    }

    /// Ends this connection's part: `left` goes out now for a goodbye, or after the grace
    /// period for a drop unless the user resumes first; exactly once either way.
    pub fn end(self, how: Departure) {
        self.services.hub.depart(&self.room, self.id, self.conn, how);
    }
}

/// Checks a chat's text (1 to `max_chars` characters, no control characters but newline
/// and tab) and its `ref`, wherever it comes from.
pub fn check_chat(text: &str, reference: Option<&str>, max_chars: usize) -> Result<(), Refusal> {
    let chars = text.chars().count();
    if chars == 0 {
        return Err(Refusal::Invalid("chat text must not be empty".into()));
    }
    if chars > max_chars {
        return Err(Refusal::TooLarge(format!("chat text is {chars} characters; the limit is {max_chars}")));
    }
    validate_chat_text(text).map_err(|e| Refusal::Invalid(e.to_string()))?;
    if reference.is_some_and(|r| r.is_empty() || r.chars().count() > MAX_REF_CHARS) {
        return Err(Refusal::Invalid(format!("ref must be 1-{MAX_REF_CHARS} characters")));
    }
    Ok(())
}

/// Checks an app event's name and data, wherever it comes from.
pub fn check_event(name: &str, data: &serde_json::Value) -> Result<(), Refusal> {
    validate_event_name(name).map_err(|e| Refusal::Invalid(e.to_string()))?;
    validate_event_data(data).map_err(|e| Refusal::TooLarge(e.to_string()))
}

/// The `ref` of a chat, the one thing an `error` about it must carry back.
fn chat_ref(msg: &ClientMsg) -> Option<String> {
    match msg {
        ClientMsg::Chat { reference, .. } => reference.clone(),
        _ => None,
    }
}

/// Why a removed user is refused where the app's backend banned them.
pub const REMOVED_MESSAGE: &str = "you were removed from this room; you may come back when the ban runs out";

/// Whether `id` is banned from `room`, by this node or (on a cluster) any other.
pub async fn is_banned(services: &Services, room: &str, id: Uuid) -> bool {
    services.hub.is_banned(room, id) || services.hub.bus().is_banned(room, id).await
}

/// Whether the identity behind a session token is banned from `room`: checked before an
/// upgrade, so a removed user gets 403 rather than a room. Costs nothing while no ban can
/// apply.
pub async fn is_session_banned(services: &Services, room: &str, token: &str) -> bool {
    if !services.hub.may_have_bans() {
        return false;
    }
    match load_session(services, token).await {
        Some(user) => is_banned(services, room, user.id).await,
        None => false,
    }
}

/// The identity behind a session token: the cluster's copy first (the token may come from
/// another node, and the user may have changed there), then this node's store; `None`
/// for a revoked identity (revoked here or on any node).
async fn load_session(services: &Services, token: &str) -> Option<User> {
    let user = match services.hub.bus().load_session(token).await {
        Some(user) => user,
        None => {
            // The store refuses a revoked identity by itself.
            return services.store.load_session(token).unwrap_or_else(|err| {
                tracing::error!("cannot read a session: {err}");
                None
            });
        }
    };
    let revoked = services.store.is_revoked(user.id).unwrap_or_else(|err| {
        tracing::error!("cannot read a revocation: {err}");
        false
    });
    (!revoked && !services.hub.bus().is_revoked(user.id).await).then_some(user)
}

/// A fresh identity with `id`.
fn new_user(id: Uuid, username: Option<&str>) -> User {
    User {
        id,
        username: username.map_or_else(|| guest_name(id), str::to_owned),
        color: color_for(id).to_owned(),
        cursor: None,
        state: UserState::new(),
    }
}

/// An unguessable session token: 244 random bits from two v4 UUIDs.
fn new_token() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// The name a user gets when the query names none.
fn guest_name(id: Uuid) -> String {
    let bytes = id.as_bytes();
    format!("guest-{:02x}{:02x}", bytes[0], bytes[1])
}

/// A colour that stays the user's for the whole connection.
fn color_for(id: Uuid) -> &'static str {
    PALETTE[(id.as_u128() % PALETTE.len() as u128) as usize]
}
