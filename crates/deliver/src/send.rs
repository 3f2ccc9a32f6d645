//! Sending mail written here (`switchboard send`, `POST /api/send`): new messages, replies
//! and forwards are built, stored as outgoing mail and queued in the tracker as one
//! submission, which the engine carries out (and then files a copy in the Sent folder).
//!
//! A reply goes from the account the original came through, to its Reply-To (or From), with
//! `Re:`, In-Reply-To and References; `all` adds its other recipients except one's own
//! addresses. A forward attaches the original (message/rfc822) under `Fwd:`.

use std::time::SystemTime;

use switchboard_store::{
    now_millis, Account, NewDelivery, NewOutgoing, SmtpServer, Store, StoreError,
};

use crate::channels::identity_of;
use crate::compose::{
    build_draft, forward_subject, new_message_id, reply_recipients, reply_subject, reply_threading,
    ComposeError, Draft,
};
use crate::route::summary_line;
use crate::spec::{submit_policy, ChannelSpec, DeliverySpec};

/// What to send.
#[derive(Debug, Clone, Default)]
pub struct SendRequest {
    /// The account to send from; for a reply or forward, default: the one the original came
    /// through.
    pub account: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Default for a reply or forward: the original's with `Re:` / `Fwd:`.
    pub subject: Option<String>,
    pub body: String,
    /// Reply to this stored message.
    pub reply_to: Option<i64>,
    /// With `reply_to`: to everyone the original went to.
    pub all: bool,
    /// Forward this stored message (attached).
    pub forward: Option<i64>,
    /// Only accounts of this household member may be used.
    pub owner: Option<String>,
}

/// Mail queued for submission.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Queued {
    pub outgoing_id: i64,
    /// The submission's delivery in the tracker.
    pub delivery_id: i64,
    /// The new message's Message-ID, without angle brackets.
    pub message_id: String,
    pub account: String,
    pub from: String,
    pub recipients: Vec<String>,
    pub subject: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The request does not make sense; the sentence names what and where.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The request is fine but what is stored does not allow it (no outgoing server, a
    /// reply with nobody to reply to).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Compose(#[from] ComposeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn account_for(
    store: &Store,
    req: &SendRequest,
    original: Option<i64>,
) -> Result<(Account, SmtpServer), SendError> {
    let visible = |a: &Account| req.owner.is_none() || a.owner == req.owner;
    let candidates: Vec<String> = match (&req.account, original) {
        (Some(name), _) => vec![name.clone()],
        (None, Some(id)) => store.message_accounts(id)?,
        // New mail without an account: the first (by name) that has an outgoing server.
        (None, None) => {
            let mut with_server = Vec::new();
            for a in store.accounts()?.into_iter().filter(visible) {
                if store.smtp_server(a.id)?.is_some() {
                    with_server.push(a.name);
                }
            }
            if with_server.is_empty() {
                return Err(SendError::Conflict(
                    "no account has an outgoing server; add one with `switchboard account smtp \
                     NAME --host HOST`"
                        .into(),
                ));
            }
            with_server.truncate(1);
            with_server
        }
    };
    let mut first_without: Option<String> = None;
    for name in &candidates {
        let Some(a) = store.account(name)?.filter(visible) else {
            if req.account.is_some() {
                return Err(SendError::NotFound(format!("no account named '{name}'")));
            }
            continue;
        };
        match store.smtp_server(a.id)? {
            Some(s) => return Ok((a, s)),
            None => {
                first_without.get_or_insert(a.name.clone());
            }
        }
    }
    match first_without {
        Some(name) => Err(SendError::Conflict(format!(
            "account '{name}' has no outgoing server; add one with `switchboard account smtp \
             {name} --host HOST [--user USER --password-stdin]`"
        ))),
        None => Err(SendError::Conflict(
            "the original came through no account of yours; say which to send from (--account)"
                .into(),
        )),
    }
}

/// Builds the message and queues its submission. Nothing goes out here: the engine does
/// that (see [`crate::engine::Engine::attempt_now`] to do it at once).
pub fn queue_send(store: &mut Store, req: &SendRequest) -> Result<Queued, SendError> {
    queue_send_as(store, req, None)
}

