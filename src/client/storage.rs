//! What the browser remembers: the user's name and state between visits, and the tab's
//! session token and private-room invitations between reloads.
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

/// The invitation this tab entered a private room with, so a reload gets in again.
pub fn load_invitation(room: &str) -> Option<String> {
    session_storage()?.get_item(&format!("{INVITATION_KEY}.{room}")).ok()?.filter(|t| !t.is_empty())
}

pub fn save_invitation(room: &str, token: &str) {
    if let Some(storage) = session_storage() {
        let _ = storage.set_item(&format!("{INVITATION_KEY}.{room}"), token);
    }
}

const INVITATION_KEY: &str = "flock.invitation";

/// Replaces the address bar's URL with the same one without its `token` parameter
/// (nothing is loaded and no history entry is added).
pub fn forget_token_in_address_bar() {
    let Some(window) = web_sys::window() else { return };
    let location = window.location();
    let (Ok(path), Ok(search)) = (location.pathname(), location.search()) else { return };
    let kept: Vec<&str> =
        search.trim_start_matches('?').split('&').filter(|p| !p.is_empty() && !p.starts_with("token=")).collect();
    let url = if kept.is_empty() { path } else { format!("{path}?{}", kept.join("&")) };
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

pub fn clear_session() {
    if let Some(storage) = session_storage() {
        let _ = storage.remove_item(SESSION_KEY);
    }
}
