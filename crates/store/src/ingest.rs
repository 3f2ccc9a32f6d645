//! Writing synced mail: ingest batches, sync state, forward sync (server removed a message),
//! reverse sync (deleted here), tombstones and flags.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use switchboard_model::{content_matches, Address, UniformMessage};

use crate::{now_unix, Result, Store, StoreError, SyncPolicy};

/// Where on a server a message lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SourceKey {
    Imap {
        mailbox: String,
        uidvalidity: u32,
        uid: u32,
    },
    Pop3 {
        uidl: String,
    },
}

/// The system flags Switchboard shows and syncs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    pub seen: bool,
    pub flagged: bool,
    pub answered: bool,
    pub draft: bool,
}

impl Flags {
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.seen {
            v.push("seen");
        }
        if self.flagged {
            v.push("flagged");
        }
        if self.answered {
            v.push("answered");
        }
        if self.draft {
            v.push("draft");
        }
        v
    }
}

/// One downloaded message, parsed, with where it came from.
pub struct IncomingMessage {
    pub raw: Vec<u8>,
    pub parsed: UniformMessage,
    pub source: SourceKey,
    /// Server flags (IMAP); `None` for POP3, which has none.
    pub flags: Option<Flags>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    /// A new message was stored.
    Stored(i64),
    /// The message was already stored (through another source); this source was added to it.
    Merged(i64),
    /// This very source was already recorded (a re-run after a crash); nothing changed.
    Known(i64),
}

impl IngestOutcome {
    pub fn message_id(self) -> i64 {
        match self {
            IngestOutcome::Stored(id) | IngestOutcome::Merged(id) | IngestOutcome::Known(id) => id,
        }
    }
}

/// Sync state of one IMAP mailbox, or of a POP3 maildrop (mailbox ""), as of the last
/// complete pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxState {
    pub uidvalidity: Option<u32>,
    pub uid_next: Option<u32>,
    pub highest_modseq: Option<u64>,
    pub exists_count: Option<u32>,
    pub total_octets: Option<u64>,
    pub complete: bool,
    pub full_check_at: Option<i64>,
}

/// A recorded source, as sync needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSource {
    pub id: i64,
    pub message_id: i64,
    pub mailbox: String,
    pub uidvalidity: Option<u32>,
    pub uid: Option<u32>,
    pub uidl: Option<String>,
    pub gone: bool,
    pub delete_requested: bool,
    pub stored_at: i64,
    pub message_key: String,
}

const RAW_CODEC: &str = "lz4";

