//! The badge that says whether the room is live (connecting, open, reconnecting, waiting,
//! refused; "open · fallback" when WebSocket upgrades are blocked on the way), and the
//! server's reason while it refuses the connection.

use crate::client::socket::{RoomSocket, Status};
use leptos::prelude::*;

#[component]
pub fn ConnectionBadge() -> impl IntoView {
    let socket = expect_context::<RoomSocket>();
    let (status, why, fallback) = (socket.status(), socket.why(), socket.fallback());
    // On the fallback transport the badge says so; `data-status` stays the state alone.
    let label = move || match (status.get(), fallback.get()) {
        (Status::Open, true) => "open · fallback",
        (status, _) => status.label(),
    };
    view! {
        <span
            class="badge"
            data-testid="connection"
            data-status=move || status.get().label()
            data-transport=move || if fallback.get() { "sse" } else { "websocket" }
        >
            {label}
        </span>
        <Show when=move || why.with(Option::is_some)>
            <span class="why" role="status" data-testid="connection-why">
                {move || why.get().unwrap_or_default()}
            </span>
        </Show>
    }
}
