//! The reactive model of one room as this browser sees it, updated by server messages.
//!
//! Each user's name and state are signals of their own; the user list itself changes only
//! on joins and leaves. Cursor positions stay out of the reactive graph: they go to
//! [`Motions`], which the cursor layer draws once per animation frame.
//!
//! Chat lines are keyed by the room's `seq`: a line whose seq was already shown is
//! skipped, so a replay after a reconnect never shows a message twice or out of order.
//! History the server leaves out of a `welcome` is paged in with `history` requests:
//! forward from where a resume left off until the gap is filled, and backward when the
//! user scrolls to the top; either way each chat lands in its place by seq.

use super::cursor_motion::{now_ms, Motions};
use super::typing::{Typing, TYPING_EVENT};
use crate::protocol::{ChatMessage, ChatTarget, ClientMsg, Point, ServerMsg, User, UserState, MAX_PAGE_LEN};
use leptos::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Chat lines kept on screen; older ones scroll away for good.
const CHAT_KEEP: usize = 500;

/// One user in the room.
#[derive(Clone, Copy)]
pub struct UserView {
    pub id: Uuid,
    pub color: StoredValue<String>,
    pub username: RwSignal<String>,
    pub state: RwSignal<UserState>,
}

impl UserView {
    fn new(user: User) -> Self {
        UserView {
            id: user.id,
            color: StoredValue::new(user.color),
            username: RwSignal::new(user.username),
            state: RwSignal::new(user.state),
        }
    }
}

/// One line of the chat view.
#[derive(Clone, Debug, PartialEq)]
pub enum ChatLine {
    Message {
        key: usize,
        seq: u64,
        from: Uuid,
        username: String,
        color: String,
        text: String,
        to: ChatTarget,
        ts: u64,
    },
    /// Something the room did: a join, a leave.
    Event {
        key: usize,
        text: String,
    },
}

impl ChatLine {
    pub fn key(&self) -> usize {
        match self {
            ChatLine::Message { key, .. } | ChatLine::Event { key, .. } => *key,
        }
    }
}

/// A chat this page sent that the server has not acknowledged yet.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingChat {
    pub reference: String,
    pub text: String,
    pub to: ChatTarget,
}

/// Which way the `history` page in flight goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Paging {
    /// Filling the gap a resume left, oldest first.
    Forward,
    /// Older than the first line, as the user scrolls back.
    Back,
}

/// The room as this page knows it.
#[derive(Clone, Copy)]
pub struct RoomState {
    pub me: RwSignal<Option<Uuid>>,
    pub users: RwSignal<Vec<UserView>>,
    pub chat: RwSignal<Vec<ChatLine>>,
    /// Sent chats still waiting for their `ack`, shown as "sending".
    pub pending: RwSignal<Vec<PendingChat>>,
    /// The highest chat seq shown.
    last_seq: StoredValue<u64>,
    /// `users` by id: a `cursors` frame may carry hundreds of moves, each looked up here.
    by_id: StoredValue<HashMap<Uuid, UserView>>,
    /// The server's last `error`, shown until the next one.
    pub notice: RwSignal<Option<String>>,
    /// Who is typing a chat.
    pub typing: Typing,
    /// Chats older than the first line exist: the panel offers to load them.
    pub older: RwSignal<bool>,
    /// The next `history` request to send (the room page sends whatever is put here).
    pub page_request: RwSignal<Option<ClientMsg>>,
    /// The page asked for and not answered yet: one at a time.
    paging: StoredValue<Option<Paging>>,
    /// After a resume whose `welcome` left chats out: the first seq it did carry, up to
    /// which the missed chats are paged in.
    gap_until: StoredValue<Option<u64>>,
    next_key: StoredValue<usize>,
    owner: StoredValue<Option<Owner>>,
    /// Where each other user's cursor is, and is going.
    pub motions: StoredValue<Motions>,
    /// Books a frame to draw `motions` in (the cursor layer sets it).
    pub wake: StoredValue<Option<Arc<dyn Fn() + Send + Sync>>>,
}

impl RoomState {
    /// An empty room; call inside the component that owns it.
    pub fn new() -> Self {
        RoomState {
            me: RwSignal::new(None),
            users: RwSignal::new(Vec::new()),
            chat: RwSignal::new(Vec::new()),
            pending: RwSignal::new(Vec::new()),
            last_seq: StoredValue::new(0),
            by_id: StoredValue::new(HashMap::new()),
            notice: RwSignal::new(None),
            typing: Typing::new(),
            older: RwSignal::new(false),
            page_request: RwSignal::new(None),
            paging: StoredValue::new(None),
            gap_until: StoredValue::new(None),
            next_key: StoredValue::new(0),
            owner: StoredValue::new(Owner::current()),
            motions: StoredValue::new(Motions::default()),
            wake: StoredValue::new(None),
        }
    }

