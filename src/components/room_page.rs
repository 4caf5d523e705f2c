//! `/r/:room`: owns the room's socket and model and lays out the board, people and chat.

use super::{
    board::Board, chat_panel::ChatPanel, connection_badge::ConnectionBadge, presence_list::PresenceList,
    state_editor::StateEditor,
};
use crate::client::{room_state::RoomState, socket::RoomSocket, storage};
use crate::protocol::{is_private_room, validate_room, validate_username, ClientMsg};
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let room = Memo::new(move |_| params.with(|p| p.get("room")).unwrap_or_default());
    // The invitation comes in the link; the page then takes it out of the address bar (and
    // so out of history and of links copied from it) and keeps it for this tab, so a
    // reload still gets in. The server cannot see the kept one: a reload renders the
    // refusal first, and the browser replaces it once it has read the invitation back.
    let query = use_query_map();
    let query_token = Memo::new(move |_| query.with(|q| q.get("token")));
    let kept = RwSignal::new(None::<String>);
    let invite = Memo::new(move |_| query_token.get().or_else(|| kept.get()));
    let invited = Memo::new(move |_| invite.with(Option::is_some));
    Effect::new(move |_| {
        let room = room.get();
        match query_token.get() {
            Some(token) => {
                storage::save_invitation(&room, &token);
                storage::forget_token_in_address_bar();
                kept.set(Some(token));
            }
            None => {
                let saved = storage::load_invitation(&room);
                if saved != kept.get_untracked() {
                    kept.set(saved);
                }
            }
        }
    });
    // A new room name (a link from one room to another) builds a new socket and model.
    move || {
        let room = room.get();
        let invited = invited.get();
        match validate_room(&room) {
            Ok(_) if is_private_room(&room) && !invited => view! {
                <section class="lobby">
                    <p class="error" role="alert">
                        "This room is private: open it with the invitation link you were given."
                    </p>
                    <a href="/">"Back to the lobby"</a>
                </section>
            }
            .into_any(),
            Ok(_) => view! { <Room room token=invite.get_untracked()/> }.into_any(),
            Err(err) => view! {
                <section class="lobby">
                    <p class="error" role="alert">{err.to_string()}</p>
                    <a href="/">"Back to the lobby"</a>
                </section>
            }
            .into_any(),
        }
    }
}

#[component]
fn Room(room: String, token: Option<String>) -> impl IntoView {
    let state = RoomState::new();
    // A name the server would refuse is dropped, so the server picks a guest name instead
    // of refusing the connection over and over.
    let query_name = use_query_map()
        .with_untracked(|q| q.get("username"))
        .and_then(|n| validate_username(&n).ok().map(str::to_owned));
    let socket = RoomSocket::new(room.clone(), query_name.clone(), token, move |msg| state.apply(msg));
    provide_context(state);
    provide_context(socket.clone());

    // Browser only: effects do not run on the server.
    Effect::new({
        let socket = socket.clone();
        move |_| {
            if query_name.is_none() {
                if let Some(name) = storage::load_username().filter(|n| validate_username(n).is_ok()) {
                    socket.set_username(name);
                }
            }
            socket.start();
        }
    });
    // After every welcome (the first, a resume, or a new identity when the session was
    // lost) the user's saved state is sent again if the server lacks it.
    Effect::new({
        let socket = socket.clone();
        move |_| {
            let Some(me) = state.me.get().and_then(|id| state.user(id)) else { return };
            let saved = storage::load_state();
            if !saved.is_empty() && me.state.get_untracked() != saved {
                socket.send(&ClientMsg::State { state: saved });
            }
        }
    });
    // History pages the room model asks for (a resume's gap, or scrolling back).
    Effect::new({
        let socket = socket.clone();
        move |_| {
            if let Some(request) = state.page_request.get() {
                socket.send(&request);
            }
        }
    });
    on_cleanup({
        let socket = socket.clone();
        move || socket.stop()
    });

    view! {
        <header class="topbar">
            <a class="brand" href="/">"Flock"</a>
            <h1 class="room-name">"#" {room.clone()}</h1>
            <CopyLink room/>
            <ConnectionBadge/>
        </header>
        <Notice/>
        <main class="room">
            <Board/>
            <aside class="side">
                <PresenceList/>
                <StateEditor/>
                <ChatPanel/>
            </aside>
        </main>
    }
}

/// Copies the room's address (without this user's name, or an invitation, which is for
/// one person) so it can be shared; says whether it worked, and shows the link to copy
/// by hand where the browser would not.
#[component]
fn CopyLink(room: String) -> impl IntoView {
    let said = RwSignal::new(None::<String>);
    let click = move |_| {
        let Some(window) = web_sys::window() else { return };
        let Ok(origin) = window.location().origin() else { return };
        let link = format!("{origin}/r/{room}");
        let promise = window.navigator().clipboard().write_text(&link);
        leptos::task::spawn_local(async move {
            let copied = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
            said.set(Some(if copied { "Link copied".to_owned() } else { format!("Copy this link: {link}") }));
        });
    };
    view! {
        <button class="copy" type="button" data-testid="copy-link" on:click=click>"Copy link"</button>
        <span class="copied" role="status" data-testid="copy-result">{move || said.get()}</span>
    }
}

/// The server's last refusal, if any, so a user learns why something did not happen.
#[component]
fn Notice() -> impl IntoView {
    let state = expect_context::<RoomState>();
    view! {
        <Show when=move || state.notice.with(Option::is_some)>
            <p class="notice" role="alert" data-testid="notice">
                {move || state.notice.get().unwrap_or_default()}
                <button class="dismiss" on:click=move |_| state.notice.set(None)>"×"</button>
            </p>
        </Show>
    }
}
