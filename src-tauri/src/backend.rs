//! The app's engine in this process: the embedded server (the UI and its API) and sync, as
//! `switchboard serve` runs them (`switchboard_server::Embedded`), on loopback only.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use switchboard_server::{Embedded, EmbeddedOptions, ServeError};
use switchboard_sync::{Reporter, SyncEvent};

/// Binds the server on 127.0.0.1: the port of last time when it is free (the webview keeps its
/// origin, so the UI's local storage survives), any free one otherwise.
pub async fn bind(data_dir: &Path, preferred: Option<u16>) -> Result<Embedded, ServeError> {
    let at = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    if let Some(port) = preferred.filter(|p| *p != 0) {
        match Embedded::bind(data_dir, EmbeddedOptions::loopback(at(port))).await {
            Ok(e) => return Ok(e),
            Err(ServeError::Bind { source, .. }) => {
                tracing::info!(
                    "port {port} of the last launch is not available ({source}); using another"
                )
            }
            Err(e) => return Err(e),
        }
    }
    Embedded::bind(data_dir, EmbeddedOptions::loopback(at(0))).await
}

/// Sync progress goes to the log; the UI shows it from the API (`/api/sync`).
pub struct LogReporter;

impl Reporter for LogReporter {
    fn event(&self, e: &SyncEvent<'_>) {
        match e {
            SyncEvent::Started { account } => tracing::debug!("{account}: syncing"),
            SyncEvent::Progress { .. } => {}
            SyncEvent::Finished {
                account,
                result: Ok(_),
            } => tracing::debug!("{account}: pass done"),
            SyncEvent::Finished {
                account,
                result: Err(e),
            } => tracing::warn!("{account}: {e}"),
        }
    }
}

pub fn reporter() -> Arc<dyn Reporter> {
    Arc::new(LogReporter)
}
