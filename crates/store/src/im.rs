//! Instant messages in the consolidated store.
//!
//! An IM is stored as a message like mail is — one `message` row (empty subject, the text as
//! body, the stanza XML as raw), one `source` row of its XMPP account (mailbox `''`, `uidl` =
//! the key it was stored under), a full-text row — so the inbox, search, the index (change
//! log) and the router treat both channels alike. What only IMs have (the conversation's
//! contact, direction, archive and origin ids, delivery state) is in `im_message`.
//!
//! Dedup: the XMPP side hands every IM in with all the keys it is known by (archive id,
//! origin id, sender + id + text). If any key was seen before for that account, the IM is
//! `Known` and nothing changes; otherwise it is stored and every key recorded in the same
//! transaction. Keys outlive messages, so an IM deleted here is not brought back by the next
//! archive catch-up.

use rusqlite::{params, OptionalExtension, Transaction};
use serde::Serialize;
use switchboard_model::{Address, UniformMessage};

use crate::{now_unix, Flags, Result, Store, StoreError};

/// Mailbox name of every IM source (an XMPP account has one stream of messages).
pub const IM_MAILBOX: &str = "";

/// Which way an IM went, seen from this person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ImDirection {
    /// From the contact to this person.
    In,
    /// From this person (here or on another of their clients) to the contact.
    Out,
}

impl ImDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            ImDirection::In => "in",
            ImDirection::Out => "out",
        }
    }
}

/// Where an IM stands. Incoming ones are `received`; outgoing ones go `queued → sent → acked`
/// (the server confirmed it, XEP-0198) `→ delivered` (the contact's client confirmed it,
/// XEP-0184), or `failed` (the server bounced it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ImState {
    Received,
    Queued,
    Sent,
    Acked,
    Delivered,
    Failed,
}

impl ImState {
    pub fn as_str(self) -> &'static str {
        match self {
            ImState::Received => "received",
            ImState::Queued => "queued",
            ImState::Sent => "sent",
            ImState::Acked => "acked",
            ImState::Delivered => "delivered",
            ImState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> ImState {
        match s {
            "queued" => ImState::Queued,
            "sent" => ImState::Sent,
            "acked" => ImState::Acked,
            "delivered" => ImState::Delivered,
            "failed" => ImState::Failed,
            _ => ImState::Received,
        }
    }

    /// Later states never step back (a receipt can arrive before the server's ack).
    fn rank(self) -> u8 {
        match self {
            ImState::Received => 0,
            ImState::Queued => 1,
            ImState::Sent => 2,
            ImState::Acked => 3,
            ImState::Delivered => 4,
            ImState::Failed => 5,
        }
    }
}

/// One IM to store.
#[derive(Debug, Clone)]
pub struct NewIm {
    pub direction: ImDirection,
    /// Bare JID of the other side.
    pub contact: String,
    /// Sender and recipient as addresses (bare JIDs; the contact's roster name when known).
    pub from: Address,
    pub to: Address,
    pub body: String,
    /// When it was sent (delay stamp) or received, unix milliseconds.
    pub at_ms: i64,
    pub stanza_id: Option<String>,
    pub origin_id: Option<String>,
    pub thread: Option<String>,
    /// Every key it is known by; the first is the one it is stored under. Never empty.
    pub keys: Vec<String>,
    /// The message key (a synthetic Message-ID, `<hex>@im.switchboard.invalid`).
    pub message_key: String,
    /// The stanza as received (or as sent).
    pub raw: Vec<u8>,
    pub state: ImState,
    /// Old history filled in (the first archive catch-up): stored, but not routed as news.
    pub history: bool,
    /// Not routed, for this reason (e.g. a reply to a forwarded message, handled by the IM
    /// side); recorded in the same transaction as the message.
    pub route_note: Option<String>,
    /// What is known about it beyond its state (kept in `state_detail`).
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImOutcome {
    Stored(i64),
    /// Already stored (or stored once and deleted here, then the id is that message's).
    Known(i64),
}

impl ImOutcome {
    pub fn message_id(self) -> i64 {
        match self {
            ImOutcome::Stored(id) | ImOutcome::Known(id) => id,
        }
    }
}

/// Where an account's archive catch-up stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivePosition {
    pub after_id: String,
    /// Unix milliseconds of that message.
    pub at_ms: i64,
}

/// An IM as the conversation view and the API show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImMessage {
    /// The message id in the store (`/api/messages/{id}`).
    pub id: i64,
    pub account: String,
    pub contact: String,
    pub direction: ImDirection,
    pub body: String,
    /// RFC 3339 (seconds) and unix milliseconds.
    pub date: String,
    pub at_ms: i64,
    pub state: ImState,
    pub state_detail: Option<String>,
    pub origin_id: Option<String>,
    pub stanza_id: Option<String>,
    pub thread: Option<String>,
    pub seen: bool,
}

