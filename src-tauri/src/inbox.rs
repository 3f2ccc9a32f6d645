//! Keeps the tray current: the embedded server's index moves with every change to the inbox
//! (seed 000's cheap question "anything new?"); only then does this read the unread count and
//! the active profile from the store. The profile can also change by the clock (a schedule)
//! or from the tray, so it is looked at every few seconds and on request as well.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchboard_server::IndexState;
use switchboard_store::Store;
use tauri::{AppHandle, Runtime};
use tokio::sync::{watch, Notify};

use crate::tray::Status;

/// Looks are at least this far apart, so a long first sync costs one look per interval.
const SETTLE: Duration = Duration::from_millis(300);
/// A scheduled profile change needs no message to move.
const PROFILE_EVERY: Duration = Duration::from_secs(15);

/// Shows a new tray status.
pub type OnStatus<R> = Box<dyn Fn(&AppHandle<R>, &Status) + Send + Sync>;

pub struct Watch<R: Runtime> {
    pub data_dir: PathBuf,
    pub index: watch::Receiver<IndexState>,
    /// Wakes the watcher for a look now (a profile switched from the tray).
    pub refresh: Arc<Notify>,
    pub on_status: OnStatus<R>,
    pub app: AppHandle<R>,
}

impl<R: Runtime> Watch<R> {
    pub fn spawn(self) {
        tauri::async_runtime::spawn(async move {
            if let Err(e) = self.run().await {
                tracing::warn!("the tray stopped following the inbox: {e}");
            }
        });
    }

    async fn run(mut self) -> anyhow::Result<()> {
        let data_dir = self.data_dir.clone();
        let store =
            tauri::async_runtime::spawn_blocking(move || Store::open_in(&data_dir)).await??;
        let store = Arc::new(std::sync::Mutex::new(store));
        let mut first = true;
        loop {
            if !first {
                tokio::select! {
                    changed = self.index.changed() => {
                        if changed.is_err() {
                            return Ok(()); // the server is gone: the app is quitting
                        }
                    }
                    _ = self.refresh.notified() => {}
                    _ = tokio::time::sleep(PROFILE_EVERY) => {}
                }
            }
            first = false;
            self.index.borrow_and_update();
            let s = store.clone();
            let looked = tauri::async_runtime::spawn_blocking(move || match s.lock() {
                Ok(store) => look(&store),
                Err(_) => Err("the store lock is poisoned".to_string()),
            })
            .await?;
            match looked {
                Ok(status) => (self.on_status)(&self.app, &status),
                Err(e) => tracing::warn!("cannot read the store for the tray: {e}"),
            }
            tokio::time::sleep(SETTLE).await;
        }
    }
}

/// One look at the store: the unread count and the profiles.
fn look(store: &Store) -> Result<Status, String> {
    let unread = store.counts().map_err(|e| e.to_string())?.unread;
    let (profile, profiles) = match store.profiles_overview(switchboard_store::clock::now()) {
        Ok(o) => (
            Some(o.active.name),
            o.profiles.into_iter().map(|p| p.name).collect(),
        ),
        Err(e) => {
            tracing::debug!("no profiles for the tray: {e}");
            (None, Vec::new())
        }
    };
    Ok(Status {
        unread,
        profile,
        profiles,
    })
}
