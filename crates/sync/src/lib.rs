//! Sync: IMAP and POP3 connectors and the engine that keeps the consolidated store in step with
//! every account (seed 003: forward sync, reverse sync, one store keyed by Message-ID).
//!
//! Each account syncs in its own task with its own store connection, so a slow, dead or
//! misconfigured account never blocks the others. Every account ends a pass with a visible
//! state (ok, auth_failed, tls_error, unreachable, error) carrying the server's own words.

pub mod append;
pub mod engine;
pub mod imap;
mod imap_conn;
pub mod net;
pub mod pop3;
pub mod pop3_sync;
pub mod secrets;
pub mod tls;
pub mod uidset;
mod writer;

use serde::Serialize;
use switchboard_store::StoreError;

pub use engine::{sync_accounts, test_account, watch_accounts, Reporter, Silent, SyncEvent};
pub use secrets::{Secret, SecretError};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Tls(String),
    #[error("login failed: {0}")]
    Auth(String),
    #[error("the server answered: {0}")]
    Server(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl From<tls::TlsError> for SyncError {
    fn from(e: tls::TlsError) -> Self {
        SyncError::Tls(e.to_string())
    }
}

impl SyncError {
    /// The account state this error leaves the account in.
    pub fn state(&self) -> &'static str {
        match self {
            SyncError::Unreachable(_) => "unreachable",
            SyncError::Tls(_) => "tls_error",
            SyncError::Auth(_) => "auth_failed",
            SyncError::Secret(_) => "auth_failed",
            _ => "error",
        }
    }
}

/// What one pass over one account did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct AccountReport {
    /// New messages stored.
    pub stored: usize,
    /// Messages already stored through another source; a source was added.
    pub merged: usize,
    /// Sources that disappeared from the server (forward sync).
    pub vanished: usize,
    /// Messages that left the inbox because their last source is gone.
    pub removed: usize,
    /// Messages deleted on the server (reverse sync or delete-after).
    pub deleted_remote: usize,
    /// Flag changes taken from the server.
    pub flags_changed: usize,
    /// Flag changes made here and pushed to the server.
    pub flags_pushed: usize,
    /// Sources re-mapped after a UIDVALIDITY change, without downloading again.
    pub remapped: usize,
    /// Mailboxes that needed no work beyond the change check.
    pub unchanged_mailboxes: usize,
    /// Messages whose content could not be parsed fully (stored raw with a recorded problem).
    pub parse_problems: usize,
    /// Mailboxes whose changes had to be found by a full UID diff (first sync, no QRESYNC, or
    /// an incremental answer that did not add up).
    pub full_scans: usize,
}

impl AccountReport {
    pub fn add(&mut self, o: &AccountReport) {
        self.stored += o.stored;
        self.merged += o.merged;
        self.vanished += o.vanished;
        self.removed += o.removed;
        self.deleted_remote += o.deleted_remote;
        self.flags_changed += o.flags_changed;
        self.flags_pushed += o.flags_pushed;
        self.remapped += o.remapped;
        self.unchanged_mailboxes += o.unchanged_mailboxes;
        self.parse_problems += o.parse_problems;
        self.full_scans += o.full_scans;
    }
}
