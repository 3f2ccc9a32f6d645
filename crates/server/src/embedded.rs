//! The whole app in one process: the embedded server and the sync engine side by side, as
//! `switchboard serve` runs them and as the desktop window does behind its webview.
//!
//! Both share one `Notify`: the API's "sync now", deletes and flag changes wake the sync tasks
//! so the servers follow within seconds. Each launch gets a fresh secret; the window (or the
//! person at the browser) exchanges it once for a session cookie (see `session`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use switchboard_sync::Reporter;
use tokio::sync::{watch, Notify};

use crate::{IndexState, ServeError, ServeOptions, Server};

/// How to run the embedded server and sync.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    pub listen: SocketAddr,
    pub serve: ServeOptions,
    /// Keep every account in sync (IDLE on IMAP INBOX, polling POP3); off when another process
    /// syncs this data dir.
    pub sync: bool,
    /// How often POP3 accounts are polled (IMAP waits in IDLE).
    pub poll_interval: Duration,
}

impl EmbeddedOptions {
    /// Plain HTTP on `listen` (which should be loopback), syncing every 5 minutes.
    pub fn loopback(listen: SocketAddr) -> EmbeddedOptions {
        EmbeddedOptions {
            listen,
            serve: ServeOptions::default(),
            sync: true,
            poll_interval: Duration::from_secs(300),
        }
    }
}

/// A bound server, not yet serving, with what a front end needs to reach it.
pub struct Embedded {
    server: Server,
    launch_secret: String,
    wake_sync: Arc<Notify>,
    data_dir: PathBuf,
    sync: bool,
    poll_interval: Duration,
    notifier: Option<Arc<dyn switchboard_deliver::notify::Notifier>>,
}

impl Embedded {
    /// Opens the store, binds the listener and loads the index; serving starts with `run`.
    pub async fn bind(data_dir: &Path, options: EmbeddedOptions) -> Result<Embedded, ServeError> {
        let wake_sync = Arc::new(Notify::new());
        let launch_secret =
            crate::random_hex(24).map_err(|e| ServeError::Random(e.detail.to_string()))?;
        let server = Server::bind(
            data_dir,
            options.listen,
            wake_sync.clone(),
            &launch_secret,
            options.serve,
        )
        .await?;
        Ok(Embedded {
            server,
            launch_secret,
            wake_sync,
            data_dir: data_dir.to_path_buf(),
            sync: options.sync,
            // Polling a POP3 server more often than every 10 s only annoys it.
            poll_interval: options.poll_interval.max(Duration::from_secs(10)),
            notifier: None,
        })
    }

    /// Shows the delivery engine's desktop notifications through `notifier` instead of the
    /// plain notify-rust one: the desktop app's, whose notifications open their message when
    /// clicked.
    pub fn set_notifier(&mut self, notifier: Arc<dyn switchboard_deliver::notify::Notifier>) {
        self.notifier = Some(notifier);
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr
    }

    /// SHA-256 of the served certificate when TLS is on.
    pub fn tls_fingerprint(&self) -> Option<&str> {
        self.server.tls_fingerprint.as_deref()
    }

    /// `http://127.0.0.1:PORT` or `https://…`.
    pub fn base_url(&self) -> String {
        let scheme = if self.server.tls_fingerprint.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.server.local_addr)
    }

    /// The one-time sign-in URL of this launch; it sets the session cookie and goes on to
    /// `next` (a path on this server, e.g. the view the window showed last), or `/`.
    pub fn login_url(&self, next: Option<&str>) -> String {
        let mut url = format!("{}/login?secret={}", self.base_url(), self.launch_secret);
        if let Some(next) = next.filter(|n| crate::session::is_local_path(n)) {
            url.push_str("&next=");
            url.push_str(&percent_encode(next));
        }
        url
    }

    /// Wakes the sync tasks (IMAP out of IDLE, POP3 out of its wait): "sync now".
    pub fn sync_now(&self) -> SyncTrigger {
        SyncTrigger(self.wake_sync.clone())
    }

    /// The message index as the server holds it; it moves with every change to the inbox.
    pub fn index(&self) -> watch::Receiver<IndexState> {
        self.server.index()
    }

    /// Serves, syncs every account and delivers (routes each new message, runs the tracker's
    /// deliveries), until the server fails. Sync ending (no accounts, or every account given
    /// up) leaves the server running.
    pub async fn run(self, reporter: Arc<dyn Reporter>) -> Result<(), ServeError> {
        let Embedded {
            server,
            wake_sync,
            data_dir,
            sync,
            poll_interval,
            notifier,
            ..
        } = self;
        // The delivery engine wakes when a sync pass stored mail; it also notices what the API
        // and other processes queue (see switchboard_deliver::engine).
        let wake_deliver = Arc::new(Notify::new());
        // Forwards as IM go out through this process's XMPP connections (woken by the shared
        // wake-up); replies to them and new IMs wake the delivery engine.
        let im_channel: Arc<dyn switchboard_deliver::im::ImChannel> =
            Arc::new(switchboard_im::Forwarder::new(&data_dir, wake_sync.clone()));
        let wake_deliver_im = wake_deliver.clone();
        let reporter: Arc<dyn Reporter> = Arc::new(switchboard_deliver::WakeOnSync {
            inner: reporter,
            wake: wake_deliver.clone(),
        });
        let mut engine_options = switchboard_deliver::EngineOptions::standard();
        engine_options.im = Some(im_channel);
        if let Some(n) = notifier {
            engine_options.notifier = n;
        }
        let deliver = async {
            match switchboard_deliver::Engine::open(&data_dir, engine_options, wake_deliver) {
                Ok(engine) => engine.run().await,
                Err(e) => eprintln!("warning: deliveries stopped: {e}"),
            }
            std::future::pending::<()>().await
        };
        // XMPP accounts stay connected while sync runs; the API's wake-ups (a message queued,
        // an account changed) reach their connections too.
        let wake_im = wake_sync.clone();
        let im_data_dir = data_dir.clone();
        let im = async move {
            if sync {
                if let Err(e) = switchboard_im::keep_connected(
                    &im_data_dir,
                    None,
                    wake_im,
                    Some(wake_deliver_im),
                )
                .await
                {
                    tracing::warn!("instant messaging stopped: {e}");
                }
            }
            std::future::pending::<()>().await
        };
        let sync = async {
            if sync {
                if let Err(e) = switchboard_sync::watch_accounts(
                    &data_dir,
                    None,
                    poll_interval,
                    reporter,
                    wake_sync,
                )
                .await
                {
                    tracing::warn!("sync stopped: {e}");
                }
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            r = server.run() => r,
            _ = sync => Ok(()),
            _ = im => Ok(()),
            _ = deliver => Ok(()),
        }
    }
}

/// A handle that wakes the sync tasks, for callers outside the async world (a tray menu).
#[derive(Clone)]
pub struct SyncTrigger(Arc<Notify>);

impl SyncTrigger {
    pub fn fire(&self) {
        self.0.notify_waiters();
    }
}

/// Percent-encodes everything but unreserved characters and `/`, so a path with its query
/// survives as one query parameter.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_encoded_as_one_parameter() {
        assert_eq!(
            percent_encode("/messages/42?view=unread&x=1#top"),
            "/messages/42%3Fview%3Dunread%26x%3D1%23top"
        );
        assert_eq!(percent_encode("/ü"), "/%C3%BC");
    }
}
