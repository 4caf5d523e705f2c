//! `/`: the live rooms with their head counts, and a form to pick a name and enter a room.

use crate::client::storage;
use crate::protocol::{validate_room, validate_username, RoomList, DEFAULT_ROOM, MAX_ROOM_CHARS, MAX_USERNAME_CHARS};
use leptos::leptos_dom::helpers::set_interval;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;
use std::time::Duration;

/// How often the room list is refreshed while the lobby is open.
const ROOMS_REFRESH: Duration = Duration::from_secs(2);

#[component]
pub fn Lobby() -> impl IntoView {
    let rooms = RwSignal::new(None::<Result<RoomList, String>>);
    let name = RwSignal::new(String::new());
    let room = RwSignal::new(DEFAULT_ROOM.to_owned());
    let error = RwSignal::new(None::<String>);

    // Browser only: fill the name from last time and keep the room list fresh.
    Effect::new(move |_| {
        if let Some(saved) = storage::load_username() {
            name.set(saved);
        }
        let refresh = move || spawn_local(async move { rooms.set(Some(fetch_rooms().await)) });
        refresh();
        if let Ok(handle) = set_interval(refresh, ROOMS_REFRESH) {
            on_cleanup(move || handle.clear());
        }
    });

    let navigate = use_navigate();
    let enter = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let room_name = room.get_untracked();
        if let Err(err) = validate_room(room_name.trim()) {
            error.set(Some(err.to_string()));
            return;
        }
        let typed = name.get_untracked();
        let mut path = format!("/r/{}", room_name.trim());
        if !typed.trim().is_empty() {
            match validate_username(&typed) {
                Ok(valid) => {
                    storage::save_username(valid);
                    path.push_str(&format!("?username={}", String::from(js_sys::encode_uri_component(valid))));
                }
                Err(err) => {
                    error.set(Some(err.to_string()));
                    return;
                }
            }
        }
        navigate(&path, Default::default());
    };

    view! {
        <section class="lobby">
            <h1>"Flock"</h1>
            <p class="tagline">"Open a room, share the link, and see each other live."</p>
            <form class="enter" on:submit=enter>
                <label>"Your name" <input name="username" placeholder="leave empty for a guest name" maxlength=MAX_USERNAME_CHARS.to_string() bind:value=name/></label>
                <label>"Room" <input name="room" maxlength=MAX_ROOM_CHARS.to_string() bind:value=room/></label>
                <button type="submit">"Enter"</button>
            </form>
            <p class="error" role="alert">{move || error.get()}</p>
            <h2>"Live rooms"</h2>
            <div data-testid="rooms">
                {move || match rooms.get() {
                    None => view! { <p class="hint">"Loading…"</p> }.into_any(),
                    Some(Err(err)) => view! { <p class="error">"Could not load rooms: " {err}</p> }.into_any(),
                    Some(Ok(list)) if list.rooms.is_empty() => view! { <p class="hint">"No one is here yet: start a room."</p> }.into_any(),
                    Some(Ok(list)) => view! {
                        <ul class="rooms">
                            {list.rooms.into_iter().map(|r| view! {
                                <li><a href=format!("/r/{}", r.name)>{r.name.clone()}</a>
                                    <span class="count">{r.users} {if r.users == 1 { " person" } else { " people" }}</span></li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }}
            </div>
        </section>
    }
}

async fn fetch_rooms() -> Result<RoomList, String> {
    let response = gloo_net::http::Request::get("/api/rooms").send().await.map_err(|e| e.to_string())?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.json::<RoomList>().await.map_err(|e| e.to_string())
}
