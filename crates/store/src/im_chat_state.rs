//! Chat states (XEP-0085): "typing…" both ways.
//!
//! A contact's last state is kept on its `im_contact` row with the time it came, so any
//! process that reads the store (the API in `serve`) can show it. Ours wait in
//! `im_chat_state_out`, one per conversation, until the account's connection sends them; a
//! state older than the connection is willing to send is dropped instead (typing that long
//! ago means nothing now). Ours are queued only for contacts whose client sent chat states
//! itself: the XEP's rule for when support is not otherwise known.

use rusqlite::params;
use serde::Serialize;

use crate::{Result, Store, StoreError};

/// The states XEP-0085 defines.
pub const CHAT_STATES: &[&str] = &["active", "composing", "paused", "inactive", "gone"];

/// A contact's last chat state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImChatState {
    pub account: String,
    pub contact: String,
    /// active | composing | paused | inactive | gone
    pub state: String,
    /// When it came, unix milliseconds.
    pub at_ms: i64,
}

/// One of ours, for the connection to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingChatState {
    pub contact: String,
    pub state: String,
    pub at_ms: i64,
}

fn check_state(state: &str) -> Result<()> {
    if CHAT_STATES.contains(&state) {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "state",
            detail: format!(
                "'{}' is not a chat state (one of {})",
                state.chars().take(40).collect::<String>(),
                CHAT_STATES.join(", ")
            ),
        })
    }
}

impl Store {
    /// Records a contact's chat state (a contact not in the roster gets a row that the
    /// contact list does not show).
    pub fn set_im_chat_state(
        &self,
        account_id: i64,
        jid: &str,
        state: &str,
        at_ms: i64,
    ) -> Result<()> {
        check_state(state)?;
        self.conn().execute(
            "INSERT INTO im_contact (account_id, jid, in_roster, chat_state, chat_state_at) \
             VALUES (?1, ?2, 0, ?3, ?4) ON CONFLICT (account_id, jid) DO UPDATE SET \
             chat_state = excluded.chat_state, chat_state_at = excluded.chat_state_at",
            params![account_id, jid, state, at_ms],
        )?;
        Ok(())
    }

    /// Chat states that came since `since_ms`, of every account or `owner`'s.
    pub fn im_chat_states(&self, owner: Option<&str>, since_ms: i64) -> Result<Vec<ImChatState>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT a.name, c.jid, c.chat_state, c.chat_state_at FROM im_contact c \
             JOIN account a ON a.id = c.account_id WHERE c.chat_state IS NOT NULL \
             AND c.chat_state_at >= ?1 AND (?2 IS NULL OR a.owner = ?2) \
             ORDER BY a.name, c.jid",
        )?;
        let rows = stmt.query_map(params![since_ms, owner], |r| {
            Ok(ImChatState {
                account: r.get(0)?,
                contact: r.get(1)?,
                state: r.get(2)?,
                at_ms: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Queues our chat state for a conversation, replacing one not sent yet. Returns false
    /// (and queues nothing) when the contact's client never sent chat states.
    pub fn queue_im_chat_state(
        &self,
        account_id: i64,
        contact: &str,
        state: &str,
        at_ms: i64,
    ) -> Result<bool> {
        check_state(state)?;
        let n = self.conn().execute(
            "INSERT INTO im_chat_state_out (account_id, contact, state, at) \
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM im_contact WHERE account_id = ?1 \
             AND jid = ?2 AND chat_state IS NOT NULL) \
             ON CONFLICT (account_id, contact) DO UPDATE SET state = excluded.state, at = excluded.at",
            params![account_id, contact, state, at_ms],
        )?;
        Ok(n > 0)
    }

    /// Takes every queued chat state of an account (they are sent once, or not at all): those
    /// from `since_ms` on are returned, older ones just dropped.
    pub fn take_im_chat_states(
        &mut self,
        account_id: i64,
        since_ms: i64,
    ) -> Result<Vec<OutgoingChatState>> {
        // IMMEDIATE: a read that turns into a write fails at once ("database is locked", no
        // busy wait) when another connection committed in between, which ended the connection.
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = {
            let mut stmt = tx.prepare_cached(
                "SELECT contact, state, at FROM im_chat_state_out WHERE account_id = ?1 \
                 AND at >= ?2 ORDER BY at",
            )?;
            let rows = stmt.query_map(params![account_id, since_ms], |r| {
                Ok(OutgoingChatState {
                    contact: r.get(0)?,
                    state: r.get(1)?,
                    at_ms: r.get(2)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        tx.execute(
            "DELETE FROM im_chat_state_out WHERE account_id = ?1",
            [account_id],
        )?;
        tx.commit()?;
        Ok(out)
    }
}
