//! DNS-rebinding protection for a loopback server: the `Host` header must name this server
//! (127.0.0.1, [::1] or localhost, with our port), and a browser's `Origin`, when sent, must be
//! our own.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::middleware::Next;
use axum::response::Response;

use crate::{ApiError, AppState};

fn allowed_hosts(state: &AppState) -> Vec<String> {
    let port = state.listen.port();
    let mut hosts = vec![
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    if !state.listen.ip().is_unspecified() && !state.listen.ip().is_loopback() {
        hosts.push(state.listen.to_string());
    }
    hosts.extend(state.host_names.iter().map(|h| format!("{h}:{port}")));
    hosts
}

pub async fn same_origin(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let hosts = allowed_hosts(&state);
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return Err(ApiError::forbidden(format!(
            "Host '{host}' is not this server's; requests must address {}",
            hosts[0]
        )));
    }
    if let Some(origin) = req.headers().get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let ok = hosts.iter().any(|h| {
            origin.eq_ignore_ascii_case(&format!("http://{h}"))
                || origin.eq_ignore_ascii_case(&format!("https://{h}"))
        });
        if !ok {
            return Err(ApiError::forbidden(format!(
                "Origin '{origin}' may not use this server"
            )));
        }
    }
    Ok(next.run(req).await)
}
