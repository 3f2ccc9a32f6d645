//! API tokens: only their SHA-256 is stored; the token itself is shown once at creation.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use crate::{now_unix, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TokenInfo {
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

impl Store {
    pub fn add_token(&self, name: &str, token_hash: &str) -> Result<()> {
        crate::accounts::validate_account_name(name).map_err(|_| StoreError::Invalid {
            field: "name",
            detail: format!("token name '{name}' must be 1-64 letters, digits or - _ . @"),
        })?;
        let exists: bool = self.conn().query_row(
            "SELECT count(*) > 0 FROM api_token WHERE name = ?1",
            [name],
            |r| r.get(0),
        )?;
        if exists {
            return Err(StoreError::Invalid {
                field: "name",
                detail: format!("a token named '{name}' already exists"),
            });
        }
        self.conn().execute(
            "INSERT INTO api_token (name, token_hash, created_at) VALUES (?1, ?2, ?3)",
            params![name, token_hash, now_unix()],
        )?;
        Ok(())
    }

    /// The name of the live (not revoked) token with this hash.
    pub fn token_by_hash(&self, token_hash: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name FROM api_token WHERE token_hash = ?1 AND revoked_at IS NULL",
                [token_hash],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// (hash, name) of every live token.
    pub fn live_token_hashes(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT token_hash, name FROM api_token WHERE revoked_at IS NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn touch_token(&self, name: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE api_token SET last_used_at = ?2 WHERE name = ?1",
            params![name, now_unix()],
        )?;
        Ok(())
    }

    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        let mut stmt = self.conn().prepare(
            "SELECT name, created_at, last_used_at, revoked_at IS NOT NULL FROM api_token ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(TokenInfo {
                name: r.get(0)?,
                created_at: r.get(1)?,
                last_used_at: r.get(2)?,
                revoked: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn revoke_token(&self, name: &str) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE api_token SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
            params![name, now_unix()],
        )?;
        if n == 0 {
            return Err(StoreError::Invalid {
                field: "name",
                detail: format!("no live token named '{name}'"),
            });
        }
        Ok(())
    }
}
