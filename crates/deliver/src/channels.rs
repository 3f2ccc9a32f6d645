//! One attempt on one channel: what goes out, to where, and what came back. Each function
//! returns the channel's own answer; the engine records it and the policy decides what next.

use std::time::SystemTime;

use switchboard_route::{NotifyLimiter, RateVerdict, Urgency};
use switchboard_store::{Account, AccountKind, Delivery, SmtpServer, Store, StoreError};
use switchboard_sync::secrets::{load_password, SecretError};

use crate::compose::{build_draft, Draft, Identity};
use crate::forward::{build_forward, Forward};
use crate::headers::forward_message_id;
use crate::notify::{digest_note, message_note, DesktopNote};
use crate::plan::Outcome;
use crate::route::summary_line;
use crate::smtp::{submit, Submission};

/// The keyring entry name of an account's outgoing-server password. Account names cannot
/// contain '/', so it never collides with an account's own entry.
pub fn smtp_secret_name(account: &str) -> String {
    format!("{account}/smtp")
}

pub(crate) fn failed(answer: impl Into<String>, transient: bool) -> Outcome {
    Outcome::Failed {
        code: None,
        answer: answer.into(),
        transient,
    }
}

fn store_failure(e: StoreError) -> Outcome {
    match e {
        StoreError::NoSuchMessage(_) => failed(
            "the message was deleted before it could be delivered",
            false,
        ),
        other => failed(format!("the store could not be read: {other}"), true),
    }
}

/// The identity mail from this account goes out as.
pub fn identity_of(smtp: &SmtpServer) -> Identity {
    Identity {
        name: smtp.from_name.clone(),
        address: smtp.from_addr.clone(),
    }
}

/// An account with an outgoing server and its password: the first of `preferred` (the
/// accounts the message came through) that has one, else the `forward_account` setting,
/// else the first account (by name) that has one.
pub fn outgoing_account(
    store: &Store,
    preferred: &[String],
) -> Result<Option<(Account, SmtpServer)>, StoreError> {
    let mut names: Vec<String> = preferred.to_vec();
    if let Some(configured) = store.delivery_setting("forward_account")? {
        names.push(configured);
    }
    for name in &names {
        if let Some(a) = store.account(name)? {
            if let Some(s) = store.smtp_server(a.id)? {
                return Ok(Some((a, s)));
            }
        }
    }
    for a in store.accounts()? {
        if let Some(s) = store.smtp_server(a.id)? {
            return Ok(Some((a, s)));
        }
    }
    Ok(None)
}

fn no_outgoing_server() -> Outcome {
    failed(
        "no outgoing (SMTP) server is set up: add one with `switchboard account smtp NAME --host …`",
        false,
    )
}

/// Submits over the account's outgoing server, with the password from the keyring.
pub(crate) async fn submit_via(
    install_id: &str,
    account: &Account,
    smtp: &SmtpServer,
    envelope_from: &str,
    recipients: &[String],
    raw: &[u8],
) -> Outcome {
    let password = match &smtp.username {
        Some(_) => match load_password(install_id, &smtp_secret_name(&account.name)) {
            Ok(p) => Some(p),
            Err(SecretError::Missing(_)) => {
                return failed(
                    format!(
                        "no password for the outgoing server of '{}' in the keyring; set it with \
                         `switchboard account smtp {} … --user USER` (password on stdin)",
                        account.name, account.name
                    ),
                    false,
                )
            }
            Err(e) => return failed(e.to_string(), true),
        },
        None => None,
    };
    let login = match (&smtp.username, &password) {
        (Some(u), Some(p)) => Some((u.as_str(), p.expose())),
        _ => None,
    };
    let target = Submission {
        host: &smtp.host,
        port: smtp.port,
        tls: smtp.tls,
        login,
        trust_cert: smtp.trust_cert.as_deref(),
    };
    match submit(&target, envelope_from, recipients, raw).await {
        Ok(a) => Outcome::Delivered {
            code: Some(a.code),
            answer: format!("{} accepted it: {}", smtp.host, a.text),
        },
        Err(e) => Outcome::Failed {
            code: e.code(),
            answer: match &e {
                crate::smtp::SmtpError::Refused { text, .. } => text.clone(),
                crate::smtp::SmtpError::Auth { text, .. } => {
                    format!("{} refused the login: {text}", smtp.host)
                }
                other => other.to_string(),
            },
            transient: e.is_transient(),
        },
    }
}

