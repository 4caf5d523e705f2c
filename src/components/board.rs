//! The shared board: turns this user's pointer into `cursor` messages, at most one per
//! animation frame, and hosts the other users' cursors.

use super::cursor_layer::CursorLayer;
use crate::client::socket::RoomSocket;
use crate::protocol::{ClientMsg, Point};
use leptos::html::Section;
use leptos::leptos_dom::helpers::request_animation_frame;
use leptos::prelude::*;
use web_sys::PointerEvent;

#[component]
pub fn Board() -> impl IntoView {
    let socket = expect_context::<RoomSocket>();
    let board = NodeRef::<Section>::new();
    // The newest position not yet sent, and whether a frame is already booked to send it.
    let pending = StoredValue::new(None::<Point>);
    let booked = StoredValue::new(false);

    let on_move = move |ev: PointerEvent| {
        let Some(el) = board.get_untracked() else { return };
        let rect = el.get_bounding_client_rect();
        if rect.width() <= 0.0 || rect.height() <= 0.0 {
            return;
        }
        let x = ((f64::from(ev.client_x()) - rect.left()) / rect.width()).clamp(0.0, 1.0);
        let y = ((f64::from(ev.client_y()) - rect.top()) / rect.height()).clamp(0.0, 1.0);
        pending.set_value(Some(Point { x, y }));
        if booked.get_value() {
            return;
        }
        booked.set_value(true);
        let socket = socket.clone();
        let _ = request_animation_frame(move || {
            booked.set_value(false);
            if let Some(Point { x, y }) = pending.try_update_value(Option::take).flatten() {
                socket.send(&ClientMsg::Cursor { x, y });
            }
        });
    };

    view! {
        <section class="board" node_ref=board data-testid="board" on:pointermove=on_move
            aria-label="Shared board: move your pointer here and everyone sees it">
            <CursorLayer/>
        </section>
    }
}
