//! One remote cursor's picture: the arrow in its user's colour with the name tag beside
//! it, drawn once into a canvas of its own. The cursor layer stamps it onto the board
//! every frame, one `drawImage` a cursor, so a move costs no text layout or path work.

use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, Path2d};

/// The arrow, in a 16-unit box drawn [`ARROW`] px wide; its tip (1, 1) is the pointer.
const ARROW_PATH: &str = "M1 1 L1 14 L5 10 L8 15 L10 14 L7 9 L13 9 Z";
const ARROW: f64 = 18.0;
/// Where the tag sits below and right of the tip, and its look (as `.tag` was in CSS).
const TAG_AT: f64 = 14.0;
const TAG_HEIGHT: f64 = 18.0;
const TAG_PAD_X: f64 = 7.0;
const TAG_RADIUS: f64 = 6.0;
const FONT: &str = "12px system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif";

/// A cursor's picture, in device pixels, and what it was drawn from (to tell when it must
/// be drawn again).
pub struct Sprite {
    pub canvas: HtmlCanvasElement,
    pub name: String,
    pub color: String,
    pub scale: f64,
}

impl Sprite {
    /// Draws `name`'s cursor in `color` for a screen of `scale` device pixels per CSS
    /// pixel; `None` if the page has no 2D canvas.
    pub fn draw(name: &str, color: &str, scale: f64) -> Option<Sprite> {
        let canvas: HtmlCanvasElement = leptos::prelude::document().create_element("canvas").ok()?.dyn_into().ok()?;
        let context = context(&canvas)?;
        context.set_font(FONT);
        let text_width = context.measure_text(name).ok()?.width().ceil();
        let (width, height) = (TAG_AT + text_width + 2.0 * TAG_PAD_X + 1.0, TAG_AT + TAG_HEIGHT + 1.0);
        canvas.set_width((width * scale).ceil() as u32);
        canvas.set_height((height * scale).ceil() as u32);
        // Resizing reset the context: set it up again.
        context.set_transform(scale, 0.0, 0.0, scale, 0.0, 0.0).ok()?;
        context.set_fill_style_str(color);
        context.begin_path();
        let tag_width = text_width + 2.0 * TAG_PAD_X;
        // Square corners where the browser has no `roundRect` (before Safari 16, Firefox 112).
        if context.round_rect_with_f64(TAG_AT, TAG_AT, tag_width, TAG_HEIGHT, TAG_RADIUS).is_err() {
            context.rect(TAG_AT, TAG_AT, tag_width, TAG_HEIGHT);
        }
        context.fill();
        context.set_font(FONT);
        context.set_text_baseline("middle");
        context.set_fill_style_str("#fff");
        context.fill_text(name, TAG_AT + TAG_PAD_X, TAG_AT + TAG_HEIGHT / 2.0).ok()?;
        let unit = ARROW / 16.0;
        context.set_transform(scale * unit, 0.0, 0.0, scale * unit, 0.0, 0.0).ok()?;
        let arrow = Path2d::new_with_path_string(ARROW_PATH).ok()?;
        context.set_fill_style_str(color);
        context.fill_with_path_2d(&arrow);
        context.set_stroke_style_str("#fff");
        context.set_line_width(1.0);
        context.stroke_with_path(&arrow);
        Some(Sprite { canvas, name: name.to_owned(), color: color.to_owned(), scale })
    }
}

/// `canvas`'s 2D context.
pub fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok()??.dyn_into().ok()
}
