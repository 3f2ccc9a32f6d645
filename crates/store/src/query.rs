//! Reading the consolidated inbox: listing, one message, full-text search, raw source.

use rusqlite::{params_from_iter, OptionalExtension, Row};
use serde::Serialize;
use switchboard_model::{Address, AttachmentMeta};

use crate::{rfc3339, Flags, Result, Store, StoreError};

/// How a message reached the person: by mail (IMAP, POP3) or as an instant message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Mail,
    Im,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Mail => "mail",
            Channel::Im => "im",
        }
    }

    /// The account kinds that deliver on this channel.
    fn account_kinds(self) -> &'static str {
        match self {
            Channel::Mail => "('imap', 'pop3')",
            Channel::Im => "('xmpp')",
        }
    }

    /// The channel of a source's account kind.
    pub fn of_account_kind(kind: &str) -> Channel {
        if kind == "xmpp" {
            Channel::Im
        } else {
            Channel::Mail
        }
    }
}

impl std::str::FromStr for Channel {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Channel> {
        match s {
            "mail" => Ok(Channel::Mail),
            "im" => Ok(Channel::Im),
            other => Err(StoreError::Invalid {
                field: "channel",
                detail: format!("'{other}' is not a channel (mail or im)"),
            }),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct InboxQuery {
    pub limit: usize,
    pub account: Option<String>,
    pub mailbox: Option<String>,
    pub unread_only: bool,
    pub flagged_only: bool,
    /// Keyset paging: only messages strictly after this (sort_date, id) in newest-first order.
    pub before: Option<(i64, i64)>,
    /// Only messages with a source in this household member's accounts.
    pub owner: Option<String>,
    /// Only messages that came by this channel.
    pub channel: Option<Channel>,
}

/// Where one copy of a message lives, for display and JSON.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceView {
    pub account: String,
    pub kind: String,
    pub mailbox: Option<String>,
    pub uidvalidity: Option<i64>,
    pub uid: Option<i64>,
    pub uidl: Option<String>,
    /// "uid 42 in INBOX" style remote id, the same for both protocols.
    pub remote_id: String,
    pub state: String,
    pub delete_pending: bool,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageSummary {
    pub id: i64,
    pub message_id: String,
    pub synthetic_id: bool,
    pub subject: String,
    pub from: Option<Address>,
    pub to: Vec<Address>,
    pub date: Option<String>,
    pub date_unix: i64,
    pub size: i64,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub flags: Vec<&'static str>,
    pub has_attachments: bool,
    /// `mail` or `im`: how the message came (from its sources' accounts).
    pub channel: &'static str,
    pub sources: Vec<SourceView>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageDetail {
    #[serde(flatten)]
    pub summary: MessageSummary,
    pub cc: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub list_id: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    pub attachments: Vec<AttachmentMeta>,
    pub parse_problems: Vec<String>,
}

const SUMMARY_COLUMNS: &str = "m.id, m.message_key, m.has_message_id, m.subject, m.from_addr, \
    m.from_name, m.to_json, m.date, m.sort_date, m.size, m.seen, m.flagged, m.answered, m.draft, \
    m.has_attachments";

fn summary_from_row(r: &Row<'_>) -> rusqlite::Result<MessageSummary> {
    let from_addr: Option<String> = r.get(4)?;
    let from_name: Option<String> = r.get(5)?;
    let to_json: String = r.get(6)?;
    let date: Option<i64> = r.get(7)?;
    let has_id: bool = r.get(2)?;
    let flags = Flags {
        seen: r.get(10)?,
        flagged: r.get(11)?,
        answered: r.get(12)?,
        draft: r.get(13)?,
    };
    Ok(MessageSummary {
        id: r.get(0)?,
        message_id: r.get(1)?,
        synthetic_id: !has_id,
        subject: r.get(3)?,
        from: from_addr.map(|email| Address {
            name: from_name,
            email,
        }),
        to: serde_json::from_str(&to_json).unwrap_or_default(),
        date: date.map(rfc3339),
        date_unix: r.get(8)?,
        size: r.get(9)?,
        flags: flags.names(),
        has_attachments: r.get(14)?,
        channel: Channel::Mail.as_str(),
        sources: Vec::new(),
    })
}

/// The newest matches of an FTS query (`?1`), optionally of one owner (`?2`), at most `?` of them.
fn search_sql(owned: bool) -> String {
    let owned = if owned { crate::owners::OWNED_BY } else { "" };
    format!(
        "SELECT {SUMMARY_COLUMNS} FROM message_search f JOIN message m ON m.id = {} \
         WHERE message_search MATCH ? AND m.deleted_at IS NULL{owned} \
         ORDER BY f.rowid DESC LIMIT ?",
        crate::search::MESSAGE_ID_OF_KEY
    )
}

impl Store {
    fn attach_sources(&self, list: &mut [MessageSummary]) -> Result<()> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT a.name, a.kind, s.mailbox, s.uidvalidity, s.uid, s.uidl, s.state, s.delete_requested \
             FROM source s JOIN account a ON a.id = s.account_id WHERE s.message_id = ?1 ORDER BY a.name",
        )?;
        for m in list.iter_mut() {
            let rows = stmt.query_map([m.id], |r| {
                let kind: String = r.get(1)?;
                let mailbox: String = r.get(2)?;
                let uid: Option<i64> = r.get(4)?;
                let uidl: Option<String> = r.get(5)?;
                let remote_id = match (&uidl, uid) {
                    (Some(u), _) => format!("uidl {u}"),
                    (None, Some(uid)) => format!("{mailbox} uid {uid}"),
                    _ => String::new(),
                };
                Ok(SourceView {
                    account: r.get(0)?,
                    kind,
                    mailbox: (!mailbox.is_empty()).then_some(mailbox),
                    uidvalidity: r.get(3)?,
                    uid,
                    uidl,
                    remote_id,
                    state: r.get(6)?,
                    delete_pending: r.get(7)?,
                })
            })?;
            m.sources = rows.collect::<rusqlite::Result<_>>()?;
            if let Some(first) = m.sources.first() {
                m.channel = Channel::of_account_kind(&first.kind).as_str();
            }
        }
        Ok(())
    }

    /// The consolidated inbox, newest first.
    pub fn inbox(&self, q: &InboxQuery) -> Result<Vec<MessageSummary>> {
        let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM message m WHERE m.deleted_at IS NULL");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if q.unread_only {
            sql.push_str(" AND m.seen = 0");
        }
        if q.flagged_only {
            sql.push_str(" AND m.flagged = 1");
        }
        if let Some((date, id)) = q.before {
            sql.push_str(" AND (m.sort_date < ? OR (m.sort_date = ? AND m.id < ?))");
            args.push(date.into());
            args.push(date.into());
            args.push(id.into());
        }
        if let Some(mailbox) = &q.mailbox {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM source s WHERE s.message_id = m.id AND s.mailbox = ?)",
            );
            args.push(mailbox.clone().into());
        }
        if let Some(account) = &q.account {
            if self.account(account)?.is_none() {
                return Err(StoreError::NoSuchAccount(account.clone()));
            }
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM source s JOIN account a ON a.id = s.account_id \
                 WHERE s.message_id = m.id AND a.name = ?)",
            );
            args.push(account.clone().into());
        }
        if let Some(channel) = q.channel {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM source cs JOIN account ca ON ca.id = cs.account_id \
                 WHERE cs.message_id = m.id AND ca.kind IN {})",
                channel.account_kinds()
            ));
        }
        if let Some(owner) = &q.owner {
            sql.push_str(crate::owners::OWNED_BY);
            args.push(owner.clone().into());
        }
        sql.push_str(" ORDER BY m.sort_date DESC, m.id DESC LIMIT ?");
        args.push((q.limit.max(1) as i64).into());
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), summary_from_row)?;
        let mut list: Vec<MessageSummary> = rows.collect::<rusqlite::Result<_>>()?;
        self.attach_sources(&mut list)?;
        Ok(list)
    }

    /// Full-text search over subject, sender, recipients and body, newest first.
    pub fn search(&self, text: &str, limit: usize) -> Result<Vec<MessageSummary>> {
        self.search_for(text, limit, None)
    }

    /// [`Store::search`] limited to one household member's messages when `owner` is given.
    ///
    /// FTS5 yields the matches in the order of the index's search keys, which sort like the
    /// inbox (search.rs), so the newest `limit` matches come first and the rest are never
    /// looked at, however many there are: a word typed into a search box matches most of the
    /// store after two letters.
    pub fn search_for(
        &self,
        text: &str,
        limit: usize,
        owner: Option<&str>,
    ) -> Result<Vec<MessageSummary>> {
        let query = {
            let mut terms = self.search_terms.borrow_mut();
            terms.check(self.conn())?;
            crate::search::build_query(text, &mut |w| terms.expand(self.conn(), w))?
        };
        let Some(query) = query else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn().prepare_cached(&search_sql(owner.is_some()))?;
        let mut args: Vec<rusqlite::types::Value> = vec![query.into()];
        if let Some(owner) = owner {
            args.push(owner.to_string().into());
        }
        args.push((limit.max(1) as i64).into());
        let rows = stmt.query_map(params_from_iter(args), summary_from_row)?;
        let mut list: Vec<MessageSummary> = rows.collect::<rusqlite::Result<_>>()?;
        // The key's order is the inbox's except among messages dated outside its range.
        list.sort_by_key(|m| std::cmp::Reverse((m.date_unix, m.id)));
        self.attach_sources(&mut list)?;
        Ok(list)
    }

    /// One message with its bodies and metadata; deleted messages are not shown.
    pub fn message(&self, id: i64) -> Result<MessageDetail> {
        let row = self
            .conn()
            .query_row(
                &format!(
                    "SELECT {SUMMARY_COLUMNS}, m.cc_json, m.reply_to_json, m.in_reply_to, \
                     m.references_json, m.list_id, m.text_body, m.html_body, m.attachments_json, \
                     m.parse_problems_json FROM message m WHERE m.id = ?1 AND m.deleted_at IS NULL"
                ),
                [id],
                |r| {
                    let summary = summary_from_row(r)?;
                    let json = |i: usize| -> rusqlite::Result<String> { r.get(i) };
                    Ok((
                        summary,
                        json(15)?,
                        json(16)?,
                        r.get(17)?,
                        json(18)?,
                        r.get(19)?,
                        r.get(20)?,
                        r.get(21)?,
                        json(22)?,
                        json(23)?,
                    ))
                },
            )
            .optional()?;
        let Some((
            summary,
            cc,
            reply_to,
            in_reply_to,
            references,
            list_id,
            text,
            html,
            atts,
            problems,
        )) = row
        else {
            return Err(StoreError::NoSuchMessage(id));
        };
        let mut list = [summary];
        self.attach_sources(&mut list)?;
        let [summary] = list;
        Ok(MessageDetail {
            summary,
            cc: serde_json::from_str(&cc).unwrap_or_default(),
            reply_to: serde_json::from_str(&reply_to).unwrap_or_default(),
            in_reply_to,
            references: serde_json::from_str(&references).unwrap_or_default(),
            list_id,
            text_body: text,
            html_body: html,
            attachments: serde_json::from_str(&atts).unwrap_or_default(),
            parse_problems: serde_json::from_str(&problems).unwrap_or_default(),
        })
    }

    /// The message exactly as received.
    pub fn raw(&self, id: i64) -> Result<Vec<u8>> {
        let row: Option<(String, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT codec, data FROM message_raw WHERE message_id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (codec, data) = row.ok_or(StoreError::NoSuchMessage(id))?;
        match codec.as_str() {
            "lz4" => lz4_flex::decompress_size_prepended(&data).map_err(|e| StoreError::Corrupt {
                id,
                detail: e.to_string(),
            }),
            "none" => Ok(data),
            other => Err(StoreError::Corrupt {
                id,
                detail: format!("unknown codec '{other}'"),
            }),
        }
    }

    /// Numbers of messages (visible, and including locally deleted ones) for tests and status.
    pub fn message_count(&self, include_deleted: bool) -> Result<i64> {
        let sql = if include_deleted {
            "SELECT count(*) FROM message"
        } else {
            "SELECT count(*) FROM message WHERE deleted_at IS NULL"
        };
        Ok(self.conn().query_row(sql, [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_reads_matches_in_key_order_without_sorting_them() {
        // The point of the search key: SQLite must take the matches in FTS5's order and stop
        // at the limit, not collect and sort them all (a temporary b-tree).
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        for owned in [false, true] {
            let sql = format!("EXPLAIN QUERY PLAN {}", search_sql(owned));
            let mut stmt = store.conn().prepare(&sql).unwrap();
            let mut args: Vec<rusqlite::types::Value> = vec!["\"x\"*".to_string().into()];
            if owned {
                args.push("o".to_string().into());
            }
            args.push(10i64.into());
            let plan: Vec<String> = stmt
                .query_map(params_from_iter(args), |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            assert!(
                plan.first()
                    .is_some_and(|p| p.contains("SCAN f VIRTUAL TABLE")),
                "{plan:?}"
            );
            assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
        }
    }
}