/// One conversation: an account and a contact, with its latest message.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImConversation {
    pub account: String,
    pub contact: String,
    pub name: Option<String>,
    /// offline | available | chat | away | xa | dnd
    pub presence: String,
    pub status: Option<String>,
    pub messages: i64,
    pub unread: i64,
    pub last: ImMessage,
}

/// A roster entry with its presence.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImContact {
    pub account: String,
    pub jid: String,
    pub name: Option<String>,
    /// none | to | from | both
    pub subscription: String,
    pub presence: String,
    pub status: Option<String>,
    pub presence_at: Option<i64>,
}

/// A roster item from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterItem {
    pub jid: String,
    pub name: Option<String>,
    pub subscription: String,
}

/// An outgoing IM waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedIm {
    pub message_id: i64,
    pub contact: String,
    pub body: String,
    pub origin_id: String,
    pub thread: Option<String>,
}

fn uniform(im: &NewIm) -> UniformMessage {
    let date = im.at_ms.div_euclid(1000);
    UniformMessage {
        message_key: im.message_key.clone(),
        has_message_id: false,
        subject: String::new(),
        from: vec![im.from.clone()],
        to: vec![im.to.clone()],
        cc: vec![],
        reply_to: vec![],
        date: Some(date),
        in_reply_to: vec![],
        references: vec![],
        list_id: None,
        text_body: Some(im.body.clone()),
        html_body: None,
        attachments: vec![],
        size: im.raw.len() as u64,
        parse_problems: vec![],
    }
}

