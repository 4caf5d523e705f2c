//! The identity endpoints: what the app's backend can do to a user wherever they are.

use super::ApiRefusal;
use crate::server::clock::now_ms;
use crate::server::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;

/// `POST /api/v1/users/{id}/revoke`: every session token of `id` stops working (a client
/// that comes back with one gets a new identity), on every node, and its connections close
/// with 4003. Answered once the revocation is on disk here (and in Redis on a cluster).
pub async fn revoke(
    State(state): State<AppState>,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<StatusCode, ApiRefusal> {
    let Path(id) = path?;
    let unavailable = |err: crate::server::store::StoreError| {
        tracing::error!(%id, "cannot revoke: {err}");
        ApiRefusal::Unavailable(format!("the revocation could not be stored: {err}"))
    };
    state.store.revoke(id, now_ms()).map_err(unavailable)?;
    state.store.flushed().await.map_err(unavailable)?;
    state.hub.bus().revoke(id).await;
    state.hub.remove_everywhere(id);
    Ok(StatusCode::NO_CONTENT)
}
