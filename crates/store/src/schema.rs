//! Versioned, append-only migrations. A migration never changes what an existing column means;
//! it only adds. `user_version` records how far a database has come, and every step runs in the
//! same transaction as its version bump, so a crash mid-migration leaves the previous version.

use rusqlite::Connection;

use crate::StoreError;

/// Each entry is one schema version; index 0 brings an empty database to version 1.
pub(crate) const MIGRATIONS: &[&str] = &[
    // v1: accounts, messages stored once, their sources, per-mailbox sync state, tombstones,
    // full-text index.
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One row per configured account. Passwords are never here: they live in the OS keyring.
CREATE TABLE account (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL CHECK (kind IN ('imap', 'pop3')),
    host          TEXT NOT NULL,
    port          INTEGER NOT NULL,
    tls           TEXT NOT NULL CHECK (tls IN ('implicit', 'starttls')),
    username      TEXT NOT NULL,
    trust_cert    TEXT,                 -- SHA-256 pin (hex) of a self-signed certificate
    mailboxes     TEXT NOT NULL,        -- JSON array of mailbox names; ["*"] = all
    policy        TEXT NOT NULL,        -- mirror | keep | delete-after:N
    created_at    INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'new',
    state_detail  TEXT,
    state_at      INTEGER,
    last_sync_at  INTEGER
) STRICT;

-- A message is stored once. message_key is the normalised Message-ID (or a synthetic one);
-- it is not unique: two different messages that share a Message-ID are both kept.
CREATE TABLE message (
    id                  INTEGER PRIMARY KEY,
    message_key         TEXT NOT NULL,
    has_message_id      INTEGER NOT NULL,
    subject             TEXT NOT NULL,
    from_addr           TEXT,
    from_name           TEXT,
    to_json             TEXT NOT NULL,
    cc_json             TEXT NOT NULL,
    reply_to_json       TEXT NOT NULL,
    date                INTEGER,            -- Date header, unix seconds
    stored_at           INTEGER NOT NULL,
    sort_date           INTEGER NOT NULL,   -- date, or stored_at when the header is missing
    size                INTEGER NOT NULL,
    in_reply_to         TEXT,
    references_json     TEXT NOT NULL,
    list_id             TEXT,
    text_body           TEXT,
    html_body           TEXT,
    has_attachments     INTEGER NOT NULL,
    attachments_json    TEXT NOT NULL,
    parse_problems_json TEXT NOT NULL,
    seen                INTEGER NOT NULL DEFAULT 0,
    flagged             INTEGER NOT NULL DEFAULT 0,
    answered            INTEGER NOT NULL DEFAULT 0,
    draft               INTEGER NOT NULL DEFAULT 0,
    deleted_at          INTEGER             -- deleted here; hidden, waiting for reverse sync
) STRICT;
CREATE INDEX message_by_key ON message (message_key);
CREATE INDEX message_by_date ON message (sort_date DESC, id DESC);

-- The raw RFC 5322 bytes, compressed; attachments are decoded from here on demand, so each
-- attachment body is stored exactly once, inside its message.
CREATE TABLE message_raw (
    message_id INTEGER PRIMARY KEY REFERENCES message (id) ON DELETE CASCADE,
    codec      TEXT NOT NULL,           -- 'lz4' (size-prepended block) or 'none'
    data       BLOB NOT NULL
) STRICT;

-- Where a message came from. IMAP: (mailbox, uidvalidity, uid); POP3: uidl.
CREATE TABLE source (
    id               INTEGER PRIMARY KEY,
    message_id       INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    account_id       INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    mailbox          TEXT NOT NULL,     -- '' for POP3
    uidvalidity      INTEGER,
    uid              INTEGER,
    uidl             TEXT,
    state            TEXT NOT NULL DEFAULT 'present' CHECK (state IN ('present', 'gone')),
    delete_requested INTEGER NOT NULL DEFAULT 0,
    stored_at        INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX source_imap ON source (account_id, mailbox, uidvalidity, uid) WHERE uid IS NOT NULL;
CREATE UNIQUE INDEX source_pop3 ON source (account_id, uidl) WHERE uidl IS NOT NULL;
CREATE INDEX source_by_message ON source (message_id);

-- Sync state of one IMAP mailbox (or, with mailbox '', one POP3 maildrop). It advances only
-- in the transaction that finishes a complete pass.
CREATE TABLE mailbox_state (
    account_id     INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    mailbox        TEXT NOT NULL,
    uidvalidity    INTEGER,
    uid_next       INTEGER,
    highest_modseq INTEGER,
    exists_count   INTEGER,
    total_octets   INTEGER,
    complete       INTEGER NOT NULL DEFAULT 0,
    full_check_at  INTEGER,
    PRIMARY KEY (account_id, mailbox)
) STRICT;

-- Messages deleted here under the 'keep' policy: never downloaded again from that account.
-- remote_key: 'uidl:<uidl>' (POP3), 'imap:<mailbox>:<uidvalidity>:<uid>' or 'mid:<message_key>'.
CREATE TABLE tombstone (
    account_id INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    remote_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, remote_key)
) STRICT;

CREATE VIRTUAL TABLE message_fts USING fts5 (
    subject, sender, recipients, body,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
"#,
    // v2: the change log behind the message-ID index (seed 000). Triggers append to it in the
    // same transaction as the change itself, so every write path moves the sequence: a new
    // message, one leaving the inbox (deleted here or gone from its servers), a flag change.
    r#"
CREATE TABLE change_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('added', 'removed', 'updated')),
    at         INTEGER NOT NULL DEFAULT (unixepoch())
) STRICT;

