//! The plain HTTP endpoints beside the socket: the room list, the cluster's nodes and the
//! health check.

use super::bus::Bus;
use super::AppState;
use crate::protocol::{ClusterInfo, NodeInfo, RoomList};
use axum::extract::State;
use axum::Json;

/// `GET /api/rooms`: the live rooms with their head counts (users of every node of a
/// cluster), busiest first.
pub async fn rooms(State(state): State<AppState>) -> Json<RoomList> {
    Json(state.hub.rooms())
}

/// `GET /api/cluster`: this node and the other live ones, with their connections.
pub async fn cluster(State(state): State<AppState>) -> Json<ClusterInfo> {
    let connections = super::metrics::connections();
    let info = match state.hub.bus() {
        Bus::Local => ClusterInfo { bus: "local".into(), nodes: vec![NodeInfo { id: None, connections, here: true }] },
        Bus::Redis(link) => {
            let mut nodes = vec![NodeInfo { id: Some(link.node), connections, here: true }];
            match link.nodes().await {
                Ok(others) => {
                    nodes.extend(others.into_iter().filter(|(id, _)| *id != link.node).map(|(id, load)| NodeInfo {
                        id: Some(id),
                        connections: load.connections,
                        here: false,
                    }))
                }
                Err(err) => tracing::debug!("cannot list the nodes: {err}"),
            }
            let bus = if link.is_up() { "up" } else { "down" };
            ClusterInfo { bus: bus.into(), nodes }
        }
    };
    Json(info)
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