fn known(tx: &Transaction<'_>, account_id: i64, keys: &[String]) -> Result<Option<i64>> {
    let mut stmt =
        tx.prepare_cached("SELECT message_id FROM im_seen WHERE account_id = ?1 AND key = ?2")?;
    for k in keys {
        if let Some(id) = stmt
            .query_row(params![account_id, k], |r| r.get(0))
            .optional()?
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

fn insert_im(tx: &Transaction<'_>, account_id: i64, im: &NewIm, now: i64) -> Result<i64> {
    let parsed = uniform(im);
    let flags = Flags {
        // What this person wrote is read; history filled in is not news either.
        seen: im.direction == ImDirection::Out,
        ..Default::default()
    };
    let id = crate::ingest::insert_message_row(tx, &im.raw, &parsed, flags, now)?;
    tx.prepare_cached(
        "INSERT INTO source (message_id, account_id, mailbox, uidl, stored_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, account_id, IM_MAILBOX, im.keys[0], now])?;
    tx.prepare_cached(
        "INSERT INTO im_message (message_id, account_id, contact, direction, stanza_id, \
         origin_id, thread, state, state_detail, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        id,
        account_id,
        im.contact,
        im.direction.as_str(),
        im.stanza_id,
        im.origin_id,
        im.thread,
        im.state.as_str(),
        im.detail,
        im.at_ms
    ])?;
    let mut seen = tx.prepare_cached(
        "INSERT OR IGNORE INTO im_seen (account_id, key, message_id) VALUES (?1, ?2, ?3)",
    )?;
    for k in &im.keys {
        seen.execute(params![account_id, k, id])?;
    }
    if im.direction == ImDirection::Out || im.history || im.route_note.is_some() {
        let reason = match &im.route_note {
            Some(note) => note.as_str(),
            None if im.history => "history filled in from the archive",
            None => "written by this person",
        };
        tx.prepare_cached(
            "UPDATE message_route SET state = 'skipped', reason = ?2, at = ?3 \
             WHERE message_id = ?1 AND state = 'pending'",
        )?
        .execute(params![id, reason, now])?;
    }
    Ok(id)
}

fn im_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImMessage> {
    let direction: String = r.get(3)?;
    let state: String = r.get(7)?;
    let at_ms: i64 = r.get(6)?;
    Ok(ImMessage {
        id: r.get(0)?,
        account: r.get(1)?,
        contact: r.get(2)?,
        direction: if direction == "out" {
            ImDirection::Out
        } else {
            ImDirection::In
        },
        body: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
        seen: r.get(5)?,
        date: crate::rfc3339(at_ms.div_euclid(1000)),
        at_ms,
        state: ImState::parse(&state),
        state_detail: r.get(8)?,
        origin_id: r.get(9)?,
        stanza_id: r.get(10)?,
        thread: r.get(11)?,
    })
}

const IM_COLUMNS: &str = "m.id, a.name, i.contact, i.direction, m.text_body, m.seen, i.at, \
    i.state, i.state_detail, i.origin_id, i.stanza_id, i.thread";

impl Store {
    /// Stores a batch of IMs of one account in one transaction, and moves the archive position
    /// with them when given (so it never runs ahead of what is stored). Idempotent.
    pub fn ingest_im(
        &mut self,
        account_id: i64,
        batch: &[NewIm],
        archive: Option<&ArchivePosition>,
    ) -> Result<Vec<ImOutcome>> {
        let now = now_unix();
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(batch.len());
        let mut stored = Vec::new();
        for im in batch {
            if im.keys.is_empty() {
                return Err(StoreError::Invalid {
                    field: "keys",
                    detail: "an IM needs at least one key to be stored under".into(),
                });
            }
            if let Some(id) = known(&tx, account_id, &im.keys)? {
                // Learn the keys this copy adds (an archive id for a message first seen live).
                let mut seen = tx.prepare_cached(
                    "INSERT OR IGNORE INTO im_seen (account_id, key, message_id) VALUES (?1, ?2, ?3)",
                )?;
                for k in &im.keys {
                    seen.execute(params![account_id, k, id])?;
                }
                if let Some(sid) = &im.stanza_id {
                    tx.prepare_cached(
                        "UPDATE im_message SET stanza_id = ?2 WHERE message_id = ?1 AND stanza_id IS NULL",
                    )?
                    .execute(params![id, sid])?;
                }
                out.push(ImOutcome::Known(id));
                continue;
            }
            let id = insert_im(&tx, account_id, im, now)?;
            stored.push(id);
            out.push(ImOutcome::Stored(id));
        }
        crate::search::index_messages(&tx, &stored)?;
        if let Some(pos) = archive {
            set_archive_position(&tx, account_id, pos, now)?;
        }
        tx.commit()?;
        Ok(out)
    }

    /// Puts an IM written here into the outbox (state `queued`); the account's connection
    /// sends it. Returns the message id.
    pub fn queue_im(&mut self, account_id: i64, im: &NewIm) -> Result<i64> {
        let mut im = im.clone();
        im.state = ImState::Queued;
        match self.ingest_im(account_id, &[im], None)?.first() {
            Some(ImOutcome::Stored(id)) => Ok(*id),
            Some(ImOutcome::Known(id)) => Ok(*id),
            None => Err(StoreError::Invalid {
                field: "im",
                detail: "nothing was queued".into(),
            }),
        }
    }

    /// The account's outbox, oldest first.
    pub fn im_outbox(&self, account_id: i64) -> Result<Vec<QueuedIm>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT i.message_id, i.contact, m.text_body, i.origin_id, i.thread FROM im_message i \
             JOIN message m ON m.id = i.message_id WHERE i.account_id = ?1 AND i.state = 'queued' \
             AND m.deleted_at IS NULL ORDER BY i.message_id",
        )?;
        let rows = stmt.query_map([account_id], |r| {
            Ok(QueuedIm {
                message_id: r.get(0)?,
                contact: r.get(1)?,
                body: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                origin_id: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                thread: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Moves an IM's delivery state forward (never back; `failed` always wins over pending
    /// states, but not over `delivered`). Returns whether it changed.
    pub fn set_im_state(
        &self,
        message_id: i64,
        state: ImState,
        detail: Option<&str>,
    ) -> Result<bool> {
        let current: Option<String> = self
            .conn()
            .query_row(
                "SELECT state FROM im_message WHERE message_id = ?1",
                [message_id],
                |r| r.get(0),
            )
            .optional()?;
        let Some(current) = current else {
            return Err(StoreError::NoSuchMessage(message_id));
        };
        let current = ImState::parse(&current);
        let forward = match (current, state) {
            (ImState::Delivered, _) | (ImState::Received, _) => false,
            (_, ImState::Failed) => current != ImState::Failed,
            (ImState::Failed, ImState::Queued) => true,
            (ImState::Failed, _) => false,
            _ => state.rank() > current.rank(),
        };
        if !forward {
            return Ok(false);
        }
        self.conn().execute(
            "UPDATE im_message SET state = ?2, state_detail = ?3 WHERE message_id = ?1",
            params![message_id, state.as_str(), detail],
        )?;
        Ok(true)
    }

    /// Changes what is noted about an IM (its `state_detail`), leaving its state.
    pub fn set_im_detail(&self, message_id: i64, detail: Option<&str>) -> Result<()> {
        self.conn().execute(
            "UPDATE im_message SET state_detail = ?2 WHERE message_id = ?1",
            params![message_id, detail],
        )?;
        Ok(())
    }

    /// Incoming IMs of the account whose `state_detail` is exactly `detail`, oldest first (the
    /// IM side's durable to-do marks).
    pub fn ims_with_detail(&self, account_id: i64, detail: &str) -> Result<Vec<ImMessage>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {IM_COLUMNS} FROM im_message i JOIN message m ON m.id = i.message_id \
             JOIN account a ON a.id = i.account_id WHERE i.account_id = ?1 \
             AND i.state_detail = ?2 ORDER BY i.message_id"
        ))?;
        let rows = stmt.query_map(params![account_id, detail], im_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether mail written here with this Message-ID (without brackets) exists.
    pub fn outgoing_with_key(&self, message_key: &str) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id FROM outgoing WHERE message_key = ?1 ORDER BY id LIMIT 1",
                [message_key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The outgoing IM to `contact` sent with this id (receipts and bounces name it).
    pub fn im_by_origin(&self, account_id: i64, origin_id: &str) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT message_id FROM im_message WHERE account_id = ?1 AND origin_id = ?2 \
                 AND direction = 'out' ORDER BY message_id DESC LIMIT 1",
                params![account_id, origin_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// One IM.
    pub fn im_message(&self, message_id: i64) -> Result<ImMessage> {
        self.conn()
            .query_row(
                &format!(
                    "SELECT {IM_COLUMNS} FROM im_message i JOIN message m ON m.id = i.message_id \
                     JOIN account a ON a.id = i.account_id WHERE i.message_id = ?1"
                ),
                [message_id],
                im_from_row,
            )
            .optional()?
            .ok_or(StoreError::NoSuchMessage(message_id))
    }

    /// The messages of one conversation, newest first, before `before_id` when given.
    pub fn im_conversation(
        &self,
        account: &str,
        contact: &str,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<ImMessage>> {
        let account = self
            .account(account)?
            .ok_or_else(|| StoreError::NoSuchAccount(account.to_string()))?;
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {IM_COLUMNS} FROM im_message i JOIN message m ON m.id = i.message_id \
             JOIN account a ON a.id = i.account_id WHERE i.account_id = ?1 AND i.contact = ?2 \
             AND m.deleted_at IS NULL AND (?3 IS NULL OR i.message_id < ?3) \
             ORDER BY i.at DESC, i.message_id DESC LIMIT ?4"
        ))?;
        let rows = stmt.query_map(
            params![account.id, contact, before_id, limit.max(1) as i64],
            im_from_row,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Conversations (one per account and contact), the most recent first; only those of
    /// `owner`'s accounts when given.
    pub fn im_conversations(
        &self,
        owner: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ImConversation>> {
        let mut stmt = self.conn().prepare(&format!(
            "WITH c AS (SELECT i.account_id, i.contact, count(*) AS n, \
                    sum(CASE WHEN m.seen = 0 AND i.direction = 'in' THEN 1 ELSE 0 END) AS unread, \
                    max(i.at * 1000000000 + i.message_id) AS last_key \
                 FROM im_message i JOIN message m ON m.id = i.message_id \
                 WHERE m.deleted_at IS NULL GROUP BY i.account_id, i.contact) \
             SELECT {IM_COLUMNS}, c.n, c.unread, ct.name, coalesce(ct.presence, 'offline'), ct.status \
             FROM c JOIN im_message i ON i.account_id = c.account_id AND i.contact = c.contact \
                 AND i.at * 1000000000 + i.message_id = c.last_key \
             JOIN message m ON m.id = i.message_id JOIN account a ON a.id = i.account_id \
             LEFT JOIN im_contact ct ON ct.account_id = i.account_id AND ct.jid = i.contact \
             WHERE (?1 IS NULL OR a.owner = ?1) ORDER BY i.at DESC, i.message_id DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![owner, limit.max(1) as i64], |r| {
            let last = im_from_row(r)?;
            Ok(ImConversation {
                account: last.account.clone(),
                contact: last.contact.clone(),
                messages: r.get(12)?,
                unread: r.get(13)?,
                name: r.get(14)?,
                presence: r.get(15)?,
                status: r.get(16)?,
                last,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A stored IM as a uniform message (its raw form is XML, which the mail parser cannot
    /// read): sender, recipient, date and text as stored.
    pub(crate) fn im_uniform(&self, id: i64) -> Result<UniformMessage> {
        let m = self.message(id)?;
        Ok(UniformMessage {
            message_key: m.summary.message_id.clone(),
            has_message_id: false,
            subject: m.summary.subject.clone(),
            from: m.summary.from.clone().into_iter().collect(),
            to: m.summary.to.clone(),
            cc: m.cc.clone(),
            reply_to: m.reply_to.clone(),
            date: Some(m.summary.date_unix),
            in_reply_to: vec![],
            references: vec![],
            list_id: None,
            text_body: m.text_body.clone(),
            html_body: None,
            attachments: vec![],
            size: m.summary.size.max(0) as u64,
            parse_problems: vec![],
        })
    }

    /// Where the archive catch-up of an account stands.
    pub fn im_archive_position(&self, account_id: i64) -> Result<Option<ArchivePosition>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT archive_after, archive_at FROM im_sync WHERE account_id = ?1 \
                 AND archive_after IS NOT NULL",
                [account_id],
                |r| {
                    Ok(ArchivePosition {
                        after_id: r.get(0)?,
                        at_ms: r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    })
                },
            )
            .optional()?)
    }

    /// Moves the archive position (when a catch-up ended with nothing new to store).
    pub fn set_im_archive_position(
        &mut self,
        account_id: i64,
        pos: &ArchivePosition,
    ) -> Result<()> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        set_archive_position(&tx, account_id, pos, now_unix())?;
        tx.commit()?;
        Ok(())
    }

    /// Replaces the roster: listed contacts are updated, others leave it (their presence and
    /// messages stay).
    pub fn set_im_roster(&mut self, account_id: i64, items: &[RosterItem]) -> Result<()> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE im_contact SET in_roster = 0 WHERE account_id = ?1",
            [account_id],
        )?;
        for item in items {
            upsert_roster_item(&tx, account_id, item)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// One roster change pushed by the server (`subscription` "remove" takes it out).
    pub fn im_roster_push(&mut self, account_id: i64, item: &RosterItem) -> Result<()> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if item.subscription == "remove" {
            tx.execute(
                "UPDATE im_contact SET in_roster = 0 WHERE account_id = ?1 AND jid = ?2",
                params![account_id, item.jid],
            )?;
        } else {
            upsert_roster_item(&tx, account_id, item)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The last presence of a contact (`offline` when it went away).
    pub fn set_im_presence(
        &self,
        account_id: i64,
        jid: &str,
        presence: &str,
        status: Option<&str>,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO im_contact (account_id, jid, in_roster, presence, status, presence_at) \
             VALUES (?1, ?2, 0, ?3, ?4, ?5) ON CONFLICT (account_id, jid) DO UPDATE SET \
             presence = excluded.presence, status = excluded.status, presence_at = excluded.presence_at",
            params![account_id, jid, presence, status, now_unix()],
        )?;
        Ok(())
    }

    /// Everyone offline: the connection is gone, so is what it knew about presence.
    pub fn clear_im_presence(&self, account_id: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE im_contact SET presence = 'offline', status = NULL WHERE account_id = ?1 \
             AND presence != 'offline'",
            [account_id],
        )?;
        Ok(())
    }

    /// Contacts in the roster (or with a known presence) of every XMPP account, or one.
    pub fn im_contacts(
        &self,
        account: Option<&str>,
        owner: Option<&str>,
    ) -> Result<Vec<ImContact>> {
        let mut stmt = self.conn().prepare(
            "SELECT a.name, c.jid, c.name, c.subscription, c.presence, c.status, c.presence_at \
             FROM im_contact c JOIN account a ON a.id = c.account_id \
             WHERE (c.in_roster = 1 OR c.presence != 'offline') AND (?1 IS NULL OR a.name = ?1) \
             AND (?2 IS NULL OR a.owner = ?2) ORDER BY a.name, c.jid",
        )?;
        let rows = stmt.query_map(params![account, owner], |r| {
            Ok(ImContact {
                account: r.get(0)?,
                jid: r.get(1)?,
                name: r.get(2)?,
                subscription: r.get(3)?,
                presence: r.get(4)?,
                status: r.get(5)?,
                presence_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// A contact's roster name, for display.
    pub fn im_contact_name(&self, account_id: i64, jid: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name FROM im_contact WHERE account_id = ?1 AND jid = ?2",
                params![account_id, jid],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }
}

fn upsert_roster_item(tx: &Transaction<'_>, account_id: i64, item: &RosterItem) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO im_contact (account_id, jid, name, subscription, in_roster) \
         VALUES (?1, ?2, ?3, ?4, 1) ON CONFLICT (account_id, jid) DO UPDATE SET \
         name = excluded.name, subscription = excluded.subscription, in_roster = 1",
    )?
    .execute(params![account_id, item.jid, item.name, item.subscription])?;
    Ok(())
}

fn set_archive_position(
    tx: &Transaction<'_>,
    account_id: i64,
    pos: &ArchivePosition,
    now: i64,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO im_sync (account_id, archive_after, archive_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account_id) DO UPDATE SET \
         archive_after = excluded.archive_after, archive_at = excluded.archive_at, \
         updated_at = excluded.updated_at",
    )?
    .execute(params![account_id, pos.after_id, pos.at_ms, now])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_only_move_forward() {
        assert!(ImState::Acked.rank() > ImState::Sent.rank());
        assert!(ImState::Delivered.rank() > ImState::Acked.rank());
        for s in ["received", "queued", "sent", "acked", "delivered", "failed"] {
            assert_eq!(ImState::parse(s).as_str(), s);
        }
    }
}
