//! Forwarding as IM (seed 001's IM delivery agent): the delivery engine hands a routed message
//! and the person's IM address; the short form goes out from an XMPP account with a reference,
//! a thread and an id that replies can name (see [`crate::reply`]), and the conversation map
//! remembers where a reply goes.
//!
//! The IM is put in the outbox of the account's running connection (in this process), which is
//! woken; the attempt succeeds once the server took it. A retried attempt of the same delivery
//! reuses its map entry and its queued IM, so a forward never goes out twice.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use switchboard_store::{
    Account, AccountKind, ForwardLimits, ImState, NewForward, Store, StoreError,
};
use tokio::sync::Notify;

use crate::forward::{compose, Original};
use crate::oneshot::outgoing;
use crate::ImError;

/// How long an attempt waits for the connection to send the forward.
const SEND_WAIT: Duration = Duration::from_secs(30);

/// Why a forward did not go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFailure {
    pub answer: String,
    /// Worth another attempt later (not connected), or not (no such address, no account).
    pub transient: bool,
}

fn permanent(answer: impl Into<String>) -> ForwardFailure {
    ForwardFailure {
        answer: answer.into(),
        transient: false,
    }
}

fn transient(answer: impl Into<String>) -> ForwardFailure {
    ForwardFailure {
        answer: answer.into(),
        transient: true,
    }
}

/// Sends forwards from the XMPP accounts of one store.
#[derive(Clone)]
pub struct Forwarder {
    db: PathBuf,
    wake: Arc<Notify>,
    limits: ForwardLimits,
}

fn random_id(what: &str) -> String {
    let mut r = [0u8; 9];
    let _ = getrandom::getrandom(&mut r);
    format!("sb-{what}-{}", hex::encode(r))
}

/// The XMPP account forwards go out from: the only one, else the first one online, else the
/// first by name.
fn forwarding_account(store: &Store) -> Result<Option<Account>, StoreError> {
    let xmpp: Vec<Account> = store
        .accounts()?
        .into_iter()
        .filter(|a| a.kind == AccountKind::Xmpp)
        .collect();
    Ok(xmpp
        .iter()
        .find(|a| a.state.state == "ok")
        .or(xmpp.first())
        .cloned())
}

impl Forwarder {
    /// `wake` reaches the running XMPP connections (serve's shared wake-up).
    pub fn new(data_dir: &Path, wake: Arc<Notify>) -> Forwarder {
        Forwarder {
            db: data_dir.join(switchboard_store::DB_FILE),
            wake,
            limits: ForwardLimits::default(),
        }
    }

    pub fn with_limits(mut self, limits: ForwardLimits) -> Forwarder {
        self.limits = limits;
        self
    }

    /// Forwards stored message `message_id` to `to` as an IM (or, without a message, sends
    /// `text` as it is). Returns the words for the tracker once the server took it.
    pub async fn forward_message(
        &self,
        delivery_id: Option<i64>,
        message_id: Option<i64>,
        to: &str,
        text: &str,
    ) -> Result<String, ForwardFailure> {
        let db = self.db.clone();
        let limits = self.limits;
        let to = to.to_string();
        let text = text.to_string();
        let queued = tokio::task::spawn_blocking(move || {
            queue_forward(&db, delivery_id, message_id, &to, &text, limits)
        })
        .await
        .map_err(|e| transient(format!("the forward task failed: {e}")))??;
        self.wake.notify_waiters();
        self.wait_sent(queued).await
    }

