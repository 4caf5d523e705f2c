//! Everyone else's cursor, in their colour with their name, gliding between updates.

use crate::client::room_state::{RoomState, UserView};
use leptos::prelude::*;

#[component]
pub fn CursorLayer() -> impl IntoView {
    let state = expect_context::<RoomState>();
    let others = move || state.others();
    view! {
        <div class="cursors">
            <For each=others key=|u| u.id let(user)>
                <RemoteCursor user/>
            </For>
        </div>
    }
}

#[component]
fn RemoteCursor(user: UserView) -> impl IntoView {
    let color = user.color.get_value();
    let position = move |pick: fn(f64, f64) -> f64| {
        user.cursor.get().map(|p| format!("{:.3}%", pick(p.x, p.y) * 100.0)).unwrap_or_default()
    };
    view! {
        <div class="cursor" data-testid="cursor" data-user=user.id.to_string()
            data-username=move || user.username.get()
            class:hidden=move || user.cursor.with(Option::is_none)
            style:left=move || position(|x, _| x)
            style:top=move || position(|_, y| y)
            style:--user-color=color>
            <svg class="arrow" viewBox="0 0 16 16" aria-hidden="true">
                <path d="M1 1 L1 14 L5 10 L8 15 L10 14 L7 9 L13 9 Z"/>
            </svg>
            <span class="tag">{move || user.username.get()}</span>
        </div>
    }
}