/// [`queue_send`] with a given Message-ID (`local@domain`, no angle brackets) instead of a
/// fresh one: a caller that may repeat a send after a crash (a reply relayed from an IM)
/// derives it from its input and looks for it first, so the mail is queued once.
pub fn queue_send_as(
    store: &mut Store,
    req: &SendRequest,
    message_id: Option<&str>,
) -> Result<Queued, SendError> {
    if req.reply_to.is_some() && req.forward.is_some() {
        return Err(SendError::Invalid(
            "a message is either a reply (--reply-to) or a forward (--forward), not both".into(),
        ));
    }
    if req.all && req.reply_to.is_none() {
        return Err(SendError::Invalid("--all goes with --reply-to".into()));
    }
    let original_id = req.reply_to.or(req.forward);
    let original = match original_id {
        Some(id) => {
            if let Some(owner) = &req.owner {
                if !store.message_owned_by(id, owner)? {
                    return Err(SendError::NotFound(format!("no message {id}")));
                }
            }
            let raw = store.raw(id).map_err(|e| match e {
                StoreError::NoSuchMessage(_) => SendError::NotFound(format!("no message {id}")),
                other => SendError::Store(other),
            })?;
            Some((raw.clone(), switchboard_model::parse(&raw)))
        }
        None => None,
    };
    let (account, smtp) = account_for(store, req, original_id)?;
    let identity = identity_of(&smtp);
    let mut own = vec![smtp.from_addr.clone()];
    if account.username.contains('@') {
        own.push(account.username.clone());
    }
    let mut to = req.to.clone();
    let mut cc = req.cc.clone();
    let mut in_reply_to = None;
    let mut references = Vec::new();
    let mut attach_message = None;
    let subject = match (&original, req.reply_to.is_some()) {
        (Some((_, parent)), true) => {
            let (rto, rcc) = reply_recipients(parent, &own, req.all);
            let mut all_to = rto;
            all_to.append(&mut to);
            to = all_to;
            let mut all_cc = rcc;
            all_cc.append(&mut cc);
            cc = all_cc;
            let (irt, refs) = reply_threading(parent);
            in_reply_to = irt;
            references = refs;
            req.subject
                .clone()
                .unwrap_or_else(|| reply_subject(&parent.subject))
        }
        (Some((raw, parent)), false) => {
            attach_message = Some(raw.clone());
            req.subject
                .clone()
                .unwrap_or_else(|| forward_subject(&parent.subject))
        }
        (None, _) => req.subject.clone().unwrap_or_default(),
    };
    if to.is_empty() && cc.is_empty() {
        return Err(if req.reply_to.is_some() {
            SendError::Conflict(
                "nobody to reply to: the original names no sender or recipient other than \
                 you; give --to"
                    .into(),
            )
        } else {
            SendError::Invalid("no recipient: give at least one --to".into())
        });
    }
    let message_id = match message_id {
        Some(id) => format!("<{}>", id.trim_matches(|c| c == '<' || c == '>')),
        None => new_message_id(identity.domain()),
    };
    let built = build_draft(&Draft {
        from: identity.clone(),
        to,
        cc,
        subject: subject.clone(),
        body: req.body.clone(),
        in_reply_to,
        references,
        attach_message,
        message_id: message_id.clone(),
        date: SystemTime::now(),
        extra_headers: vec![],
    })?;
    let key = message_id
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string();
    let spec = DeliverySpec {
        channel: ChannelSpec::Submit,
        policy: submit_policy(),
        used: vec![],
        alternate: Default::default(),
        profile: None,
    };
    let summary = summary_line(&subject, None) + &format!(" to {}", built.recipients.join(", "));
    let (outgoing_id, delivery_id) = store.add_outgoing(
        &NewOutgoing {
            account_id: Some(account.id),
            message_key: key.clone(),
            subject: subject.clone(),
            envelope_from: built.envelope_from.clone(),
            recipients: built.recipients.clone(),
            raw: built.raw,
        },
        &NewDelivery {
            message_id: None,
            outgoing_id: None,
            parent_id: None,
            channel: spec.channel.channel_name().to_string(),
            target: built.recipients.join(", "),
            spec: spec.to_json(),
            summary,
            held: false,
            due_at: now_millis(),
            note: Some(match (req.reply_to, req.forward) {
                (Some(id), _) => format!("a reply to message {id}, from account {}", account.name),
                (_, Some(id)) => {
                    format!("a forward of message {id}, from account {}", account.name)
                }
                _ => format!("written here, from account {}", account.name),
            }),
        },
    )?;
    Ok(Queued {
        outgoing_id,
        delivery_id,
        message_id: key,
        account: account.name,
        from: built.envelope_from,
        recipients: built.recipients,
        subject,
    })
}