    async fn wait_sent(&self, q: Queued) -> Result<String, ForwardFailure> {
        let deadline = tokio::time::Instant::now() + SEND_WAIT;
        let db = self.db.clone();
        loop {
            let db2 = db.clone();
            let state = tokio::task::spawn_blocking(move || {
                Store::open(&db2).and_then(|s| s.im_message(q.im_message))
            })
            .await
            .map_err(|e| transient(format!("the forward task failed: {e}")))?
            .map_err(|e| transient(e.to_string()))?;
            let label = q
                .reference
                .as_ref()
                .map(|r| format!(" as #{r}"))
                .unwrap_or_default();
            match state.state {
                ImState::Sent | ImState::Acked | ImState::Delivered => {
                    return Ok(format!(
                        "sent to {} from '{}'{label}{}",
                        state.contact,
                        q.account,
                        if state.state == ImState::Sent {
                            ""
                        } else {
                            "; the server confirmed it"
                        }
                    ))
                }
                ImState::Failed => {
                    return Err(permanent(format!(
                        "the XMPP server refused the IM to {}: {}",
                        state.contact,
                        state.state_detail.unwrap_or_default()
                    )))
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(transient(format!(
                    "the XMPP account '{}' did not send it within {}s (not connected?); it \
                     stays queued and goes out when the account is online",
                    q.account,
                    SEND_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

struct Queued {
    account: String,
    im_message: i64,
    reference: Option<String>,
}

fn queue_forward(
    db: &Path,
    delivery_id: Option<i64>,
    message_id: Option<i64>,
    to: &str,
    text: &str,
    limits: ForwardLimits,
) -> Result<Queued, ForwardFailure> {
    let store_err = |e: StoreError| transient(e.to_string());
    let mut store = Store::open(db).map_err(store_err)?;
    let to = crate::jid::parse_bare(to, "the IM address").map_err(|e| permanent(e.to_string()))?;
    let account = forwarding_account(&store)
        .map_err(store_err)?
        .ok_or_else(|| permanent("there is no XMPP account to send the IM from"))?;
    let own = crate::jid::parse_bare(&account.username, "the account's JID")
        .map_err(|e| permanent(e.to_string()))?;
    // A retried attempt: the forward is already recorded and queued.
    if let Some(d) = delivery_id {
        if let Some(e) = store.forward_by_delivery(d).map_err(store_err)? {
            if let Some(id) = store
                .im_by_origin(e.account_id, &e.im_id)
                .map_err(store_err)?
            {
                let account = store
                    .account_by_id(e.account_id)
                    .map_err(store_err)?
                    .map(|a| a.name)
                    .unwrap_or_default();
                return Ok(Queued {
                    account,
                    im_message: id,
                    reference: Some(e.reference),
                });
            }
        }
    }
    let im_id = random_id("fwd");
    let (body, thread, reference) = match message_id {
        Some(mid) => {
            let m = store.message(mid).map_err(|e| permanent(e.to_string()))?;
            let source = m.summary.sources.first();
            let channel = match source.map(|s| s.kind.as_str()) {
                Some("xmpp") => "im",
                _ => "mail",
            };
            let orig_account_id = match source {
                Some(s) => store.account(&s.account).map_err(store_err)?.map(|a| a.id),
                None => None,
            };
            let from = m.summary.from.clone();
            let orig_sender = match channel {
                "im" => from.as_ref().map(|a| a.email.clone()),
                _ => m
                    .reply_to
                    .first()
                    .map(|a| a.email.clone())
                    .or_else(|| from.as_ref().map(|a| a.email.clone())),
            }
            .unwrap_or_default();
            // An IM is never sent back to the address it came from (a loop).
            if channel == "im" && crate::jid::bare_of(&orig_sender).is_some_and(|b| b == to) {
                return Err(permanent(format!(
                    "not forwarded: the IM came from {to} itself"
                )));
            }
            let thread = random_id("thread");
            let entry = store
                .add_forward(
                    &NewForward {
                        account_id: account.id,
                        im_to: to.to_string(),
                        thread: thread.clone(),
                        im_id: im_id.clone(),
                        message_id: Some(mid),
                        delivery_id,
                        orig_channel: channel.to_string(),
                        orig_account_id,
                        orig_sender,
                    },
                    limits,
                    switchboard_store::now_unix(),
                )
                .map_err(store_err)?;
            let body = compose(
                &entry.reference,
                &Original {
                    channel,
                    from_name: from.as_ref().and_then(|a| a.name.as_deref()),
                    from_addr: from
                        .as_ref()
                        .map(|a| a.email.as_str())
                        .unwrap_or("(unknown)"),
                    subject: &m.summary.subject,
                    body: m.text_body.as_deref().unwrap_or(""),
                },
            );
            (body, Some(thread), Some(entry.reference))
        }
        None => (text.to_string(), None, None),
    };
    store
        .mark_forward_target(account.id, to.as_str())
        .map_err(store_err)?;
    let msg = outgoing(&own, &to, &body, &im_id, thread.as_deref());
    let id = store.queue_im(account.id, &msg).map_err(store_err)?;
    Ok(Queued {
        account: account.name,
        im_message: id,
        reference,
    })
}

impl switchboard_deliver::im::ImChannel for Forwarder {
    fn send<'a>(
        &'a self,
        delivery_id: i64,
        message_id: Option<i64>,
        to: &'a str,
        text: &'a str,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<String, switchboard_deliver::im::ImFailure>>
                + Send
                + 'a,
        >,
    > {
        Box::pin(async move {
            self.forward_message(Some(delivery_id), message_id, to, text)
                .await
                .map_err(|f| switchboard_deliver::im::ImFailure {
                    answer: f.answer,
                    transient: f.transient,
                })
        })
    }
}

impl From<ImError> for ForwardFailure {
    fn from(e: ImError) -> Self {
        match e {
            ImError::Unreachable(_) | ImError::Store(_) => transient(e.to_string()),
            other => permanent(other.to_string()),
        }
    }
}
