//! The message tracker (seed 001): every (message, channel) delivery and its time-stamped
//! steps, the routing record that makes routing happen once per message, mail written here
//! waiting for submission, and the outgoing (SMTP) server of each account.
//!
//! A delivery moves `queued → sending → delivered | failed → (retried) → rerouted → dead`;
//! `held` deliveries wait for a digest (`released`), `accepted` ones for the person to read
//! the message. Each step is one committed transaction that changes the delivery row and
//! appends a `delivery_event` row with the remote server's answer, so the timeline and the
//! state can never disagree. An attempt starts only after its `sending` step is committed;
//! a delivery found in `sending` whose process is gone was interrupted, and whoever finds it
//! records that before trying again. Nothing here decides *when* or *where* to try: the
//! delivery crate's policy logic does, and hands the outcome in.
//!
//! Times in these tables are unix milliseconds (the tracker shows sub-second steps).

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use crate::{Result, Store, StoreError, TlsMode};

/// Unix milliseconds, the tracker's clock.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryState {
    /// Waiting for its first attempt (at `next_attempt_at`).
    Queued,
    /// An attempt is under way (committed before it started).
    Sending,
    /// The channel took it; the policy counts it delivered only once the message is read.
    Accepted,
    Delivered,
    /// The last attempt failed; another is due at `next_attempt_at`.
    Failed,
    /// Given up on this channel; an alternate delivery took over.
    Rerouted,
    /// Given up: no channel left. Listed as a dead letter, with a retry action.
    Dead,
    /// Kept back for a digest.
    Held,
    /// Was held; went out in a digest (`release_id`).
    Released,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sending => "sending",
            DeliveryState::Accepted => "accepted",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Rerouted => "rerouted",
            DeliveryState::Dead => "dead",
            DeliveryState::Held => "held",
            DeliveryState::Released => "released",
        }
    }

    /// No further step will happen without the person asking (retry).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryState::Delivered
                | DeliveryState::Rerouted
                | DeliveryState::Dead
                | DeliveryState::Released
        )
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => DeliveryState::Queued,
            "sending" => DeliveryState::Sending,
            "accepted" => DeliveryState::Accepted,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            "rerouted" => DeliveryState::Rerouted,
            "dead" => DeliveryState::Dead,
            "held" => DeliveryState::Held,
            "released" => DeliveryState::Released,
            other => {
                return Err(StoreError::Invalid {
                    field: "state",
                    detail: format!(
                        "'{other}' is not a delivery state (queued, sending, accepted, delivered, \
                         failed, rerouted, dead, held, released)"
                    ),
                })
            }
        })
    }
}

/// A delivery to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub message_id: Option<i64>,
    pub outgoing_id: Option<i64>,
    pub parent_id: Option<i64>,
    /// desktop | mail | im | hold | digest | submit | sent_copy
    pub channel: String,
    /// The address or place it goes to ("" for this desktop).
    pub target: String,
    /// Channel options and policy as JSON; opaque to the store.
    pub spec: String,
    /// One line saying what is delivered, for lists.
    pub summary: String,
    /// Created `held` (waiting for a digest) rather than `queued`.
    pub held: bool,
    /// When the first attempt is due (unix ms).
    pub due_at: i64,
    /// Words for the first event ("rerouted from delivery 4", the rule that chose it...).
    pub note: Option<String>,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub id: i64,
    /// The routed message (absent for mail written here, or once the message was deleted).
    pub message_id: Option<i64>,
    /// Mail written here that this delivery submits or files.
    pub outgoing_id: Option<i64>,
    /// The delivery this one took over from (re-routing).
    pub parent_id: Option<i64>,
    /// For a released hold: the digest delivery that carried it.
    pub release_id: Option<i64>,
    pub channel: String,
    pub target: String,
    pub state: DeliveryState,
    pub attempts: i64,
    #[serde(skip)]
    pub trials_used: i64,
    #[serde(skip)]
    pub first_attempt_at: Option<i64>,
    /// When the next attempt is due (unix ms), while queued or failed.
    pub next_attempt_at: Option<i64>,
    #[serde(skip)]
    pub runner: Option<String>,
    pub summary: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(skip)]
    pub spec: String,
}

