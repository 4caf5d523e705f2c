//! What the browser remembers: the user's name and state between visits, and the tab's
//! session token between reloads.
//! Every call is a no-op where storage is missing (the server, private modes).

use crate::protocol::UserState;

const USERNAME_KEY: &str = "flock.username";
const STATE_KEY: &str = "flock.state";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The name the user last chose, if any.
pub fn load_username() -> Option<String> {
    local_storage()?.get_item(USERNAME_KEY).ok()?.filter(|n| !n.trim().is_empty())
}

pub fn save_username(name: &str) {
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(USERNAME_KEY, name);
    }
}

/// The state the user last set, restored when they enter a room.
pub fn load_state() -> UserState {
    local_storage()
        .and_then(|s| s.get_item(STATE_KEY).ok().flatten())
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

pub fn save_state(state: &UserState) {
    if let (Some(storage), Ok(text)) = (local_storage(), serde_json::to_string(state)) {
        let _ = storage.set_item(STATE_KEY, &text);
    }
}

const SESSION_KEY: &str = "flock.session";

// The session lives in `sessionStorage`: it survives a reload of this tab (so the reload is
// a resume and the others see no leave and join), while another tab gets its own identity.
fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// The session token of this tab's last `welcome`, if any.
pub fn load_session() -> Option<String> {
    session_storage()?.get_item(SESSION_KEY).ok()?.filter(|s| !s.is_empty())
}

pub fn save_session(token: &str) {
    if let Some(storage) = session_storage() {
        let _ = storage.set_item(SESSION_KEY, token);
    }
}

pub fn clear_session() {
    if let Some(storage) = session_storage() {
        let _ = storage.remove_item(SESSION_KEY);
    }
}
