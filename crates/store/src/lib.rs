//! The consolidated store: one SQLite file holding every account's messages, each stored once.
//!
//! Identity: a message is found by its `message_key` (the normalised Message-ID, or a synthetic
//! hash when it has none, see `switchboard_model`). A second copy with the same key is merged
//! into the first (one message, two sources) only when `switchboard_model::content_matches`
//! says the contents agree; otherwise both are kept, so a reused Message-ID never loses mail.
//!
//! Every write that matters is one `BEGIN IMMEDIATE` transaction: a message, its raw bytes, its
//! full-text entry and its source are committed together, and sync state (see
//! [`MailboxState`]) only advances in the transaction that completes a pass. A process killed at
//! any moment therefore leaves either all of a message or none of it.

mod accounts;
mod changes;
pub mod clock;
mod deliveries;
mod im;
mod im_chat_state;
mod im_forward;
mod ingest;
mod owners;
mod profiles;
mod query;
mod schema;
mod search;
mod time;
mod tokens;

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

pub use accounts::{
    validate_account_name, Account, AccountKind, AccountPatch, AccountState, NewAccount,
    SyncPolicy, TlsMode,
};
pub use changes::{Change, ChangeKind};
pub use deliveries::{
    now_millis, AttemptNext, AttemptRecord, Delivery, DeliveryEvent, DeliveryState, DeliveryView,
    NewDelivery, NewOutgoing, Outgoing, RouteRecord, SmtpServer,
};
pub use im::{
    ArchivePosition, ImContact, ImConversation, ImDirection, ImMessage, ImOutcome, ImState, NewIm,
    QueuedIm, RosterItem, IM_MAILBOX,
};
pub use im_chat_state::{ImChatState, OutgoingChatState, CHAT_STATES};
pub use im_forward::{ForwardEntry, ForwardKey, ForwardLimits, NewForward};
pub use ingest::{Flags, IncomingMessage, IngestOutcome, MailboxState, SourceKey, StoredSource};
pub use owners::validate_owner;
pub use profiles::{
    local_time, ProfilesOverview, RouteExplanation, Routing, RuleTrial, TrialMatch, TrialOutcome,
};
pub use query::{Channel, InboxQuery, MessageDetail, MessageSummary, SourceView};
pub use schema::SCHEMA_VERSION;
pub use time::{now_unix, rfc3339};
pub use tokens::TokenInfo;

/// Helpers for tests of other crates and of migrations.
pub mod testing {
    use std::path::Path;

    /// Creates a database at an older schema version, as an earlier build would have left it.
    pub fn create_at_version(path: &Path, version: i64) -> rusqlite::Result<()> {
        let conn = rusqlite::Connection::open(path)?;
        for sql in crate::schema::MIGRATIONS.iter().take(version as usize) {
            conn.execute_batch(sql)?;
        }
        conn.pragma_update(None, "user_version", version)
    }
}

/// Errors from the store. Messages read as sentences and name what failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot open the store at {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("migration to schema version {version} failed: {source}")]
    Migration {
        version: i64,
        source: rusqlite::Error,
    },
    #[error("the store was written by a newer Switchboard (schema {found}, this build knows {supported})")]
    TooNew { found: i64, supported: i64 },
    #[error("no account named '{0}'")]
    NoSuchAccount(String),
    #[error("an account named '{0}' already exists")]
    AccountExists(String),
    #[error("no message with id {0}")]
    NoSuchMessage(i64),
    /// A profile, rule or group that does not exist; the sentence names it.
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but clashes with what is stored (a name taken, a profile in
    /// use, a reference to something that does not exist); the sentence says which.
    #[error("{0}")]
    Conflict(String),
    #[error("stored raw data of message {id} is damaged: {detail}")]
    Corrupt { id: i64, detail: String },
    #[error("invalid value for {field}: {detail}")]
    Invalid { field: &'static str, detail: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The file name of the database inside the data directory.
pub const DB_FILE: &str = "switchboard.sqlite3";

/// A connection to the store. Cheap to open; each sync task opens its own.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Words of the full-text index by prefix, for search as you type.
    search_terms: std::cell::RefCell<search::TermCache>,
}

impl Store {
    /// Opens (creating if needed) the store inside `data_dir` and brings its schema up to date.
    pub fn open_in(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        restrict_permissions(data_dir);
        Store::open(&data_dir.join(DB_FILE))
    }

    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let mut conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // In WAL mode NORMAL loses nothing on a process crash; only an OS crash can drop the
        // last commits, and never corrupts.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        search::finish_reindex(&mut conn)?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            search_terms: Default::default(),
        };
        store.ensure_install_id()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// A random identifier of this store, used to namespace keyring entries so that two data
    /// directories of the same person never share secrets by accident.
    pub fn install_id(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'install_id'", [], |r| {
                r.get(0)
            })?)
    }

    fn ensure_install_id(&self) -> Result<()> {
        use install_id::fresh_id;
        self.conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('install_id', ?1)",
            [fresh_id(&self.path)],
        )?;
        Ok(())
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// An identifier that is unique enough to namespace secrets: time, process and path, hashed
/// through std's SipHash with random keys.
mod install_id {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hash, Hasher};
    use std::path::Path;

    pub(super) fn fresh_id(path: &Path) -> String {
        let mut out = String::new();
        for round in 0..2u8 {
            let mut h = RandomState::new().build_hasher();
            round.hash(&mut h);
            path.hash(&mut h);
            std::process::id().hash(&mut h);
            std::time::SystemTime::now().hash(&mut h);
            out.push_str(&format!("{:016x}", h.finish()));
        }
        out
    }
}

#[cfg(unix)]
fn restrict_permissions(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // Mail is private: the data dir is readable by its owner only. Failure is not fatal (the
    // directory may belong to someone else by design, e.g. a shared mount).
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

#[cfg(not(unix))]
fn restrict_permissions(_dir: &Path) {}

/// A flag change or state report, as JSON-friendly data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub messages: i64,
    pub unread: i64,
}

impl Store {
    /// Messages visible in the inbox, and how many are unread.
    pub fn counts(&self) -> Result<Counts> {
        Ok(self.conn.query_row(
            "SELECT count(*), coalesce(sum(seen = 0), 0) FROM message WHERE deleted_at IS NULL",
            [],
            |r| {
                Ok(Counts {
                    messages: r.get(0)?,
                    unread: r.get(1)?,
                })
            },
        )?)
    }
}