    pub fn user(&self, id: Uuid) -> Option<UserView> {
        self.by_id.with_value(|by_id| by_id.get(&id).copied())
    }

    /// Everyone in the room but this page's user.
    pub fn others(&self) -> Vec<UserView> {
        let me = self.me.get();
        self.users.get().into_iter().filter(|u| Some(u.id) != me).collect()
    }

    /// Applies one server message.
    pub fn apply(&self, msg: ServerMsg) {
        // Signals made here belong to the room page, not to whatever JS callback runs us.
        match self.owner.get_value() {
            Some(owner) => owner.with(|| self.apply_owned(msg)),
            None => self.apply_owned(msg),
        }
    }

    fn apply_owned(&self, msg: ServerMsg) {
        match msg {
            ServerMsg::Welcome { you, users, history, more, .. } => {
                self.me.set(Some(you));
                self.motions.update_value(Motions::clear);
                self.wake();
                for user in users.iter().filter(|u| u.id != you) {
                    self.moved(user.id, user.cursor);
                }
                let views: Vec<UserView> = users.into_iter().map(UserView::new).collect();
                self.by_id.set_value(views.iter().map(|u| (u.id, *u)).collect());
                self.users.set(views);
                let seen = self.last_seq.get_value();
                let first = history.first().map(|c| c.seq);
                for chat in history {
                    self.message(chat);
                }
                match (more, first) {
                    // A resume that left chats out: page them in from where this page was.
                    (true, Some(first)) if seen > 0 => {
                        self.gap_until.set_value(Some(first));
                        self.request(
                            Paging::Forward,
                            ClientMsg::History { after: Some(seen), before: None, limit: Some(MAX_PAGE_LEN) },
                        );
                    }
                    _ if seen == 0 => self.older.set(more),
                    _ => {}
                }
            }
            ServerMsg::History { chats, more } => self.page(chats, more),
            ServerMsg::Reset => {
                self.chat.update(|chat| chat.retain(|line| matches!(line, ChatLine::Event { .. })));
                self.last_seq.set_value(0);
                self.gap_until.set_value(None);
                self.event("You were away too long to replay everything: showing the latest messages".into());
            }
            ServerMsg::Ack { reference, seq } => self.acknowledged(&reference, seq),
            ServerMsg::Joined { user } => {
                self.event(format!("{} joined", user.username));
                if self.user(user.id).is_none() {
                    self.moved(user.id, user.cursor);
                    let view = UserView::new(user);
                    self.by_id.update_value(|by_id| {
                        by_id.insert(view.id, view);
                    });
                    self.users.update(|users| users.push(view));
                }
            }
            ServerMsg::Left { id } => {
                if let Some(user) = self.user(id) {
                    self.event(format!("{} left", user.username.get_untracked()));
                }
                self.by_id.update_value(|by_id| {
                    by_id.remove(&id);
                });
                self.users.update(|users| users.retain(|u| u.id != id));
                self.motions.update_value(|motions| motions.forget(id));
                self.wake();
                self.typing.stop(id);
            }
            ServerMsg::Cursors { moves } => {
                let now = now_ms();
                let me = self.me.get_untracked();
                self.by_id.with_value(|by_id| {
                    self.motions.update_value(|motions| {
                        for mv in moves.iter().filter(|mv| by_id.contains_key(&mv.id) && Some(mv.id) != me) {
                            motions.moved(mv.id, Point { x: mv.x, y: mv.y }, now);
                        }
                    })
                });
                self.wake();
            }
            ServerMsg::State { id, state } => {
                if let Some(user) = self.user(id) {
                    user.state.set(state);
                }
            }
            ServerMsg::Renamed { id, username } => {
                if let Some(user) = self.user(id) {
                    user.username.set(username);
                }
            }
            ServerMsg::Chat(chat) => {
                self.typing.stop(chat.from);
                self.message(chat);
            }
            ServerMsg::Event { name, from: Some(from), .. } if name == TYPING_EVENT => {
                if Some(from) != self.me.get_untracked() && self.user(from).is_some() {
                    self.typing.heard(from);
                }
            }
            // Events this page has no use for.
            ServerMsg::Event { .. } => {}
            ServerMsg::Error { code, message, reference, .. } => {
                // A chat refused for good will not be resent: it is no longer pending.
                if let Some(reference) = reference.filter(|_| !code.is_retryable()) {
                    self.pending.update(|p| p.retain(|c| c.reference != reference));
                }
                self.notice.set(Some(format!("{}: {message}", code.as_str())));
            }
        }
    }

    /// `id`'s cursor is at `at`, if it has one.
    fn moved(&self, id: Uuid, at: Option<Point>) {
        if let Some(at) = at {
            self.motions.update_value(|motions| motions.moved(id, at, now_ms()));
            self.wake();
        }
    }

