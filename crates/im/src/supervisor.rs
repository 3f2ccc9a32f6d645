//! Keeps every XMPP account connected: one task per account, started when the account appears,
//! restarted when its settings change, stopped when it is removed. The account list is read
//! again whenever `wake` fires (the API wakes after adding, editing or removing an account,
//! and after queueing a message) and every few seconds.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use switchboard_store::{Account, AccountKind, Store};
use tokio::sync::Notify;

use crate::connect::AccountConfig;
use crate::session::keep_account;
use crate::ImError;

const RECHECK: Duration = Duration::from_secs(5);

/// What a running connection depends on; a change restarts it.
fn settings_key(a: &Account) -> String {
    format!(
        "{}|{}|{}|{}|{}|{:?}",
        a.username,
        a.host,
        a.port,
        a.tls.as_str(),
        a.name,
        a.trust_cert
    )
}

fn xmpp_accounts(store: &Store, only: Option<&str>) -> Result<Vec<Account>, ImError> {
    let all = store.accounts()?;
    if let Some(name) = only {
        let a = all
            .into_iter()
            .find(|a| a.name == name)
            .ok_or_else(|| ImError::NoAccount(name.to_string()))?;
        if a.kind != AccountKind::Xmpp {
            return Err(ImError::NoAccount(name.to_string()));
        }
        return Ok(vec![a]);
    }
    Ok(all
        .into_iter()
        .filter(|a| a.kind == AccountKind::Xmpp)
        .collect())
}

/// Runs until the future is dropped. With no XMPP account it just waits for one to appear.
/// `stored` is notified whenever new incoming messages were committed (the router's cue).
pub async fn keep_connected(
    data_dir: &Path,
    only: Option<&str>,
    wake: Arc<Notify>,
    stored: Option<Arc<Notify>>,
) -> Result<(), ImError> {
    let store = Store::open_in(data_dir)?;
    let db = store.path().to_path_buf();
    // Registered before each read: notify_waiters reaches only futures that already exist.
    let mut woken = Box::pin(wake.notified());
    let mut accounts = xmpp_accounts(&store, only)?;
    drop(store);
    let mut running: HashMap<i64, (String, tokio::task::JoinHandle<()>)> = HashMap::new();
    // Aborting the tasks when this future is dropped: a JoinHandle alone would detach them.
    struct AbortAll<'a>(&'a mut HashMap<i64, (String, tokio::task::JoinHandle<()>)>);
    impl Drop for AbortAll<'_> {
        fn drop(&mut self) {
            for (_, (_, t)) in self.0.drain() {
                t.abort();
            }
        }
    }
    let guard = AbortAll(&mut running);
    loop {
        let wanted: HashMap<i64, String> =
            accounts.iter().map(|a| (a.id, settings_key(a))).collect();
        guard.0.retain(|id, (key, task)| {
            let keep = wanted.get(id) == Some(key) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for account in accounts {
            if guard.0.contains_key(&account.id) {
                continue;
            }
            let key = settings_key(&account);
            let cfg = match AccountConfig::from_account(&account) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("XMPP account '{}': {e}", account.name);
                    if let Ok(s) = Store::open(&db) {
                        let _ = s.set_account_state(account.id, e.state(), Some(&e.to_string()));
                    }
                    continue;
                }
            };
            let task = tokio::spawn(keep_account(cfg, db.clone(), wake.clone(), stored.clone()));
            guard.0.insert(account.id, (key, task));
        }
        accounts = loop {
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(RECHECK) => {}
            }
            woken = Box::pin(wake.notified());
            let db = db.clone();
            let only = only.map(String::from);
            let read = tokio::task::spawn_blocking(move || {
                let store = Store::open(&db)?;
                xmpp_accounts(&store, only.as_deref())
            })
            .await;
            match read {
                Ok(Ok(list)) => break list,
                Ok(Err(ImError::NoAccount(_))) => break Vec::new(),
                Ok(Err(e)) => tracing::warn!("reading the XMPP accounts: {e}"),
                Err(e) => tracing::warn!("reading the XMPP accounts: {e}"),
            }
        };
    }
}