/// A notification about message `d.message_id`, through `show` (run off the async threads).
pub(crate) fn desktop_note_for(
    store: &Store,
    d: &Delivery,
    urgency: Urgency,
    hide_content: bool,
) -> Result<DesktopNote, Outcome> {
    let id = d.message_id.ok_or_else(|| {
        failed(
            "the message was deleted before it could be delivered",
            false,
        )
    })?;
    let m = store.message(id).map_err(store_failure)?;
    let accounts = store.message_accounts(id).map_err(store_failure)?;
    let mut note = message_note(
        m.summary.from.as_ref(),
        &m.summary.subject,
        &accounts,
        hide_content,
        urgency,
    );
    note.message_id = Some(id);
    Ok(note)
}

/// The rate limit: `None` to go ahead, or the outcome of a suppressed notification.
pub(crate) fn rate_limited(
    limiter: &std::sync::Mutex<NotifyLimiter>,
    conversation: &str,
    window_secs: u64,
    now_secs: i64,
) -> Option<Outcome> {
    if window_secs == 0 || conversation.is_empty() {
        return None;
    }
    let verdict = limiter
        .lock()
        .map(|mut l| l.check(conversation, window_secs, now_secs))
        .unwrap_or(RateVerdict::Allow);
    match verdict {
        RateVerdict::Allow => None,
        RateVerdict::Suppress { next_at, .. } => Some(Outcome::Delivered {
            code: None,
            answer: format!(
                "not shown: this conversation notified less than {} min ago (rate limit; the \
                 next may come in {} s)",
                window_secs.div_ceil(60),
                (next_at - now_secs).max(0)
            ),
        }),
    }
}

/// What a forward needs, read from the store.
pub(crate) struct ForwardJob {
    pub raw: Vec<u8>,
    pub account: Account,
    pub smtp: SmtpServer,
    /// The address the original reached, for X-Forwarded-For.
    pub original_recipient: Option<String>,
}

pub(crate) fn forward_job(store: &Store, d: &Delivery) -> Result<ForwardJob, Outcome> {
    let id = d.message_id.ok_or_else(|| {
        failed(
            "the message was deleted before it could be delivered",
            false,
        )
    })?;
    let raw = store.raw(id).map_err(store_failure)?;
    let accounts = store.message_accounts(id).map_err(store_failure)?;
    let (account, smtp) = outgoing_account(store, &accounts)
        .map_err(store_failure)?
        .ok_or_else(no_outgoing_server)?;
    let original_recipient = accounts
        .first()
        .and_then(|name| store.account(name).ok().flatten())
        .and_then(|a| match store.smtp_server(a.id) {
            Ok(Some(s)) => Some(s.from_addr),
            _ => a.username.contains('@').then_some(a.username),
        });
    Ok(ForwardJob {
        raw,
        account,
        smtp,
        original_recipient,
    })
}

pub(crate) async fn forward(
    install_id: &str,
    d: &Delivery,
    job: ForwardJob,
    to: &str,
    mode: crate::forward::ForwardMode,
) -> Outcome {
    let identity = identity_of(&job.smtp);
    let built = match build_forward(&Forward {
        original: &job.raw,
        from: &identity,
        to,
        mode,
        install_id,
        delivery_id: d.id,
        date: SystemTime::now(),
        original_recipient: job.original_recipient.as_deref(),
    }) {
        Ok(b) => b,
        Err(e) => return failed(e.to_string(), false),
    };
    submit_via(
        install_id,
        &job.account,
        &job.smtp,
        &built.envelope_from,
        std::slice::from_ref(&built.recipient),
        &built.raw,
    )
    .await
}

/// A digest's lines: (sender, subject) of each held message still stored.
pub(crate) fn digest_lines(store: &Store, ids: &[i64]) -> Vec<(String, String)> {
    ids.iter()
        .filter_map(|id| store.message(*id).ok())
        .map(|m| {
            let sender = m
                .summary
                .from
                .map(|a| match a.name {
                    Some(n) => format!("{n} <{}>", a.email),
                    None => a.email,
                })
                .unwrap_or_else(|| "(no sender)".into());
            (sender, m.summary.subject)
        })
        .collect()
}

