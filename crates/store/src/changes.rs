//! Reading the change log: the current sequence and what changed since a given one.

use rusqlite::params;
use serde::Serialize;

use crate::{Result, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Updated,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub seq: i64,
    pub message_id: i64,
    pub kind: ChangeKind,
    pub at: i64,
}

impl Store {
    /// The latest change sequence (0 for a store that never changed). Moves on every change.
    pub fn change_seq(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("SELECT coalesce(max(seq), 0) FROM change_log", [], |r| {
                r.get(0)
            })?)
    }

    /// The oldest sequence still in the log: a client whose last seen sequence is older than
    /// this must resync from scratch (the log was compacted).
    pub fn oldest_change_seq(&self) -> Result<i64> {
        Ok(self
            .conn()
            .query_row("SELECT coalesce(min(seq), 0) FROM change_log", [], |r| {
                r.get(0)
            })?)
    }

    /// Changes after `since`, oldest first, at most `limit`.
    pub fn changes_since(&self, since: i64, limit: usize) -> Result<Vec<Change>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT seq, message_id, kind, at FROM change_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![since, limit as i64], |r| {
            let kind: String = r.get(2)?;
            Ok(Change {
                seq: r.get(0)?,
                message_id: r.get(1)?,
                kind: match kind.as_str() {
                    "added" => ChangeKind::Added,
                    "removed" => ChangeKind::Removed,
                    _ => ChangeKind::Updated,
                },
                at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// SQLite's data_version: moves whenever another connection commits.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn()
            .pragma_query_value(None, "data_version", |r| r.get(0))?)
    }

    /// (id, size, sender address) of the newest message in the inbox.
    pub fn latest_message(&self) -> Result<Option<(i64, i64, String)>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .query_row(
                "SELECT id, size, coalesce(from_addr, '') FROM message WHERE deleted_at IS NULL \
                 ORDER BY sort_date DESC, id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    /// Drops log entries older than `keep_after` seconds ago, always keeping the newest entry
    /// so the sequence never goes back.
    pub fn compact_changes(&self, keep_after: i64) -> Result<usize> {
        Ok(self.conn().execute(
            "DELETE FROM change_log WHERE at < ?1 AND seq < (SELECT max(seq) FROM change_log)",
            [keep_after],
        )?)
    }
}
