//! What the browser keeps so that a reconnect loses nothing: the session token, the last
//! chat `seq` seen, and the chats sent but not yet acknowledged (resent with the same
//! `ref` on every new connection until the server acknowledges or refuses them).

use crate::client::storage;
use crate::protocol::{ChatTarget, ClientMsg, ServerMsg};
use std::collections::VecDeque;

/// Most chats kept unacknowledged: a burst of resends must stay within the server's rate
/// limit (a burst of 240 by default).
pub const UNACKED_LIMIT: usize = 200;

/// What the socket should do after a server message.
#[derive(Debug, PartialEq, Eq)]
pub enum Followup {
    Nothing,
    /// The chat was refused for now (rate limit, store trouble): resend it a bit later.
    Retry(String),
}

pub struct Resume {
    session: Option<String>,
    /// `None` until the first `welcome`, so a page load gets the newest history rather
    /// than a replay.
    since: Option<u64>,
    /// `(ref, frame)`, in send order.
    unacked: VecDeque<(String, String)>,
    /// A random prefix per page load, then a counter: refs unique to this tab.
    prefix: String,
    next: u64,
}

impl Resume {
    pub fn new() -> Self {
        let prefix = format!("{:08x}", (js_sys::Math::random() * f64::from(u32::MAX)) as u32);
        Resume { session: storage::load_session(), since: None, unacked: VecDeque::new(), prefix, next: 0 }
    }

    /// `session` and `since` for the next connection's query string.
    pub fn query(&self) -> [(&'static str, Option<String>); 2] {
        [("session", self.session.clone()), ("since", self.since.map(|s| s.to_string()))]
    }

    /// Records a new chat; returns its `ref` and frame, or `None` when too many wait.
    pub fn new_chat(&mut self, text: String, to: ChatTarget) -> Option<(String, String)> {
        if self.unacked.len() >= UNACKED_LIMIT {
            return None;
        }
        let reference = format!("{}-{}", self.prefix, self.next);
        self.next += 1;
        let frame = serde_json::to_string(&ClientMsg::Chat { text, to, reference: Some(reference.clone()) }).ok()?;
        self.unacked.push_back((reference.clone(), frame.clone()));
        Some((reference, frame))
    }

    /// Every unacknowledged chat's frame, oldest first.
    pub fn unacked_frames(&self) -> Vec<String> {
        self.unacked.iter().map(|(_, frame)| frame.clone()).collect()
    }

    /// The frame of `reference`, if it is still unacknowledged.
    pub fn frame_of(&self, reference: &str) -> Option<String> {
        self.unacked.iter().find(|(r, _)| r == reference).map(|(_, frame)| frame.clone())
    }

    /// Keeps the session, the last seq and the unacknowledged chats in step with `msg`.
    pub fn track(&mut self, msg: &ServerMsg) -> Followup {
        match msg {
            ServerMsg::Welcome { session, seq, .. } => {
                storage::save_session(session);
                self.session = Some(session.clone());
                self.since = Some(*seq);
            }
            ServerMsg::Chat(chat) => self.since = Some(self.since.unwrap_or(0).max(chat.seq)),
            ServerMsg::Ack { reference, .. } => self.forget(reference),
            ServerMsg::Error { code, reference: Some(reference), .. } => {
                if code.is_retryable() {
                    return Followup::Retry(reference.clone());
                }
                self.forget(reference);
            }
            _ => {}
        }
        Followup::Nothing
    }

    /// Another tab took this session over (a duplicated tab): become someone new.
    pub fn replaced(&mut self) {
        storage::clear_session();
        self.session = None;
        self.since = None;
    }

    fn forget(&mut self, reference: &str) {
        self.unacked.retain(|(r, _)| r != reference);
    }
}

impl Default for Resume {
    fn default() -> Self {
        Self::new()
    }
}
