//! Short connections and the outbox: send one message now (the CLI), put one in the outbox of
//! the running connection (the API), try an account's settings.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use switchboard_model::Address;
use switchboard_store::{Account, AccountKind, ImDirection, ImMessage, ImState, NewIm, Store};
use switchboard_sync::secrets::load_password;
use tokio::sync::oneshot;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::stanzastream::{Connection, Event, StanzaStream, StreamEvent};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

use crate::connect::{login_within, AccountConfig};
use crate::stanza::{self, Incoming};
use crate::{check_text, ImError, LOGIN_TIMEOUT};

/// How long a one-shot connection waits for the server's answers.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// What happened to a message sent by [`send_now`].
#[derive(Debug, Clone, Serialize)]
pub struct SendReport {
    pub account: String,
    pub to: String,
    /// The stored message (`switchboard show ID`).
    pub message_id: i64,
    /// `acked` (the server confirmed it, stream management) or `sent`.
    pub state: ImState,
}

/// The XMPP account to use: the named one, or the only one there is.
pub fn pick_account(store: &Store, name: Option<&str>) -> Result<Account, ImError> {
    let xmpp: Vec<Account> = store
        .accounts()?
        .into_iter()
        .filter(|a| a.kind == AccountKind::Xmpp)
        .collect();
    match name {
        Some(n) => xmpp
            .into_iter()
            .find(|a| a.name == n)
            .ok_or_else(|| ImError::NoAccount(n.to_string())),
        None => match xmpp.len() {
            0 => Err(ImError::Choose(
                "there is no XMPP account; add one with `switchboard account add xmpp NAME --jid \
                 JID --password-stdin`"
                    .into(),
            )),
            1 => Ok(xmpp
                .into_iter()
                .next()
                .ok_or_else(|| ImError::Choose("there is no XMPP account".into()))?),
            _ => Err(ImError::Choose(format!(
                "there are {} XMPP accounts ({}); say which one with --account",
                xmpp.len(),
                xmpp.iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
    }
}

fn random_id() -> String {
    let mut r = [0u8; 12];
    let _ = getrandom::getrandom(&mut r);
    format!("sb-{}", hex::encode(r))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The stored form of a message this person writes; `id` is its id and origin-id.
pub fn outgoing(own: &BareJid, to: &BareJid, text: &str, id: &str, thread: Option<&str>) -> NewIm {
    let text = &crate::xml_safe(text);
    let thread = thread.map(crate::xml_safe);
    let thread = thread.as_deref();
    let chat = stanza::Chat {
        from: own.to_string(),
        to: to.to_string(),
        id: Some(id.to_string()),
        origin_id: Some(id.to_string()),
        stanza_id: None,
        body: text.to_string(),
        thread: thread.map(String::from),
        sent_at_ms: None,
        wants_receipt: true,
        reply_to_id: None,
        raw: String::new(),
    };
    let at_ms = now_ms();
    let keys = crate::keys::keys_for(&chat, own, to, at_ms);
    let raw = stanza::to_xml(&Element::from(stanza::chat_message(to, text, id, thread)));
    NewIm {
        direction: ImDirection::Out,
        contact: to.to_string(),
        from: Address {
            name: None,
            email: own.to_string(),
        },
        to: Address {
            name: None,
            email: to.to_string(),
        },
        body: text.to_string(),
        at_ms,
        stanza_id: None,
        origin_id: Some(id.to_string()),
        thread: thread.map(String::from),
        message_key: crate::keys::message_key(&keys[0]),
        keys,
        raw: raw.into_bytes(),
        state: ImState::Queued,
        history: false,
        route_note: None,
        detail: None,
    }
}

/// Puts a message into the outbox of `account` (or the only XMPP account); the account's
/// running connection sends it when woken (`serve` wakes it). Checks everything that can be
/// checked without the network first.
pub fn queue_message(
    store: &mut Store,
    account: Option<&str>,
    to: &str,
    text: &str,
    thread: Option<&str>,
) -> Result<ImMessage, ImError> {
    check_text(text)?;
    let to = crate::jid::parse_bare(to, "the recipient")?;
    let account = pick_account(store, account)?;
    let own = crate::jid::parse_bare(&account.username, "the account's JID")?;
    let im = outgoing(&own, &to, text, &random_id(), thread);
    let id = store.queue_im(account.id, &im)?;
    Ok(store.im_message(id)?)
}

/// A stanza stream over one already logged-in connection: later reconnect requests are left
/// unanswered (the short session just ends).
fn single_use(conn: Connection) -> StanzaStream {
    let first = Arc::new(Mutex::new(Some(conn)));
    StanzaStream::new(
        Box::new(move |_, slot: oneshot::Sender<Connection>| {
            let conn = first.lock().ok().and_then(|mut c| c.take());
            match conn {
                Some(c) => {
                    let _ = slot.send(c);
                }
                None => {
                    tokio::spawn(async move {
                        let mut slot = slot;
                        slot.closed().await;
                    });
                }
            }
        }),
        64,
    )
}

async fn open(
    data_dir: &Path,
    account: Option<&str>,
) -> Result<(Account, AccountConfig, StanzaStream, Jid), ImError> {
    let store = Store::open_in(data_dir)?;
    let account = pick_account(&store, account)?;
    let cfg = AccountConfig::from_account(&account)?;
    let password = load_password(&store.install_id()?, &account.name)?;
    drop(store);
    let conn = login_within(&cfg, &password, LOGIN_TIMEOUT).await?;
    let mut stream = single_use(conn);
    let bound = loop {
        match tokio::time::timeout(ANSWER_TIMEOUT, stream.next()).await {
            Ok(Some(Event::Stream(StreamEvent::Reset { bound_jid, .. }))) => break bound_jid,
            Ok(Some(_)) => continue,
            Ok(None) => {
                return Err(ImError::Protocol(format!(
                    "{} closed the session before it was ready",
                    cfg.server()
                )))
            }
            Err(_) => {
                return Err(ImError::Unreachable(format!(
                    "{} did not finish opening the session within {}s",
                    cfg.server(),
                    ANSWER_TIMEOUT.as_secs()
                )))
            }
        }
    };
    Ok((account, cfg, stream, bound))
}

/// Waits for the answer to IQ `id`, handing every message seen meanwhile to `seen`.
async fn await_iq(
    stream: &mut StanzaStream,
    id: &str,
    cfg: &AccountConfig,
    mut seen: impl FnMut(&Element),
) -> Result<Result<Option<Element>, String>, ImError> {
    let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT;
    loop {
        let ev = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(ev)) => ev,
            Ok(None) => {
                return Err(ImError::Protocol(format!(
                    "{} closed the session",
                    cfg.server()
                )))
            }
            Err(_) => {
                return Err(ImError::Unreachable(format!(
                    "{} did not answer within {}s",
                    cfg.server(),
                    ANSWER_TIMEOUT.as_secs()
                )))
            }
        };
        match ev {
            Event::Stanza(Stanza::Iq(Iq::Result {
                id: rid, payload, ..
            })) if rid == id => return Ok(Ok(payload)),
            Event::Stanza(Stanza::Iq(Iq::Error { id: rid, error, .. })) if rid == id => {
                return Ok(Err(format!("{:?}", error.defined_condition)))
            }
            Event::Stanza(Stanza::Message(m)) => seen(&Element::from(m)),
            _ => {}
        }
    }
}

/// Sends one message over a short connection of its own and waits for the server's verdict:
/// a ping round trip after the message proves the server handled it, and a bounce (no such
/// user...) comes back before the ping's answer. The sent message is stored in its
/// conversation; a bounce is an error naming what the server said.
pub async fn send_now(
    data_dir: &Path,
    account: Option<&str>,
    to: &str,
    text: &str,
) -> Result<SendReport, ImError> {
    check_text(text)?;
    let text = &crate::xml_safe(text);
    let to = crate::jid::parse_bare(to, "the recipient")?;
    let (account, cfg, mut stream, _bound) = open(data_dir, account).await?;
    let own = cfg.jid.clone();
    let id = random_id();
    let msg = stanza::chat_message(&to, text, &id, None);
    stream.send(Box::new(Stanza::Message(msg))).await;
    let ping_id = format!("{id}-ping");
    stream
        .send(Box::new(Stanza::Iq(Iq::from_get(
            ping_id.clone(),
            xmpp_parsers::ping::Ping,
        ))))
        .await;
    let mut bounce = None;
    let answer = await_iq(&mut stream, &ping_id, &cfg, |el| {
        if let Incoming::Bounce {
            id: Some(bid),
            condition,
            text,
            ..
        } = stanza::classify(el, &own)
        {
            if bid == id {
                bounce = Some((condition, text));
            }
        }
    })
    .await;
    stream.close().await;
    answer?.map_err(|e| ImError::Server(format!("the server did not answer a ping: {e}")))?;
    let mut im = outgoing(&own, &to, text, &id, None);
    let (state, detail) = match &bounce {
        Some((condition, text)) => (
            ImState::Failed,
            Some(match text {
                Some(t) => format!("{condition}: {t}"),
                None => condition.clone(),
            }),
        ),
        None => (ImState::Acked, None),
    };
    im.state = ImState::Sent;
    let account_id = account.id;
    let data_dir = data_dir.to_path_buf();
    let message_id = tokio::task::spawn_blocking(move || -> Result<i64, ImError> {
        let mut store = Store::open_in(&data_dir)?;
        let outcome = store.ingest_im(account_id, &[im], None)?;
        let id = outcome
            .first()
            .map(|o| o.message_id())
            .ok_or_else(|| ImError::Protocol("the sent message was not stored".into()))?;
        store.set_im_state(id, state, detail.as_deref())?;
        Ok(id)
    })
    .await
    .map_err(|e| ImError::Protocol(format!("storing the sent message failed: {e}")))??;
    if let Some((condition, text)) = bounce {
        return Err(ImError::Rejected {
            to: to.to_string(),
            condition,
            text,
        });
    }
    Ok(SendReport {
        account: account.name,
        to: to.to_string(),
        message_id,
        state,
    })
}

/// Logs in, binds a resource and asks what the server supports, changing nothing.
pub async fn test_account(data_dir: &Path, name: &str) -> Result<String, ImError> {
    let (_, cfg, mut stream, bound) = open(data_dir, Some(name)).await?;
    let mut offers = Vec::new();
    for (target, wanted) in [
        (
            Jid::from(BareJid::from_parts(None, cfg.jid.domain())),
            &[(stanza::NS_CARBONS, "message carbons")][..],
        ),
        (
            Jid::from(cfg.jid.clone()),
            &[(stanza::NS_MAM, "message archive (MAM)")][..],
        ),
    ] {
        let id = random_id();
        let mut iq = Iq::from_get(
            id.clone(),
            xmpp_parsers::disco::DiscoInfoQuery { node: None },
        );
        if let Iq::Get { to, .. } = &mut iq {
            *to = Some(target);
        }
        stream.send(Box::new(Stanza::Iq(iq))).await;
        if let Ok(Some(info)) = await_iq(&mut stream, &id, &cfg, |_| {}).await? {
            for (ns, label) in wanted {
                let has = info
                    .children()
                    .any(|f| f.name() == "feature" && f.attr("var") == Some(ns));
                if has {
                    offers.push(*label);
                }
            }
        }
    }
    stream.close().await;
    Ok(format!(
        "login ok as {bound} ({}); the server offers: {}",
        cfg.server(),
        if offers.is_empty() {
            "neither carbons nor an archive".to_string()
        } else {
            offers.join(", ")
        }
    ))
}
