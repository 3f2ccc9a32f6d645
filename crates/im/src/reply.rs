//! Replies to forwarded messages (seed 001's reply handler): what the person writes back to a
//! forward, from any of their XMPP clients, goes to the original sender over the original
//! channel — a mail reply (In-Reply-To, References, `Re:`, sent as the account the original
//! came to) or an IM from the account it came through — and is tracked like every delivery.
//!
//! Exactly once: an IM from an address this account forwards to is stored marked
//! [`REPLY_PENDING`] (and kept from the router) in the same transaction as the message itself;
//! handling it then makes its outputs with ids derived from it — the mail's Message-ID, the
//! IMs' ids — so handling it again after a crash finds them made and adds nothing; only then is
//! the mark replaced by what was done.

use switchboard_deliver::send::{queue_send_as, SendRequest};
use switchboard_store::{
    ForwardEntry, ForwardKey, ForwardLimits, ImDirection, ImMessage, NewIm, Store,
};
use xmpp_parsers::jid::BareJid;
use xmpp_parsers::minidom::Element;

use crate::forward::{
    empty_answer, failed_answer, reply_text, sent_answer, typed_reference, unmatched_answer,
};
use crate::oneshot::outgoing;
use crate::stanza::{self, Incoming};
use crate::ImError;

/// The durable to-do mark of a reply not handled yet.
pub const REPLY_PENDING: &str = "reply pending";
/// Why such an IM is not routed.
pub const REPLY_ROUTE_NOTE: &str = "a reply to a forwarded message (handled by the IM side)";

/// Marks incoming IMs from addresses this account forwards to as replies to handle.
pub fn mark_replies(store: &Store, account_id: i64, ims: &mut [NewIm]) -> Result<(), ImError> {
    for im in ims.iter_mut() {
        if im.direction == ImDirection::In
            && !im.history
            && store.is_forward_target(account_id, &im.contact)?
        {
            im.route_note = Some(REPLY_ROUTE_NOTE.to_string());
            im.detail = Some(REPLY_PENDING.to_string());
        }
    }
    Ok(())
}

/// What handling replies did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    pub replies: usize,
    /// Mail was queued: the delivery engine should look.
    pub mail_queued: bool,
    /// IMs were queued: the connection's outbox should be sent.
    pub ims_queued: bool,
}

/// Handles every reply of the account still marked pending.
pub fn handle_pending(
    store: &mut Store,
    account_id: i64,
    own: &BareJid,
    limits: ForwardLimits,
    now: i64,
) -> Result<Handled, ImError> {
    let mut done = Handled::default();
    for im in store.ims_with_detail(account_id, REPLY_PENDING)? {
        done.replies += 1;
        let detail = match handle_one(store, account_id, own, &im, limits, now, &mut done) {
            Ok(d) => d,
            Err(e) => {
                answer(
                    store,
                    account_id,
                    own,
                    &im,
                    &format!("Your reply could not be handled: {e}"),
                    &mut done,
                )?;
                format!("reply not handled: {e}")
            }
        };
        store.set_im_detail(im.id, Some(&detail))?;
    }
    Ok(done)
}

/// The reply-to id and thread of a stored IM, read back from its stanza.
fn reply_markers(store: &Store, im: &ImMessage, own: &BareJid) -> (Option<String>, Option<String>) {
    let chat = store
        .raw(im.id)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|xml| xml.parse::<Element>().ok())
        .and_then(|el| match stanza::classify(&el, own) {
            Incoming::Chat(c) | Incoming::Carbon { chat: c, .. } => Some(c),
            Incoming::Archived { chat, .. } => chat,
            _ => None,
        });
    match chat {
        Some(c) => (c.reply_to_id, c.thread.or_else(|| im.thread.clone())),
        None => (None, im.thread.clone()),
    }
}

fn find(
    store: &Store,
    account_id: i64,
    im: &ImMessage,
    own: &BareJid,
    limits: ForwardLimits,
    now: i64,
) -> Result<(Option<ForwardEntry>, String), ImError> {
    let (reply_to, thread) = reply_markers(store, im, own);
    let typed = typed_reference(&im.body);
    let mut entry = None;
    if let Some(id) = &reply_to {
        entry = store.find_forward(account_id, &im.contact, &ForwardKey::ImId(id), limits, now)?;
    }
    if entry.is_none() {
        if let Some(t) = &thread {
            entry =
                store.find_forward(account_id, &im.contact, &ForwardKey::Thread(t), limits, now)?;
        }
    }
    if entry.is_none() {
        if let Some((r, _)) = &typed {
            entry = store.find_forward(
                account_id,
                &im.contact,
                &ForwardKey::Reference(r),
                limits,
                now,
            )?;
        }
    }
    let text = match &typed {
        Some((_, rest)) => rest.clone(),
        None => im.body.clone(),
    };
    Ok((entry, reply_text(&text, reply_to.is_some())))
}

