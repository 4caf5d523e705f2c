//! This user's state as others see it: a mood emoji and a status line, saved in the
//! browser and sent as the contract's free-form `state` object.

use crate::client::room_state::RoomState;
use crate::client::{socket::RoomSocket, storage};
use crate::protocol::{ClientMsg, UserState};
use leptos::prelude::*;
use serde_json::Value;

const EMOJIS: [&str; 8] = ["", "🙂", "🎧", "☕", "🔥", "🤔", "🚀", "🌙"];
/// Longest status line the form takes: the page's own choice, well inside the state limit.
const MAX_STATUS_CHARS: usize = 200;

#[component]
pub fn StateEditor() -> impl IntoView {
    let room = expect_context::<RoomState>();
    let socket = expect_context::<RoomSocket>();
    let status = RwSignal::new(String::new());
    let emoji = RwSignal::new(String::new());
    // Start from what this browser saved last time.
    Effect::new(move |_| {
        let saved = storage::load_state();
        let text = |k: &str| saved.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        status.set(text("status"));
        emoji.set(text("emoji"));
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mut state = UserState::new();
        for (key, value) in [("emoji", emoji.get_untracked()), ("status", status.get_untracked())] {
            if !value.trim().is_empty() {
                state.insert(key.into(), Value::String(value.trim().to_owned()));
            }
        }
        storage::save_state(&state);
        socket.send(&ClientMsg::State { state });
    };
    view! {
        <section class="panel state">
            <h2>"Your state"</h2>
            <form class="inline" on:submit=submit>
                <select aria-label="Mood" prop:value=move || emoji.get()
                    on:change=move |ev| emoji.set(event_target_value(&ev))>
                    {EMOJIS.iter().map(|e| view! { <option value=*e>{if e.is_empty() { "—" } else { e }}</option> }).collect_view()}
                </select>
                <input aria-label="Status" placeholder="What are you up to?" maxlength=MAX_STATUS_CHARS.to_string() bind:value=status/>
                <button type="submit">"Set"</button>
            </form>
            <p class="hint">{move || if room.me.get().is_some() { "Everyone in the room sees this." } else { "" }}</p>
        </section>
    }
}
