//! The headers every response carries so a browser treats Flock's pages strictly: a
//! Content-Security-Policy that lets only the site's own scripts, WASM and sockets run,
//! no MIME sniffing, no Referer (a private room's URL carries its invitation), and no
//! framing unless `--frame-ancestors` allows it.

use axum::extract::Request;
use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;

/// The policy for a page whose inline hydration script carries `nonce` (none: no inline
/// script may run). `frame_ancestors` is the CSP source list of who may frame the page;
/// `reload` is the dev server's live-reload socket, allowed only under `cargo leptos watch`.
pub fn policy(nonce: Option<&str>, frame_ancestors: &str, reload: Option<&str>) -> String {
    let nonce = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    let reload = reload.map(|r| format!(" {r}")).unwrap_or_default();
    // 'wasm-unsafe-eval' lets the page compile its own WebAssembly, nothing more; styles
    // may be inline because the server renders `style` attributes (cursor positions).
    format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'{reload}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {frame_ancestors}"
    )
}

/// Called while a page renders (Leptos' per-request context): sets the policy with the
/// nonce Leptos gave this page's hydration script.
pub fn provide_page_policy(frame_ancestors: &str, reload: Option<&str>) {
    let Some(response) = use_context::<ResponseOptions>() else { return };
    let nonce = leptos::nonce::use_nonce();
    if let Ok(value) = HeaderValue::from_str(&policy(nonce.as_deref(), frame_ancestors, reload)) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

/// Adds the headers to every response; one that is not a page gets the policy without a
/// nonce.
pub async fn add(frame_ancestors: std::sync::Arc<str>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(CONTENT_SECURITY_POLICY) {
        if let Ok(value) = HeaderValue::from_str(&policy(None, &frame_ancestors, None)) {
            headers.insert(CONTENT_SECURITY_POLICY, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_the_pages_own_script_and_sockets() {
        let csp = policy(Some("abc"), "'none'", None);
        assert!(csp.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"), "{csp}");
        assert!(csp.contains("connect-src 'self';") && csp.ends_with("frame-ancestors 'none'"), "{csp}");
        assert!(!policy(None, "'none'", None).contains("nonce"));
        assert!(policy(None, "https://app.example", Some("ws://*:3001")).contains("connect-src 'self' ws://*:3001;"));
    }
}
