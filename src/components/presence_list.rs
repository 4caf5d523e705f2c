//! Who is here: each user's colour, name and state, and a field to change one's own name.

use crate::client::room_state::{RoomState, UserView};
use crate::client::{socket::RoomSocket, storage};
use crate::protocol::{validate_username, ClientMsg, MAX_USERNAME_CHARS};
use leptos::prelude::*;

#[component]
pub fn PresenceList() -> impl IntoView {
    let state = expect_context::<RoomState>();
    view! {
        <section class="panel presence">
            <h2>"Here now " <span class="count" data-testid="count">{move || state.users.with(Vec::len)}</span></h2>
            <ul data-testid="presence">
                <For each=move || in_order(&state) key=|u| u.id let(user)>
                    <Person user/>
                </For>
            </ul>
            <RenameForm/>
        </section>
    }
}

/// You first, then everyone else by name (case aside), then by id so equal names keep
/// their places.
fn in_order(state: &RoomState) -> Vec<UserView> {
    let me = state.me.get();
    let mut users: Vec<(bool, String, UserView)> = state
        .users
        .get()
        .into_iter()
        .map(|user| (Some(user.id) != me, user.username.with(|name| name.to_lowercase()), user))
        .collect();
    users.sort_by(|a, b| (a.0, &a.1, a.2.id).cmp(&(b.0, &b.1, b.2.id)));
    users.into_iter().map(|(_, _, user)| user).collect()
}

#[component]
fn Person(user: UserView) -> impl IntoView {
    let state = expect_context::<RoomState>();
    let is_me = move || state.me.get() == Some(user.id);
    let status = move || user.state.with(describe_state);
    view! {
        <li class="person" data-user=user.id.to_string() class:me=is_me>
            <span class="dot" style:background=user.color.get_value()></span>
            <span class="name">{move || user.username.get()}</span>
            <Show when=is_me>" (you)"</Show>
            <span class="status">{status}</span>
        </li>
    }
}

/// A person's state in one line: the emoji and status the editor sets, or compact JSON for
/// any other shape a non-browser client chose.
pub fn describe_state(state: &crate::protocol::UserState) -> String {
    let text = |key: &str| state.get(key).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let (emoji, status) = (text("emoji"), text("status"));
    let others = state.keys().any(|k| k != "emoji" && k != "status");
    if others {
        serde_json::to_string(state).unwrap_or_default()
    } else {
        format!("{emoji} {status}").trim().to_owned()
    }
}

#[component]
fn RenameForm() -> impl IntoView {
    let socket = expect_context::<RoomSocket>();
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match validate_username(&name.get_untracked()) {
            Ok(valid) => {
                socket.send(&ClientMsg::Rename { username: valid.to_owned() });
                socket.set_username(valid.to_owned());
                storage::save_username(valid);
                error.set(None);
                name.set(String::new());
            }
            Err(err) => error.set(Some(err.to_string())),
        }
    };
    view! {
        <form class="inline" on:submit=submit>
            <input aria-label="Your name" placeholder="Change your name" maxlength=MAX_USERNAME_CHARS.to_string() bind:value=name/>
            <button type="submit">"Rename"</button>
        </form>
        <p class="error" role="alert">{move || error.get()}</p>
    }
}