/// One step of a delivery's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryEvent {
    /// Unix milliseconds.
    pub at: i64,
    /// queued | sending | accepted | delivered | failed | interrupted | retried | rerouted |
    /// dead | held | released | retry_requested
    pub state: String,
    pub attempt: Option<i64>,
    /// The remote server's reply code (SMTP), when it answered.
    pub code: Option<i64>,
    /// The server's words, or what happened.
    pub answer: Option<String>,
}

/// A delivery with its timeline.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryView {
    #[serde(flatten)]
    pub delivery: Delivery,
    pub events: Vec<DeliveryEvent>,
}

/// What became of an attempt, decided by the delivery policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptNext {
    /// Done. `follow_ups` are created in the same transaction (e.g. filing a sent copy).
    Delivered { follow_ups: Vec<NewDelivery> },
    /// The channel took it; waiting for the person to read the message.
    Accepted,
    /// Try again at this time (unix ms).
    RetryAt { at: i64, note: String },
    /// Give up on this channel and hand over to an alternate.
    Reroute { reason: String, to: NewDelivery },
    /// Give up for good.
    Dead { reason: String },
}

/// The result of one attempt as the tracker records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The event for the attempt itself: delivered | accepted | failed | interrupted.
    pub event: &'static str,
    pub code: Option<i64>,
    pub answer: String,
    pub next: AttemptNext,
}

/// How a routing pass left a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRecord {
    /// Routed (deliveries follow) or skipped (e.g. a forwarding loop was cut).
    pub routed: bool,
    /// The decision's explanation, or why it was skipped.
    pub reason: String,
    /// Mark the message read (a rule's action), pushed to IMAP like any local flag change.
    pub mark_read: bool,
    /// Labels a rule adds.
    pub labels: Vec<String>,
}

/// Mail written here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutgoing {
    pub account_id: Option<i64>,
    pub message_key: String,
    pub subject: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outgoing {
    pub id: i64,
    pub account_id: Option<i64>,
    pub message_key: String,
    pub subject: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    #[serde(skip)]
    pub raw: Vec<u8>,
    pub created_at: i64,
}

/// An account's outgoing (SMTP submission) server. The password is in the keyring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Log in as this user (AUTH); absent: the server takes mail without it.
    pub username: Option<String>,
    /// SHA-256 pin of a self-signed certificate.
    pub trust_cert: Option<String>,
    /// The address mail from this account is sent as.
    pub from_addr: String,
    pub from_name: Option<String>,
    /// Where a copy of sent mail is filed; absent: the IMAP folder marked \Sent (or a usual name).
    pub sent_mailbox: Option<String>,
}

const DELIVERY_COLUMNS: &str = "id, message_id, outgoing_id, parent_id, release_id, channel, \
     target, state, attempts, trials_used, first_attempt_at, next_attempt_at, runner, summary, \
     created_at, updated_at, spec";

fn delivery_from_row(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    let state: String = r.get(7)?;
    Ok(Delivery {
        id: r.get(0)?,
        message_id: r.get(1)?,
        outgoing_id: r.get(2)?,
        parent_id: r.get(3)?,
        release_id: r.get(4)?,
        channel: r.get(5)?,
        target: r.get(6)?,
        state: state.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, Box::new(e))
        })?,
        attempts: r.get(8)?,
        trials_used: r.get(9)?,
        first_attempt_at: r.get(10)?,
        next_attempt_at: r.get(11)?,
        runner: r.get(12)?,
        summary: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        spec: r.get(16)?,
    })
}

fn event(
    tx: &Transaction<'_>,
    delivery_id: i64,
    at: i64,
    state: &str,
    attempt: Option<i64>,
    code: Option<i64>,
    answer: Option<&str>,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO delivery_event (delivery_id, at, state, attempt, code, answer) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![delivery_id, at, state, attempt, code, answer])?;
    Ok(())
}

fn insert_delivery(tx: &Transaction<'_>, d: &NewDelivery, now: i64) -> Result<i64> {
    let state = if d.held { "held" } else { "queued" };
    tx.prepare_cached(
        "INSERT INTO delivery (message_id, outgoing_id, parent_id, channel, target, spec, state, \
         next_attempt_at, summary, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
    )?
    .execute(params![
        d.message_id,
        d.outgoing_id,
        d.parent_id,
        d.channel,
        d.target,
        d.spec,
        state,
        (!d.held).then_some(d.due_at),
        d.summary,
        now
    ])?;
    let id = tx.last_insert_rowid();
    event(tx, id, now, state, None, None, d.note.as_deref())?;
    Ok(id)
}

