//! The plain HTTP endpoints beside the socket: the room list and the health check.

use super::AppState;
use crate::protocol::RoomList;
use axum::extract::State;
use axum::Json;

/// `GET /api/rooms`: the live rooms with their head counts, busiest first.
pub async fn rooms(State(state): State<AppState>) -> Json<RoomList> {
    Json(state.hub.rooms())
}

/// `GET /healthz`: 200 while the process serves requests.
pub async fn healthz() -> &'static str {
    "ok"
}
