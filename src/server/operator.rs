//! The operator's pages (`/admin`, `/metrics`, `/api/cluster`): what the server knows about
//! everyone, so not for everyone.
//!
//! Without `--admin-token` they answer only clients on this machine (loopback, and not
//! relayed by a proxy: a proxy on the same machine would make every visitor look local).
//! With a token they answer whoever presents it, as `Authorization: Bearer <token>` or as
//! the password of HTTP Basic (so a browser can open `/admin`: it asks once and then sends
//! it with the page's own requests); anyone else gets 401.

use super::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

/// The paths behind the operator check; `/healthz` and `/api/rooms` stay public.
pub const OPERATOR_PATHS: [&str; 3] = ["/admin", "/metrics", "/api/cluster"];

/// Headers a reverse proxy adds: a request that carries one is not from this machine,
/// whatever address it arrived from.
const FORWARDING_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// Whether `path` is one of the operator's.
pub fn is_operator_path(path: &str) -> bool {
    OPERATOR_PATHS.iter().any(|p| path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}

/// Lets a request to an operator path through only as described in the module docs.
pub async fn guard(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if !is_operator_path(request.uri().path()) {
        return next.run(request).await;
    }
    let allowed = match state.config.admin_token.as_deref() {
        None => is_local(peer, request.headers()),
        Some(token) => presents(request.headers(), token),
    };
    if allowed {
        next.run(request).await
    } else if state.config.admin_token.is_some() {
        (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, r#"Basic realm="flock admin""#)],
            "the admin token is required\n",
        )
            .into_response()
    } else {
        (StatusCode::FORBIDDEN, "only this machine may see this; set --admin-token to open it to others\n")
            .into_response()
    }
}

/// A loopback client that no proxy relayed.
fn is_local(peer: SocketAddr, headers: &HeaderMap) -> bool {
    peer.ip().is_loopback() && !FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h))
}

/// Whether the request carries `token`, as a bearer token or as a Basic password.
fn presents(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let offered = if let Some(bearer) = value.strip_prefix("Bearer ") {
        bearer.trim().to_owned()
    } else if let Some(basic) = value.strip_prefix("Basic ") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else { return false };
        let Ok(pair) = String::from_utf8(decoded) else { return false };
        match pair.split_once(':') {
            Some((_, password)) => password.to_owned(),
            None => return false,
        }
    } else {
        return false;
    };
    // Compared as digests, so the time taken says nothing about how much of it matched.
    Sha256::digest(offered.as_bytes()) == Sha256::digest(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn the_token_is_taken_as_bearer_or_basic_password_only() {
        let basic = |pair: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair));
        assert!(presents(&auth("Bearer s3cret"), "s3cret"));
        assert!(presents(&auth(&basic("admin:s3cret")), "s3cret"));
        assert!(presents(&auth(&basic(":s3cret")), "s3cret"));
        assert!(!presents(&auth(&basic("s3cret:x")), "s3cret"), "the user name is not the password");
        assert!(!presents(&auth("Bearer s3cre"), "s3cret"));
        assert!(!presents(&auth("s3cret"), "s3cret"));
        assert!(!presents(&HeaderMap::new(), "s3cret"));
    }

    #[test]
    fn operator_paths_are_matched_whole() {
        assert!(is_operator_path("/admin") && is_operator_path("/metrics") && is_operator_path("/api/cluster"));
        assert!(is_operator_path("/admin/x"));
        assert!(!is_operator_path("/administrator") && !is_operator_path("/api/rooms") && !is_operator_path("/"));
    }

    #[test]
    fn a_relayed_request_is_not_local() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert!(is_local(peer, &HeaderMap::new()));
        let mut relayed = HeaderMap::new();
        relayed.insert("x-forwarded-for", "203.0.113.7".parse().unwrap());
        assert!(!is_local(peer, &relayed));
        assert!(!is_local("203.0.113.7:9".parse().unwrap(), &HeaderMap::new()));
    }
}