fn load_delivery(tx: &rusqlite::Connection, id: i64) -> Result<Option<Delivery>> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM delivery WHERE id = ?1"
        ))?
        .query_row([id], delivery_from_row)
        .optional()?)
}

fn no_such_delivery(id: i64) -> StoreError {
    StoreError::Invalid {
        field: "delivery",
        detail: format!("there is no delivery {id}"),
    }
}

impl Store {
    /// Messages waiting for the router, oldest first.
    pub fn pending_routes(&self, limit: usize) -> Result<Vec<i64>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT message_id FROM message_route WHERE state = 'pending' \
             ORDER BY message_id LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How the router left a message: (state, reason), or `None` when it predates routing.
    pub fn route_state(&self, message_id: i64) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT state, reason FROM message_route WHERE message_id = ?1",
                [message_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Records the routing of a pending message and creates its deliveries, in one
    /// transaction: a message is routed exactly once, even if the process dies half-way or
    /// two routers race. Returns the new delivery ids, or `None` when the message was not
    /// pending (already routed, skipped, or gone).
    pub fn route_message(
        &mut self,
        message_id: i64,
        record: &RouteRecord,
        deliveries: &[NewDelivery],
    ) -> Result<Option<Vec<i64>>> {
        let now = now_millis();
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE message_route SET state = ?2, reason = ?3, at = ?4 \
             WHERE message_id = ?1 AND state = 'pending'",
            params![
                message_id,
                if record.routed { "routed" } else { "skipped" },
                record.reason,
                now / 1000
            ],
        )?;
        if changed == 0 {
            return Ok(None);
        }
        let mut ids = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            ids.push(insert_delivery(&tx, d, now)?);
        }
        for label in &record.labels {
            tx.execute(
                "INSERT OR IGNORE INTO message_label (message_id, label, added_at) \
                 VALUES (?1, ?2, ?3)",
                params![message_id, label, now / 1000],
            )?;
        }
        if record.mark_read {
            tx.execute(
                "UPDATE message SET seen = 1 WHERE id = ?1 AND seen = 0",
                [message_id],
            )?;
            tx.execute(
                "UPDATE source SET flags_pending = 1 WHERE message_id = ?1 AND uid IS NOT NULL \
                 AND state = 'present'",
                [message_id],
            )?;
        }
        tx.commit()?;
        Ok(Some(ids))
    }

    /// Creates deliveries outside routing (a digest, a manual action).
    pub fn add_deliveries(&mut self, deliveries: &[NewDelivery]) -> Result<Vec<i64>> {
        let now = now_millis();
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut ids = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            ids.push(insert_delivery(&tx, d, now)?);
        }
        tx.commit()?;
        Ok(ids)
    }

    /// Stores mail written here together with the delivery that submits it.
    pub fn add_outgoing(&mut self, m: &NewOutgoing, submit: &NewDelivery) -> Result<(i64, i64)> {
        let now = now_millis();
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO outgoing (account_id, message_key, subject, envelope_from, recipients, \
             raw, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                m.account_id,
                m.message_key,
                m.subject,
                m.envelope_from,
                serde_json::to_string(&m.recipients).unwrap_or_else(|_| "[]".into()),
                m.raw,
                now
            ],
        )?;
        let outgoing_id = tx.last_insert_rowid();
        let d = NewDelivery {
            outgoing_id: Some(outgoing_id),
            ..submit.clone()
        };
        let delivery_id = insert_delivery(&tx, &d, now)?;
        tx.commit()?;
        Ok((outgoing_id, delivery_id))
    }

    pub fn outgoing(&self, id: i64) -> Result<Option<Outgoing>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, account_id, message_key, subject, envelope_from, recipients, raw, \
                 created_at FROM outgoing WHERE id = ?1",
                [id],
                |r| {
                    let recipients: String = r.get(5)?;
                    Ok(Outgoing {
                        id: r.get(0)?,
                        account_id: r.get(1)?,
                        message_key: r.get(2)?,
                        subject: r.get(3)?,
                        envelope_from: r.get(4)?,
                        recipients: serde_json::from_str(&recipients).unwrap_or_default(),
                        raw: r.get(6)?,
                        created_at: r.get(7)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn delivery(&self, id: i64) -> Result<Option<Delivery>> {
        load_delivery(self.conn(), id)
    }

    /// When the next queued or failed delivery is due (unix ms).
    pub fn next_due_at(&self) -> Result<Option<i64>> {
        Ok(self.conn().query_row(
            "SELECT min(next_attempt_at) FROM delivery WHERE state IN ('queued', 'failed')",
            [],
            |r| r.get(0),
        )?)
    }

    /// Deliveries due at `now`, oldest due first (candidates for [`Store::claim_delivery`]).
    pub fn due_deliveries(&self, now: i64, limit: usize) -> Result<Vec<Delivery>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM delivery WHERE state IN ('queued', 'failed') \
             AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![now, limit as i64], delivery_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Starts an attempt: `sending`, committed before any byte goes out. Only one process can
    /// claim a delivery; `None` when it is not (or no longer) queued or failed, or not yet due
    /// (unless `force`).
    pub fn claim_delivery(
        &mut self,
        id: i64,
        runner: &str,
        now: i64,
        force: bool,
    ) -> Result<Option<Delivery>> {
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some(before) = load_delivery(&tx, id)? else {
            return Ok(None);
        };
        let due = before.next_attempt_at.is_some_and(|t| t <= now) || force;
        if !matches!(before.state, DeliveryState::Queued | DeliveryState::Failed) || !due {
            return Ok(None);
        }
        tx.execute(
            "UPDATE delivery SET state = 'sending', runner = ?2, attempts = attempts + 1, \
             trials_used = trials_used + 1, first_attempt_at = coalesce(first_attempt_at, ?3), \
             next_attempt_at = NULL, updated_at = ?3 WHERE id = ?1",
            params![id, runner, now],
        )?;
        let attempt = before.attempts + 1;
        event(&tx, id, now, "sending", Some(attempt), None, None)?;
        let after = load_delivery(&tx, id)?.ok_or_else(|| no_such_delivery(id))?;
        tx.commit()?;
        Ok(Some(after))
    }

    /// Records the end of an attempt started by `runner`. `false` when the delivery is no
    /// longer this runner's attempt (it was recovered as interrupted meanwhile); the outcome
    /// is still written to its timeline, as a late answer.
    pub fn finish_attempt(&mut self, id: i64, runner: &str, rec: &AttemptRecord) -> Result<bool> {
        let now = now_millis();
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let d = load_delivery(&tx, id)?.ok_or_else(|| no_such_delivery(id))?;
        let attempt = Some(d.attempts);
        if d.state != DeliveryState::Sending || d.runner.as_deref() != Some(runner) {
            let late = format!(
                "late answer to an attempt recorded as interrupted: {}",
                rec.answer
            );
            event(&tx, id, now, rec.event, attempt, rec.code, Some(&late))?;
            tx.commit()?;
            return Ok(false);
        }
        event(
            &tx,
            id,
            now,
            rec.event,
            attempt,
            rec.code,
            Some(&rec.answer),
        )?;
        apply_next(&tx, &d, &rec.next, now)?;
        tx.commit()?;
        Ok(true)
    }

    /// Moves a delivery that is not in an attempt (accepted and now read or expired, queued
    /// but expired before its attempt) to its next state, with an event saying why.
    pub fn settle_delivery(
        &mut self,
        id: i64,
        expect: DeliveryState,
        event_state: &str,
        answer: &str,
        next: &AttemptNext,
    ) -> Result<bool> {
        let now = now_millis();
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let Some(d) = load_delivery(&tx, id)? else {
            return Ok(false);
        };
        if d.state != expect {
            return Ok(false);
        }
        event(&tx, id, now, event_state, None, None, Some(answer))?;
        apply_next(&tx, &d, next, now)?;
        tx.commit()?;
        Ok(true)
    }

    /// Deliveries in `sending`: after a crash, attempts whose process is gone.
    pub fn sending_deliveries(&self) -> Result<Vec<Delivery>> {
        self.deliveries_where("state = 'sending'", &[])
    }

    /// Deliveries accepted by their channel and waiting for the message to be read, with
    /// whether it is read now.
    pub fn awaiting_read(&self) -> Result<Vec<(Delivery, bool)>> {
        let list = self.deliveries_where("state = 'accepted'", &[])?;
        let mut out = Vec::with_capacity(list.len());
        for d in list {
            let seen: bool = match d.message_id {
                Some(m) => self
                    .conn()
                    .query_row("SELECT seen FROM message WHERE id = ?1", [m], |r| r.get(0))
                    .optional()?
                    .unwrap_or(false),
                None => false,
            };
            out.push((d, seen));
        }
        Ok(out)
    }

    /// Deliveries held for a digest, oldest first.
    pub fn held_deliveries(&self) -> Result<Vec<Delivery>> {
        self.deliveries_where("state = 'held'", &[])
    }

    /// Releases held deliveries together: the digest deliveries (one per channel; none when
    /// the profile is quiet) are created and each held one becomes `released`, pointing at the
    /// first digest, in one transaction. Deliveries no longer held are left alone. Returns
    /// the digests' ids and how many were released.
    pub fn release_held(
        &mut self,
        ids: &[i64],
        digests: &[NewDelivery],
        why: &str,
    ) -> Result<(Vec<i64>, usize)> {
        let now = now_millis();
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut digest_ids = Vec::with_capacity(digests.len());
        for d in digests {
            digest_ids.push(insert_delivery(&tx, d, now)?);
        }
        let note = match digest_ids.as_slice() {
            [] => format!("{why}; no digest (the profile delivers nowhere)"),
            [one] => format!("{why}; in digest delivery {one}"),
            many => format!(
                "{why}; in digest deliveries {}",
                many.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut released = 0;
        for id in ids {
            let n = tx
                .prepare_cached(
                    "UPDATE delivery SET state = 'released', release_id = ?2, updated_at = ?3 \
                     WHERE id = ?1 AND state = 'held'",
                )?
                .execute(params![id, digest_ids.first(), now])?;
            if n == 1 {
                released += 1;
                event(&tx, *id, now, "released", None, None, Some(&note))?;
            }
        }
        tx.commit()?;
        Ok((digest_ids, released))
    }

    /// A delivery setting (kept in `meta` as `deliver.<key>`).
    pub fn delivery_setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [format!("deliver.{key}")],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Sets (`Some`) or clears (`None`) a delivery setting.
    pub fn set_delivery_setting(&self, key: &str, value: Option<&str>) -> Result<()> {
        let key = format!("deliver.{key}");
        match value {
            Some(v) => self.conn().execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, v],
            )?,
            None => self
                .conn()
                .execute("DELETE FROM meta WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    /// The person asks for another try: a dead delivery starts afresh (full trials, a new
    /// expiry); a failed one is tried now instead of at its scheduled time.
    pub fn request_retry(&mut self, id: i64) -> Result<Delivery> {
        let now = now_millis();
        let tx = self
            .conn_mut()
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let d = load_delivery(&tx, id)?.ok_or_else(|| no_such_delivery(id))?;
        match d.state {
            DeliveryState::Dead | DeliveryState::Failed => {}
            other => {
                return Err(StoreError::Invalid {
                    field: "delivery",
                    detail: format!(
                        "delivery {id} is {}; only dead or failed deliveries can be retried",
                        other.as_str()
                    ),
                })
            }
        }
        tx.execute(
            "UPDATE delivery SET state = 'queued', trials_used = 0, first_attempt_at = NULL, \
             next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1",
            params![id, now],
        )?;
        event(
            &tx,
            id,
            now,
            "retry_requested",
            None,
            None,
            Some(&format!(
                "asked to try again after {} attempt{}",
                d.attempts,
                if d.attempts == 1 { "" } else { "s" }
            )),
        )?;
        let after = load_delivery(&tx, id)?.ok_or_else(|| no_such_delivery(id))?;
        tx.commit()?;
        Ok(after)
    }

    fn deliveries_where(
        &self,
        condition: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Delivery>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM delivery WHERE {condition} ORDER BY id"
        ))?;
        let rows = stmt.query_map(args, delivery_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn with_events(&self, list: Vec<Delivery>) -> Result<Vec<DeliveryView>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT at, state, attempt, code, answer FROM delivery_event WHERE delivery_id = ?1 \
             ORDER BY id",
        )?;
        let mut out = Vec::with_capacity(list.len());
        for d in list {
            let events = stmt
                .query_map([d.id], |r| {
                    Ok(DeliveryEvent {
                        at: r.get(0)?,
                        state: r.get(1)?,
                        attempt: r.get(2)?,
                        code: r.get(3)?,
                        answer: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            out.push(DeliveryView {
                delivery: d,
                events,
            });
        }
        Ok(out)
    }

    /// Every delivery of a message with its timeline, in the order they were made.
    pub fn message_deliveries(&self, message_id: i64) -> Result<Vec<DeliveryView>> {
        let list = self.deliveries_where("message_id = ?1", &[&message_id])?;
        self.with_events(list)
    }

    /// A delivery and every delivery of the same message or outgoing mail (its re-routes,
    /// the sent copy), with timelines.
    pub fn delivery_family(&self, id: i64) -> Result<Vec<DeliveryView>> {
        let d = self.delivery(id)?.ok_or_else(|| no_such_delivery(id))?;
        let list = match (d.message_id, d.outgoing_id) {
            (Some(m), _) => self.deliveries_where("message_id = ?1", &[&m])?,
            (None, Some(o)) => self.deliveries_where("outgoing_id = ?1", &[&o])?,
            (None, None) => vec![d],
        };
        self.with_events(list)
    }

    /// Deliveries in one state, newest first, with timelines; `owner` limits them to a
    /// household member's messages and mail.
    pub fn deliveries_in_state(
        &self,
        state: DeliveryState,
        limit: usize,
        owner: Option<&str>,
    ) -> Result<Vec<DeliveryView>> {
        let owned =
            " AND (EXISTS (SELECT 1 FROM source os JOIN account oa ON oa.id = os.account_id \
             WHERE os.message_id = d.message_id AND oa.owner = ?3) OR EXISTS (SELECT 1 FROM \
             outgoing o JOIN account oa ON oa.id = o.account_id WHERE o.id = d.outgoing_id \
             AND oa.owner = ?3))";
        let sql = format!(
            "SELECT {} FROM delivery d WHERE d.state = ?1{} ORDER BY d.id DESC LIMIT ?2",
            DELIVERY_COLUMNS
                .split(", ")
                .map(|c| format!("d.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            if owner.is_some() { owned } else { "" }
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = match owner {
            Some(o) => stmt
                .query_map(params![state.as_str(), limit as i64, o], delivery_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
            None => stmt
                .query_map(params![state.as_str(), limit as i64], delivery_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?,
        };
        drop(stmt);
        self.with_events(rows)
    }

    /// Whether a household member may see this delivery (its message or mail is theirs).
    pub fn delivery_owned_by(&self, id: i64, owner: &str) -> Result<bool> {
        Ok(self.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM delivery d WHERE d.id = ?1 AND (EXISTS (SELECT 1 FROM \
             source os JOIN account oa ON oa.id = os.account_id WHERE os.message_id = d.message_id \
             AND oa.owner = ?2) OR EXISTS (SELECT 1 FROM outgoing o JOIN account oa ON \
             oa.id = o.account_id WHERE o.id = d.outgoing_id AND oa.owner = ?2)))",
            params![id, owner],
            |r| r.get(0),
        )?)
    }

    /// Sets (or replaces) an account's outgoing server.
    pub fn set_smtp_server(&self, account: &str, s: &SmtpServer) -> Result<()> {
        if s.host.trim().is_empty() {
            return Err(StoreError::Invalid {
                field: "host",
                detail: "the outgoing server's host name is empty".into(),
            });
        }
        if s.port == 0 {
            return Err(StoreError::Invalid {
                field: "port",
                detail: "port 0 is not a valid server port".into(),
            });
        }
        if !s.from_addr.contains('@') || s.from_addr.trim() != s.from_addr {
            return Err(StoreError::Invalid {
                field: "from",
                detail: format!("'{}' is not a mail address", s.from_addr),
            });
        }
        let account = self
            .account(account)?
            .ok_or_else(|| StoreError::NoSuchAccount(account.to_string()))?;
        self.conn().execute(
            "INSERT INTO smtp_server (account_id, host, port, tls, username, trust_cert, \
             from_addr, from_name, sent_mailbox) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (account_id) DO UPDATE SET host = excluded.host, port = excluded.port, \
             tls = excluded.tls, username = excluded.username, trust_cert = excluded.trust_cert, \
             from_addr = excluded.from_addr, from_name = excluded.from_name, \
             sent_mailbox = excluded.sent_mailbox",
            params![
                account.id,
                s.host.trim(),
                s.port,
                s.tls.as_str(),
                s.username,
                s.trust_cert,
                s.from_addr,
                s.from_name,
                s.sent_mailbox
            ],
        )?;
        Ok(())
    }

    /// An account's outgoing server, if it has one.
    pub fn smtp_server(&self, account_id: i64) -> Result<Option<SmtpServer>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT host, port, tls, username, trust_cert, from_addr, from_name, sent_mailbox \
                 FROM smtp_server WHERE account_id = ?1",
                [account_id],
                |r| {
                    let tls: String = r.get(2)?;
                    let port: i64 = r.get(1)?;
                    Ok(SmtpServer {
                        host: r.get(0)?,
                        port: u16::try_from(port).unwrap_or(0),
                        tls: tls.parse().map_err(|e| {
                            rusqlite::Error::FromSqlConversionFailure(
                                2,
                                rusqlite::types::Type::Text,
                                Box::new(e),
                            )
                        })?,
                        username: r.get(3)?,
                        trust_cert: r.get(4)?,
                        from_addr: r.get(5)?,
                        from_name: r.get(6)?,
                        sent_mailbox: r.get(7)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn remove_smtp_server(&self, account: &str) -> Result<bool> {
        let account = self
            .account(account)?
            .ok_or_else(|| StoreError::NoSuchAccount(account.to_string()))?;
        Ok(self.conn().execute(
            "DELETE FROM smtp_server WHERE account_id = ?1",
            [account.id],
        )? > 0)
    }

    /// Names of the accounts a message came through, in name order.
    pub fn message_accounts(&self, message_id: i64) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT DISTINCT a.name FROM source s JOIN account a ON a.id = s.account_id \
             WHERE s.message_id = ?1 ORDER BY a.name",
        )?;
        let rows = stmt.query_map([message_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Applies the decided next state to a delivery in `tx` (the event of the step that led here
/// is already written).
fn apply_next(tx: &Transaction<'_>, d: &Delivery, next: &AttemptNext, now: i64) -> Result<()> {
    match next {
        AttemptNext::Delivered { follow_ups } => {
            tx.execute(
                "UPDATE delivery SET state = 'delivered', runner = NULL, updated_at = ?2 \
                 WHERE id = ?1",
                params![d.id, now],
            )?;
            for f in follow_ups {
                insert_delivery(tx, f, now)?;
            }
        }
        AttemptNext::Accepted => {
            tx.execute(
                "UPDATE delivery SET state = 'accepted', runner = NULL, updated_at = ?2 \
                 WHERE id = ?1",
                params![d.id, now],
            )?;
        }
        AttemptNext::RetryAt { at, note } => {
            tx.execute(
                "UPDATE delivery SET state = 'failed', runner = NULL, next_attempt_at = ?2, \
                 updated_at = ?3 WHERE id = ?1",
                params![d.id, at, now],
            )?;
            event(tx, d.id, now, "retried", None, None, Some(note))?;
        }
        AttemptNext::Reroute { reason, to } => {
            let to = NewDelivery {
                parent_id: Some(d.id),
                ..to.clone()
            };
            let new_id = insert_delivery(tx, &to, now)?;
            tx.execute(
                "UPDATE delivery SET state = 'rerouted', runner = NULL, next_attempt_at = NULL, \
                 updated_at = ?2 WHERE id = ?1",
                params![d.id, now],
            )?;
            let target = if to.target.is_empty() {
                to.channel.clone()
            } else {
                format!("{}:{}", to.channel, to.target)
            };
            event(
                tx,
                d.id,
                now,
                "rerouted",
                None,
                None,
                Some(&format!("{reason}; now delivery {new_id} to {target}")),
            )?;
        }
        AttemptNext::Dead { reason } => {
            tx.execute(
                "UPDATE delivery SET state = 'dead', runner = NULL, next_attempt_at = NULL, \
                 updated_at = ?2 WHERE id = ?1",
                params![d.id, now],
            )?;
            event(tx, d.id, now, "dead", None, None, Some(reason))?;
        }
    }
    Ok(())
}
