//! The badge that says whether the room is live: connecting, open or reconnecting.

use crate::client::socket::RoomSocket;
use leptos::prelude::*;

#[component]
pub fn ConnectionBadge() -> impl IntoView {
    let status = expect_context::<RoomSocket>().status();
    view! {
        <span class="badge" data-testid="connection" data-status=move || status.get().label()>
            {move || status.get().label()}
        </span>
    }
}
