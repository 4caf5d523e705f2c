//! Everyone else's cursor, in their colour with their name, gliding between updates.
//!
//! Names and colours are reactive; positions are not. Moves go to the room's
//! [`Motions`](crate::client::cursor_motion::Motions), and once per animation frame the
//! [`Painter`] sets each moving cursor's `transform` (the compositor moves it: no layout,
//! no reactive update per move). A cursor that went quiet fades out; one that leaves is
//! removed with its user.

use crate::client::cursor_motion::{now_ms, Change};
use crate::client::room_state::{RoomState, UserView};
use leptos::html::Div;
use leptos::leptos_dom::helpers::request_animation_frame;
use leptos::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;
use web_sys::HtmlElement;

/// Draws the room's cursor motions into their elements, a frame at a time.
#[derive(Clone, Copy)]
struct Painter {
    state: RoomState,
    layer: NodeRef<Div>,
    elements: StoredValue<HashMap<Uuid, HtmlElement>, LocalStorage>,
    booked: StoredValue<bool>,
    /// The layer's size at the last frame: positions are drawn in its pixels.
    size: StoredValue<(f64, f64)>,
}

impl Painter {
    /// Books the next animation frame, unless one is booked.
    fn book(self) {
        if self.booked.get_value() {
            return;
        }
        self.booked.set_value(true);
        let _ = request_animation_frame(move || self.paint());
    }

    fn paint(self) {
        self.booked.set_value(false);
        let Some(layer) = self.layer.get_untracked() else { return };
        // Read before anything is written, so the frame forces no layout.
        let size = (f64::from(layer.client_width()), f64::from(layer.client_height()));
        if size != self.size.get_value() {
            self.size.set_value(size);
            self.state.motions.update_value(|motions| motions.redraw(None));
        }
        let now = now_ms();
        let more = self.elements.with_value(|elements| {
            let mut more = false;
            self.state.motions.update_value(|motions| {
                more = motions.frame(now, |id, change| {
                    if let Some(element) = elements.get(&id) {
                        draw(element, change, size);
                    }
                });
            });
            more
        });
        if more {
            self.book();
        }
    }
}

/// Moves `element` to its new place (fractions of a board of `size` pixels) and fades it
/// in or out, as `change` says: each a call into the page only when it changed.
fn draw(element: &HtmlElement, change: Change, size: (f64, f64)) {
    if let Some(at) = change.at {
        let transform = format!("translate3d({:.1}px,{:.1}px,0)", at.x * size.0, at.y * size.1);
        let _ = element.style().set_property("transform", &transform);
    }
    if let Some(quiet) = change.quiet {
        let _ = element.class_list().toggle_with_force("quiet", quiet);
    }
}

#[component]
pub fn CursorLayer() -> impl IntoView {
    let state = expect_context::<RoomState>();
    let painter = Painter {
        state,
        layer: NodeRef::new(),
        elements: StoredValue::new_local(HashMap::new()),
        booked: StoredValue::new(false),
        size: StoredValue::new((0.0, 0.0)),
    };
    state.wake.set_value(Some(Arc::new(move || painter.book())));
    on_cleanup(move || state.wake.set_value(None));
    provide_context(painter);
    let others = move || state.others();
    view! {
        <div class="cursors" node_ref=painter.layer>
            <For each=others key=|u| u.id let(user)>
                <RemoteCursor user/>
            </For>
        </div>
    }
}

#[component]
fn RemoteCursor(user: UserView) -> impl IntoView {
    let painter = expect_context::<Painter>();
    let color = user.color.get_value();
    let node = NodeRef::<Div>::new();
    let id = user.id;
    // Drawn where its user is at the next frame; until then it is quiet (invisible).
    node.on_load(move |element| {
        painter.elements.update_value(|elements| {
            elements.insert(id, HtmlElement::from(element));
        });
        painter.state.motions.update_value(|motions| motions.redraw(Some(id)));
        painter.book();
    });
    on_cleanup(move || {
        painter.elements.update_value(|elements| {
            elements.remove(&id);
        });
    });
    view! {
        <div class="cursor quiet" node_ref=node data-testid="cursor" data-user=user.id.to_string()
            data-username=move || user.username.get()
            style:--user-color=color>
            <svg class="arrow" viewBox="0 0 16 16" aria-hidden="true">
                <path d="M1 1 L1 14 L5 10 L8 15 L10 14 L7 9 L13 9 Z"/>
            </svg>
            <span class="tag">{move || user.username.get()}</span>
        </div>
    }
}
