//! Everyone else's cursor, in their colour with their name, gliding between updates.
//!
//! All of them are drawn into one canvas, once per animation frame in which any of them
//! moved or faded: one picture ([`Sprite`]) per cursor, stamped where its
//! [`Motions`](crate::client::cursor_motion::Motions) say it is. A frame costs one
//! composited layer and a `drawImage` per cursor, however many move; elements per cursor,
//! even moved by `transform` alone, cost the compositor a layer each and the style pass a
//! recalculation each (see docs/performance.md).
//!
//! Each cursor also has a hidden element carrying its user's name and, once it comes to
//! rest, its place (`data-x`, `data-y`, fractions of the board): what tests and tools read.
//! Names and colours are reactive; positions are not.

use super::cursor_sprite::{context, Sprite};
use crate::client::cursor_motion::now_ms;
use crate::client::room_state::{RoomState, UserView};
use leptos::html::{Canvas, Div};
use leptos::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlElement};

/// Draws the room's cursor motions into the layer's canvas, a frame at a time.
#[derive(Clone, Copy)]
struct Painter {
    state: RoomState,
    layer: NodeRef<Div>,
    canvas: NodeRef<Canvas>,
    context: StoredValue<Option<CanvasRenderingContext2d>, LocalStorage>,
    sprites: StoredValue<HashMap<Uuid, Sprite>, LocalStorage>,
    /// Each cursor's hidden element, where its resting place is written.
    markers: StoredValue<HashMap<Uuid, HtmlElement>, LocalStorage>,
    booked: StoredValue<bool>,
    /// The board's size (CSS px) and device pixels per CSS pixel at the last frame.
    size: StoredValue<(f64, f64, f64)>,
    /// A cursor's picture was added or drawn again: the next frame redraws all.
    dirty: StoredValue<bool>,
}

impl Painter {
    /// Books the next animation frame, unless one is booked. Straight from the window, not
    /// through Leptos' helper: that one cancels the frame when the reactive owner current
    /// at booking is cleaned up (a cursor's row, a rename's effect), which would leave
    /// `booked` set and the layer never drawn again.
    fn book(self) {
        if !cfg!(feature = "hydrate") || self.booked.try_get_value() != Some(false) {
            return;
        }
        self.booked.set_value(true);
        let frame = wasm_bindgen::closure::Closure::once_into_js(move || self.paint());
        if window().request_animation_frame(frame.unchecked_ref()).is_err() {
            self.booked.set_value(false);
        }
    }

    /// The layer was torn down (the room was left) after a frame was booked.
    fn gone(self) -> bool {
        self.booked.is_disposed() || self.layer.is_disposed() || self.state.motions.is_disposed()
    }

    /// `id`'s cursor shows `name` in `color`; drawn again only if either changed.
    fn picture(self, id: Uuid, name: &str, color: &str) {
        let scale = window().device_pixel_ratio();
        let same = self.sprites.with_value(|sprites| {
            sprites.get(&id).is_some_and(|s| s.name == name && s.color == color && s.scale == scale)
        });
        if same {
            return;
        }
        if let Some(sprite) = Sprite::draw(name, color, scale) {
            self.sprites.update_value(|sprites| {
                sprites.insert(id, sprite);
            });
        }
        self.dirty.set_value(true);
        self.book();
    }

    fn paint(self) {
        if self.gone() {
            return;
        }
        self.booked.set_value(false);
        let (Some(layer), Some(canvas)) = (self.layer.get_untracked(), self.canvas.get_untracked()) else { return };
        // Read before anything is written, so the frame forces no layout.
        let size = (f64::from(layer.client_width()), f64::from(layer.client_height()), window().device_pixel_ratio());
        if size != self.size.get_value() {
            self.size.set_value(size);
            canvas.set_width((size.0 * size.2).round() as u32);
            canvas.set_height((size.1 * size.2).round() as u32);
            self.context.set_value(context(&canvas));
            self.rescale(size.2);
            self.dirty.set_value(true);
        }
        let frame = self.markers.with_value(|markers| {
            self.state.motions.try_update_value(|motions| {
                motions.frame(now_ms(), |id, at| {
                    if let Some(marker) = markers.get(&id) {
                        let _ = marker.set_attribute("data-x", &format!("{:.4}", at.x));
                        let _ = marker.set_attribute("data-y", &format!("{:.4}", at.y));
                    }
                })
            })
        });
        if frame.is_some_and(|f| f.changed) || self.dirty.get_value() {
            self.dirty.set_value(false);
            self.draw(size);
        }
        if frame.is_some_and(|f| f.more) {
            self.book();
        }
    }

