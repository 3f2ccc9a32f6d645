//! POP3 sync of one account (seed 003's "e-mail control" for POP3).
//!
//! 1. `STAT` first: if the count and size equal the last complete pass, nothing waits for
//!    deletion and the last full UIDL check is recent, the pass ends there.
//! 2. `UIDL` diff: unknown UIDLs (not tombstoned) are downloaded newest first (highest message
//!    number first) and committed as they arrive.
//! 3. Forward sync: known UIDLs missing from the server are gone (dropped, or kept as 'gone'
//!    under `delete-after`).
//! 4. `DELE` only for messages committed here, whose UIDL the server still lists for the same
//!    message number in this session: reverse-sync deletes and `delete-after` ones that are due.
//!    The server applies them at `QUIT`; only then are the sources updated here. A crash between
//!    the two is healed by the next pass (the UIDL is gone, step 3 applies).

use std::collections::{HashMap, HashSet};

use switchboard_store::{Account, MailboxState, SourceKey, Store, SyncPolicy, TlsMode};

use crate::pop3::Pop3;
use crate::writer::{Downloaded, Writer};
use crate::{AccountReport, Reporter, SyncError, SyncEvent};

/// Even when STAT looks unchanged, do a full UIDL diff at least this often (a delete plus an
/// add of the same size would otherwise hide).
const FULL_CHECK_EVERY: i64 = 3600;

pub async fn connect(account: &Account, password: &str) -> Result<Pop3, SyncError> {
    let mut client = Pop3::connect(
        &account.host,
        account.port,
        account.tls == TlsMode::Starttls,
        account.trust_cert.as_deref(),
    )
    .await?;
    client
        .login(&account.username, password)
        .await
        .map_err(|e| match e {
            SyncError::Auth(msg) => SyncError::Auth(format!(
                "{} refused the user name or password: {msg}",
                account.host
            )),
            other => other,
        })?;
    Ok(client)
}

pub async fn sync_account(
    account: &Account,
    password: &str,
    store: &mut Store,
    reporter: &dyn Reporter,
) -> Result<AccountReport, SyncError> {
    let mut report = AccountReport::default();
    let mut client = connect(account, password).await?;
    let now = switchboard_store::now_unix();
    let previous = store.mailbox_state(account.id, "")?.unwrap_or_default();
    let (count, octets) = client.stat().await?;

    let due_before = match account.policy {
        SyncPolicy::DeleteAfter(days) => Some(now - i64::from(days) * 86_400),
        _ => None,
    };
    let wants_delete = !store
        .sources_to_delete(account.id, "", due_before)?
        .is_empty();
    let recent_full = previous
        .full_check_at
        .is_some_and(|t| now - t < FULL_CHECK_EVERY);
    if previous.complete
        && previous.exists_count == Some(count)
        && previous.total_octets == Some(octets)
        && !wants_delete
        && recent_full
    {
        client.quit().await?;
        report.unchanged_mailboxes += 1;
        return Ok(report);
    }

    let listing = client.uidl().await?;
    let sources = store.sources(account.id, "")?;
    let on_server: HashMap<&str, u32> = listing.iter().map(|(n, u)| (u.as_str(), *n)).collect();
    let known: HashMap<&str, &switchboard_store::StoredSource> = sources
        .iter()
        .filter_map(|s| s.uidl.as_deref().map(|u| (u, s)))
        .collect();
    let tombstones = store.tombstones(account.id)?;

    let mut new: Vec<(u32, String)> = listing
        .iter()
        .filter(|(_, u)| {
            !known.contains_key(u.as_str()) && !tombstones.contains(&format!("uidl:{u}"))
        })
        .cloned()
        .collect();
    new.sort_unstable_by_key(|(n, _)| std::cmp::Reverse(*n));

    let total = new.len();
    if total > 0 {
        let writer = Writer::start(store.path().to_path_buf(), account.id);
        let mut result = Ok(());
        for (done, (n, uidl)) in new.iter().enumerate() {
            let raw = match client.retr(*n).await {
                Ok(raw) => raw,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            if let Err(e) = writer
                .send(Downloaded {
                    raw,
                    source: SourceKey::Pop3 { uidl: uidl.clone() },
                    flags: None,
                })
                .await
            {
                result = Err(e);
                break;
            }
            if (done + 1) % 25 == 0 || done + 1 == total {
                reporter.event(&SyncEvent::Progress {
                    account: &account.name,
                    mailbox: "",
                    done: done + 1,
                    total,
                });
            }
        }
        let written = writer.finish().await;
        result?;
        report.add(&written?);
    }

    // Forward sync.
    let vanished: Vec<i64> = sources
        .iter()
        .filter(|s| !s.gone)
        .filter(|s| {
            s.uidl
                .as_deref()
                .is_some_and(|u| !on_server.contains_key(u))
        })
        .map(|s| s.id)
        .collect();
    if !vanished.is_empty() {
        report.vanished += vanished.len();
        report.removed += store.sources_vanished(account.policy, &vanished)?;
    }

    // Reverse sync / delete-after: only what is committed here (read back from the store, so
    // this pass's downloads count once the writer has finished) and still listed by the server
    // under the same UIDL in this session.
    let committed = store.sources_to_delete(account.id, "", due_before)?;
    let mut deleted: Vec<i64> = Vec::new();
    let mut deleted_uidls: HashSet<&str> = HashSet::new();
    for s in committed.iter() {
        let Some(uidl) = s.uidl.as_deref() else {
            continue;
        };
        let Some(n) = on_server.get(uidl) else {
            continue;
        };
        client.dele(*n).await?;
        deleted.push(s.id);
        deleted_uidls.insert(uidl);
    }
    client.quit().await?;
    if !deleted.is_empty() {
        report.deleted_remote += deleted.len();
        report.removed += store.remote_deleted(account.policy, &deleted)?;
    }

    // What the server holds after our QUIT, for the next STAT pre-check.
    let remaining = listing
        .iter()
        .filter(|(_, u)| !deleted_uidls.contains(u.as_str()))
        .count() as u32;
    let state_count = if deleted.is_empty() { count } else { remaining };
    store.save_mailbox_state(
        account.id,
        "",
        &MailboxState {
            uidvalidity: None,
            uid_next: None,
            highest_modseq: None,
            exists_count: Some(state_count),
            // Unknown after deletes; the next pass then does a full check once.
            total_octets: if deleted.is_empty() {
                Some(octets)
            } else {
                None
            },
            complete: true,
            full_check_at: Some(now),
        },
    )?;
    Ok(report)
}
