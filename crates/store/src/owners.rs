//! Household members ("owners"). One store can serve several people: an account or an API
//! token may name the person it belongs to. Such a token sees only messages that came through
//! that person's accounts, and the index keeps a change sequence per person next to the
//! global one. Accounts and tokens without an owner belong to the store's own person, who
//! sees everything.

use rusqlite::{params, OptionalExtension};

use crate::{Change, ChangeKind, Result, Store, StoreError};

/// SQL condition on a message row `m`: it has a source in an account of the owner bound as the
/// next parameter.
pub(crate) const OWNED_BY: &str = " AND EXISTS (SELECT 1 FROM source os JOIN account oa \
     ON oa.id = os.account_id WHERE os.message_id = m.id AND oa.owner = ?)";

/// Owner names follow the rules of account names: they appear in commands.
pub fn validate_owner(owner: &str) -> Result<()> {
    crate::accounts::validate_account_name(owner).map_err(|_| StoreError::Invalid {
        field: "owner",
        detail: format!("owner '{owner}' must be 1-64 letters, digits or - _ . @ (no spaces)"),
    })
}

fn change_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Change> {
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
}

impl Store {
    /// Gives an account to a household member (`None`: back to the store's own person).
    pub fn set_account_owner(&self, account: &str, owner: Option<&str>) -> Result<()> {
        if let Some(o) = owner {
            validate_owner(o)?;
        }
        let n = self.conn().execute(
            "UPDATE account SET owner = ?2 WHERE name = ?1",
            params![account, owner],
        )?;
        if n == 0 {
            return Err(StoreError::NoSuchAccount(account.to_string()));
        }
        Ok(())
    }

    /// Records a token (by hash) that acts for `owner`, or for the store's own person.
    pub fn add_token_for(&self, name: &str, token_hash: &str, owner: Option<&str>) -> Result<()> {
        if let Some(o) = owner {
            validate_owner(o)?;
        }
        self.add_token(name, token_hash)?;
        self.conn().execute(
            "UPDATE api_token SET owner = ?2 WHERE name = ?1",
            params![name, owner],
        )?;
        Ok(())
    }

    /// (hash, owner) of every live token.
    pub fn live_tokens(&self) -> Result<Vec<(String, Option<String>)>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT token_hash, owner FROM api_token WHERE revoked_at IS NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every household member that owns an account.
    pub fn owners(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT DISTINCT owner FROM account WHERE owner IS NOT NULL ORDER BY owner",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Whether a message in the inbox came through one of `owner`'s accounts.
    pub fn message_owned_by(&self, id: i64, owner: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT 1 FROM message m WHERE m.id = ?{OWNED_BY}"),
                params![id, owner],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// For each change after `since` (oldest first, at most `limit`): its sequence and the
    /// owners of the message's accounts. An empty list means nobody can tell any more (the
    /// message was purged with its sources); callers treat that as everybody's change.
    /// Owners of accounts without one appear as `None`.
    pub fn change_owners_since(
        &self,
        since: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<Option<String>>)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT c.seq, a.owner, a.id IS NOT NULL FROM change_log c \
             LEFT JOIN source s ON s.message_id = c.message_id \
             LEFT JOIN account a ON a.id = s.account_id \
             WHERE c.seq > ?1 AND c.seq <= (SELECT coalesce(max(seq), 0) FROM \
             (SELECT seq FROM change_log WHERE seq > ?1 ORDER BY seq LIMIT ?2)) \
             ORDER BY c.seq",
        )?;
        let rows = stmt.query_map(params![since, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })?;
        let mut out: Vec<(i64, Vec<Option<String>>)> = Vec::new();
        for row in rows {
            let (seq, owner, known) = row?;
            if out.last().map(|(s, _)| *s) != Some(seq) {
                out.push((seq, Vec::new()));
            }
            if let Some((_, owners)) = out.last_mut() {
                if known && !owners.contains(&owner) {
                    owners.push(owner);
                }
            }
        }
        Ok(out)
    }

    /// [`Store::changes_since`] as `owner` sees it: changes to messages of their accounts, and
    /// removals of messages whose sources are gone (the client ignores ids it never had).
    pub fn changes_since_for(&self, since: i64, limit: usize, owner: &str) -> Result<Vec<Change>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT c.seq, c.message_id, c.kind, c.at FROM change_log c WHERE c.seq > ?1 AND (\
             EXISTS (SELECT 1 FROM source os JOIN account oa ON oa.id = os.account_id \
                     WHERE os.message_id = c.message_id AND oa.owner = ?3) \
             OR NOT EXISTS (SELECT 1 FROM source os WHERE os.message_id = c.message_id)) \
             ORDER BY c.seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![since, limit as i64, owner], change_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest message in `owner`'s inbox: (id, size, sender).
    pub fn latest_message_for(&self, owner: &str) -> Result<Option<(i64, i64, String)>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT m.id, m.size, coalesce(m.from_addr, '') FROM message m \
                     WHERE m.deleted_at IS NULL{OWNED_BY} ORDER BY m.sort_date DESC, m.id DESC LIMIT 1"
                ),
                [owner],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }
}
