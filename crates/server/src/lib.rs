//! The embedded server: the HTTP/JSON API every front end speaks, and the message-ID index of
//! seed 000 — clients ask a cheap question ("anything new since sequence N?") answered from
//! memory, and touch the message store only when the answer changed.
//!
//! Loopback only for now; every endpoint but `/health` needs a bearer token, and requests whose
//! `Host` or `Origin` is not this server's own are refused (DNS rebinding).

mod api;
mod auth;
mod delivery;
mod embedded;
mod error;
mod guard;
mod im;
mod index;
mod openapi;
mod profiles;
mod session;
mod tls;
mod ui;
mod write;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::Router;
use switchboard_store::Store;

pub use auth::{create_token, create_token_for, hash_token, Caller};
pub use embedded::{Embedded, EmbeddedOptions, SyncTrigger};
pub use error::ApiError;
pub use index::{IndexSnapshot, IndexState};
pub use openapi::ApiDoc;
pub use session::random_hex;

/// What handlers share.
pub struct AppState {
    pub store: Mutex<Store>,
    pub tokens: auth::SharedTokens,
    pub sessions: session::Sessions,
    pub index: tokio::sync::watch::Receiver<IndexState>,
    pub listen: SocketAddr,
    /// Wakes the sync tasks of this process (sync now, after a delete).
    pub wake_sync: Arc<tokio::sync::Notify>,
    pub data_dir: PathBuf,
    pub host_names: Vec<String>,
    pub allowed: guard::Allowed,
}

impl AppState {
    /// Runs blocking store work off the async threads.
    pub async fn with_store<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = state
                .store
                .lock()
                .map_err(|_| ApiError::internal("the store lock is poisoned"))?;
            f(&mut store)
        })
        .await
        .map_err(|e| ApiError::internal(&format!("a store task failed: {e}")))?
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/api/index", get(index::get_index))
        .route("/api/openapi.json", get(openapi::openapi_json))
        .route("/api/changes", get(index::get_changes))
        .route("/api/events", get(index::events))
        .route("/api/messages", get(api::list_messages))
        .route(
            "/api/messages/{id}",
            get(api::get_message)
                .patch(write::patch_message)
                .delete(write::delete_message),
        )
        .route("/api/messages/{id}/raw", get(api::get_raw))
        .route(
            "/api/messages/{id}/attachments/{index}",
            get(write::get_attachment),
        )
        .route("/api/search", get(api::search))
        .route(
            "/api/accounts",
            get(api::list_accounts).post(write::add_account),
        )
        .route(
            "/api/accounts/{name}",
            axum::routing::patch(write::patch_account).delete(write::delete_account),
        )
        .route("/api/sync", get(write::sync_status).post(write::sync_now))
        .route("/api/im/send", axum::routing::post(im::send))
        .route("/api/im/conversations", get(im::conversations))
        .route(
            "/api/im/conversations/{account}/{contact}",
            get(im::conversation),
        )
        .route("/api/im/contacts", get(im::contacts))
        .route("/api/im/chat-state", axum::routing::post(im::chat_state))
        .route("/api/im/chat-states", get(im::chat_states))
        .route("/api/send", axum::routing::post(delivery::post_send))
        .route(
            "/api/messages/{id}/reply",
            axum::routing::post(delivery::post_reply),
        )
        .route(
            "/api/messages/{id}/forward",
            axum::routing::post(delivery::post_forward),
        )
        .route(
            "/api/messages/{id}/deliveries",
            get(delivery::message_deliveries),
        )
        .route("/api/deliveries", get(delivery::list_deliveries))
        .route(
            "/api/deliveries/{id}/retry",
            axum::routing::post(delivery::retry_delivery),
        )
        .route(
            "/api/accounts/{name}/smtp",
            get(delivery::get_smtp)
                .put(delivery::put_smtp)
                .delete(delivery::delete_smtp),
        )
        .route(
            "/api/profiles",
            get(profiles::list_profiles).post(profiles::create_profile),
        )
        .route(
            "/api/profiles/active",
            get(profiles::get_active)
                .post(profiles::set_active)
                .delete(profiles::release_active),
        )
        .route("/api/profiles/history", get(profiles::profile_history))
        .route(
            "/api/profiles/{name}",
            get(profiles::get_profile)
                .put(profiles::put_profile)
                .delete(profiles::delete_profile),
        )
        .route(
            "/api/schedule",
            get(profiles::get_schedule).put(profiles::put_schedule),
        )
        .route(
            "/api/rules",
            get(profiles::list_rules).post(profiles::create_rule),
        )
        .route("/api/rules/try", axum::routing::post(profiles::try_rule))
        .route(
            "/api/rules/{id}",
            get(profiles::get_rule)
                .put(profiles::put_rule)
                .delete(profiles::delete_rule),
        )
        .route(
            "/api/rules/{id}/move",
            axum::routing::post(profiles::move_rule),
        )
        .route("/api/groups", get(profiles::list_groups))
        .route(
            "/api/groups/{name}",
            axum::routing::put(profiles::put_group).delete(profiles::delete_group),
        )
        .route("/api/messages/{id}/route", get(profiles::message_route))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(serde_json::json!({"ok": true})) }),
        )
        .route("/login", get(session::login))
        .route("/api/session", axum::routing::post(session::post_session))
        .merge(api)
        // The web UI's page and files; anything else is the API's JSON 404.
        .fallback(ui::serve)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::same_origin,
        ))
        .with_state(state)
}

