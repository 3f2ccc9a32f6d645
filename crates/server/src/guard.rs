//! DNS-rebinding protection for a loopback server: the `Host` header must name this server
//! (127.0.0.1, [::1] or localhost, with our port), and a browser's `Origin`, when sent, must be
//! our own.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::middleware::Next;
use axum::response::Response;

use crate::{ApiError, AppState};

/// The `Host` and `Origin` values this server answers to, built once when it binds.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl Allowed {
    pub fn new(listen: std::net::SocketAddr, host_names: &[String]) -> Self {
        let port = listen.port();
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        if !listen.ip().is_unspecified() && !listen.ip().is_loopback() {
            hosts.push(listen.to_string());
        }
        hosts.extend(host_names.iter().map(|h| format!("{h}:{port}")));
        let origins = hosts
            .iter()
            .flat_map(|h| [format!("http://{h}"), format!("https://{h}")])
            .collect();
        Allowed { hosts, origins }
    }

    fn host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

pub async fn same_origin(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let allowed = &state.allowed;
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !allowed.host(host) {
        return Err(ApiError::forbidden(format!(
            "Host '{host}' is not this server's; requests must address {}",
            allowed.hosts[0]
        )));
    }
    if let Some(origin) = req.headers().get(ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !allowed.origin(origin) {
            return Err(ApiError::forbidden(format!(
                "Origin '{origin}' may not use this server"
            )));
        }
    }
    Ok(next.run(req).await)
}
