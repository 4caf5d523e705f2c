//! The operator's surface and the pages' headers: `/admin`, `/metrics` and `/api/cluster`
//! are for this machine or the admin token's holder only; every page tells the browser to
//! run only the site's own code and to keep the URL to itself.

mod common;

use common::{start_with, test_config};
use reqwest::header::{AUTHORIZATION, CONTENT_SECURITY_POLICY, REFERRER_POLICY, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use std::net::SocketAddr;

const TOKEN: &str = "operator-token-for-the-test";

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the server answers")
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[tokio::test]
async fn without_a_token_operator_pages_answer_only_this_machine() {
    let addr = start_with(test_config()).await;
    for path in ["/metrics", "/api/cluster", "/admin"] {
        assert_eq!(get(addr, path, &[]).await.status(), StatusCode::OK, "{path} from loopback");
        let relayed = get(addr, path, &[("x-forwarded-for", "203.0.113.7")]).await;
        assert_eq!(relayed.status(), StatusCode::FORBIDDEN, "{path} through a proxy is not local");
    }
    for path in ["/healthz", "/api/rooms"] {
        let relayed = get(addr, path, &[("x-forwarded-for", "203.0.113.7")]).await;
        assert_eq!(relayed.status(), StatusCode::OK, "{path} stays public");
    }
}

#[tokio::test]
async fn with_a_token_operator_pages_need_it_as_bearer_or_basic_password() {
    let mut config = test_config();
    config.admin_token = Some(TOKEN.into());
    let addr = start_with(config).await;
    for path in ["/metrics", "/api/cluster", "/admin"] {
        let refused = get(addr, path, &[]).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}, even from loopback");
        assert!(refused.headers()[WWW_AUTHENTICATE].to_str().unwrap().starts_with("Basic"), "a browser asks");
        let wrong = get(addr, path, &[(AUTHORIZATION.as_str(), "Bearer nope")]).await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let bearer = format!("Bearer {TOKEN}");
        assert_eq!(get(addr, path, &[(AUTHORIZATION.as_str(), &bearer)]).await.status(), StatusCode::OK);
        let browser = basic("admin", TOKEN);
        assert_eq!(get(addr, path, &[(AUTHORIZATION.as_str(), &browser)]).await.status(), StatusCode::OK);
    }
    assert_eq!(get(addr, "/healthz", &[]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn pages_allow_only_their_own_script_and_keep_the_referer() {
    let addr = start_with(test_config()).await;
    let page = get(addr, "/r/lobby", &[]).await;
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers[REFERRER_POLICY], "no-referrer");
    assert!(csp.ends_with("frame-ancestors 'none'"), "{csp}");
    let body = page.text().await.unwrap();
    let nonce = body.split("nonce=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("a nonced script");
    assert!(csp.contains(&format!("script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'")), "{csp}");
    let other = get(addr, "/r/lobby", &[]).await.text().await.unwrap();
    assert!(!other.contains(nonce), "every page gets its own nonce");
    let api = get(addr, "/api/rooms", &[]).await;
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn framing_can_be_allowed_for_embedding() {
    let mut config = test_config();
    config.frame_ancestors = "https://app.example".into();
    let addr = start_with(config).await;
    let page = get(addr, "/", &[]).await;
    let csp = page.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(csp.ends_with("frame-ancestors https://app.example"), "{csp}");
}