/// Ends a background task when the server stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Store(#[from] switchboard_store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
    #[error("no secure random source for the launch secret: {0}")]
    Random(String),
}

/// How to serve: plain HTTP is for loopback only; any other address gets TLS.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// TLS even on loopback.
    pub tls: bool,
    /// A certificate and key (PEM) instead of the generated self-signed one.
    pub cert_and_key: Option<(PathBuf, PathBuf)>,
    /// Extra host names clients may use in `Host` (e.g. the machine's LAN name).
    pub host_names: Vec<String>,
}

/// Plain HTTP only on loopback and only when not asked for TLS.
pub fn needs_tls(listen: SocketAddr, options: &ServeOptions) -> bool {
    options.tls || !listen.ip().is_loopback() || options.cert_and_key.is_some()
}

pub struct Server {
    pub local_addr: SocketAddr,
    /// SHA-256 of the served certificate when TLS is on.
    pub tls_fingerprint: Option<String>,
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Server {
    /// Binds and prepares the index; `run` serves until the future is dropped.
    pub async fn bind(
        data_dir: &Path,
        listen: SocketAddr,
        wake_sync: Arc<tokio::sync::Notify>,
        launch_secret: &str,
        options: ServeOptions,
    ) -> Result<Server, ServeError> {
        let use_tls = needs_tls(listen, &options);
        let tls = if use_tls {
            Some(tls::load(data_dir, options.cert_and_key.clone())?)
        } else {
            None
        };
        let store = Store::open_in(data_dir)?;
        let db: PathBuf = store.path().to_path_buf();
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: listen,
                source,
            })?;
        let local_addr = listener.local_addr()?;
        let tokens = auth::SharedTokens::default();
        tokens.reload(&store)?;
        let index = index::spawn_watcher(db, tokens.clone())?;
        Ok(Server {
            local_addr,
            tls_fingerprint: tls.as_ref().map(|t| t.fingerprint.clone()),
            tls: tls.map(|t| t.config),
            listener,
            state: Arc::new(AppState {
                store: Mutex::new(store),
                tokens,
                sessions: session::Sessions::with_launch_secret(launch_secret),
                index,
                wake_sync,
                data_dir: data_dir.to_path_buf(),
                allowed: guard::Allowed::new(local_addr, &options.host_names),
                host_names: options.host_names,
                listen: local_addr,
            }),
        })
    }

    /// The message index; it moves with every change to the inbox.
    pub fn index(&self) -> tokio::sync::watch::Receiver<IndexState> {
        self.state.index.clone()
    }

    pub async fn run(self) -> Result<(), ServeError> {
        // Scheduled profile switches go into the history as they happen.
        let watcher = tokio::spawn(profiles::watch_schedule(self.state.data_dir.clone()));
        let _stop_watcher = AbortOnDrop(watcher);
        let app = router(self.state);
        let Some(config) = self.tls else {
            axum::serve(self.listener, app).await?;
            return Ok(());
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        loop {
            let (tcp, _) = match self.listener.accept().await {
                Ok(c) => c,
                // Out of file descriptors and the like: pause rather than spin.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(Ok(stream)) =
                    tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp))
                        .await
                else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_be_plain() {
        let plain = ServeOptions::default();
        assert!(!needs_tls("127.0.0.1:7878".parse().unwrap(), &plain));
        assert!(!needs_tls("[::1]:7878".parse().unwrap(), &plain));
        assert!(needs_tls("0.0.0.0:7878".parse().unwrap(), &plain));
        assert!(needs_tls("192.168.1.5:7878".parse().unwrap(), &plain));
        assert!(needs_tls("[::]:7878".parse().unwrap(), &plain));
        let asked = ServeOptions {
            tls: true,
            ..Default::default()
        };
        assert!(needs_tls("127.0.0.1:7878".parse().unwrap(), &asked));
    }
}
