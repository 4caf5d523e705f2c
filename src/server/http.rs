//! The plain HTTP endpoints beside the socket: the room list, the cluster's nodes and the
//! health check.

use super::hub::Listing;
use super::AppState;
use crate::protocol::{ClusterInfo, RoomList};
use axum::extract::State;
use axum::Json;

/// `GET /api/rooms`: the live rooms with their head counts (users of every node of a
/// cluster), busiest first.
pub async fn rooms(State(state): State<AppState>) -> Json<RoomList> {
    Json(state.hub.bus().room_list(state.hub.rooms(), Listing::Public).await)
}

/// `GET /api/cluster`: this node and the other live ones, with their connections.
pub async fn cluster(State(state): State<AppState>) -> Json<ClusterInfo> {
    Json(state.hub.bus().cluster_info(super::metrics::connections()).await)
}

/// `GET /healthz`: 200 while the process serves requests; the body says `ok`, or
/// `degraded: …` while a cluster node cannot reach Redis (it still serves the rooms it
/// holds, so a load balancer should keep sending it users).
pub async fn healthz(State(state): State<AppState>) -> &'static str {
    if state.hub.bus().is_up() {
        "ok"
    } else {
        "degraded: the cluster bus (Redis) is unreachable; serving this node's rooms only"
    }
}
