//! Flock: real-time multiplayer rooms — live cursors, presence, per-user state and chat.
//!
//! One crate, two halves. With the `ssr` feature it is the Axum server ([`server`]) that
//! hosts the pages and the WebSocket hub; with `hydrate` it is the WebAssembly frontend.
//! Both compile [`protocol`], so the wire types cannot drift between them; without
//! features (as the `loadgen` feature builds it for `flock-bench`) the crate is only that.
//!
//! Map: [`protocol`] is the wire contract; [`app`] the routes and page shell;
//! [`components`] what people see; [`client`] the browser socket and the reactive room
//! model the components read.

// Leptos views are deeply nested types; the room page needs more than the default 128.
#![recursion_limit = "256"]

#[cfg(feature = "ui")]
pub mod app;
#[cfg(feature = "ui")]
pub mod client;
#[cfg(feature = "ui")]
pub mod components;
pub mod protocol;
#[cfg(feature = "ssr")]
pub mod server;

/// Entry point of the WebAssembly half: attach to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
