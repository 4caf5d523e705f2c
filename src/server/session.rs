//! One connection's life in the hub, apart from the socket: who it is, which room it is
//! in, and how each client message becomes a room call or an `error` reply.
//!
//! Everything a client controls is checked here before it reaches a room; ids, names in
//! chats, colours and timestamps are always the server's own.

use super::hub::Hub;
use super::outbox::Outbox;
use super::room::{encode, NoSuchUser, Room};
use crate::protocol::{
    decode_client_msg, validate_room, validate_username, ClientMsg, DecodeError, ErrorCode,
    Point, ServerMsg, User, UserState,
};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// Twenty colours that stay distinct from each other on a light board.
const PALETTE: [&str; 20] = [
    "#e6194b", "#3cb44b", "#c9a100", "#4363d8", "#f58231", "#911eb4", "#1fa3a3", "#f032e6",
    "#7fa10b", "#d6336c", "#469990", "#9a6324", "#800000", "#2f9e44", "#808000", "#e8590c",
    "#000075", "#5c5f66", "#ae3ec9", "#1971c2",
];

/// The content limits a session enforces (the frame size is enforced by the socket).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_chat_chars: usize,
    pub max_state_bytes: usize,
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
    #[error(transparent)]
    NoSuchUser(#[from] NoSuchUser),
    #[error("binary frames are not supported: send JSON text frames")]
    Binary,
    #[error("too many messages: this one was dropped, slow down")]
    RateLimited,
}

impl Refusal {
    pub fn code(&self) -> ErrorCode {
        match self {
            Refusal::Decode(err) => err.code(),
            Refusal::Invalid(_) => ErrorCode::Invalid,
            Refusal::TooLarge(_) => ErrorCode::TooLarge,
            Refusal::NoSuchUser(_) => ErrorCode::NoSuchUser,
            Refusal::Binary => ErrorCode::BinaryUnsupported,
            Refusal::RateLimited => ErrorCode::RateLimited,
        }
    }
}

/// A connected user and the room it is in.
pub struct Session {
    id: Uuid,
    hub: Arc<Hub>,
    room: Arc<Room>,
    outbox: Arc<Outbox>,
    limits: Limits,
}

impl Session {
    /// Gives the connection an id, a name and a colour, and puts it in `room`.
    /// `room` and `username` must already be valid (the upgrade checked them).
    pub fn start(hub: Arc<Hub>, limits: Limits, outbox: Arc<Outbox>, room: &str, username: Option<&str>) -> Self {
        let id = Uuid::new_v4();
        let user = User {
            id,
            username: username.map_or_else(|| guest_name(id), str::to_owned),
            color: color_for(id).to_owned(),
            cursor: None,
            state: UserState::new(),
        };
        let room = hub.join(room, user, outbox.clone());
        Session { id, hub, room, outbox, limits }
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn room_name(&self) -> &str {
        self.room.name()
    }

    /// Applies one text frame; a refused frame gets an `error` and nothing else happens.
    pub fn handle_text(&mut self, text: &str) {
        if let Err(refusal) = decode_client_msg(text).map_err(Refusal::from).and_then(|m| self.apply(m)) {
            self.refuse(&refusal);
        }
    }

    /// Tells the client it sent something the server will not take.
    pub fn refuse(&self, refusal: &Refusal) {
        let msg = ServerMsg::Error { code: refusal.code(), message: refusal.to_string() };
        self.outbox.push(encode(&msg));
    }

    fn apply(&mut self, msg: ClientMsg) -> Result<(), Refusal> {
        match msg {
            ClientMsg::Cursor { x, y } => {
                let point = Point { x, y };
                if !point.is_on_board() {
                    return Err(Refusal::Invalid("cursor x and y must be numbers in [0, 1]".into()));
                }
                self.room.cursor(self.id, point);
            }
            ClientMsg::State { state } => {
                let size = serde_json::to_string(&state).map_or(usize::MAX, |s| s.len());
                if size > self.limits.max_state_bytes {
                    return Err(Refusal::TooLarge(format!(
                        "state is {size} bytes; the limit is {}",
                        self.limits.max_state_bytes
                    )));
                }
                self.room.set_state(self.id, state);
            }
            ClientMsg::Rename { username } => {
                let name = validate_username(&username).map_err(|e| Refusal::Invalid(e.to_string()))?;
                self.room.rename(self.id, name.to_owned());
            }
            ClientMsg::Chat { text, to } => {
                let chars = text.chars().count();
                if chars == 0 {
                    return Err(Refusal::Invalid("chat text must not be empty".into()));
                }
                if chars > self.limits.max_chat_chars {
                    return Err(Refusal::TooLarge(format!(
                        "chat text is {chars} characters; the limit is {}",
                        self.limits.max_chat_chars
                    )));
                }
                self.room.chat(self.id, text, to, now_ms())?;
            }
            ClientMsg::Join { room } => {
                let room = validate_room(&room).map_err(|e| Refusal::Invalid(e.to_string()))?;
                self.move_to(room);
            }
        }
        Ok(())
    }

    /// Leaves the current room (announced there) and enters `room` with the same name,
    /// colour and state; the cursor starts over, since it belonged to the old board.
    fn move_to(&mut self, room: &str) {
        if room == self.room.name() {
            self.room.welcome(self.id);
            return;
        }
        let Some(mut user) = self.hub.leave(&self.room, self.id) else { return };
        user.cursor = None;
        self.room = self.hub.join(room, user, self.outbox.clone());
    }

    /// Leaves the room for good; `left` is announced exactly once however the socket ended.
    pub fn end(self) {
        self.hub.leave(&self.room, self.id);
    }
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

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
