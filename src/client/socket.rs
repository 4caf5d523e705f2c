//! The browser's connection to `/ws`: open, queue before `open`, reconnect, close.
//!
//! Sends made while the socket is not open (before the first `open`, or while it is
//! reconnecting) wait in a [`SendQueue`] and are flushed in order on the next `open`. A dropped
//! socket is reopened with exponential backoff and jitter; [`Status`] says which of these
//! states the connection is in, for the badge. Dropping the component closes the socket
//! with 1000 and stops reconnecting.
//!
//! Nothing is lost across a reconnect: the socket resumes with the tab's session token and
//! the last chat `seq` it saw, so the server replays what was missed; every chat is sent
//! with a `ref` and resent (same `ref`, so never stored twice) on each new connection
//! until acknowledged ([`Resume`] keeps that account).
//!
//! Where something on the way blocks WebSocket upgrades (a socket that closes before it
//! opens, and a plain GET of its URL answered 426: the server would have taken it), the
//! room goes on over the fallback transport ([`StreamLink`]) at once, and tries a socket
//! again on a reconnect after [`FALLBACK_FOR`].

use crate::client::event_stream::{Handlers, StreamLink, GONE};
use crate::client::resume::{Followup, Resume};
use crate::client::send_queue::SendQueue;
pub use crate::client::status::Status;
use crate::protocol::compact::{decode_cursors, ENCODING_COMPACT};
use crate::protocol::{close, ChatTarget, ClientMsg, ServerMsg};
use leptos::leptos_dom::helpers::{set_timeout, TimeoutHandle};
use leptos::prelude::*;
use send_wrapper::SendWrapper;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

/// First reconnect delay; each failed attempt doubles it.
const RECONNECT_BASE: Duration = Duration::from_millis(250);
/// Longest reconnect delay.
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// How long a chat refused for now (rate limit, store trouble) waits before it is resent.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// How long an upgrade (or the fallback's stream) may take to open before it counts as
/// refused: a proxy that holds it unanswered must not keep the page waiting for ever.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the page stays on the fallback transport before it tries a socket again.
const FALLBACK_FOR: Duration = Duration::from_secs(5 * 60);

/// A handle on the room's socket; cheap to clone and to put in context.
///
/// On the server it is inert (nothing is ever connected there); in the browser it holds
/// the one connection of the page.
#[derive(Clone)]
pub struct RoomSocket {
    inner: Option<SendWrapper<Rc<Inner>>>,
    status: RwSignal<Status>,
    why: RwSignal<Option<String>>,
    fallback: RwSignal<bool>,
}

struct Inner {
    room: String,
    username: RefCell<Option<String>>,
    /// The invitation for a private room.
    token: Option<String>,
    resume: RefCell<Resume>,
    status: RwSignal<Status>,
    /// The server's reason while it refuses the connection.
    why: RwSignal<Option<String>>,
    on_message: Box<dyn Fn(ServerMsg)>,
    ws: RefCell<Option<Live>>,
    open: Cell<bool>,
    queue: RefCell<SendQueue>,
    attempts: Cell<u32>,
    stopped: Cell<bool>,
    retry: RefCell<Option<TimeoutHandle>>,
    /// Whether the connection is (or is being) carried by the fallback transport.
    fallback: RwSignal<bool>,
    /// Until when (ms since the epoch) connections use the fallback transport.
    fallback_until: Cell<f64>,
}

/// The open (or opening) connection.
enum Live {
    Socket(SocketLive),
    Stream(Rc<StreamLink>),
}

/// A socket with the callbacks that must live as long as it does.
struct SocketLive {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Live {
    /// Sends `frame` now; false if the connection cannot (`send` on a closing socket
    /// drops the data without an error, hence the state check).
    fn send(&self, frame: &str) -> bool {
        match self {
            Live::Socket(live) => live.ws.ready_state() == WebSocket::OPEN && live.ws.send_with_str(frame).is_ok(),
            Live::Stream(link) => link.send(frame),
        }
    }