pub(crate) fn digest_desktop_note(
    lines: &[(String, String)],
    reason: &str,
    hide_content: bool,
    urgency: Urgency,
) -> DesktopNote {
    digest_note(lines, reason, hide_content, urgency)
}

/// A digest by mail: one message listing the held ones, marked like a forward so it is not
/// routed again if it lands in one of this installation's accounts.
pub(crate) fn digest_mail(
    install_id: &str,
    d: &Delivery,
    identity: &Identity,
    to: &str,
    lines: &[(String, String)],
    reason: &str,
    hide_content: bool,
) -> Result<crate::compose::Built, Outcome> {
    let mut body = format!(
        "{} message{} held for you ({reason}):\n\n",
        lines.len(),
        if lines.len() == 1 { " was" } else { "s were" }
    );
    for (sender, subject) in lines {
        if hide_content {
            body.push_str(&format!("- from {sender}\n"));
        } else {
            body.push_str(&format!("- {}\n", summary_line(subject, Some(sender))));
        }
    }
    let draft = Draft {
        from: identity.clone(),
        to: vec![to.to_string()],
        cc: vec![],
        subject: format!(
            "Switchboard: {} held message{}",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" }
        ),
        body,
        in_reply_to: None,
        references: vec![],
        attach_message: None,
        message_id: forward_message_id(d.id, install_id, identity.domain()),
        date: SystemTime::now(),
        extra_headers: vec![(
            crate::headers::FORWARDED_HEADER.to_string(),
            install_id.to_string(),
        )],
    };
    build_draft(&draft).map_err(|e| failed(e.to_string(), false))
}

/// The digest's channel, for the outgoing account choice of a mail digest.
pub(crate) fn digest_accounts(store: &Store, ids: &[i64]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        for a in store.message_accounts(*id).unwrap_or_default() {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// What submitting mail written here needs.
pub(crate) struct SubmitJob {
    pub outgoing: switchboard_store::Outgoing,
    pub account: Account,
    pub smtp: SmtpServer,
}

pub(crate) fn submit_job(store: &Store, d: &Delivery) -> Result<SubmitJob, Outcome> {
    let id = d
        .outgoing_id
        .ok_or_else(|| failed("the delivery names no outgoing message", false))?;
    let outgoing = store
        .outgoing(id)
        .map_err(store_failure)?
        .ok_or_else(|| failed(format!("outgoing message {id} is gone"), false))?;
    let account = match outgoing.account_id {
        Some(a) => store.account_by_id(a).map_err(store_failure)?,
        None => None,
    }
    .ok_or_else(|| failed("the account this mail was written for was removed", false))?;
    let smtp = store
        .smtp_server(account.id)
        .map_err(store_failure)?
        .ok_or_else(|| {
            failed(
                format!(
                    "account '{}' has no outgoing server: add one with `switchboard account smtp {} --host …`",
                    account.name, account.name
                ),
                false,
            )
        })?;
    Ok(SubmitJob {
        outgoing,
        account,
        smtp,
    })
}

/// Files a copy of sent mail in the account's Sent folder.
pub(crate) async fn sent_copy(install_id: &str, job: SubmitJob, mailbox: Option<&str>) -> Outcome {
    if job.account.kind != AccountKind::Imap {
        return Outcome::Delivered {
            code: None,
            answer: format!(
                "account '{}' is not an IMAP account: no Sent folder to file a copy in",
                job.account.name
            ),
        };
    }
    let password = match load_password(install_id, &job.account.name) {
        Ok(p) => p,
        Err(e) => return failed(e.to_string(), !matches!(e, SecretError::Missing(_))),
    };
    match switchboard_sync::append::append_sent_copy(
        &job.account,
        password.expose(),
        mailbox,
        &job.outgoing.raw,
    )
    .await
    {
        Ok(Some(mb)) => Outcome::Delivered {
            code: None,
            answer: format!("filed in '{mb}' on {}", job.account.host),
        },
        Ok(None) => Outcome::Delivered {
            code: None,
            answer: format!(
                "{} has no Sent folder (none marked \\Sent, none by a usual name); no copy kept",
                job.account.host
            ),
        },
        Err(e) => {
            let transient = matches!(e, switchboard_sync::SyncError::Unreachable(_));
            failed(e.to_string(), transient)
        }
    }
}