    /// Every cursor's picture again, for a screen of `scale` device pixels per CSS pixel.
    fn rescale(self, scale: f64) {
        self.sprites.update_value(|sprites| {
            for sprite in sprites.values_mut() {
                if let Some(again) = Sprite::draw(&sprite.name, &sprite.color, scale) {
                    *sprite = again;
                }
            }
        });
    }

    /// Clears the canvas and stamps each visible cursor where it is now, in device pixels:
    /// each picture lands on whole pixels at its own size, so none is resampled (which
    /// blurs it at ratios such as 1.5 or 2.75).
    fn draw(self, (width, height, scale): (f64, f64, f64)) {
        let Some(canvas) = self.canvas.get_untracked() else { return };
        self.context.with_value(|context| {
            let Some(context) = context else { return };
            let _ = context.set_transform(1.0, 0.0, 0.0, 1.0, 0.0, 0.0);
            context.clear_rect(0.0, 0.0, f64::from(canvas.width()), f64::from(canvas.height()));
            self.sprites.with_value(|sprites| {
                self.state.motions.with_value(|motions| {
                    for (id, drawn) in motions.drawn().filter(|(_, d)| d.alpha > 0.0) {
                        let Some(sprite) = sprites.get(&id) else { continue };
                        context.set_global_alpha(drawn.alpha);
                        let (x, y) = ((drawn.at.x * width * scale).round(), (drawn.at.y * height * scale).round());
                        let _ = context.draw_image_with_html_canvas_element(&sprite.canvas, x, y);
                    }
                });
            });
            context.set_global_alpha(1.0);
        });
    }
}

#[component]
pub fn CursorLayer() -> impl IntoView {
    let state = expect_context::<RoomState>();
    let painter = Painter {
        state,
        layer: NodeRef::new(),
        canvas: NodeRef::new(),
        context: StoredValue::new_local(None),
        sprites: StoredValue::new_local(HashMap::new()),
        markers: StoredValue::new_local(HashMap::new()),
        booked: StoredValue::new(false),
        size: StoredValue::new((0.0, 0.0, 0.0)),
        dirty: StoredValue::new(false),
    };
    state.wake.set_value(Some(Arc::new(move || painter.book())));
    on_cleanup(move || state.wake.set_value(None));
    provide_context(painter);
    let others = move || state.others();
    view! {
        <div class="cursors" node_ref=painter.layer>
            <canvas class="cursor-canvas" node_ref=painter.canvas aria-hidden="true"></canvas>
            <For each=others key=|u| u.id let(user)>
                <RemoteCursor user/>
            </For>
        </div>
    }
}

/// One cursor's hidden element; its picture is kept in step with its user's name.
#[component]
fn RemoteCursor(user: UserView) -> impl IntoView {
    let painter = expect_context::<Painter>();
    let node = NodeRef::<Div>::new();
    let id = user.id;
    node.on_load(move |element| {
        painter.markers.update_value(|markers| {
            markers.insert(id, HtmlElement::from(element));
        });
        painter.state.motions.update_value(|motions| motions.report(id));
        painter.book();
    });
    Effect::new(move |_| {
        let name = user.username.get();
        painter.picture(id, &name, &user.color.get_value());
    });
    on_cleanup(move || {
        painter.markers.update_value(|markers| {
            markers.remove(&id);
        });
        // The frame without it is drawn already: its user left, and `Motions::forget` or
        // `clear` had the layer redraw.
        painter.sprites.update_value(|sprites| {
            sprites.remove(&id);
        });
    });
    view! {
        <div class="cursor" hidden node_ref=node data-testid="cursor" data-user=user.id.to_string()
            data-username=move || user.username.get()>
            {move || user.username.get()}
        </div>
    }
}