    /// Has the cursor layer draw at the next frame.
    fn wake(&self) {
        if let Some(wake) = self.wake.get_value() {
            wake();
        }
    }

    /// Notes a chat sent with `reference`, shown as pending until acknowledged.
    pub fn sending(&self, reference: String, text: String, to: ChatTarget) {
        self.pending.update(|p| p.push(PendingChat { reference, text, to }));
    }

    /// A pending chat is stored. An `others` chat is not echoed to its sender, so it
    /// becomes a line here; every other kind arrives (or arrived) as a `chat`.
    fn acknowledged(&self, reference: &str, seq: u64) {
        let Some(pending) = self.pending.with_untracked(|p| p.iter().find(|c| c.reference == reference).cloned())
        else {
            return;
        };
        self.pending.update(|p| p.retain(|c| c.reference != reference));
        if let (ChatTarget::Others, Some(me)) = (pending.to, self.me.get_untracked()) {
            let username = self.user(me).map(|u| u.username.get_untracked()).unwrap_or_default();
            let chat =
                ChatMessage { seq, from: me, username, text: pending.text, to: pending.to, ts: 0, server: false };
            self.message(chat);
        }
    }

    /// Asks for the chats before the first line shown (the user scrolled to the top).
    pub fn load_older(&self) {
        let first = self.chat.with_untracked(|lines| {
            lines.iter().find_map(|line| match line {
                ChatLine::Message { seq, .. } => Some(*seq),
                ChatLine::Event { .. } => None,
            })
        });
        if let Some(first) = first {
            self.request(Paging::Back, ClientMsg::History { after: None, before: Some(first), limit: None });
        }
    }

    fn request(&self, paging: Paging, msg: ClientMsg) {
        if self.paging.get_value().is_none() {
            self.paging.set_value(Some(paging));
            self.page_request.set(Some(msg));
        }
    }

    /// A page of history arrived: each chat goes in its place; then the next page of a
    /// gap is asked for, or the panel learns whether still older ones exist.
    fn page(&self, chats: Vec<ChatMessage>, more: bool) {
        let last = chats.last().map(|c| c.seq);
        for chat in chats {
            self.insert(chat);
        }
        match self.paging.get_value() {
            Some(Paging::Forward) => {
                self.paging.set_value(None);
                let until = self.gap_until.get_value().unwrap_or(0);
                match last.filter(|&last| more && last + 1 < until) {
                    Some(last) => self.request(
                        Paging::Forward,
                        ClientMsg::History { after: Some(last), before: None, limit: Some(MAX_PAGE_LEN) },
                    ),
                    None => self.gap_until.set_value(None),
                }
            }
            Some(Paging::Back) => {
                self.paging.set_value(None);
                self.older.set(more);
            }
            None => {}
        }
    }

    /// Puts a paged chat before the first line with a higher seq, unless it is shown.
    fn insert(&self, chat: ChatMessage) {
        let ChatMessage { seq, from, username, text, to, ts, .. } = chat;
        let shown = self.chat.with_untracked(|lines| {
            lines.iter().any(|line| matches!(line, ChatLine::Message { seq: s, .. } if *s == seq))
        });
        if shown {
            return;
        }
        let color = self.user(from).map(|u| u.color.get_value()).unwrap_or_default();
        let key = self.key();
        self.chat.update(|lines| {
            let at = lines
                .iter()
                .position(|line| matches!(line, ChatLine::Message { seq: s, .. } if *s > seq))
                .unwrap_or(lines.len());
            lines.insert(at, ChatLine::Message { key, seq, from, username, color, text, to, ts });
        });
        if seq > self.last_seq.get_value() {
            self.last_seq.set_value(seq);
        }
    }

    /// Shows a chat unless its seq was already shown.
    fn message(&self, chat: ChatMessage) {
        if chat.seq <= self.last_seq.get_value() {
            return;
        }
        self.last_seq.set_value(chat.seq);
        let ChatMessage { seq, from, username, text, to, ts, .. } = chat;
        let color = self.user(from).map(|u| u.color.get_value()).unwrap_or_default();
        let key = self.key();
        self.push(ChatLine::Message { key, seq, from, username, color, text, to, ts });
    }

    fn event(&self, text: String) {
        let key = self.key();
        self.push(ChatLine::Event { key, text });
    }

    fn key(&self) -> usize {
        let key = self.next_key.get_value();
        self.next_key.set_value(key + 1);
        key
    }

    fn push(&self, line: ChatLine) {
        let mut trimmed = false;
        self.chat.update(|chat| {
            chat.push(line);
            if chat.len() > CHAT_KEEP {
                chat.drain(..chat.len() - CHAT_KEEP);
                trimmed = true;
            }
        });
        if trimmed && !self.older.get_untracked() {
            // What scrolled away can be paged back in.
            self.older.set(true);
        }
    }
}

impl Default for RoomState {
    fn default() -> Self {
        Self::new()
    }
}