fn addresses_json(list: &[Address]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

/// Loads the fields `content_matches` looks at for every stored message with this key.
fn candidates(tx: &Transaction<'_>, key: &str) -> Result<Vec<(i64, UniformMessage)>> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, from_addr, from_name, date, subject, text_body, html_body, has_message_id \
         FROM message WHERE message_key = ?1",
    )?;
    let rows = stmt.query_map([key], |r| {
        let from_addr: Option<String> = r.get(1)?;
        let from_name: Option<String> = r.get(2)?;
        let has_id: i64 = r.get(7)?;
        Ok((
            r.get::<_, i64>(0)?,
            UniformMessage {
                message_key: key.to_string(),
                has_message_id: has_id != 0,
                subject: r.get(4)?,
                from: from_addr
                    .map(|email| {
                        vec![Address {
                            name: from_name,
                            email,
                        }]
                    })
                    .unwrap_or_default(),
                to: vec![],
                cc: vec![],
                reply_to: vec![],
                date: r.get(3)?,
                in_reply_to: vec![],
                references: vec![],
                list_id: None,
                text_body: r.get(5)?,
                html_body: r.get(6)?,
                attachments: vec![],
                size: 0,
                parse_problems: vec![],
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn existing_source(tx: &Transaction<'_>, account_id: i64, key: &SourceKey) -> Result<Option<i64>> {
    Ok(match key {
        SourceKey::Imap {
            mailbox,
            uidvalidity,
            uid,
        } => tx
            .prepare_cached(
                "SELECT message_id FROM source WHERE account_id = ?1 AND mailbox = ?2 \
                 AND uidvalidity = ?3 AND uid = ?4",
            )?
            .query_row(params![account_id, mailbox, uidvalidity, uid], |r| r.get(0))
            .optional()?,
        SourceKey::Pop3 { uidl } => tx
            .prepare_cached("SELECT message_id FROM source WHERE account_id = ?1 AND uidl = ?2")?
            .query_row(params![account_id, uidl], |r| r.get(0))
            .optional()?,
    })
}

fn insert_source(
    tx: &Transaction<'_>,
    message_id: i64,
    account_id: i64,
    key: &SourceKey,
    now: i64,
) -> Result<()> {
    match key {
        SourceKey::Imap {
            mailbox,
            uidvalidity,
            uid,
        } => tx
            .prepare_cached(
                "INSERT INTO source (message_id, account_id, mailbox, uidvalidity, uid, stored_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![message_id, account_id, mailbox, uidvalidity, uid, now])?,
        SourceKey::Pop3 { uidl } => tx
            .prepare_cached(
                "INSERT INTO source (message_id, account_id, mailbox, uidl, stored_at) \
                 VALUES (?1, ?2, '', ?3, ?4)",
            )?
            .execute(params![message_id, account_id, uidl, now])?,
    };
    Ok(())
}

fn insert_message(tx: &Transaction<'_>, m: &IncomingMessage, now: i64) -> Result<i64> {
    insert_message_row(tx, &m.raw, &m.parsed, m.flags.unwrap_or_default(), now)
}

/// One message row and its raw bytes (mail, or an IM's stanza).
pub(crate) fn insert_message_row(
    tx: &Transaction<'_>,
    raw: &[u8],
    p: &UniformMessage,
    flags: Flags,
    now: i64,
) -> Result<i64> {
    let from = p.from.first();
    tx.prepare_cached(
        "INSERT INTO message (message_key, has_message_id, subject, from_addr, from_name, to_json, \
         cc_json, reply_to_json, date, stored_at, sort_date, size, in_reply_to, references_json, \
         list_id, text_body, html_body, has_attachments, attachments_json, parse_problems_json, \
         seen, flagged, answered, draft) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
         ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
    )?
    .execute(params![
        p.message_key,
        p.has_message_id,
        p.subject,
        from.map(|a| a.email.as_str()),
        from.and_then(|a| a.name.as_deref()),
        addresses_json(&p.to),
        addresses_json(&p.cc),
        addresses_json(&p.reply_to),
        p.date,
        now,
        p.date.unwrap_or(now),
        raw.len() as i64,
        p.in_reply_to.first(),
        serde_json::to_string(&p.references).unwrap_or_else(|_| "[]".into()),
        p.list_id,
        p.text_body,
        p.html_body,
        !p.attachments.is_empty(),
        serde_json::to_string(&p.attachments).unwrap_or_else(|_| "[]".into()),
        serde_json::to_string(&p.parse_problems).unwrap_or_else(|_| "[]".into()),
        flags.seen,
        flags.flagged,
        flags.answered,
        flags.draft,
    ])?;
    let id = tx.last_insert_rowid();
    let compressed = lz4_flex::compress_prepend_size(raw);
    tx.prepare_cached("INSERT INTO message_raw (message_id, codec, data) VALUES (?1, ?2, ?3)")?
        .execute(params![id, RAW_CODEC, compressed])?;
    Ok(id)
}

fn set_flags(tx: &Transaction<'_>, message_id: i64, f: Flags) -> Result<()> {
    tx.prepare_cached(
        "UPDATE message SET seen = ?2, flagged = ?3, answered = ?4, draft = ?5 WHERE id = ?1",
    )?
    .execute(params![message_id, f.seen, f.flagged, f.answered, f.draft])?;
    Ok(())
}

/// Deletes the given messages that no longer have any source, with their raw bytes and
/// full-text entries.
pub(crate) fn purge_messages(tx: &Transaction<'_>, ids: &[i64]) -> Result<usize> {
    let mut purged = 0;
    for id in ids {
        let sources: i64 = tx
            .prepare_cached("SELECT count(*) FROM source WHERE message_id = ?1")?
            .query_row([id], |r| r.get(0))?;
        if sources > 0 {
            continue;
        }
        crate::search::unindex_message(tx, *id)?;
        purged += tx
            .prepare_cached("DELETE FROM message WHERE id = ?1")?
            .execute([id])?;
    }
    Ok(purged)
}

fn uid_u32(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

impl Store {
    /// Stores a batch of downloaded messages in one transaction. Idempotent: a source already
    /// recorded is reported as `Known` and changes nothing, so re-running after a crash is safe.
    pub fn ingest(
        &mut self,
        account_id: i64,
        batch: &[IncomingMessage],
    ) -> Result<Vec<IngestOutcome>> {
        let now = now_unix();
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(batch.len());
        let mut stored = Vec::new();
        for m in batch {
            if let Some(id) = existing_source(&tx, account_id, &m.source)? {
                out.push(IngestOutcome::Known(id));
                continue;
            }
            let matched = candidates(&tx, &m.parsed.message_key)?
                .into_iter()
                .find(|(_, stored)| content_matches(stored, &m.parsed))
                .map(|(id, _)| id);
            let outcome = match matched {
                Some(id) => {
                    if let Some(f) = m.flags {
                        set_flags(&tx, id, f)?;
                    }
                    IngestOutcome::Merged(id)
                }
                None => {
                    let id = insert_message(&tx, m, now)?;
                    stored.push(id);
                    IngestOutcome::Stored(id)
                }
            };
            insert_source(&tx, outcome.message_id(), account_id, &m.source, now)?;
            out.push(outcome);
        }
        crate::search::index_messages(&tx, &stored)?;
        tx.commit()?;
        Ok(out)
    }

    pub fn mailbox_state(&self, account_id: i64, mailbox: &str) -> Result<Option<MailboxState>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT uidvalidity, uid_next, highest_modseq, exists_count, total_octets, \
                 complete, full_check_at FROM mailbox_state WHERE account_id = ?1 AND mailbox = ?2",
                params![account_id, mailbox],
                |r| {
                    Ok(MailboxState {
                        uidvalidity: uid_u32(r.get(0)?),
                        uid_next: uid_u32(r.get(1)?),
                        highest_modseq: r.get::<_, Option<i64>>(2)?.map(|v| v as u64),
                        exists_count: uid_u32(r.get(3)?),
                        total_octets: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                        complete: r.get(5)?,
                        full_check_at: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn save_mailbox_state(
        &self,
        account_id: i64,
        mailbox: &str,
        s: &MailboxState,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO mailbox_state (account_id, mailbox, uidvalidity, uid_next, highest_modseq, \
             exists_count, total_octets, complete, full_check_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (account_id, mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, \
             uid_next = excluded.uid_next, highest_modseq = excluded.highest_modseq, \
             exists_count = excluded.exists_count, total_octets = excluded.total_octets, \
             complete = excluded.complete, full_check_at = excluded.full_check_at",
            params![
                account_id,
                mailbox,
                s.uidvalidity,
                s.uid_next,
                s.highest_modseq.map(|v| v as i64),
                s.exists_count,
                s.total_octets.map(|v| v as i64),
                s.complete,
                s.full_check_at
            ],
        )?;
        Ok(())
    }

    /// Every source this account has in `mailbox` ("" for POP3), including ones waiting for a
    /// reverse-sync delete and, for IMAP, ones under an older UIDVALIDITY.
    pub fn sources(&self, account_id: i64, mailbox: &str) -> Result<Vec<StoredSource>> {
        self.query_sources("", params![account_id, mailbox])
    }

    /// Sources still on their server that must be deleted there: deleted here, or stored before
    /// `due_before` (the delete-after policy). Cheap: the no-change path runs it every pass.
    pub fn sources_to_delete(
        &self,
        account_id: i64,
        mailbox: &str,
        due_before: Option<i64>,
    ) -> Result<Vec<StoredSource>> {
        match due_before {
            None => self.query_sources(
                " AND s.delete_requested = 1 AND s.state = 'present'",
                params![account_id, mailbox],
            ),
            Some(due) => self.query_sources(
                " AND s.state = 'present' AND (s.delete_requested = 1 OR s.stored_at <= ?3)",
                params![account_id, mailbox, due],
            ),
        }
    }

    fn query_sources(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<StoredSource>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT s.id, s.message_id, s.mailbox, s.uidvalidity, s.uid, s.uidl, s.state, \
             s.delete_requested, s.stored_at, m.message_key FROM source s \
             JOIN message m ON m.id = s.message_id WHERE s.account_id = ?1 AND s.mailbox = ?2{filter}"
        ))?;
        let rows = stmt.query_map(args, |r| {
            let state: String = r.get(6)?;
            Ok(StoredSource {
                id: r.get(0)?,
                message_id: r.get(1)?,
                mailbox: r.get(2)?,
                uidvalidity: uid_u32(r.get(3)?),
                uid: uid_u32(r.get(4)?),
                uidl: r.get(5)?,
                gone: state == "gone",
                delete_requested: r.get(7)?,
                stored_at: r.get(8)?,
                message_key: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The account's tombstones (remote keys never to download again).
    pub fn tombstones(&self, account_id: i64) -> Result<HashSet<String>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT remote_key FROM tombstone WHERE account_id = ?1")?;
        let rows = stmt.query_map([account_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Drops tombstones whose message is no longer on the server (nothing left to protect).
    pub fn prune_tombstones(&mut self, account_id: i64, keep: &HashSet<String>) -> Result<usize> {
        let all = self.tombstones(account_id)?;
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut n = 0;
        for key in all.difference(keep) {
            n += tx.execute(
                "DELETE FROM tombstone WHERE account_id = ?1 AND remote_key = ?2",
                params![account_id, key],
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// After a UIDVALIDITY change: points old sources at their new UIDs (found by Message-ID),
    /// so nothing already stored is downloaded again.
    pub fn remap_imap_sources(&mut self, moves: &[(i64, u32, u32)]) -> Result<()> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (source_id, uidvalidity, uid) in moves {
            tx.prepare_cached("UPDATE source SET uidvalidity = ?2, uid = ?3 WHERE id = ?1")?
                .execute(params![source_id, uidvalidity, uid])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Server flags of IMAP messages, by UID, as fetched; the server's view wins.
    pub fn apply_imap_flags(
        &mut self,
        account_id: i64,
        mailbox: &str,
        uidvalidity: u32,
        flags: &[(u32, Flags)],
    ) -> Result<usize> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut changed = 0;
        for (uid, f) in flags {
            changed += tx
                .prepare_cached(
                    "UPDATE message SET seen = ?4, flagged = ?5, answered = ?6, draft = ?7 \
                     WHERE id = (SELECT message_id FROM source WHERE account_id = ?1 \
                     AND mailbox = ?2 AND uidvalidity = ?3 AND uid = ?8) \
                     AND (seen, flagged, answered, draft) IS NOT (?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    account_id,
                    mailbox,
                    uidvalidity,
                    f.seen,
                    f.flagged,
                    f.answered,
                    f.draft,
                    uid
                ])?;
        }
        tx.commit()?;
        Ok(changed)
    }

    /// Forward sync: these sources are no longer on their server. Under `delete-after` the local
    /// copy is the master and stays (the source is kept as 'gone'); otherwise the source is
    /// removed, and a message left with no source leaves the inbox. Returns messages removed.
    pub fn sources_vanished(&mut self, policy: SyncPolicy, source_ids: &[i64]) -> Result<usize> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut touched = Vec::new();
        for id in source_ids {
            let row: Option<(i64, bool)> = tx
                .prepare_cached("SELECT message_id, delete_requested FROM source WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((message_id, delete_requested)) = row else {
                continue;
            };
            let keep_local = matches!(policy, SyncPolicy::DeleteAfter(_)) && !delete_requested;
            if keep_local {
                tx.prepare_cached("UPDATE source SET state = 'gone' WHERE id = ?1")?
                    .execute([id])?;
            } else {
                tx.prepare_cached("DELETE FROM source WHERE id = ?1")?
                    .execute([id])?;
                touched.push(message_id);
            }
        }
        let purged = purge_messages(&tx, &touched)?;
        tx.commit()?;
        Ok(purged)
    }

    /// The server confirmed these sources are deleted there (after EXPUNGE / POP3 QUIT).
    /// Same bookkeeping as a vanished source.
    pub fn remote_deleted(&mut self, policy: SyncPolicy, source_ids: &[i64]) -> Result<usize> {
        self.sources_vanished(policy, source_ids)
    }

    /// Deletes a message here. Reverse sync follows each source's account policy: `mirror` and
    /// `delete-after` mark the source for deletion on its server at the next sync; `keep` leaves
    /// the server alone and records a tombstone so the message is never downloaded again. The
    /// message leaves the inbox at once.
    pub fn delete_message(&mut self, id: i64) -> Result<()> {
        let now = now_unix();
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let key: Option<String> = tx
            .query_row(
                "SELECT message_key FROM message WHERE id = ?1 AND deleted_at IS NULL",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(key) = key else {
            return Err(StoreError::NoSuchMessage(id));
        };
        tx.execute(
            "UPDATE message SET deleted_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
        struct Row {
            id: i64,
            account_id: i64,
            policy: String,
            mailbox: String,
            uidvalidity: Option<i64>,
            uid: Option<i64>,
            uidl: Option<String>,
            state: String,
        }
        let sources: Vec<Row> = {
            let mut stmt = tx.prepare(
                "SELECT s.id, s.account_id, a.policy, s.mailbox, s.uidvalidity, s.uid, s.uidl, s.state \
                 FROM source s JOIN account a ON a.id = s.account_id WHERE s.message_id = ?1",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok(Row {
                    id: r.get(0)?,
                    account_id: r.get(1)?,
                    policy: r.get(2)?,
                    mailbox: r.get(3)?,
                    uidvalidity: r.get(4)?,
                    uid: r.get(5)?,
                    uidl: r.get(6)?,
                    state: r.get(7)?,
                })
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for Row {
            id: source_id,
            account_id,
            policy,
            mailbox,
            uidvalidity,
            uid,
            uidl,
            state,
        } in sources
        {
            let policy: SyncPolicy = policy.parse()?;
            if state == "gone" {
                // Nothing left on the server to delete.
                tx.execute("DELETE FROM source WHERE id = ?1", [source_id])?;
                continue;
            }
            match policy {
                SyncPolicy::Keep => {
                    let mut keys = vec![format!("mid:{key}")];
                    if let Some(uidl) = uidl {
                        keys.push(format!("uidl:{uidl}"));
                    }
                    if let (Some(v), Some(u)) = (uidvalidity, uid) {
                        keys.push(format!("imap:{mailbox}:{v}:{u}"));
                    }
                    for k in keys {
                        tx.execute(
                            "INSERT OR IGNORE INTO tombstone (account_id, remote_key, created_at) \
                             VALUES (?1, ?2, ?3)",
                            params![account_id, k, now],
                        )?;
                    }
                    tx.execute("DELETE FROM source WHERE id = ?1", [source_id])?;
                }
                SyncPolicy::Mirror | SyncPolicy::DeleteAfter(_) => {
                    tx.execute(
                        "UPDATE source SET delete_requested = 1 WHERE id = ?1",
                        [source_id],
                    )?;
                }
            }
        }
        purge_messages(&tx, &[id])?;
        tx.commit()?;
        Ok(())
    }

    /// Changes flags here (seen / flagged; `None` leaves a flag as it is). IMAP sources are
    /// marked so each account's next pass pushes the change to its server.
    pub fn set_local_flags(
        &mut self,
        id: i64,
        seen: Option<bool>,
        flagged: Option<bool>,
    ) -> Result<Flags> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: Option<Flags> = tx
            .query_row(
                "SELECT seen, flagged, answered, draft FROM message WHERE id = ?1 AND deleted_at IS NULL",
                [id],
                |r| {
                    Ok(Flags {
                        seen: r.get(0)?,
                        flagged: r.get(1)?,
                        answered: r.get(2)?,
                        draft: r.get(3)?,
                    })
                },
            )
            .optional()?;
        let mut f = current.ok_or(StoreError::NoSuchMessage(id))?;
        f.seen = seen.unwrap_or(f.seen);
        f.flagged = flagged.unwrap_or(f.flagged);
        set_flags(&tx, id, f)?;
        tx.execute(
            "UPDATE source SET flags_pending = 1 WHERE message_id = ?1 AND uid IS NOT NULL AND state = 'present'",
            [id],
        )?;
        tx.commit()?;
        Ok(f)
    }

    /// (source id, uid, the message's current flags) for sources in this mailbox waiting to have
    /// flags pushed.
    pub fn pending_flag_pushes(
        &self,
        account_id: i64,
        mailbox: &str,
        uidvalidity: u32,
    ) -> Result<Vec<(i64, u32, Flags)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT s.id, s.uid, m.seen, m.flagged, m.answered, m.draft FROM source s \
             JOIN message m ON m.id = s.message_id WHERE s.account_id = ?1 AND s.mailbox = ?2 \
             AND s.uidvalidity = ?3 AND s.flags_pending = 1",
        )?;
        let rows = stmt.query_map(params![account_id, mailbox, uidvalidity], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, i64>(1)? as u32,
                Flags {
                    seen: r.get(2)?,
                    flagged: r.get(3)?,
                    answered: r.get(4)?,
                    draft: r.get(5)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn flags_pushed(&mut self, source_ids: &[i64]) -> Result<()> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for id in source_ids {
            tx.prepare_cached("UPDATE source SET flags_pending = 0 WHERE id = ?1")?
                .execute([id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Message keys already stored, with the sources of this account/mailbox that point at
    /// them under an old UIDVALIDITY: used to re-map after a UIDVALIDITY change.
    pub fn stale_imap_sources(
        &self,
        account_id: i64,
        mailbox: &str,
        uidvalidity: u32,
    ) -> Result<HashMap<String, Vec<i64>>> {
        let mut out: HashMap<String, Vec<i64>> = HashMap::new();
        for s in self.sources(account_id, mailbox)? {
            if s.uidvalidity != Some(uidvalidity) {
                out.entry(s.message_key).or_default().push(s.id);
            }
        }
        Ok(out)
    }
}
