//! Who may connect, for both transports: `/ws` and its fallback `/sse` admit a client by
//! the same checks, in the same order, with the same answers.
//!
//! [`check`] answers what the request itself says (origin, query, JWT, invitation, ban)
//! and takes nothing; [`take_place`] then counts the connection against its IP and the
//! quotas. Nothing is let in that the hub would have to throw out.

use super::clock::unix_secs;
use super::ip_limit::IpSlot;
use super::jwt::{self, JwtIdentity};
use super::origin;
use super::query::{parse_connect_query, ConnectRequest};
use super::quota::QuotaError;
use super::session::{is_banned, is_session_banned, REMOVED_MESSAGE};
use super::AppState;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Why a connection was not let in: the HTTP status and a body a person can read.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub why: String,
    /// Whole seconds after which asking again may pass.
    pub retry_after: Option<u64>,
}

impl Refused {
    pub fn new(status: StatusCode, why: impl ToString) -> Self {
        Refused { status, why: why.to_string(), retry_after: None }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.why).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, secs.into());
        }
        response
    }
}

/// A request that passed [`check`]: what it asks for, and who the app's backend says it is.
pub struct Admitted {
    pub req: ConnectRequest,
    pub identity: Option<JwtIdentity>,
}

/// 403 for a foreign origin, a bad JWT (or none where one is required), a private room
/// without a valid invitation (or a JWT that names it), or an identity the app's backend
/// banned from the room; 400 for a bad query.
pub async fn check(state: &AppState, headers: &HeaderMap, raw: Option<&str>) -> Result<Admitted, Refused> {
    if let Err(err) = origin::check(headers, &state.config.allowed_origins) {
        tracing::warn!("refused a connection: {err}");
        return Err(Refused::new(StatusCode::FORBIDDEN, err));
    }
    let req = match parse_connect_query(raw.unwrap_or_default()) {
        Ok(req) => req,
        Err(err) => return Err(Refused::new(StatusCode::BAD_REQUEST, err)),
    };
    let identity = match jwt::check(state.jwt.as_deref(), req.jwt.as_deref(), &req.room) {
        Ok(identity) => identity,
        Err(err) => {
            tracing::info!(room = req.room, "refused a connection: {err}");
            return Err(Refused::new(StatusCode::FORBIDDEN, err));
        }
    };
    // A JWT that names the room stands in for its invitation.
    if !identity.as_ref().is_some_and(|identity| identity.names_room(&req.room)) {
        let name = identity.as_ref().and_then(|i| i.name.as_deref()).or(req.username.as_deref()).unwrap_or_default();
        if let Err(err) = state.gate.admit(&req.room, name, req.token.as_deref(), unix_secs()) {
            tracing::warn!(room = req.room, "refused a connection: {err}");
            return Err(Refused::new(StatusCode::FORBIDDEN, err));
        }
    }
    // Who this is: the JWT's identity, else the session's (a JWT user takes up no other).
    let banned = match (&identity, req.session.as_deref()) {
        (Some(identity), _) => is_banned(&state.services(), &req.room, identity.id).await,
        (None, Some(token)) => is_session_banned(&state.services(), &req.room, token).await,
        (None, None) => false,
    };
    if banned {
        tracing::info!(room = req.room, "refused a connection: removed from the room");
        return Err(Refused::new(StatusCode::FORBIDDEN, REMOVED_MESSAGE));
    }
    Ok(Admitted { req, identity })
}

/// Counts the connection: 429 for an IP over its connection limit or the connect rate,
/// 503 for a full server. The slot holds the IP's place until it is dropped.
pub fn take_place(state: &AppState, req: &ConnectRequest, peer: SocketAddr) -> Result<IpSlot, Refused> {
    let slot = match state.ips.acquire(peer.ip()) {
        Ok(slot) => slot,
        Err(err) => {
            tracing::warn!("refused a connection: {err}");
            return Err(Refused::new(StatusCode::TOO_MANY_REQUESTS, err));
        }
    };
    if let Err(err) = state.quotas.connect(&state.hub, &req.room, peer.ip()) {
        tracing::warn!(room = req.room, "refused a connection: {err}");
        return Err(quota_refusal(&err));
    }
    Ok(slot)
}

/// The refusal [`take_place`] would give now, counting and taking nothing, or `None` when
/// it would pass.
pub fn peek_place(state: &AppState, req: &ConnectRequest, peer: SocketAddr) -> Option<Refused> {
    if let Err(err) = state.ips.peek(peer.ip()) {
        return Some(Refused::new(StatusCode::TOO_MANY_REQUESTS, err));
    }
    state.quotas.peek(&state.hub, &req.room, peer.ip()).err().map(|err| quota_refusal(&err))
}

/// 429 with `Retry-After` (whole seconds, rounded up) for a rate, 503 for a full server.
fn quota_refusal(err: &QuotaError) -> Refused {
    match err.retry_after() {
        Some(after) => Refused {
            status: StatusCode::TOO_MANY_REQUESTS,
            why: err.to_string(),
            retry_after: Some(after.as_millis().div_ceil(1000).max(1) as u64),
        },
        None => Refused::new(StatusCode::SERVICE_UNAVAILABLE, err),
    }
}