    /// Unhooks the callbacks, which are freed with `self`: the browser must not call them
    /// for events (a late message, the close) that follow.
    fn detach(&self) {
        match self {
            Live::Socket(live) => {
                live.ws.set_onopen(None);
                live.ws.set_onmessage(None);
                live.ws.set_onclose(None);
            }
            Live::Stream(link) => link.close(false),
        }
    }

    /// Says goodbye (close 1000) and lets go.
    fn close(self) {
        match self {
            Live::Socket(live) => {
                let _ = live.ws.close_with_code(close::NORMAL);
            }
            Live::Stream(link) => link.close(true),
        }
    }
}

impl RoomSocket {
    /// A socket for `room` (with `token`, its invitation if private) that will hand every
    /// server message to `on_message`. Nothing connects until [`RoomSocket::start`].
    pub fn new(
        room: String,
        username: Option<String>,
        token: Option<String>,
        on_message: impl Fn(ServerMsg) + 'static,
    ) -> Self {
        let status = RwSignal::new(Status::Connecting);
        let why = RwSignal::new(None);
        let fallback = RwSignal::new(false);
        let inner = cfg!(feature = "hydrate").then(|| {
            SendWrapper::new(Rc::new(Inner {
                room,
                username: RefCell::new(username),
                token,
                resume: RefCell::new(Resume::new()),
                status,
                why,
                on_message: Box::new(on_message),
                ws: RefCell::new(None),
                open: Cell::new(false),
                queue: RefCell::new(SendQueue::default()),
                attempts: Cell::new(0),
                stopped: Cell::new(false),
                retry: RefCell::new(None),
                fallback,
                fallback_until: Cell::new(0.0),
            }))
        });
        RoomSocket { inner, status, why, fallback }
    }

    /// The connection's state, for display.
    pub fn status(&self) -> Signal<Status> {
        self.status.into()
    }

    /// Why the server refuses the connection, while it does ([`Status::Waiting`] or
    /// [`Status::Refused`]).
    pub fn why(&self) -> Signal<Option<String>> {
        self.why.into()
    }

    /// Whether the connection is carried by the fallback transport (WebSocket upgrades
    /// are blocked on the way).
    pub fn fallback(&self) -> Signal<bool> {
        self.fallback.into()
    }

    /// Opens the socket (browser only); call it once, from an effect.
    pub fn start(&self) {
        if let Some(inner) = &self.inner {
            connect(inner);
        }
    }

    /// Sends now if open, otherwise queues for the next `open`.
    pub fn send(&self, msg: &ClientMsg) {
        let Some(inner) = &self.inner else { return };
        let Ok(text) = serde_json::to_string(msg) else { return };
        let is_cursor = matches!(msg, ClientMsg::Cursor { .. });
        if inner.open.get() && inner.ws.borrow().as_ref().is_some_and(|live| live.send(&text)) {
            return;
        }
        inner.queue.borrow_mut().push(text, is_cursor);
    }

    /// Sends a chat with a fresh `ref` and keeps it until acknowledged; returns the `ref`,
    /// or `None` when too many chats already wait (and on the server, where nothing is sent).
    pub fn send_chat(&self, text: String, to: ChatTarget) -> Option<String> {
        let inner = self.inner.as_ref()?;
        let (reference, frame) = inner.resume.borrow_mut().new_chat(text, to)?;
        if inner.open.get() {
            send_now(inner, &frame);
        }
        Some(reference)
    }

    /// Remembers a new name for the next reconnect (the server learns it by `rename`).
    pub fn set_username(&self, name: String) {
        if let Some(inner) = &self.inner {
            *inner.username.borrow_mut() = Some(name);
        }
    }

