//! Account configuration and visible account state.

use std::fmt;
use std::str::FromStr;

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::{now_unix, Result, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AccountKind {
    Imap,
    Pop3,
    /// Instant messaging: `username` is the JID; an empty `host` (port 0) means the server is
    /// found through DNS SRV records of the JID's domain.
    Xmpp,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Imap => "imap",
            AccountKind::Pop3 => "pop3",
            AccountKind::Xmpp => "xmpp",
        }
    }

    /// IMAP and POP3: accounts the mail sync engine runs.
    pub fn is_mail(self) -> bool {
        matches!(self, AccountKind::Imap | AccountKind::Pop3)
    }
}

impl FromStr for AccountKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "imap" => Ok(AccountKind::Imap),
            "pop3" => Ok(AccountKind::Pop3),
            "xmpp" => Ok(AccountKind::Xmpp),
            other => Err(StoreError::Invalid {
                field: "kind",
                detail: format!("'{other}' is not imap, pop3 or xmpp"),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, POP3S 995).
    Implicit,
    /// Plain connection upgraded with STARTTLS / STLS before login; refusing to log in without it.
    Starttls,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Implicit => "implicit",
            TlsMode::Starttls => "starttls",
        }
    }
}

impl FromStr for TlsMode {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "implicit" => Ok(TlsMode::Implicit),
            "starttls" => Ok(TlsMode::Starttls),
            other => Err(StoreError::Invalid {
                field: "tls",
                detail: format!("'{other}' is not implicit or starttls"),
            }),
        }
    }
}

/// Which sync directions apply to an account (seed 003's forward and reverse sync).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Forward and reverse: gone on the server → gone here; deleted here → deleted there.
    Mirror,
    /// Forward only: the server stays complete; a local delete leaves a tombstone so the message
    /// is never downloaded again.
    Keep,
    /// POP3 classic, the local copy is the master: each message is deleted on the server this
    /// many days after it was stored here (0 = at the next sync); a message disappearing from
    /// the server never removes the local copy. A local delete is also carried to the server.
    DeleteAfter(u32),
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncPolicy::Mirror => f.write_str("mirror"),
            SyncPolicy::Keep => f.write_str("keep"),
            SyncPolicy::DeleteAfter(days) => write!(f, "delete-after:{days}"),
        }
    }
}

impl FromStr for SyncPolicy {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || StoreError::Invalid {
            field: "policy",
            detail: format!("'{s}' is not mirror, keep or delete-after:N (N days, 0 or more)"),
        };
        match s {
            "mirror" => Ok(SyncPolicy::Mirror),
            "keep" => Ok(SyncPolicy::Keep),
            _ => {
                let days = s.strip_prefix("delete-after:").ok_or_else(bad)?;
                days.parse::<u32>()
                    .map(SyncPolicy::DeleteAfter)
                    .map_err(|_| bad())
            }
        }
    }
}

impl Serialize for SyncPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SyncPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What the person sees next to an account: ok, syncing n/m, auth failed, ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountState {
    /// new | ok | syncing | auth_failed | tls_error | unreachable | error
    pub state: String,
    /// The server's own words, or progress such as "120/4000".
    pub detail: Option<String>,
    pub at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub kind: AccountKind,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub trust_cert: Option<String>,
    pub mailboxes: Vec<String>,
    /// mirror | keep | delete-after:N
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "mirror"))]
    pub policy: SyncPolicy,
    pub created_at: i64,
    pub state: AccountState,
    pub last_sync_at: Option<i64>,
    /// The household member this account belongs to; absent for the store's own person.
    pub owner: Option<String>,
}

/// Changes to an account; `None` leaves a setting as it is (`trust_cert: Some(None)` removes
/// the pin).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountPatch {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<TlsMode>,
    pub username: Option<String>,
    #[serde(default, deserialize_with = "present_or_null")]
    pub trust_cert: Option<Option<String>>,
    pub mailboxes: Option<Vec<String>>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "keep"))]
    pub policy: Option<SyncPolicy>,
}

/// Tells "absent" (None) from "null" (Some(None)).
fn present_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub kind: AccountKind,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub trust_cert: Option<String>,
    pub mailboxes: Vec<String>,
    pub policy: SyncPolicy,
}