CREATE TRIGGER change_added AFTER INSERT ON message BEGIN
    INSERT INTO change_log (message_id, kind) VALUES (new.id, 'added');
END;

-- A message hidden by a local delete leaves the inbox then; its later purge is not a new change.
CREATE TRIGGER change_removed AFTER DELETE ON message WHEN old.deleted_at IS NULL BEGIN
    INSERT INTO change_log (message_id, kind) VALUES (old.id, 'removed');
END;

CREATE TRIGGER change_hidden AFTER UPDATE OF deleted_at ON message
WHEN old.deleted_at IS NULL AND new.deleted_at IS NOT NULL BEGIN
    INSERT INTO change_log (message_id, kind) VALUES (new.id, 'removed');
END;

CREATE TRIGGER change_flags AFTER UPDATE OF seen, flagged, answered, draft ON message
WHEN (old.seen, old.flagged, old.answered, old.draft) IS NOT (new.seen, new.flagged, new.answered, new.draft)
BEGIN
    INSERT INTO change_log (message_id, kind) VALUES (new.id, 'updated');
END;
"#,
    // v3: API tokens for the embedded server. Only a SHA-256 of each token is kept.
    r#"
CREATE TABLE api_token (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
) STRICT;
"#,
    // v4: flags changed here wait per IMAP source until that account's next pass pushes them.
    r#"
ALTER TABLE source ADD COLUMN flags_pending INTEGER NOT NULL DEFAULT 0;
CREATE INDEX source_flags_pending ON source (account_id, mailbox) WHERE flags_pending = 1;
"#,
    // v5: the no-change sync pass asks for sources to delete on the server; without these it
    // scanned every source of the account.
    r#"
CREATE INDEX source_delete_requested ON source (account_id, mailbox) WHERE delete_requested = 1;
CREATE INDEX source_by_stored_at ON source (account_id, mailbox, stored_at);
"#,
    // v6: household users. An account or token with an owner belongs to that person; NULL is
    // the store's own person, whose tokens and desktop session see everything.
    r#"
ALTER TABLE account ADD COLUMN owner TEXT;
ALTER TABLE api_token ADD COLUMN owner TEXT;
CREATE INDEX account_by_owner ON account (owner) WHERE owner IS NOT NULL;
"#,
    // v7: delivery. Outgoing servers per account, mail composed here, the routing record of
    // each message (exactly once), and the tracker: every (message, channel) delivery with
    // its time-stamped steps. Tracker times are unix milliseconds.
    r#"
