//! What people see, one component per thing on screen.

pub mod admin;
pub mod board;
pub mod chat_panel;
pub mod connection_badge;
pub mod cursor_layer;
pub mod cursor_sprite;
pub mod lobby;
pub mod presence_list;
pub mod room_page;
pub mod state_editor;