const ACCOUNT_COLUMNS: &str = "id, name, kind, host, port, tls, username, trust_cert, mailboxes, \
     policy, created_at, state, state_detail, state_at, last_sync_at, owner";

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    let conv = |i: usize, e: StoreError| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    let kind: String = row.get(2)?;
    let tls: String = row.get(5)?;
    let mailboxes: String = row.get(8)?;
    let policy: String = row.get(9)?;
    let port: i64 = row.get(4)?;
    Ok(Account {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: kind.parse().map_err(|e| conv(2, e))?,
        host: row.get(3)?,
        port: u16::try_from(port).unwrap_or(0),
        tls: tls.parse().map_err(|e| conv(5, e))?,
        username: row.get(6)?,
        trust_cert: row.get(7)?,
        mailboxes: serde_json::from_str(&mailboxes).unwrap_or_else(|_| vec!["INBOX".into()]),
        policy: policy.parse().map_err(|e| conv(9, e))?,
        created_at: row.get(10)?,
        state: AccountState {
            state: row.get(11)?,
            detail: row.get(12)?,
            at: row.get(13)?,
        },
        last_sync_at: row.get(14)?,
        owner: row.get(15)?,
    })
}

/// A mail account needs a host and a port; an XMPP account has both (an override) or neither
/// (DNS SRV lookup of the JID's domain).
fn check_server(kind: AccountKind, host: &str, port: u16) -> Result<()> {
    let host = host.trim();
    if kind == AccountKind::Xmpp && host.is_empty() {
        return if port == 0 {
            Ok(())
        } else {
            Err(StoreError::Invalid {
                field: "host",
                detail: format!("port {port} is given without a host"),
            })
        };
    }
    if host.is_empty() {
        return Err(StoreError::Invalid {
            field: "host",
            detail: "the host name is empty".into(),
        });
    }
    if port == 0 {
        return Err(StoreError::Invalid {
            field: "port",
            detail: "port 0 is not a valid server port".into(),
        });
    }
    Ok(())
}

/// Account names appear in commands and paths of keyring entries: keep them simple.
pub fn validate_account_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "name",
            detail: format!("'{name}' must be 1-64 letters, digits or - _ . @ (no spaces)"),
        })
    }
}

