//! The `Origin` check on the upgrade, against cross-site WebSocket hijacking: a page on
//! another site must not be able to open a socket with a visitor's browser.

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;

/// Why an upgrade was refused with 403.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("origin {0:?} may not open this socket")]
pub struct ForeignOrigin(pub String);

/// Allows a request without `Origin` (not a browser), one from an origin in `allowed`, or,
/// when `allowed` is empty, one whose origin names the host the request was sent to.
pub fn check(headers: &HeaderMap, allowed: &[String]) -> Result<(), ForeignOrigin> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default().trim_end_matches('/');
    let ok = if allowed.is_empty() {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
        !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
    } else {
        allowed.iter().any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    };
    if ok {
        Ok(())
    } else {
        Err(ForeignOrigin(origin.to_owned()))
    }
}

/// Lets a page of an admitted origin read `response` (CORS): a client on another site
/// that [`check`] lets in must be able to read why it was refused, and the fallback
/// transport's answers. A request without `Origin`, or from a foreign one, gets nothing.
pub fn allow(headers: &HeaderMap, allowed: &[String], mut response: Response) -> Response {
    let Some(origin) = headers.get(header::ORIGIN).filter(|_| check(headers, allowed).is_ok()) else {
        return response;
    };
    let answer = response.headers_mut();
    answer.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    answer.append(header::VARY, HeaderValue::from_static("origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            map.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        map
    }

    #[test]
    fn same_origin_and_originless_requests_pass_by_default() {
        assert!(check(&headers(None, "127.0.0.1:3000"), &[]).is_ok());
        assert!(check(&headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000"), &[]).is_ok());
        assert!(check(&headers(Some("https://Flock.example"), "flock.example"), &[]).is_ok());
    }

    #[test]
    fn other_origins_are_refused_unless_listed() {
        let evil = headers(Some("http://evil.example"), "127.0.0.1:3000");
        assert_eq!(check(&evil, &[]), Err(ForeignOrigin("http://evil.example".into())));
        assert!(check(&headers(Some("null"), "127.0.0.1:3000"), &[]).is_err());
        assert!(check(&evil, &["http://evil.example/".into()]).is_ok());
        let own = headers(Some("http://127.0.0.1:3000"), "127.0.0.1:3000");
        assert!(check(&own, &["https://flock.example".into()]).is_err());
    }
}
