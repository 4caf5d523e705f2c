//! The identity endpoints: what the app's backend can do to a user wherever they are.

use super::ApiRefusal;
use crate::protocol::api::ApiError;
use crate::server::clock::now_ms;
use crate::server::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;

/// `POST /api/v1/users/{id}/revoke`: every session token of `id` stops working (a client
/// that comes back with one gets a new identity), on every node, and its connections close
/// with 4003. Answered once the revocation is on disk here (and in Redis on a cluster).
#[utoipa::path(
    post, path = "/api/v1/users/{id}/revoke", tag = "users",
    params(("id" = Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Revoked on every node"),
        (status = 400, description = "Bad input", body = ApiError),
        (status = 401, description = "No valid key", body = ApiError),
        (status = 503, description = "Not stored now; retry", body = ApiError),
    )
)]
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
