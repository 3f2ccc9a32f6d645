//! Runs passes over accounts: each account in its own task with its own store connection, so
//! one slow, dead or misconfigured account never blocks the others. Records each account's
//! visible state (syncing n/m, ok, auth_failed, tls_error, unreachable, error + the server's words).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_store::{Account, AccountKind, Store};

use crate::secrets::load_password;
use crate::{imap, pop3_sync, AccountReport, SyncError};

pub enum SyncEvent<'a> {
    Started {
        account: &'a str,
    },
    Progress {
        account: &'a str,
        mailbox: &'a str,
        done: usize,
        total: usize,
    },
    Finished {
        account: &'a str,
        result: &'a Result<AccountReport, SyncError>,
    },
}

pub trait Reporter: Send + Sync {
    fn event(&self, e: &SyncEvent<'_>);
}

/// A reporter that prints nothing.
pub struct Silent;
impl Reporter for Silent {
    fn event(&self, _: &SyncEvent<'_>) {}
}

/// Forwards events and keeps the account's state column current.
struct StateReporter {
    inner: Arc<dyn Reporter>,
    store: Mutex<Store>,
    account_id: i64,
}

impl Reporter for StateReporter {
    fn event(&self, e: &SyncEvent<'_>) {
        if let SyncEvent::Progress {
            done,
            total,
            mailbox,
            ..
        } = e
        {
            if let Ok(store) = self.store.lock() {
                let where_ = if mailbox.is_empty() {
                    String::new()
                } else {
                    format!(" in {mailbox}")
                };
                let _ = store.set_account_state(
                    self.account_id,
                    "syncing",
                    Some(&format!("{done}/{total}{where_}")),
                );
            }
        }
        self.inner.event(e);
    }
}

/// Mail accounts only: XMPP accounts are kept connected by the IM connector.
fn selected(store: &Store, only: Option<&str>) -> Result<Vec<Account>, SyncError> {
    match only {
        Some(name) => {
            let account = store
                .account(name)?
                .ok_or_else(|| switchboard_store::StoreError::NoSuchAccount(name.to_string()))?;
            if !account.kind.is_mail() {
                return Err(not_mail(&account));
            }
            Ok(vec![account])
        }
        None => Ok(store
            .accounts()?
            .into_iter()
            .filter(|a| a.kind.is_mail())
            .collect()),
    }
}

fn not_mail(account: &Account) -> SyncError {
    SyncError::Protocol(format!(
        "'{}' is an XMPP account: `switchboard serve` and `sync --watch` keep it connected; \
         mail sync does not handle it",
        account.name
    ))
}

async fn one_pass(
    db: &Path,
    account: &Account,
    reporter: Arc<dyn Reporter>,
) -> Result<AccountReport, SyncError> {
    let mut store = Store::open(db)?;
    let install_id = store.install_id()?;
    let password = load_password(&install_id, &account.name)?;
    store.set_account_state(account.id, "syncing", None)?;
    let state_reporter = StateReporter {
        inner: reporter,
        store: Mutex::new(Store::open(db)?),
        account_id: account.id,
    };
    match account.kind {
        AccountKind::Imap => {
            let (mut session, caps) = imap::open(account, password.expose()).await?;
            let r =
                imap::sync_account(&mut session, caps, account, &mut store, &state_reporter).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
            r
        }
        AccountKind::Pop3 => {
            pop3_sync::sync_account(account, password.expose(), &mut store, &state_reporter).await
        }
        AccountKind::Xmpp => Err(not_mail(account)),
    }
}

fn record(db: &Path, account: &Account, result: &Result<AccountReport, SyncError>) {
    if let Ok(store) = Store::open(db) {
        let _ = match result {
            Ok(_) => store.set_account_state(account.id, "ok", None),
            Err(e) => store.set_account_state(account.id, e.state(), Some(&e.to_string())),
        };
    }
}

/// One pass over the selected accounts (all when `only` is None), concurrently.
pub async fn sync_accounts(
    data_dir: &Path,
    only: Option<&str>,
    reporter: Arc<dyn Reporter>,
) -> Result<Vec<(String, Result<AccountReport, SyncError>)>, SyncError> {
    let store = Store::open_in(data_dir)?;
    let db: PathBuf = store.path().to_path_buf();
    let accounts = selected(&store, only)?;
    drop(store);
    let mut tasks = Vec::new();
    for account in accounts {
        let db = db.clone();
        let reporter = reporter.clone();
        tasks.push(tokio::spawn(async move {
            reporter.event(&SyncEvent::Started {
                account: &account.name,
            });
            let result = one_pass(&db, &account, reporter.clone()).await;
            record(&db, &account, &result);
            reporter.event(&SyncEvent::Finished {
                account: &account.name,
                result: &result,
            });
            (account.name, result)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => out.push(r),
            Err(e) => out.push((
                "?".to_string(),
                Err(SyncError::Protocol(format!("a sync task failed: {e}"))),
            )),
        }
    }
    Ok(out)
}

/// Logs in and checks the account's mailboxes exist, without changing anything.
pub async fn test_account(data_dir: &Path, name: &str) -> Result<String, SyncError> {
    let store = Store::open_in(data_dir)?;
    let account = selected(&store, Some(name))?.remove(0);
    let password = load_password(&store.install_id()?, &account.name)?;
    match account.kind {
        AccountKind::Imap => {
            let (mut session, caps) = imap::open(&account, password.expose()).await?;
            let mailboxes = imap::mailboxes(&mut session, &account).await?;
            let mut parts = Vec::new();
            for mb in &mailboxes {
                let status = session
                    .status(mb, "(MESSAGES)")
                    .await
                    .map_err(|e| imap::imap_err(&account.host, &format!("STATUS of '{mb}'"), e))?;
                parts.push(format!("{mb}: {} messages", status.exists));
            }
            let _ = session.logout().await;
            Ok(format!(
                "login ok; {}; server offers{}{}{}",
                parts.join(", "),
                if caps.qresync {
                    " QRESYNC"
                } else if caps.condstore {
                    " CONDSTORE"
                } else {
                    ""
                },
                if caps.idle { " IDLE" } else { "" },
                if caps.uidplus { " UIDPLUS" } else { "" },
            ))
        }
        AccountKind::Pop3 => {
            let mut client = pop3_sync::connect(&account, password.expose()).await?;
            let (count, octets) = client.stat().await?;
            client.quit().await?;
            Ok(format!(
                "login ok; {count} messages, {octets} bytes on the server"
            ))
        }
        AccountKind::Xmpp => Err(not_mail(&account)),
    }
}

/// Keeps syncing until the future is dropped: IMAP accounts wait with IDLE on INBOX (or poll
/// when the server lacks IDLE), POP3 accounts poll every `interval`. Errors back off
/// exponentially (30 s up to 10 min) and are recorded in the account state.
///
/// The account list is read again whenever `wake` fires (the API adds, edits and removes
/// accounts and then wakes sync) and every few seconds: a new account gets its task, a removed
/// one loses it, and one whose settings changed is restarted with them, so a running server
/// never needs a restart for account changes.
pub async fn watch_accounts(
    data_dir: &Path,
    only: Option<&str>,
    interval: Duration,
    reporter: Arc<dyn Reporter>,
    wake: Arc<tokio::sync::Notify>,
) -> Result<(), SyncError> {
    const RECHECK: Duration = Duration::from_secs(5);
    let store = Store::open_in(data_dir)?;
    let db = store.path().to_path_buf();
    // Registered before each read of the list: notify_waiters reaches only futures that exist,
    // so an account added while the list is read still wakes the next wait.
    let mut woken = Box::pin(wake.notified());
    // The first read's errors (no such account) are the caller's; later ones are retried.
    let mut accounts = selected(&store, only)?;
    drop(store);
    let mut running: HashMap<i64, (String, tokio::task::JoinHandle<()>)> = HashMap::new();
    loop {
        let wanted: HashMap<i64, String> =
            accounts.iter().map(|a| (a.id, settings_key(a))).collect();
        running.retain(|id, (key, task)| {
            let keep = wanted.get(id) == Some(key);
            if !keep {
                task.abort();
            }
            keep
        });
        for account in accounts {
            if running.contains_key(&account.id) {
                continue;
            }
            let key = settings_key(&account);
            let id = account.id;
            let db = db.clone();
            let reporter = reporter.clone();
            let wake = wake.clone();
            let task =
                tokio::spawn(async move { watch_one(db, account, interval, reporter, wake).await });
            running.insert(id, (key, task));
        }
        accounts = loop {
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(RECHECK) => {}
            }
            woken = Box::pin(wake.notified());
            match Store::open(&db).map(|s| selected(&s, only)) {
                Ok(Ok(list)) => break list,
                // Removed while we watch it (`only`): nothing left to run.
                Ok(Err(SyncError::Store(switchboard_store::StoreError::NoSuchAccount(_)))) => {
                    break vec![]
                }
                // The store is busy or failing: keep what runs and look again later.
                _ => continue,
            }
        };
    }
}

/// What a running task was started with; a change restarts it. State columns are left out:
/// they change with every pass.
fn settings_key(a: &Account) -> String {
    format!(
        "{:?}",
        (
            &a.name,
            a.kind,
            &a.host,
            a.port,
            a.tls,
            &a.username,
            &a.trust_cert,
            &a.mailboxes,
            &a.policy,
            &a.owner
        )
    )
}

async fn watch_one(
    db: PathBuf,
    account: Account,
    interval: Duration,
    reporter: Arc<dyn Reporter>,
    wake: Arc<tokio::sync::Notify>,
) {
    let mut backoff = Duration::from_secs(30);
    loop {
        // A sync asked for during the pass below is not lost: this future already listens.
        let woken = wake.notified();
        tokio::pin!(woken);
        reporter.event(&SyncEvent::Started {
            account: &account.name,
        });
        let result = match account.kind {
            AccountKind::Imap => {
                imap_watch_cycle(&db, &account, interval, reporter.clone(), &wake).await
            }
            AccountKind::Pop3 => one_pass(&db, &account, reporter.clone()).await,
            AccountKind::Xmpp => return,
        };
        record(&db, &account, &result);
        reporter.event(&SyncEvent::Finished {
            account: &account.name,
            result: &result,
        });
        match result {
            Ok(_) => {
                backoff = Duration::from_secs(30);
                if account.kind == AccountKind::Pop3 {
                    tokio::select! {
                        _ = tokio::time::sleep(interval) => {}
                        _ = &mut woken => {}
                    }
                }
            }
            Err(_) => {
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut woken => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(600));
            }
        }
    }
}

/// Connects once, then alternates a pass with IDLE on INBOX until the connection fails.
async fn imap_watch_cycle(
    db: &Path,
    account: &Account,
    interval: Duration,
    reporter: Arc<dyn Reporter>,
    wake: &tokio::sync::Notify,
) -> Result<AccountReport, SyncError> {
    let mut store = Store::open(db)?;
    let password = load_password(&store.install_id()?, &account.name)?;
    let (mut session, caps) = imap::open(account, password.expose()).await?;
    let state_reporter = StateReporter {
        inner: reporter.clone(),
        store: Mutex::new(Store::open(db)?),
        account_id: account.id,
    };
    loop {
        // Listening before the pass: a sync asked for while it runs starts another at once.
        let woken = wake.notified();
        tokio::pin!(woken);
        let report =
            imap::sync_account(&mut session, caps, account, &mut store, &state_reporter).await?;
        let ok: Result<AccountReport, SyncError> = Ok(report);
        record(db, account, &ok);
        reporter.event(&SyncEvent::Finished {
            account: &account.name,
            result: &ok,
        });
        if !caps.idle {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = &mut woken => {}
            }
            continue;
        }
        session
            .select("INBOX")
            .await
            .map_err(|e| imap::imap_err(&account.host, "SELECT INBOX", e))?;
        let mut idle = session.idle();
        idle.init()
            .await
            .map_err(|e| imap::imap_err(&account.host, "IDLE", e))?;
        {
            let (wait, stop) = idle.wait_with_timeout(interval.min(Duration::from_secs(25 * 60)));
            // A sync requested here (API, tray) ends the IDLE early, like news from the server:
            // dropping the stop source makes `wait` return cleanly.
            let mut stop = Some(stop);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    r = &mut wait => {
                        r.map_err(|e| imap::imap_err(&account.host, "IDLE", e))?;
                        break;
                    }
                    _ = &mut woken, if stop.is_some() => {
                        stop.take();
                    }
                }
            }
        }
        session = idle
            .done()
            .await
            .map_err(|e| imap::imap_err(&account.host, "DONE", e))?;
        reporter.event(&SyncEvent::Started {
            account: &account.name,
        });
    }
}
