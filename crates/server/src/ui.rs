//! The web UI, embedded at build time (see build.rs), served at `/` to anyone who reaches the
//! server: the page itself holds no data, and every API call still needs the session cookie or
//! a token. A strict Content-Security-Policy goes with every page and asset.

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::ApiError;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));
}

/// Scripts, styles and fonts come from this server only; nothing may frame the app, and
/// nothing is posted elsewhere. The message body is an `<iframe srcdoc>` without
/// `allow-scripts` or `allow-same-origin`: such a document inherits this policy *and* carries
/// its own stricter one (`default-src 'none'`, remote images only after "load images").
/// Because the inherited policy must not block what the message's own policy allows, images
/// may come from `http:`/`https:` here and inline styles are allowed (mail uses them); the
/// app's own code adds no remote image and no inline script runs anywhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: http: https:; font-src 'self' data:; connect-src 'self'; \
     frame-src 'self'; child-src 'self'; worker-src 'none'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const PLACEHOLDER: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Switchboard</title></head><body style=\"font:16px system-ui,sans-serif;margin:3rem\">\
<h1>UI not built: run make ui</h1><p>This switchboard binary was built without the web UI. \
Run <code>make ui</code> (or <code>make run</code>) in the source tree and build again; the API \
at <code>/api/</code> works either way.</p></body></html>";

fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The embedded file for a request path (`/` is the app's page).
pub fn lookup(path: &str) -> Option<&'static [u8]> {
    let path = if path == "/" { "/index.html" } else { path };
    assets::ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, body)| *body)
}

fn page(body: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// Everything that is not an API route: the UI's files, else the API's JSON 404.
pub async fn serve(req: Request) -> Response {
    let path = match req.uri().path() {
        "/" => "/index.html",
        p => p,
    };
    let readable = req.method() == Method::GET || req.method() == Method::HEAD;
    if !readable || path.starts_with("/api/") {
        return ApiError::not_found("no such endpoint").into_response();
    }
    match lookup(path) {
        // Vite names assets by their content hash: they never change under one name.
        Some(body) if path.starts_with("/assets/") => page(
            body,
            content_type(path),
            "public, max-age=31536000, immutable",
        ),
        Some(body) => page(body, content_type(path), "no-cache"),
        None if path == "/index.html" => page(
            PLACEHOLDER.as_bytes(),
            "text/html; charset=utf-8",
            "no-cache",
        ),
        None => ApiError::not_found(format!("no such page: {path}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_extension() {
        assert_eq!(
            content_type("/assets/index-1.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("/index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("/x"), "application/octet-stream");
    }

    #[test]
    fn the_policy_allows_no_foreign_script_or_framing() {
        assert!(CSP.contains("script-src 'self';"));
        assert!(!CSP.contains("unsafe-eval"));
        assert!(!CSP.contains("script-src 'self' 'unsafe-inline'"));
        assert!(CSP.contains("frame-ancestors 'none'"));
        assert!(CSP.contains("object-src 'none'"));
    }

    #[test]
    fn the_page_is_found_at_the_root_when_built() {
        // Built or not, `/` answers with a page; `/index.html` is the same file.
        assert_eq!(lookup("/"), lookup("/index.html"));
        if lookup("/index.html").is_some() {
            let html = String::from_utf8_lossy(lookup("/").unwrap_or_default());
            assert!(html.contains("<div id=\"app\">"), "{html}");
        }
    }
}
