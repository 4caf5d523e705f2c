//! What the browser remembers between visits: the user's name and state.
//! Every call is a no-op where `localStorage` is missing (the server, private modes).

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
