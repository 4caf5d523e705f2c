//! The badge that says whether the room is live (connecting, open, reconnecting, waiting,
//! refused), and the server's reason while it refuses the connection.

use crate::client::socket::RoomSocket;
use leptos::prelude::*;

#[component]
pub fn ConnectionBadge() -> impl IntoView {
    let socket = expect_context::<RoomSocket>();
    let (status, why) = (socket.status(), socket.why());
    view! {
        <span class="badge" data-testid="connection" data-status=move || status.get().label()>
            {move || status.get().label()}
        </span>
        <Show when=move || why.with(Option::is_some)>
            <span class="why" role="status" data-testid="connection-why">
                {move || why.get().unwrap_or_default()}
            </span>
        </Show>
    }
}