    /// Closes with 1000 and stops reconnecting.
    pub fn stop(&self) {
        let Some(inner) = &self.inner else { return };
        inner.stopped.set(true);
        if let Some(handle) = inner.retry.borrow_mut().take() {
            handle.clear();
        }
        let live = inner.ws.borrow_mut().take();
        if let Some(live) = live {
            live.detach();
            live.close();
        }
        inner.open.set(false);
        inner.status.set(Status::Closed);
    }
}

fn socket_url(inner: &Inner) -> Option<String> {
    let base = http_base()?;
    // Cursor moves come as compact binary frames: a third of the bytes of JSON, and no
    // float parsing in the page (protocol::compact).
    Some(format!("ws{}/ws?{}&encoding={ENCODING_COMPACT}", &base[4..], query(inner)))
}

/// The page's own server, `http(s)://host`.
fn http_base() -> Option<String> {
    let location = web_sys::window()?.location();
    Some(format!("{}//{}", location.protocol().ok()?, location.host().ok()?))
}

/// The query of `/ws` and `/sse`: the room, who this is, and where to resume.
fn query(inner: &Inner) -> String {
    let mut query = format!("room={}", encode(&inner.room));
    let identity = [("username", inner.username.borrow().clone()), ("token", inner.token.clone())];
    for (key, value) in identity.into_iter().chain(inner.resume.borrow().query()) {
        if let Some(value) = value {
            query.push_str(&format!("&{key}={}", encode(&value)));
        }
    }
    query
}

fn encode(text: &str) -> String {
    String::from(js_sys::encode_uri_component(text))
}

fn connect(inner: &Rc<Inner>) {
    if inner.stopped.get() || inner.ws.borrow().is_some() {
        return;
    }
    let fallback = js_sys::Date::now() < inner.fallback_until.get();
    inner.fallback.set(fallback);
    if fallback {
        return connect_stream(inner);
    }
    let Some(ws) = socket_url(inner).and_then(|url| WebSocket::new(&url).ok()) else {
        schedule_reconnect(inner, Duration::ZERO);
        return;
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let weak = Rc::downgrade(inner);
    let on_open = Closure::<dyn FnMut()>::new(with(&weak, |inner| on_open(&inner)));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new({
        let weak = weak.clone();
        move |event: MessageEvent| {
            if let Some(inner) = weak.upgrade() {
                on_message(&inner, event);
            }
        }
    });
    let on_close = Closure::<dyn FnMut(CloseEvent)>::new({
        let weak = weak.clone();
        move |event: CloseEvent| {
            if let Some(inner) = weak.upgrade() {
                on_close(&inner, event.code());
            }
        }
    });
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    let live = SocketLive { ws: ws.clone(), _on_open: on_open, _on_message: on_message, _on_close: on_close };
    *inner.ws.borrow_mut() = Some(Live::Socket(live));
    let _ = set_timeout(
        move || {
            let Some(inner) = weak.upgrade() else { return };
            let still_opening = matches!(inner.ws.borrow().as_ref(), Some(Live::Socket(live)) if live.ws == ws);
            if still_opening && ws.ready_state() == WebSocket::CONNECTING {
                let _ = ws.close();
                self::on_close(&inner, GONE);
            }
        },
        OPEN_TIMEOUT,
    );
}

/// Opens the fallback transport's stream, which reports to the same handlers a socket does.
fn connect_stream(inner: &Rc<Inner>) {
    let weak = Rc::downgrade(inner);
    let handlers = Handlers {
        open: Box::new(with(&weak, |inner| on_open(&inner))),
        text: Box::new({
            let weak = weak.clone();
            move |text| {
                if let Some(inner) = weak.upgrade() {
                    on_text(&inner, text);
                }
            }
        }),
        end: Box::new(move |code| {
            if let Some(inner) = weak.upgrade() {
                on_close(&inner, code);
            }
        }),
    };
    let Some(link) = http_base().and_then(|base| StreamLink::open(base, &query(inner), handlers)) else {
        schedule_reconnect(inner, Duration::ZERO);
        return;
    };
    *inner.ws.borrow_mut() = Some(Live::Stream(link.clone()));
    // A proxy that buffers the response would keep the stream from ever opening.
    let weak = Rc::downgrade(inner);
    let _ = set_timeout(
        move || {
            let Some(inner) = weak.upgrade() else { return };
            let still_opening =
                matches!(inner.ws.borrow().as_ref(), Some(Live::Stream(live)) if Rc::ptr_eq(live, &link));
            if still_opening && !link.is_open() {
                on_close(&inner, GONE);
            }
        },
        OPEN_TIMEOUT,
    );
}

fn with(weak: &Weak<Inner>, f: impl Fn(Rc<Inner>) + 'static) -> impl Fn() + 'static {
    let weak = weak.clone();
    move || {
        if let Some(inner) = weak.upgrade() {
            f(inner);
        }
    }
}

fn on_open(inner: &Rc<Inner>) {
    inner.open.set(true);
    inner.status.set(Status::Open);
    inner.why.set(None);
    // Unacknowledged chats first, in order: the server acknowledges any it already stored
    // without storing them twice.
    let unacked = inner.resume.borrow().unacked_frames();
    for frame in unacked {
        if !send_now(inner, &frame) {
            return;
        }
    }
    // Then what was queued, in order; a frame the socket refuses waits for the next open.
    let mut queue = inner.queue.borrow_mut();
    queue.flush(|frame| send_now(inner, frame));
}

fn on_message(inner: &Rc<Inner>, event: MessageEvent) {
    let data = event.data();
    if let Some(buffer) = data.dyn_ref::<js_sys::ArrayBuffer>() {
        inner.attempts.set(0);
        match decode_cursors(&js_sys::Uint8Array::new(buffer).to_vec()) {
            Ok(moves) => (inner.on_message)(ServerMsg::Cursors { moves }),
            Err(err) => leptos::logging::warn!("flock: ignoring a binary frame: {err}"),
        }
        return;
    }
    if let Some(text) = data.as_string() {
        on_text(inner, text);
    }
}

/// One server message's JSON, from either transport.
fn on_text(inner: &Rc<Inner>, text: String) {
    // The backoff starts over only once the server has spoken: a server that accepts and
    // closes at once keeps being retried slowly.
    inner.attempts.set(0);
    match serde_json::from_str::<ServerMsg>(&text) {
        Ok(msg) => {
            let followup = inner.resume.borrow_mut().track(&msg);
            if let Followup::Retry(reference) = followup {
                schedule_resend(inner, reference);
            }
            // No borrow of `inner` is held here: the handler may send.
            (inner.on_message)(msg)
        }
        Err(err) => leptos::logging::warn!("flock: ignoring a frame this client does not understand: {err}"),
    }
}

/// Sends `frame` on the open connection; false if there is none or it refused.
fn send_now(inner: &Inner, frame: &str) -> bool {
    inner.ws.borrow().as_ref().is_some_and(|live| live.send(frame))
}

/// Resends a chat refused for now after [`RETRY_DELAY`], if it is still unacknowledged
/// and the socket is open (otherwise the next `open` resends it anyway).
fn schedule_resend(inner: &Rc<Inner>, reference: String) {
    let weak = Rc::downgrade(inner);
    let _ = set_timeout(
        move || {
            let Some(inner) = weak.upgrade() else { return };
            let frame = inner.resume.borrow().frame_of(&reference);
            if let Some(frame) = frame.filter(|_| inner.open.get()) {
                send_now(&inner, &frame);
            }
        },
        RETRY_DELAY,
    );
}

fn on_close(inner: &Rc<Inner>, code: u16) {
    if code == close::REPLACED {
        inner.resume.borrow_mut().replaced();
    }
    let opened = inner.open.replace(false);
    let live = inner.ws.borrow_mut().take();
    if let Some(live) = live {
        live.detach();
    }
    if code == close::REMOVED {
        // The app removed this user: coming back on its own would only be refused.
        inner.why.set(Some("You were removed from this room.".into()));
        inner.stopped.set(true);
        inner.status.set(Status::Refused);
        return;
    }
    if inner.stopped.get() {
        inner.status.set(Status::Closed);
    } else if opened {
        schedule_reconnect(inner, Duration::ZERO);
    } else {
        // Refused before it opened: the browser hides the upgrade's (and the stream's)
        // answer, so ask.
        ask_why(inner);
    }
}

/// Asks the server why the upgrade failed (a plain GET of the same URL answers what the
/// upgrade got, taking nothing from the quotas), then waits as told, gives up, or retries.
fn ask_why(inner: &Rc<Inner>) {
    inner.status.set(Status::Reconnecting);
    // `ws://` becomes `http://`, `wss://` `https://`.
    let Some(url) = socket_url(inner).map(|url| url.replacen("ws", "http", 1)) else {
        schedule_reconnect(inner, Duration::ZERO);
        return;
    };
    let weak = Rc::downgrade(inner);
    leptos::task::spawn_local(async move {
        let verdict = refusal(&url).await;
        let Some(inner) = weak.upgrade().filter(|inner| !inner.stopped.get()) else { return };
        match verdict {
            Refusal::Wait { after, why } => {
                inner.why.set(Some(why));
                schedule_reconnect(&inner, after);
                inner.status.set(Status::Waiting);
            }
            Refusal::Final(why) => {
                inner.why.set(Some(why));
                inner.stopped.set(true);
                inner.status.set(Status::Refused);
            }
            // The server would take the upgrade: something on the way refused it. Unless
            // that was the fallback's stream already, go on over the fallback at once.
            Refusal::Passes if !inner.fallback.get_untracked() => {
                inner.fallback_until.set(js_sys::Date::now() + FALLBACK_FOR.as_millis() as f64);
                connect(&inner);
            }
            Refusal::Passes | Refusal::Unknown => schedule_reconnect(&inner, Duration::ZERO),
        }
    });
}

/// What the server said about a connection it did not take.
enum Refusal {
    /// Try again after this (429 with its `Retry-After`, 503).
    Wait { after: Duration, why: String },
    /// Trying again would not help (400: the name or room; 403: the origin or invitation).
    Final(String),
    /// The server would take the upgrade now (426): if it failed, something between
    /// blocks upgrades.
    Passes,
    /// No refusal now (the server was down, or would now take it): retry as usual.
    Unknown,
}

async fn refusal(url: &str) -> Refusal {
    let Ok(response) = gloo_net::http::Request::get(url).send().await else { return Refusal::Unknown };
    let status = response.status();
    let after = response.headers().get("retry-after").and_then(|secs| secs.trim().parse::<u64>().ok());
    let why = response.text().await.unwrap_or_default();
    match status {
        429 => Refusal::Wait { after: Duration::from_secs(after.unwrap_or(1)), why },
        503 => Refusal::Wait { after: RECONNECT_MAX, why },
        400 | 403 => Refusal::Final(why),
        426 => Refusal::Passes,
        _ => Refusal::Unknown,
    }
}

/// Opens a new socket after the backoff, or after `at_least` when the server asked to wait
/// that long; either with jitter.
fn schedule_reconnect(inner: &Rc<Inner>, at_least: Duration) {
    inner.status.set(Status::Reconnecting);
    let attempt = inner.attempts.get();
    inner.attempts.set(attempt.saturating_add(1));
    let backoff = RECONNECT_BASE.saturating_mul(1 << attempt.min(5)).min(RECONNECT_MAX);
    // Jitter spreads a crowd of clients reconnecting after a restart (or told to wait
    // alike); a wait the server asked for is never cut short.
    let jitter = js_sys::Math::random();
    let delay =
        if at_least > backoff { at_least.mul_f64(1.0 + jitter * 0.25) } else { backoff.mul_f64(0.5 + jitter * 0.5) };
    let weak = Rc::downgrade(inner);
    let handle = set_timeout(
        move || {
            if let Some(inner) = weak.upgrade() {
                connect(&inner);
            }
        },
        delay,
    );
    *inner.retry.borrow_mut() = handle.ok();
}
