//! The fallback transport in the browser, for networks that block WebSocket upgrades: the
//! server's messages as an `EventSource` on `/sse`, the page's as POSTs to `/sse/send`
//! (docs/protocol.md, "Fallback transport").
//!
//! The `EventSource` would reconnect by itself to the URL it was given, which does not
//! resume: on its first error the stream is closed and reported ended, and the socket's
//! reconnect opens the next one with the session and the last seq. POSTs go one at a
//! time, each carrying whatever waits (up to the server's 64 lines), so frames keep
//! their order.

use leptos::leptos_dom::helpers::set_timeout;
use serde::Deserialize;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::Duration;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Event, EventSource, MessageEvent};

/// Lines one POST carries at most (what the server takes).
const POST_LINES: usize = 64;
/// The code a stream that ended without a `close` event reports, as a socket that just
/// went away does.
pub const GONE: u16 = 1006;
/// The events the stream sends: `message` for server messages, the others its own.
const EVENTS: [&str; 4] = ["stream", "message", "close", "error"];

/// What the stream tells its owner.
pub struct Handlers {
    /// The stream carries frames both ways from now on.
    pub open: Box<dyn Fn()>,
    /// One server message's JSON.
    pub text: Box<dyn Fn(String)>,
    /// The stream ended, with the code of its `close` event (or [`GONE`]).
    pub end: Box<dyn Fn(u16)>,
}

/// One stream and the POSTs that go with it.
pub struct StreamLink {
    source: EventSource,
    /// The server's `http(s)://host`.
    base: String,
    token: RefCell<Option<String>>,
    outbox: RefCell<VecDeque<String>>,
    posting: Cell<bool>,
    ended: Cell<bool>,
    handlers: Handlers,
    listeners: Vec<(&'static str, Listener)>,
}

/// A callback the `EventSource` holds while the stream lives.
type Listener = Closure<dyn FnMut(Event)>;

#[derive(Deserialize)]
struct Named {
    stream: Option<String>,
    code: Option<u16>,
}

impl StreamLink {
    /// Opens `{base}/sse?{query}`; `None` if the browser will not.
    pub fn open(base: String, query: &str, handlers: Handlers) -> Option<Rc<StreamLink>> {
        let source = EventSource::new(&format!("{base}/sse?{query}")).ok()?;
        let link = Rc::new_cyclic(|weak: &Weak<StreamLink>| {
            let listeners = EVENTS
                .into_iter()
                .map(|name| {
                    let weak = weak.clone();
                    let listener = Listener::new(move |event: Event| {
                        if let Some(link) = weak.upgrade() {
                            link.on_event(name, &event);
                        }
                    });
                    let _ = source.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
                    (name, listener)
                })
                .collect();
            StreamLink {
                source,
                base,
                token: RefCell::new(None),
                outbox: RefCell::new(VecDeque::new()),
                posting: Cell::new(false),
                ended: Cell::new(false),
                handlers,
                listeners,
            }
        });
        Some(link)
    }

    /// Whether frames can be sent (the stream named its token and has not ended).
    pub fn is_open(&self) -> bool {
        self.token.borrow().is_some() && !self.ended.get()
    }

    /// Sends `frame` with the next POST; false if the stream is not open.
    pub fn send(self: &Rc<Self>, frame: &str) -> bool {
        if !self.is_open() {
            return false;
        }
        self.outbox.borrow_mut().push_back(frame.to_owned());
        self.pump();
        true
    }

    /// Ends the stream without reporting it; with `goodbye`, the user leaves at once.
    pub fn close(&self, goodbye: bool) {
        let token = self.token.borrow().clone();
        self.stop();
        if let Some(token) = token.filter(|_| goodbye) {
            let url = format!("{}/sse/close?stream={token}", self.base);
            leptos::task::spawn_local(async move {
                let _ = gloo_net::http::Request::post(&url).send().await;
            });
        }
    }

    fn on_event(&self, name: &str, event: &Event) {
        if self.ended.get() {
            return;
        }
        let data = event.dyn_ref::<MessageEvent>().and_then(|message| message.data().as_string());
        match (name, data) {
            ("message", Some(text)) => (self.handlers.text)(text),
            ("stream", Some(text)) => {
                let Some(token) = serde_json::from_str::<Named>(&text).ok().and_then(|named| named.stream) else {
                    return;
                };
                *self.token.borrow_mut() = Some(token);
                (self.handlers.open)();
            }
            ("close", Some(text)) => {
                let code = serde_json::from_str::<Named>(&text).ok().and_then(|named| named.code);
                self.end(code.unwrap_or(GONE));
            }
            ("error", _) => self.end(GONE),
            _ => {}
        }
    }

    fn end(&self, code: u16) {
        if self.ended.get() {
            return;
        }
        self.stop();
        (self.handlers.end)(code);
    }

    fn stop(&self) {
        self.ended.set(true);
        self.outbox.borrow_mut().clear();
        for (name, listener) in &self.listeners {
            let _ = self.source.remove_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
        }
        self.source.close();
    }

    /// Starts the POSTs of what waits, unless they run already.
    fn pump(self: &Rc<Self>) {
        if self.posting.replace(true) {
            return;
        }
        let weak = Rc::downgrade(self);
        leptos::task::spawn_local(async move { post_all(weak).await });
    }
}

/// POSTs what waits, one at a time, until nothing does, the stream ends, or the server
/// asks to wait (then again after that).
async fn post_all(weak: Weak<StreamLink>) {
    loop {
        let Some(link) = weak.upgrade() else { return };
        let token = link.token.borrow().clone();
        let (Some(token), false) = (token, link.outbox.borrow().is_empty()) else {
            link.posting.set(false);
            return;
        };
        let lines: Vec<String> = link.outbox.borrow().iter().take(POST_LINES).cloned().collect();
        let url = format!("{}/sse/send?stream={token}", link.base);
        drop(link);
        let answer = post(&url, lines.join("\n")).await;
        let Some(link) = weak.upgrade().filter(|link| !link.ended.get()) else { return };
        match answer {
            Some((204, _)) => {
                let mut outbox = link.outbox.borrow_mut();
                let sent = lines.len().min(outbox.len());
                outbox.drain(..sent);
            }
            Some((429 | 503, after)) => {
                let weak = weak.clone();
                let _ = set_timeout(
                    move || {
                        if let Some(link) = weak.upgrade() {
                            link.posting.set(false);
                            link.pump();
                        }
                    },
                    after,
                );
                return;
            }
            // The stream is gone (404), or the network is: resume on a new one (chats are
            // resent until acknowledged).
            _ => return link.end(GONE),
        }
    }
}

/// POSTs `body` as text; the status and how long the server asked to wait, if it answered.
async fn post(url: &str, body: String) -> Option<(u16, Duration)> {
    let request = gloo_net::http::Request::post(url).header("content-type", "text/plain").body(body).ok()?;
    let response = request.send().await.ok()?;
    let after = response.headers().get("retry-after").and_then(|secs| secs.trim().parse::<u64>().ok());
    Some((response.status(), Duration::from_secs(after.unwrap_or(1))))
}
