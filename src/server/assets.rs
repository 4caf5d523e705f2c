//! The site's built files under `/pkg` (the WASM bundle, its JS glue, the CSS): served
//! precompressed where the build left `.br` and `.gz` files beside them
//! (`cargo leptos build --release --precompress`), as the browser accepts, so a slow link
//! carries a third of the bytes.
//!
//! The build names each file after a hash of its content (`hash-files` in Cargo.toml) and
//! lists the hashes in a hash file beside the server binary. A file under such a name
//! never changes, so it is served as `immutable` for a year: a return visit loads the
//! bundle without asking. Anything else (a build without hashes) is served with
//! `no-cache`, so the browser revalidates it (304 until the next deploy).

use axum::extract::Request;
use axum::http::header::{HeaderValue, CACHE_CONTROL, VARY};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use leptos::prelude::LeptosOptions;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tower_http::services::ServeDir;

/// How long a browser may keep a file named after its content's hash.
const FOREVER: &str = "public, max-age=31536000, immutable";

/// The names of the site's files that carry their content's hash.
pub type HashedNames = HashSet<String>;

/// Where cargo-leptos leaves the hash file: beside the server binary, as Leptos reads it.
fn hash_file(leptos: &LeptosOptions) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(&*leptos.hash_file))
}

/// The kinds of file cargo-leptos names after their hash, each a line of the hash file
/// (`js: <hash>`), each `<output>.<hash>.<kind>` in the site.
const HASHED_KINDS: [&str; 3] = ["js", "wasm", "css"];

/// The hashed names the hash file beside the binary lists, if it lists one of each kind
/// and each is in the site: then pages must ask for those names
/// (`LeptosOptions::hash_files`). `None` for a build without hashes, or for a site another
/// build replaced (logged: its pages would ask for files that are not there), or one a
/// `cargo leptos watch` rebuild wrote unhashed files into, or when `LEPTOS_HASH_FILES=false`
/// (what cargo-leptos passes when hashing is off; a binary run without it has it unset).
pub fn hashed_names(leptos: &LeptosOptions) -> Option<HashedNames> {
    if std::env::var("LEPTOS_HASH_FILES").is_ok_and(|v| v == "false") {
        return None;
    }
    let path = hash_file(leptos)?;
    let text = std::fs::read_to_string(&path).ok()?;
    let pkg = Path::new(&*leptos.site_root).join(&*leptos.site_pkg_dir);
    // A full build empties the site first: an unhashed bundle beside the hashed one is newer.
    if pkg.join(format!("{}.wasm", leptos.output_name)).is_file() {
        return None;
    }
    let mut names = HashedNames::new();
    for (kind, hash) in text.lines().filter_map(|line| line.split_once(':')) {
        let (kind, hash) = (kind.trim(), hash.trim());
        if HASHED_KINDS.contains(&kind) && !hash.is_empty() {
            names.insert(format!("{}.{hash}.{kind}", leptos.output_name));
        }
    }
    if names.len() != HASHED_KINDS.len() {
        tracing::error!(
            "{} does not name one file of each kind {HASHED_KINDS:?}; serving unhashed names",
            path.display()
        );
        return None;
    }
    if let Some(missing) = names.iter().find(|name| !pkg.join(name).is_file()) {
        tracing::error!(
            "{} names {missing}, which is not in {}: the site is another build's; build again",
            path.display(),
            pkg.display()
        );
        return None;
    }
    Some(names)
}

/// The `/pkg` directory of `leptos`'s site, as a router; `hashed` are the names served
/// as immutable.
pub fn pkg(leptos: &LeptosOptions, hashed: HashedNames) -> Router {
    let dir = Path::new(&*leptos.site_root).join(&*leptos.site_pkg_dir);
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    let hashed = Arc::new(hashed);
    Router::new()
        .fallback_service(files)
        .layer(axum::middleware::from_fn(move |request, next| cache_control(hashed.clone(), request, next)))
}

/// Sets how long the browser (and any cache on the way) may keep the file `request` asks
/// for. A 304 carries the same as the 200 it confirms: a cache replaces the stored headers
/// with a 304's. Each file may be sent brotli, gzip or plain, by what the request accepts.
async fn cache_control(hashed: Arc<HashedNames>, request: Request, next: Next) -> Response {
    let forever = request.uri().path().rsplit('/').next().is_some_and(|name| hashed.contains(name));
    let mut response = next.run(request).await;
    let found = response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED;
    let value = if forever && found { FOREVER } else { "no-cache" };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(value));
    if found {
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}
