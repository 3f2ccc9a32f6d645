//! The conversation map (seed 001's message map): for each message forwarded as an IM, where
//! a reply to it must go — the original sender, channel and account — and how the IM side
//! recognises a reply to it: its short reference (`#3`), its XMPP thread, its stanza id.
//!
//! References are short so a person can type them. Each IM address has at most
//! `max_per_address` live entries; when a new forward needs one and all are taken, the least
//! recently used entry is given up and its reference reused (the seed's reallocation of the
//! least recently active session). Entries idle longer than `idle_secs` expire. A reply that
//! matches keeps its entry alive.

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::Serialize;

use crate::{now_unix, Result, Store, StoreError};

/// Limits of the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardLimits {
    /// An entry not used (forwarded or replied to) for this long is gone.
    pub idle_secs: i64,
    /// Live entries per IM address; beyond it the least recently used is reused.
    pub max_per_address: usize,
}

impl Default for ForwardLimits {
    fn default() -> Self {
        ForwardLimits {
            idle_secs: 7 * 24 * 3600,
            max_per_address: 99,
        }
    }
}

/// A new entry: the forward and what it forwards.
#[derive(Debug, Clone)]
pub struct NewForward {
    /// The XMPP account that sends the forward.
    pub account_id: i64,
    /// The person's IM address (bare JID).
    pub im_to: String,
    pub thread: String,
    /// The stanza id of the forward (also its origin-id).
    pub im_id: String,
    pub message_id: Option<i64>,
    pub delivery_id: Option<i64>,
    /// `mail` or `im`.
    pub orig_channel: String,
    pub orig_account_id: Option<i64>,
    /// Where a reply goes: a mail address or a JID.
    pub orig_sender: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwardEntry {
    pub id: i64,
    pub account_id: i64,
    pub im_to: String,
    /// The reference without `#`.
    pub reference: String,
    pub thread: String,
    pub im_id: String,
    pub message_id: Option<i64>,
    pub delivery_id: Option<i64>,
    pub orig_channel: String,
    pub orig_account_id: Option<i64>,
    pub orig_sender: String,
    pub created_at: i64,
    pub last_used_at: i64,
}

/// How a reply names the forward it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardKey<'a> {
    /// XEP-0461: the id of the message replied to.
    ImId(&'a str),
    /// XEP-0201: the thread.
    Thread(&'a str),
    /// The reference typed at the start (`#3`), without `#`.
    Reference(&'a str),
}

const COLUMNS: &str = "id, account_id, im_to, ref, thread, im_id, message_id, delivery_id, \
    orig_channel, orig_account_id, orig_sender, created_at, last_used_at";

fn entry(r: &Row<'_>) -> rusqlite::Result<ForwardEntry> {
    Ok(ForwardEntry {
        id: r.get(0)?,
        account_id: r.get(1)?,
        im_to: r.get(2)?,
        reference: r.get(3)?,
        thread: r.get(4)?,
        im_id: r.get(5)?,
        message_id: r.get(6)?,
        delivery_id: r.get(7)?,
        orig_channel: r.get(8)?,
        orig_account_id: r.get(9)?,
        orig_sender: r.get(10)?,
        created_at: r.get(11)?,
        last_used_at: r.get(12)?,
    })
}

/// The lowest reference number (1, 2, ...) not in `used`.
fn lowest_free(used: &[String]) -> u64 {
    let mut n = 1u64;
    let mut nums: Vec<u64> = used.iter().filter_map(|r| r.parse().ok()).collect();
    nums.sort_unstable();
    for u in nums {
        if u == n {
            n += 1;
        } else if u > n {
            break;
        }
    }
    n
}

fn expire(tx: &Transaction<'_>, account_id: i64, im_to: &str, cutoff: i64) -> Result<usize> {
    Ok(tx.execute(
        "DELETE FROM im_forward WHERE account_id = ?1 AND im_to = ?2 AND last_used_at < ?3",
        params![account_id, im_to, cutoff],
    )?)
}

impl Store {
    /// Records a forward, giving it a reference: a free one, else the least recently used
    /// entry's (that entry is given up). Expired entries of the address are dropped first.
    pub fn add_forward(
        &mut self,
        f: &NewForward,
        limits: ForwardLimits,
        now: i64,
    ) -> Result<ForwardEntry> {
        if f.orig_channel != "mail" && f.orig_channel != "im" {
            return Err(StoreError::Invalid {
                field: "orig_channel",
                detail: format!("'{}' is not mail or im", f.orig_channel),
            });
        }
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        expire(&tx, f.account_id, &f.im_to, now - limits.idle_secs)?;
        let live: Vec<(i64, String)> = {
            let mut stmt = tx.prepare(
                "SELECT id, ref FROM im_forward WHERE account_id = ?1 AND im_to = ?2 \
                 ORDER BY last_used_at, id",
            )?;
            let rows = stmt.query_map(params![f.account_id, f.im_to], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let reference = if live.len() < limits.max_per_address.max(1) {
            let used: Vec<String> = live.iter().map(|(_, r)| r.clone()).collect();
            lowest_free(&used).to_string()
        } else {
            // All taken: the least recently used gives its reference up.
            let (lru_id, lru_ref) = live[0].clone();
            tx.execute("DELETE FROM im_forward WHERE id = ?1", [lru_id])?;
            lru_ref
        };
        tx.execute(
            "INSERT INTO im_forward (account_id, im_to, ref, thread, im_id, message_id, \
             delivery_id, orig_channel, orig_account_id, orig_sender, created_at, last_used_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
            params![
                f.account_id,
                f.im_to,
                reference,
                f.thread,
                f.im_id,
                f.message_id,
                f.delivery_id,
                f.orig_channel,
                f.orig_account_id,
                f.orig_sender,
                now
            ],
        )?;
        let id = tx.last_insert_rowid();
        let e = tx.query_row(
            &format!("SELECT {COLUMNS} FROM im_forward WHERE id = ?1"),
            [id],
            entry,
        )?;
        tx.commit()?;
        Ok(e)
    }

    /// The live entry a reply names, if any.
    pub fn find_forward(
        &self,
        account_id: i64,
        im_to: &str,
        key: &ForwardKey<'_>,
        limits: ForwardLimits,
        now: i64,
    ) -> Result<Option<ForwardEntry>> {
        let (column, value) = match key {
            ForwardKey::ImId(v) => ("im_id", *v),
            ForwardKey::Thread(v) => ("thread", *v),
            ForwardKey::Reference(v) => ("ref", *v),
        };
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM im_forward WHERE account_id = ?1 AND im_to = ?2 \
                     AND {column} = ?3 AND last_used_at >= ?4 ORDER BY id DESC LIMIT 1"
                ),
                params![account_id, im_to, value, now - limits.idle_secs],
                entry,
            )
            .optional()?)
    }

    /// A reply used the entry: it stays alive.
    pub fn touch_forward(&self, id: i64, now: i64) -> Result<()> {
        self.conn().execute(
            "UPDATE im_forward SET last_used_at = max(last_used_at, ?2) WHERE id = ?1",
            params![id, now],
        )?;
        Ok(())
    }

    /// Whether this account ever forwarded to `jid` (so what `jid` writes is read as replies).
    pub fn is_forward_target(&self, account_id: i64, jid: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM im_forward WHERE account_id = ?1 AND im_to = ?2) \
                 OR EXISTS (SELECT 1 FROM meta WHERE key = 'im_forward_target:' || ?1 || ':' || ?2)",
                params![account_id, jid],
                |r| r.get(0),
            )
            .unwrap_or(false))
    }

    /// Remembers that `jid` receives forwards from this account, beyond any entry's life.
    pub fn mark_forward_target(&self, account_id: i64, jid: &str) -> Result<()> {
        self.conn().execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('im_forward_target:' || ?1 || ':' || ?2, ?3)",
            params![account_id, jid, now_unix().to_string()],
        )?;
        Ok(())
    }

    /// The entry of a forward IM (by its stanza id), for receipts.
    pub fn forward_by_im_id(&self, account_id: i64, im_id: &str) -> Result<Option<ForwardEntry>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM im_forward WHERE account_id = ?1 AND im_id = ?2 \
                     ORDER BY id DESC LIMIT 1"
                ),
                params![account_id, im_id],
                entry,
            )
            .optional()?)
    }

    /// The entry made for a delivery (a retried attempt reuses it).
    pub fn forward_by_delivery(&self, delivery_id: i64) -> Result<Option<ForwardEntry>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM im_forward WHERE delivery_id = ?1 ORDER BY id DESC LIMIT 1"
                ),
                [delivery_id],
                entry,
            )
            .optional()?)
    }

    /// A forward's delivery got the person's receipt (XEP-0184): a step in its timeline.
    pub fn note_delivery_receipt(&self, delivery_id: i64, from: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO delivery_event (delivery_id, at, state, answer) \
             SELECT id, ?2, 'receipt', ?3 FROM delivery WHERE id = ?1",
            params![
                delivery_id,
                crate::now_millis(),
                format!("{from}'s client confirmed it received the IM (XEP-0184 receipt)")
            ],
        )?;
        Ok(())
    }

    /// The live entries for an IM address, most recently used first.
    pub fn forwards_to(&self, account_id: i64, im_to: &str) -> Result<Vec<ForwardEntry>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {COLUMNS} FROM im_forward WHERE account_id = ?1 AND im_to = ?2 \
             ORDER BY last_used_at DESC, id DESC"
        ))?;
        let rows = stmt.query_map(params![account_id, im_to], entry)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::lowest_free;

    #[test]
    fn the_lowest_free_reference_is_taken() {
        assert_eq!(lowest_free(&[]), 1);
        assert_eq!(lowest_free(&["1".into(), "2".into()]), 3);
        assert_eq!(lowest_free(&["2".into(), "3".into()]), 1);
        assert_eq!(lowest_free(&["1".into(), "3".into()]), 2);
        assert_eq!(lowest_free(&["x".into(), "1".into()]), 2);
    }
}
