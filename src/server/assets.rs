//! The site's built files under `/pkg` (the WASM bundle, its JS glue, the CSS): served
//! precompressed where the build left `.br` and `.gz` files beside them
//! (`cargo leptos build --release --precompress`), as the browser accepts, so a slow link
//! carries a third of the bytes; with `Last-Modified` and `Cache-Control: no-cache`, so a
//! return visit asks and gets 304 until the next deploy (the names carry no hash, so they
//! may not be cached blind).

use axum::http::header::{HeaderValue, CACHE_CONTROL};
use leptos::prelude::LeptosOptions;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeader;

/// The `/pkg` directory of `leptos`'s site, as a service.
pub fn pkg(leptos: &LeptosOptions) -> SetResponseHeader<ServeDir, HeaderValue> {
    let dir = std::path::Path::new(&*leptos.site_root).join(&*leptos.site_pkg_dir);
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    SetResponseHeader::overriding(files, CACHE_CONTROL, HeaderValue::from_static("no-cache"))
}