CREATE TABLE smtp_server (
    account_id   INTEGER PRIMARY KEY REFERENCES account (id) ON DELETE CASCADE,
    host         TEXT NOT NULL,
    port         INTEGER NOT NULL,
    tls          TEXT NOT NULL CHECK (tls IN ('implicit', 'starttls')),
    username     TEXT,                  -- NULL: the server takes mail without AUTH
    trust_cert   TEXT,                  -- SHA-256 pin (hex) of a self-signed certificate
    from_addr    TEXT NOT NULL,         -- the identity mail from this account is sent as
    from_name    TEXT,
    sent_mailbox TEXT                   -- NULL: found by SPECIAL-USE \Sent or a usual name
) STRICT;

-- Mail written here (send, reply, forward), kept until its submission is done.
CREATE TABLE outgoing (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER REFERENCES account (id) ON DELETE SET NULL,
    message_key   TEXT NOT NULL,
    subject       TEXT NOT NULL,
    envelope_from TEXT NOT NULL,
    recipients    TEXT NOT NULL,        -- JSON array of addresses
    raw           BLOB NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

-- Every message stored from now on passes the router once: 'pending' until then. A message
-- arriving with the first download of its mailbox (no complete pass yet) is old mail being
-- filled in, not news: it is skipped, so adding an account never fires a burst of deliveries.
CREATE TABLE message_route (
    message_id INTEGER PRIMARY KEY REFERENCES message (id) ON DELETE CASCADE,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'routed', 'skipped')),
    reason     TEXT,
    at         INTEGER
) STRICT;
CREATE INDEX message_route_pending ON message_route (message_id) WHERE state = 'pending';

CREATE TRIGGER message_route_new AFTER INSERT ON message BEGIN
    INSERT INTO message_route (message_id, state) VALUES (new.id, 'pending');
END;

CREATE TRIGGER message_route_first_download AFTER INSERT ON source
WHEN NOT EXISTS (SELECT 1 FROM mailbox_state ms WHERE ms.account_id = new.account_id
                 AND ms.mailbox = new.mailbox AND ms.complete = 1)
BEGIN
    UPDATE message_route SET state = 'skipped', at = new.stored_at,
        reason = 'arrived with the first download of its mailbox'
    WHERE message_id = new.message_id AND state = 'pending';
END;

CREATE TABLE delivery (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER REFERENCES message (id) ON DELETE SET NULL,
    outgoing_id     INTEGER REFERENCES outgoing (id) ON DELETE CASCADE,
    parent_id       INTEGER REFERENCES delivery (id), -- the delivery this one re-routes
    release_id      INTEGER REFERENCES delivery (id), -- held: the digest that released it
    channel         TEXT NOT NULL,      -- desktop | mail | im | hold | digest | submit | sent_copy
    target          TEXT NOT NULL,
    spec            TEXT NOT NULL,      -- JSON: channel options and message policy
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'accepted',
                        'delivered', 'failed', 'rerouted', 'dead', 'held', 'released')),
    attempts        INTEGER NOT NULL DEFAULT 0,   -- every attempt ever made
    trials_used     INTEGER NOT NULL DEFAULT 0,   -- attempts since the last fresh start
    first_attempt_at INTEGER,
    next_attempt_at INTEGER,
    runner          TEXT,               -- the process making the attempt (state 'sending')
    summary         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX delivery_due ON delivery (next_attempt_at) WHERE state IN ('queued', 'failed');
CREATE INDEX delivery_by_state ON delivery (state, id);
CREATE INDEX delivery_by_message ON delivery (message_id);
CREATE INDEX delivery_by_outgoing ON delivery (outgoing_id);
CREATE INDEX delivery_by_parent ON delivery (parent_id);
CREATE INDEX delivery_by_release ON delivery (release_id);

