//! IMAP sync of one account: one pass over each configured mailbox.
//!
//! One pass over a mailbox ("single iteration"):
//! 1. `SELECT` (with CONDSTORE when offered). If UIDVALIDITY, UIDNEXT, EXISTS and
//!    HIGHESTMODSEQ all equal what the last complete pass recorded and nothing waits for reverse
//!    sync, the pass ends here: a no-change re-sync is one round trip per mailbox.
//! 2. Reverse sync: sources deleted here (or due under `delete-after`) get `\Deleted` and
//!    `UID EXPUNGE`.
//! 3. Change detection: with QRESYNC, `UID FETCH 1:* (FLAGS) (CHANGEDSINCE m VANISHED)` gives
//!    flag changes, new UIDs and expunged UIDs at once; the result is checked against EXISTS and
//!    falls back to a full `UID SEARCH ALL` diff when it does not add up. Without QRESYNC, the
//!    UID-set diff is always used (flags via CHANGEDSINCE when CONDSTORE is offered).
//! 4. New messages are downloaded newest first, in batches, and committed as they arrive (the
//!    inbox fills from the top; an interrupted pass resumes where it stopped because what is
//!    stored is exactly what the sources table says).
//! 5. Forward sync: sources no longer on the server are dropped (per policy); then the state is
//!    saved, only now and only because the pass completed.
//!
//! After a UIDVALIDITY change, old sources are re-mapped to new UIDs by Message-ID (headers
//! only), so bodies already stored are not downloaded again.

use std::collections::{HashMap, HashSet};

use async_imap::imap_proto::Response;
use async_imap::types::{Fetch, Flag, NameAttribute, UnsolicitedResponse};
use futures::StreamExt;
use switchboard_model::normalize_message_id;
use switchboard_store::{Account, Flags, MailboxState, SourceKey, Store, SyncPolicy};

use crate::imap_conn::{self, clean, ImapSession};
use crate::net::{deadline, IO_TIMEOUT};
use crate::writer::{Downloaded, Writer};
use crate::{uidset, AccountReport, Reporter, SyncError, SyncEvent};

/// UIDs per `UID FETCH` of whole messages.
const FETCH_CHUNK: usize = 250;
/// UIDs per header-only fetch when re-mapping.
const HEADER_CHUNK: usize = 1000;
/// UIDs per `UID STORE` / `UID EXPUNGE`.
const STORE_CHUNK: usize = 500;

#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    pub condstore: bool,
    pub qresync: bool,
    pub uidplus: bool,
    pub idle: bool,
}

pub(crate) fn imap_err(host: &str, what: &str, e: async_imap::error::Error) -> SyncError {
    use async_imap::error::Error as E;
    match e {
        E::No(msg) => SyncError::Server(format!("{host}: {what}: {}", clean(&msg))),
        E::Bad(msg) => SyncError::Protocol(format!("{host}: {what} was rejected: {}", clean(&msg))),
        E::Io(e) => SyncError::Unreachable(format!("{host}: connection failed during {what}: {e}")),
        E::ConnectionLost => {
            SyncError::Unreachable(format!("{host}: connection lost during {what}"))
        }
        other => SyncError::Protocol(format!("{host}: {what}: {other}")),
    }
}

/// Connects, logs in and learns what the server offers.
pub async fn open(
    account: &Account,
    password: &str,
) -> Result<(ImapSession, Capabilities), SyncError> {
    let host = account.host.as_str();
    let mut session = imap_conn::connect(account, password).await?;
    let caps = deadline("CAPABILITY", async {
        session
            .capabilities()
            .await
            .map_err(|e| imap_err(host, "CAPABILITY", e))
    })
    .await?;
    let qresync = caps.has_str("QRESYNC");
    let caps = Capabilities {
        condstore: qresync || caps.has_str("CONDSTORE"),
        qresync,
        uidplus: caps.has_str("UIDPLUS"),
        idle: caps.has_str("IDLE"),
    };
    if caps.qresync {
        deadline("ENABLE QRESYNC", async {
            session
                .run_command_and_check_ok("ENABLE QRESYNC")
                .await
                .map_err(|e| imap_err(host, "ENABLE QRESYNC", e))
        })
        .await?;
    }
    Ok((session, caps))
}