impl Store {
    pub fn add_account(&self, new: &NewAccount) -> Result<Account> {
        validate_account_name(&new.name)?;
        check_server(new.kind, &new.host, new.port)?;
        if self.account(&new.name)?.is_some() {
            return Err(StoreError::AccountExists(new.name.clone()));
        }
        let mailboxes = if new.mailboxes.is_empty() && new.kind.is_mail() {
            vec!["INBOX".to_string()]
        } else {
            new.mailboxes.clone()
        };
        let mailboxes = serde_json::to_string(&mailboxes).map_err(|e| StoreError::Invalid {
            field: "mailboxes",
            detail: e.to_string(),
        })?;
        self.conn().execute(
            "INSERT INTO account (name, kind, host, port, tls, username, trust_cert, mailboxes, \
             policy, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                new.name,
                new.kind.as_str(),
                new.host.trim(),
                new.port,
                new.tls.as_str(),
                new.username,
                new.trust_cert,
                mailboxes,
                new.policy.to_string(),
                now_unix()
            ],
        )?;
        self.account(&new.name)?
            .ok_or_else(|| StoreError::NoSuchAccount(new.name.clone()))
    }

    pub fn accounts(&self) -> Result<Vec<Account>> {
        let mut stmt = self.conn().prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM account ORDER BY name"
        ))?;
        let rows = stmt.query_map([], account_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn account(&self, name: &str) -> Result<Option<Account>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM account WHERE name = ?1"),
                [name],
                account_from_row,
            )
            .optional()?)
    }

    pub fn account_by_id(&self, id: i64) -> Result<Option<Account>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM account WHERE id = ?1"),
                [id],
                account_from_row,
            )
            .optional()?)
    }

    /// Removes an account, its sources and sync state; messages that came only through it leave
    /// the inbox. Nothing on the server is touched.
    pub fn remove_account(&mut self, name: &str) -> Result<Account> {
        let account = self
            .account(name)?
            .ok_or_else(|| StoreError::NoSuchAccount(name.to_string()))?;
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let orphans: Vec<i64> = {
            let mut stmt = tx.prepare(
                "SELECT DISTINCT message_id FROM source WHERE account_id = ?1 AND message_id NOT IN \
                 (SELECT message_id FROM source WHERE account_id != ?1)",
            )?;
            let ids = stmt.query_map([account.id], |r| r.get(0))?;
            ids.collect::<rusqlite::Result<_>>()?
        };
        tx.execute("DELETE FROM account WHERE id = ?1", [account.id])?;
        crate::ingest::purge_messages(&tx, &orphans)?;
        tx.commit()?;
        Ok(account)
    }

    /// Changes an account's settings; `None` fields stay. Sync state is reset when the server
    /// or the mailboxes change, so the next pass starts clean.
    pub fn update_account(&mut self, name: &str, patch: &AccountPatch) -> Result<Account> {
        let mut a = self
            .account(name)?
            .ok_or_else(|| StoreError::NoSuchAccount(name.to_string()))?;
        let server_changed = patch.host.as_ref().is_some_and(|h| *h != a.host)
            || patch.port.is_some_and(|p| p != a.port)
            || patch.username.as_ref().is_some_and(|u| *u != a.username)
            || patch.mailboxes.as_ref().is_some_and(|m| *m != a.mailboxes);
        if let Some(h) = &patch.host {
            a.host = h.trim().to_string();
        }
        if let Some(p) = patch.port {
            a.port = p;
        }
        check_server(a.kind, &a.host, a.port)?;
        if let Some(t) = patch.tls {
            a.tls = t;
        }
        if let Some(u) = &patch.username {
            a.username = u.clone();
        }
        if let Some(pin) = &patch.trust_cert {
            a.trust_cert = pin.clone();
        }
        if let Some(m) = &patch.mailboxes {
            a.mailboxes = if m.is_empty() && a.kind.is_mail() {
                vec!["INBOX".into()]
            } else {
                m.clone()
            };
        }
        if let Some(p) = patch.policy {
            a.policy = p;
        }
        let mailboxes =
            serde_json::to_string(&a.mailboxes).unwrap_or_else(|_| "[\"INBOX\"]".into());
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE account SET host = ?2, port = ?3, tls = ?4, username = ?5, trust_cert = ?6, \
             mailboxes = ?7, policy = ?8 WHERE id = ?1",
            params![
                a.id,
                a.host,
                a.port,
                a.tls.as_str(),
                a.username,
                a.trust_cert,
                mailboxes,
                a.policy.to_string()
            ],
        )?;
        if server_changed {
            tx.execute(
                "UPDATE mailbox_state SET complete = 0 WHERE account_id = ?1",
                [a.id],
            )?;
        }
        tx.commit()?;
        self.account(name)?
            .ok_or_else(|| StoreError::NoSuchAccount(name.to_string()))
    }

    pub fn set_account_state(
        &self,
        account_id: i64,
        state: &str,
        detail: Option<&str>,
    ) -> Result<()> {
        let now = now_unix();
        self.conn().execute(
            "UPDATE account SET state = ?2, state_detail = ?3, state_at = ?4, \
             last_sync_at = CASE WHEN ?2 = 'ok' THEN ?4 ELSE last_sync_at END WHERE id = ?1",
            params![account_id, state, detail, now],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_round_trips_and_rejects_garbage() {
        for s in ["mirror", "keep", "delete-after:0", "delete-after:30"] {
            let p: SyncPolicy = s.parse().expect(s);
            assert_eq!(p.to_string(), s);
        }
        for s in [
            "",
            "mirrors",
            "delete-after:",
            "delete-after:-1",
            "delete-after:x",
        ] {
            let err = s.parse::<SyncPolicy>().expect_err(s).to_string();
            assert!(err.contains("policy"), "{err}");
        }
    }

    #[test]
    fn account_names_are_checked() {
        assert!(validate_account_name("work-imap").is_ok());
        assert!(validate_account_name("me@example.org").is_ok());
        assert!(validate_account_name("").is_err());
        assert!(validate_account_name("has space").is_err());
        assert!(validate_account_name("a/b").is_err());
    }
}