CREATE TABLE delivery_event (
    id          INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES delivery (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    state       TEXT NOT NULL,
    attempt     INTEGER,
    code        INTEGER,                -- the remote server's reply code, when it answered
    answer      TEXT                    -- its words, or what happened
) STRICT;
CREATE INDEX delivery_event_by_delivery ON delivery_event (delivery_id, id);
"#,
    // v8: routing. Profiles and rules are kept as JSON in the shapes of switchboard_route's
    // types; the order of rules is `position`. routing_state is one row: the schedule (JSON)
    // and the manual switch. profile_switch is the history of active-profile changes.
    r#"
CREATE TABLE profile (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
    settings   TEXT NOT NULL,           -- JSON: switchboard_route::Profile
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE route_rule (
    id         INTEGER PRIMARY KEY,
    position   INTEGER NOT NULL,        -- evaluation order, 1..n
    definition TEXT NOT NULL,           -- JSON: switchboard_route::Rule (its id is this row's)
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX route_rule_by_position ON route_rule (position, id);

CREATE TABLE contact_group (
    name       TEXT PRIMARY KEY COLLATE NOCASE,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE contact_group_member (
    group_name TEXT NOT NULL REFERENCES contact_group (name) ON DELETE CASCADE ON UPDATE CASCADE,
    member     TEXT NOT NULL,           -- lower-case address or @domain
    PRIMARY KEY (group_name, member)
) STRICT;

CREATE TABLE routing_state (
    id                    INTEGER PRIMARY KEY CHECK (id = 1),
    schedule              TEXT NOT NULL, -- JSON: switchboard_route::Schedule
    manual_profile        TEXT,
    manual_at             INTEGER,
    manual_until_released INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE profile_switch (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    profile  TEXT NOT NULL,
    previous TEXT,
    reason   TEXT NOT NULL CHECK (reason IN ('manual', 'released', 'scheduled', 'edited'))
) STRICT;

CREATE TABLE message_label (
    message_id INTEGER NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    added_at   INTEGER NOT NULL,
    PRIMARY KEY (message_id, label)
) STRICT;
CREATE INDEX message_label_by_label ON message_label (label);
"#,
    // Instant messaging (XMPP). An XMPP account is a row of `account` (kind 'xmpp', username
    // = JID, host '' = DNS SRV); SQLite cannot change a CHECK constraint in place and rebuilding
    // `account` would cascade-delete its sources, so the constraint's text is widened in the
    // schema (SQLite's documented procedure for loosening a constraint: no row can break it).
    // An IM is a message like any other: a `message` row (the text as body, the stanza as raw),
    // a `source` row of the XMPP account (mailbox '', uidl = the key it was stored under), and
    // an `im_message` row with what only IMs have.
    r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'CHECK (kind IN (''imap'', ''pop3''))', 'CHECK (kind IN (''imap'', ''pop3'', ''xmpp''))')
WHERE type = 'table' AND name = 'account';
PRAGMA writable_schema = RESET;

CREATE TABLE im_message (
    message_id   INTEGER PRIMARY KEY REFERENCES message (id) ON DELETE CASCADE,
    account_id   INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    contact      TEXT NOT NULL,         -- bare JID of the other side: the conversation
    direction    TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    stanza_id    TEXT,                  -- the id our server's archive gave it (XEP-0359)
    origin_id    TEXT,                  -- the sender's id (origin-id, else the id attribute)
    thread       TEXT,
    state        TEXT NOT NULL CHECK (state IN ('received', 'queued', 'sent', 'acked',
                     'delivered', 'failed')),
    state_detail TEXT,
    at           INTEGER NOT NULL       -- unix ms: sent (delay stamp) or received
) STRICT;
CREATE INDEX im_by_conversation ON im_message (account_id, contact, at);
CREATE INDEX im_by_origin ON im_message (account_id, origin_id) WHERE origin_id IS NOT NULL;
CREATE INDEX im_outbox ON im_message (account_id, message_id) WHERE state = 'queued';

-- Every key an IM was seen under (archive id, origin id, sender + id + text): the same message
-- coming live, as a carbon, from offline storage and from the archive is stored once, and one
-- deleted here is not brought back by the next archive catch-up (the key outlives it).
CREATE TABLE im_seen (
    account_id INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
) STRICT, WITHOUT ROWID;

-- Contacts (the roster) and their last known presence.
CREATE TABLE im_contact (
    account_id   INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    jid          TEXT NOT NULL,
    name         TEXT,
    subscription TEXT NOT NULL DEFAULT 'none',
    in_roster    INTEGER NOT NULL DEFAULT 1,
    presence     TEXT NOT NULL DEFAULT 'offline',   -- offline | available | chat | away | xa | dnd
    status       TEXT,
    presence_at  INTEGER,
    PRIMARY KEY (account_id, jid)
) STRICT;

-- Where the archive (MAM) catch-up of an account stands: the archive id of the newest message
-- stored with everything before it, and its time (used when the server no longer knows the id).
CREATE TABLE im_sync (
    account_id    INTEGER PRIMARY KEY REFERENCES account (id) ON DELETE CASCADE,
    archive_after TEXT,
    archive_at    INTEGER,
    updated_at    INTEGER NOT NULL
) STRICT;

-- The conversation map (seed 001's message map): each message forwarded as an IM, with where a
-- reply to it goes. `ref` is the short reference shown in the IM; references are reused least
-- recently used first when an IM address has too many, and entries expire after idle time.
CREATE TABLE im_forward (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    im_to           TEXT NOT NULL,      -- the person's own IM address (bare JID)
    ref             TEXT NOT NULL,
    thread          TEXT NOT NULL,      -- the <thread> of the forward
    im_id           TEXT NOT NULL,      -- the forward's stanza id (XEP-0461 replies point at it)
    message_id      INTEGER REFERENCES message (id) ON DELETE SET NULL,
    delivery_id     INTEGER,
    orig_channel    TEXT NOT NULL CHECK (orig_channel IN ('mail', 'im')),
    orig_account_id INTEGER REFERENCES account (id) ON DELETE SET NULL,
    orig_sender     TEXT NOT NULL,      -- where a reply goes (mail address or JID)
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER NOT NULL,
    UNIQUE (account_id, im_to, ref)
) STRICT;
CREATE INDEX im_forward_by_thread ON im_forward (account_id, thread);
CREATE INDEX im_forward_by_im_id ON im_forward (account_id, im_id);
"#,
    // Chat states (XEP-0085, "typing"): what each contact's client last said (composing,
    // paused, active, inactive, gone) and when, unix ms; and ours waiting for the connection,
    // one per conversation (the latest wins). Ours go only to contacts whose client sent chat
    // states itself (the XEP's rule when support is not otherwise known).
    r#"
ALTER TABLE im_contact ADD COLUMN chat_state TEXT;
ALTER TABLE im_contact ADD COLUMN chat_state_at INTEGER;

CREATE TABLE im_chat_state_out (
    account_id INTEGER NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    contact    TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('active', 'composing', 'paused', 'inactive', 'gone')),
    at         INTEGER NOT NULL,
    PRIMARY KEY (account_id, contact)
) STRICT;
"#,
    // The full-text index, rebuilt so that search shows the newest matches without collecting
    // all of them: rows are filed under a search key that sorts by (sort_date, id), the first
    // two and three letters of every word have their own index, and longer prefixes are looked
    // up in its vocabulary (search.rs says why). The old table kept no text to copy: the store
    // writes the rows of the messages below the mark when it opens, a batch per transaction
    // (search::finish_reindex).
    r#"
DROP TABLE message_fts;
CREATE VIRTUAL TABLE message_search USING fts5 (
    subject, sender, recipients, body,
    content = '', contentless_delete = 1,
    prefix = '2 3',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE message_search_terms USING fts5vocab (message_search, 'row');
INSERT OR REPLACE INTO meta (key, value)
    SELECT 'search_reindex_below', CAST(coalesce(max(id), 0) + 1 AS TEXT) FROM message;
"#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now >= version {
            tx.commit()?;
            continue;
        }
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Migration { version, source: e })?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
    }
    Ok(())
}