/// The mailboxes to sync: the configured list, or every selectable one for `*`.
pub async fn mailboxes(
    session: &mut ImapSession,
    account: &Account,
) -> Result<Vec<String>, SyncError> {
    if !account.mailboxes.iter().any(|m| m == "*") {
        return Ok(account.mailboxes.clone());
    }
    let host = account.host.as_str();
    let mut names = Vec::new();
    let mut list = session
        .list(Some(""), Some("*"))
        .await
        .map_err(|e| imap_err(host, "LIST", e))?;
    while let Some(item) = tokio::time::timeout(IO_TIMEOUT, list.next())
        .await
        .map_err(|_| SyncError::Unreachable(format!("{host}: LIST timed out")))?
    {
        let name = item.map_err(|e| imap_err(host, "LIST", e))?;
        if !name
            .attributes()
            .iter()
            .any(|a| matches!(a, NameAttribute::NoSelect))
        {
            names.push(name.name().to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// One pass over every mailbox of the account.
pub async fn sync_account(
    session: &mut ImapSession,
    caps: Capabilities,
    account: &Account,
    store: &mut Store,
    reporter: &dyn Reporter,
) -> Result<AccountReport, SyncError> {
    let mut report = AccountReport::default();
    let mut refused = None;
    for mailbox in mailboxes(session, account).await? {
        match sync_mailbox(session, caps, account, &mailbox, store, reporter).await {
            Ok(r) => report.add(&r),
            // The server refused this mailbox (e.g. it does not exist): the others still sync.
            Err(e @ SyncError::Server(_)) => {
                refused.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match refused {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

fn flags_of(fetch: &Fetch) -> Flags {
    let mut f = Flags::default();
    for flag in fetch.flags() {
        match flag {
            Flag::Seen => f.seen = true,
            Flag::Flagged => f.flagged = true,
            Flag::Answered => f.answered = true,
            Flag::Draft => f.draft = true,
            _ => {}
        }
    }
    f
}

fn drain_unsolicited(session: &mut ImapSession) -> Vec<u32> {
    let mut vanished = Vec::new();
    while let Ok(resp) = session.unsolicited_responses.try_recv() {
        if let UnsolicitedResponse::Other(data) = resp {
            if let Response::Vanished { uids, .. } = data.parsed() {
                vanished.extend(uidset::expand(uids));
            }
        }
    }
    vanished
}

/// Runs a UID FETCH and hands each response to `each`, with the I/O deadline per response.
async fn uid_fetch_each<F>(
    session: &mut ImapSession,
    host: &str,
    set: &str,
    query: &str,
    mut each: F,
) -> Result<(), SyncError>
where
    F: FnMut(Fetch) -> Result<(), SyncError>,
{
    let mut stream = session
        .uid_fetch(set, query)
        .await
        .map_err(|e| imap_err(host, "UID FETCH", e))?;
    loop {
        let next = tokio::time::timeout(IO_TIMEOUT, stream.next())
            .await
            .map_err(|_| {
                SyncError::Unreachable(format!(
                    "{host}: no answer to UID FETCH within {}s",
                    IO_TIMEOUT.as_secs()
                ))
            })?;
        match next {
            Some(item) => each(item.map_err(|e| imap_err(host, "UID FETCH", e))?)?,
            None => return Ok(()),
        }
    }
}

async fn uid_search_all(session: &mut ImapSession, host: &str) -> Result<HashSet<u32>, SyncError> {
    deadline("UID SEARCH", async {
        session
            .uid_search("ALL")
            .await
            .map_err(|e| imap_err(host, "UID SEARCH", e))
    })
    .await
}

/// Marks UIDs \Deleted and expunges exactly them (UID EXPUNGE), or all \Deleted without UIDPLUS.
async fn delete_uids(
    session: &mut ImapSession,
    host: &str,
    uidplus: bool,
    uids: &[u32],
) -> Result<(), SyncError> {
    for chunk in uids.chunks(STORE_CHUNK) {
        let set = uidset::encode(chunk);
        deadline("UID STORE", async {
            let mut s = session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await
                .map_err(|e| imap_err(host, "UID STORE", e))?;
            while let Some(r) = s.next().await {
                r.map_err(|e| imap_err(host, "UID STORE", e))?;
            }
            Ok(())
        })
        .await?;
        deadline("EXPUNGE", async {
            if uidplus {
                let mut s = Box::pin(
                    session
                        .uid_expunge(&set)
                        .await
                        .map_err(|e| imap_err(host, "UID EXPUNGE", e))?,
                );
                while let Some(r) = s.next().await {
                    r.map_err(|e| imap_err(host, "UID EXPUNGE", e))?;
                }
            } else {
                let mut s = Box::pin(
                    session
                        .expunge()
                        .await
                        .map_err(|e| imap_err(host, "EXPUNGE", e))?,
                );
                while let Some(r) = s.next().await {
                    r.map_err(|e| imap_err(host, "EXPUNGE", e))?;
                }
            }
            Ok(())
        })
        .await?;
    }
    Ok(())
}

/// Sets each message's \Seen and \Flagged on the server to what they are here.
async fn push_flags(
    session: &mut ImapSession,
    host: &str,
    pushes: &[(i64, u32, Flags)],
) -> Result<(), SyncError> {
    let mut groups: HashMap<String, Vec<u32>> = HashMap::new();
    for (_, uid, f) in pushes {
        groups
            .entry(format!(
                "{}FLAGS.SILENT (\\Seen)",
                if f.seen { "+" } else { "-" }
            ))
            .or_default()
            .push(*uid);
        groups
            .entry(format!(
                "{}FLAGS.SILENT (\\Flagged)",
                if f.flagged { "+" } else { "-" }
            ))
            .or_default()
            .push(*uid);
    }
    for (query, uids) in groups {
        for chunk in uids.chunks(STORE_CHUNK) {
            let set = uidset::encode(chunk);
            deadline("UID STORE", async {
                let mut s = session
                    .uid_store(&set, &query)
                    .await
                    .map_err(|e| imap_err(host, "UID STORE", e))?;
                while let Some(r) = s.next().await {
                    r.map_err(|e| imap_err(host, "UID STORE", e))?;
                }
                Ok(())
            })
            .await?;
        }
    }
    Ok(())
}

pub async fn sync_mailbox(
    session: &mut ImapSession,
    caps: Capabilities,
    account: &Account,
    mailbox: &str,
    store: &mut Store,
    reporter: &dyn Reporter,
) -> Result<AccountReport, SyncError> {
    let host = account.host.as_str();
    let mut report = AccountReport::default();
    drain_unsolicited(session);
    let selected = deadline("SELECT", async {
        let r = if caps.condstore {
            session.select_condstore(mailbox).await
        } else {
            session.select(mailbox).await
        };
        r.map_err(|e| match e {
            async_imap::error::Error::No(msg) => SyncError::Server(format!(
                "{host}: cannot select mailbox '{mailbox}': {}",
                clean(&msg)
            )),
            e => imap_err(host, "SELECT", e),
        })
    })
    .await?;
    let uidvalidity = selected.uid_validity.ok_or_else(|| {
        SyncError::Protocol(format!("{host}: mailbox '{mailbox}' has no UIDVALIDITY"))
    })?;
    let previous = store
        .mailbox_state(account.id, mailbox)?
        .unwrap_or_default();
    let now = switchboard_store::now_unix();

    // Reverse sync and delete-after, on this UIDVALIDITY only (older sources are re-mapped first).
    let due_before = match account.policy {
        SyncPolicy::DeleteAfter(days) => Some(now - i64::from(days) * 86_400),
        _ => None,
    };
    let to_delete: Vec<(i64, u32)> = store
        .sources_to_delete(account.id, mailbox, due_before)?
        .iter()
        .filter(|s| s.uidvalidity == Some(uidvalidity))
        .filter_map(|s| s.uid.map(|u| (s.id, u)))
        .collect();

    // Flags changed here go to the server first, so the flag fetch below cannot undo them.
    let pushes = store.pending_flag_pushes(account.id, mailbox, uidvalidity)?;
    if !pushes.is_empty() {
        push_flags(session, host, &pushes).await?;
        let ids: Vec<i64> = pushes.iter().map(|(id, _, _)| *id).collect();
        store.flags_pushed(&ids)?;
        report.flags_pushed += ids.len();
        drain_unsolicited(session);
    }

    let unchanged = pushes.is_empty()
        && previous.complete
        && previous.uidvalidity == Some(uidvalidity)
        && previous.uid_next == selected.uid_next
        && previous.exists_count == Some(selected.exists)
        && caps.condstore
        && selected.highest_modseq.is_some()
        && previous.highest_modseq == selected.highest_modseq
        && to_delete.is_empty();
    if unchanged {
        report.unchanged_mailboxes += 1;
        return Ok(report);
    }

    if !to_delete.is_empty() {
        let uids: Vec<u32> = to_delete.iter().map(|(_, u)| *u).collect();
        delete_uids(session, host, caps.uidplus, &uids).await?;
        let ids: Vec<i64> = to_delete.iter().map(|(id, _)| *id).collect();
        report.removed += store.remote_deleted(account.policy, &ids)?;
        report.deleted_remote += ids.len();
        drain_unsolicited(session);
    }

    let uidvalidity_changed = previous.uidvalidity.is_some_and(|v| v != uidvalidity);
    let sources = store.sources(account.id, mailbox)?;
    let known: HashMap<u32, &switchboard_store::StoredSource> = sources
        .iter()
        .filter(|s| s.uidvalidity == Some(uidvalidity) && !s.gone)
        .filter_map(|s| s.uid.map(|u| (u, s)))
        .collect();
    let tombstones = store.tombstones(account.id)?;
    let tomb_prefix = format!("imap:{mailbox}:{uidvalidity}:");
    let tombstoned: HashSet<u32> = tombstones
        .iter()
        .filter_map(|k| k.strip_prefix(&tomb_prefix))
        .filter_map(|u| u.parse().ok())
        .collect();

    let mut flag_updates: Vec<(u32, Flags)> = Vec::new();
    let mut used_incremental = false;
    let mut new_uids: Vec<u32> = Vec::new();
    let mut vanished_uids: Vec<u32> = Vec::new();

    let incremental = caps.qresync
        && previous.complete
        && !uidvalidity_changed
        && previous.highest_modseq.is_some();
    if let (true, Some(modseq)) = (incremental, previous.highest_modseq) {
        let mut seen_new = Vec::new();
        uid_fetch_each(
            session,
            host,
            "1:*",
            &format!("(UID FLAGS) (CHANGEDSINCE {modseq} VANISHED)"),
            |f| {
                if let Some(uid) = f.uid {
                    if known.contains_key(&uid) {
                        flag_updates.push((uid, flags_of(&f)));
                    } else if !tombstoned.contains(&uid) {
                        seen_new.push(uid);
                    }
                }
                Ok(())
            },
        )
        .await?;
        let vanished: HashSet<u32> = drain_unsolicited(session).into_iter().collect();
        vanished_uids = known
            .keys()
            .copied()
            .filter(|u| vanished.contains(u))
            .collect();
        let tomb_left = tombstoned.iter().filter(|u| !vanished.contains(u)).count();
        let expected = known.len() - vanished_uids.len() + seen_new.len() + tomb_left;
        // EXISTS was read at SELECT, before our own expunges.
        let exists_now = selected.exists as usize - to_delete.len().min(selected.exists as usize);
        if expected == exists_now {
            new_uids = seen_new;
            used_incremental = true;
        } else {
            // Something does not add up (a response lost, mail arriving mid-pass): fall back.
            flag_updates.clear();
            vanished_uids.clear();
        }
    }
    if !used_incremental {
        report.full_scans += 1;
        let all = uid_search_all(session, host).await?;
        vanished_uids = known.keys().copied().filter(|u| !all.contains(u)).collect();
        new_uids = all
            .iter()
            .copied()
            .filter(|u| !known.contains_key(u) && !tombstoned.contains(u))
            .collect();
        if !known.is_empty() {
            let query = match (
                caps.condstore && !uidvalidity_changed,
                previous.highest_modseq,
            ) {
                (true, Some(m)) => format!("(UID FLAGS) (CHANGEDSINCE {m})"),
                _ => "(UID FLAGS)".to_string(),
            };
            uid_fetch_each(session, host, "1:*", &query, |f| {
                if let Some(uid) = f.uid {
                    if known.contains_key(&uid) {
                        flag_updates.push((uid, flags_of(&f)));
                    }
                }
                Ok(())
            })
            .await?;
        }
        drain_unsolicited(session);
        // Tombstones of messages no longer on the server protect nothing.
        if tombstoned.iter().any(|u| !all.contains(u)) {
            let keep: HashSet<String> = tombstones
                .iter()
                .filter(|k| match k.strip_prefix(&tomb_prefix) {
                    Some(u) => u.parse::<u32>().map(|u| all.contains(&u)).unwrap_or(true),
                    None => true,
                })
                .cloned()
                .collect();
            store.prune_tombstones(account.id, &keep)?;
        }
    }

    // Newest first.
    new_uids.sort_unstable_by_key(|u| std::cmp::Reverse(*u));

    // After a UIDVALIDITY change: re-map what we already have by Message-ID.
    let mut stale =
        if uidvalidity_changed || sources.iter().any(|s| s.uidvalidity != Some(uidvalidity)) {
            store.stale_imap_sources(account.id, mailbox, uidvalidity)?
        } else {
            HashMap::new()
        };
    let mid_tombstones: HashSet<&str> = tombstones
        .iter()
        .filter_map(|k| k.strip_prefix("mid:"))
        .collect();
    if !stale.is_empty() || (uidvalidity_changed && !mid_tombstones.is_empty()) {
        let mut moves: Vec<(i64, u32, u32)> = Vec::new();
        let mut skip: HashSet<u32> = HashSet::new();
        for chunk in new_uids.chunks(HEADER_CHUNK) {
            let set = uidset::encode(chunk);
            uid_fetch_each(
                session,
                host,
                &set,
                "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
                |f| {
                    let (Some(uid), Some(header)) = (f.uid, f.header().or_else(|| f.body())) else {
                        return Ok(());
                    };
                    let text = String::from_utf8_lossy(header);
                    let value = text
                        .split_once(':')
                        .map(|(_, v)| v.trim().to_string())
                        .unwrap_or_default();
                    let Some(key) = normalize_message_id(&value) else {
                        return Ok(());
                    };
                    if let Some(ids) = stale.get_mut(&key) {
                        if let Some(source_id) = ids.pop() {
                            moves.push((source_id, uidvalidity, uid));
                            skip.insert(uid);
                        }
                    } else if mid_tombstones.contains(key.as_str()) {
                        skip.insert(uid);
                    }
                    Ok(())
                },
            )
            .await?;
        }
        report.remapped += moves.len();
        store.remap_imap_sources(&moves)?;
        new_uids.retain(|u| !skip.contains(u));
    }

    // Download, newest first.
    let total = new_uids.len();
    if total > 0 {
        let writer = Writer::start(store.path().to_path_buf(), account.id);
        let mut fetched = 0usize;
        let mut result = Ok(());
        'chunks: for chunk in new_uids.chunks(FETCH_CHUNK) {
            let set = uidset::encode(chunk);
            // Each message goes to the writer as it arrives: memory stays flat whatever the
            // sizes, and the writer commits while the next ones download.
            let mut stream = match session.uid_fetch(&set, "(UID FLAGS BODY.PEEK[])").await {
                Ok(s) => s,
                Err(e) => {
                    result = Err(imap_err(host, "UID FETCH", e));
                    break;
                }
            };
            loop {
                let next = match tokio::time::timeout(IO_TIMEOUT, stream.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        result = Err(SyncError::Unreachable(format!(
                            "{host}: no answer to UID FETCH within {}s",
                            IO_TIMEOUT.as_secs()
                        )));
                        break 'chunks;
                    }
                };
                let f = match next {
                    Some(Ok(f)) => f,
                    Some(Err(e)) => {
                        result = Err(imap_err(host, "UID FETCH", e));
                        break 'chunks;
                    }
                    None => break,
                };
                let Some(uid) = f.uid else { continue };
                let d = Downloaded {
                    raw: f.body().unwrap_or_default().to_vec(),
                    source: SourceKey::Imap {
                        mailbox: mailbox.to_string(),
                        uidvalidity,
                        uid,
                    },
                    flags: Some(flags_of(&f)),
                };
                drop(f);
                if let Err(e) = writer.send(d).await {
                    result = Err(e);
                    break 'chunks;
                }
                fetched += 1;
            }
            reporter.event(&SyncEvent::Progress {
                account: &account.name,
                mailbox,
                done: fetched,
                total,
            });
        }
        // Whatever was downloaded is committed even when the pass fails half-way.
        let written = writer.finish().await;
        result?;
        report.add(&written?);
    }

    if !flag_updates.is_empty() {
        report.flags_changed +=
            store.apply_imap_flags(account.id, mailbox, uidvalidity, &flag_updates)?;
    }

    // Forward sync: vanished from the server, plus old-UIDVALIDITY sources that were not re-mapped.
    let mut gone: Vec<i64> = vanished_uids
        .iter()
        .filter_map(|u| known.get(u).map(|s| s.id))
        .collect();
    gone.extend(stale.values().flatten().copied());
    if !gone.is_empty() {
        report.vanished += gone.len();
        report.removed += store.sources_vanished(account.policy, &gone)?;
    }

    store.save_mailbox_state(
        account.id,
        mailbox,
        &MailboxState {
            uidvalidity: Some(uidvalidity),
            uid_next: selected.uid_next,
            highest_modseq: selected.highest_modseq,
            exists_count: Some(selected.exists),
            total_octets: None,
            complete: true,
            full_check_at: if used_incremental {
                previous.full_check_at
            } else {
                Some(now)
            },
        },
    )?;
    Ok(report)
}
