//! The reactive model of one room as this browser sees it, updated by server messages.
//!
//! Each user's name, cursor and state are signals of their own, so a cursor move redraws
//! one cursor and nothing else; the user list itself changes only on joins and leaves.

use crate::protocol::{ChatTarget, ErrorCode, Point, ServerMsg, User, UserState};
use leptos::prelude::*;
use uuid::Uuid;

/// Chat lines kept on screen; older ones scroll away for good.
const CHAT_KEEP: usize = 500;

/// One user in the room.
#[derive(Clone, Copy)]
pub struct UserView {
    pub id: Uuid,
    pub color: StoredValue<String>,
    pub username: RwSignal<String>,
    pub cursor: RwSignal<Option<Point>>,
    pub state: RwSignal<UserState>,
}

impl UserView {
    fn new(user: User) -> Self {
        UserView {
            id: user.id,
            color: StoredValue::new(user.color),
            username: RwSignal::new(user.username),
            cursor: RwSignal::new(user.cursor),
            state: RwSignal::new(user.state),
        }
    }
}

/// One line of the chat view.
#[derive(Clone, Debug, PartialEq)]
pub enum ChatLine {
    Message { key: usize, from: Uuid, username: String, color: String, text: String, to: ChatTarget, ts: u64 },
    /// Something the room did: a join, a leave.
    Event { key: usize, text: String },
}

impl ChatLine {
    pub fn key(&self) -> usize {
        match self {
            ChatLine::Message { key, .. } | ChatLine::Event { key, .. } => *key,
        }
    }
}

/// The room as this page knows it.
#[derive(Clone, Copy)]
pub struct RoomState {
    pub me: RwSignal<Option<Uuid>>,
    pub users: RwSignal<Vec<UserView>>,
    pub chat: RwSignal<Vec<ChatLine>>,
    /// The server's last `error`, shown until the next one.
    pub notice: RwSignal<Option<String>>,
    next_key: StoredValue<usize>,
    owner: StoredValue<Option<Owner>>,
}

impl RoomState {
    /// An empty room; call inside the component that owns it.
    pub fn new() -> Self {
        RoomState {
            me: RwSignal::new(None),
            users: RwSignal::new(Vec::new()),
            chat: RwSignal::new(Vec::new()),
            notice: RwSignal::new(None),
            next_key: StoredValue::new(0),
            owner: StoredValue::new(Owner::current()),
        }
    }

    pub fn user(&self, id: Uuid) -> Option<UserView> {
        self.users.with_untracked(|users| users.iter().find(|u| u.id == id).copied())
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
            ServerMsg::Welcome { you, users, .. } => {
                self.me.set(Some(you));
                self.users.set(users.into_iter().map(UserView::new).collect());
            }
            ServerMsg::Joined { user } => {
                self.event(format!("{} joined", user.username));
                self.users.update(|users| {
                    if !users.iter().any(|u| u.id == user.id) {
                        users.push(UserView::new(user));
                    }
                });
            }
            ServerMsg::Left { id } => {
                if let Some(user) = self.user(id) {
                    self.event(format!("{} left", user.username.get_untracked()));
                }
                self.users.update(|users| users.retain(|u| u.id != id));
            }
            ServerMsg::Cursors { moves } => {
                for mv in moves {
                    if let Some(user) = self.user(mv.id) {
                        user.cursor.set(Some(Point { x: mv.x, y: mv.y }));
                    }
                }
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
            ServerMsg::Chat { from, username, text, to, ts } => {
                let color = self.user(from).map(|u| u.color.get_value()).unwrap_or_default();
                let key = self.key();
                self.push(ChatLine::Message { key, from, username, color, text, to, ts });
            }
            ServerMsg::Error { code, message } => {
                self.notice.set(Some(format!("{}: {message}", code_label(code))));
            }
        }
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
        self.chat.update(|chat| {
            chat.push(line);
            if chat.len() > CHAT_KEEP {
                chat.drain(..chat.len() - CHAT_KEEP);
            }
        });
    }
}

impl Default for RoomState {
    fn default() -> Self {
        Self::new()
    }
}

fn code_label(code: ErrorCode) -> String {
    serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