/// Queues an answer to the person, with an id derived from their message (once only).
fn answer(
    store: &mut Store,
    account_id: i64,
    own: &BareJid,
    im: &ImMessage,
    text: &str,
    done: &mut Handled,
) -> Result<(), ImError> {
    let to = crate::jid::parse_bare(&im.contact, "the person's address")?;
    let id = format!("sb-answer-{}", im.id);
    let msg = outgoing(own, &to, text, &id, im.thread.as_deref());
    store.queue_im(account_id, &msg)?;
    done.ims_queued = true;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn handle_one(
    store: &mut Store,
    account_id: i64,
    own: &BareJid,
    im: &ImMessage,
    limits: ForwardLimits,
    now: i64,
    done: &mut Handled,
) -> Result<String, ImError> {
    let (entry, text) = find(store, account_id, im, own, limits, now)?;
    let Some(e) = entry else {
        answer(store, account_id, own, im, &unmatched_answer(), done)?;
        return Ok("matched no forwarded message; answered so".into());
    };
    store.touch_forward(e.id, now)?;
    if text.trim().is_empty() {
        answer(
            store,
            account_id,
            own,
            im,
            &empty_answer(&e.reference),
            done,
        )?;
        return Ok(format!(
            "a reply to #{} without text; nothing sent",
            e.reference
        ));
    }
    match e.orig_channel.as_str() {
        "im" => {
            let account = e
                .orig_account_id
                .and_then(|id| store.account_by_id(id).ok().flatten())
                .ok_or_else(|| {
                    ImError::Choose("the account the original came through is gone".into())
                })?;
            let from = crate::jid::parse_bare(&account.username, "the account's JID")?;
            let to = crate::jid::parse_bare(&e.orig_sender, "the original sender")?;
            let id = format!("sb-relay-{}-{}", account_id, im.id);
            let msg = outgoing(&from, &to, text.trim(), &id, None);
            store.queue_im(account.id, &msg)?;
            done.ims_queued = true;
            answer(
                store,
                account_id,
                own,
                im,
                &sent_answer(&e.reference, &e.orig_sender, "im"),
                done,
            )?;
            Ok(format!(
                "a reply to #{}: sent to {} as an IM from '{}'",
                e.reference, e.orig_sender, account.name
            ))
        }
        _ => {
            let Some(original) = e.message_id else {
                answer(
                    store,
                    account_id,
                    own,
                    im,
                    &failed_answer(&e.reference, "the forwarded message is no longer stored"),
                    done,
                )?;
                return Ok(format!(
                    "a reply to #{}: the original is gone; nothing sent",
                    e.reference
                ));
            };
            // The mail's Message-ID comes from this reply: handling it twice finds the first.
            let domain = reply_domain(store, original);
            let key = format!("sb-imreply-{account_id}-{}@{domain}", im.id);
            let queued = match store.outgoing_with_key(&key)? {
                Some(_) => Ok(None),
                None => queue_send_as(
                    store,
                    &SendRequest {
                        reply_to: Some(original),
                        body: format!("{}\n", text.trim()),
                        ..Default::default()
                    },
                    Some(&key),
                )
                .map(Some),
            };
            match queued {
                Ok(q) => {
                    done.mail_queued = true;
                    let to = q
                        .as_ref()
                        .map(|q| q.recipients.join(", "))
                        .unwrap_or_else(|| e.orig_sender.clone());
                    answer(
                        store,
                        account_id,
                        own,
                        im,
                        &sent_answer(&e.reference, &to, "mail"),
                        done,
                    )?;
                    Ok(match q {
                        Some(q) => format!(
                            "a reply to #{}: mail to {to} queued (delivery {})",
                            e.reference, q.delivery_id
                        ),
                        None => format!("a reply to #{}: mail to {to} queued", e.reference),
                    })
                }
                Err(err) => {
                    answer(
                        store,
                        account_id,
                        own,
                        im,
                        &failed_answer(&e.reference, &err.to_string()),
                        done,
                    )?;
                    Ok(format!(
                        "a reply to #{} could not be sent: {err}",
                        e.reference
                    ))
                }
            }
        }
    }
}

/// The domain of the address the reply goes out from: the outgoing server's identity of an
/// account the original came through.
fn reply_domain(store: &Store, message_id: i64) -> String {
    store
        .message_accounts(message_id)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|name| store.account(&name).ok().flatten())
        .filter_map(|a| store.smtp_server(a.id).ok().flatten())
        .find_map(|s| s.from_addr.rsplit_once('@').map(|(_, d)| d.to_string()))
        .unwrap_or_else(|| "switchboard.invalid".to_string())
}
