//! The HTTP API for the app's backend (`/api/v1`): publish chats and events into rooms,
//! see who is where and what was said. `docs/api.md` describes it.
//!
//! Every request needs one of the keys given with `--api-key` (or `FLOCK_API_KEYS`) as
//! `Authorization: Bearer <key>`; without a key configured the whole API answers 404, and
//! a missing or wrong key gets 401. Refusals are JSON ([`crate::protocol::api::ApiError`]),
//! bodies are bounded ([`MAX_BODY_BYTES`]), and every endpoint works on any node of a
//! cluster: what it publishes goes through the same pipeline as a WebSocket client's.
//!
//! `rooms` holds the room handlers, `users` the identity ones, `openapi` their description; `refusal` what they answer
//! when they will not.

mod openapi;
mod refusal;
mod rooms;
mod users;

pub use refusal::ApiRefusal;

use super::AppState;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use sha2::{Digest, Sha256};

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";
/// Largest request body: a chat's 2000 characters or an event's 4 KiB, with room to spare.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The API's routes, behind the key check.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/rooms", get(rooms::list))
        .route("/rooms/{room}/messages", post(rooms::post_message))
        .route("/rooms/{room}/events", post(rooms::post_event))
        .route("/rooms/{room}/presence", get(rooms::presence))
        .route("/rooms/{room}/history", get(rooms::history))
        .route("/rooms/{room}/users/{id}", delete(rooms::remove_user))
        .route("/users/{id}/revoke", post(users::revoke))
        .fallback(|| async { ApiRefusal::NoSuchEndpoint })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state, require_key))
}

/// Lets a request through only with one of the configured keys.
async fn require_key(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let keys = &state.config.api_keys;
    if keys.is_empty() {
        return ApiRefusal::Off.into_response();
    }
    if !presents_key(request.headers(), keys) {
        return ApiRefusal::Unauthorized.into_response();
    }
    next.run(request).await
}

/// Whether the request's bearer token is one of `keys`.
fn presents_key(headers: &HeaderMap, keys: &[String]) -> bool {
    let Some(offered) =
        headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim)
    else {
        return false;
    };
    // Compared as digests, so the time taken says nothing about how much of a key matched;
    // every key is compared, so it says nothing about which one either.
    let offered = Sha256::digest(offered.as_bytes());
    keys.iter().fold(false, |found, key| found | (Sha256::digest(key.as_bytes()) == offered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_configured_bearer_key_is_taken() {
        let keys = ["first-key-0123456789".to_owned(), "second-key-0123456789".to_owned()];
        let auth = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, value.parse().unwrap());
            headers
        };
        assert!(presents_key(&auth("Bearer first-key-0123456789"), &keys));
        assert!(presents_key(&auth("Bearer second-key-0123456789"), &keys));
        assert!(!presents_key(&auth("Bearer first-key-012345678"), &keys));
        assert!(!presents_key(&auth("Basic first-key-0123456789"), &keys));
        assert!(!presents_key(&auth("first-key-0123456789"), &keys));
        assert!(!presents_key(&HeaderMap::new(), &keys));
    }
}
