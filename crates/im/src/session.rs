//! One XMPP account's connection, kept up for as long as its task runs.
//!
//! tokio-xmpp's stanza stream does resource binding, stream management (XEP-0198: acks, and
//! resumption after a dropped connection when the server allows it) and asks our
//! `reconnector` for a new authenticated connection whenever the old one is gone. The
//! reconnector retries with exponential backoff and jitter, records why it failed in the
//! account state, and waits long after a refused password.
//!
//! A *fresh* session (the first, or any that could not be resumed) starts with: roster,
//! carbons on, presence, the outbox, and an archive (MAM) catch-up from where the last one
//! stopped — so messages that arrived while Switchboard was off or disconnected are fetched,
//! and the ones offline storage also delivers are recognised as the same (see [`crate::keys`]).
//! The very first catch-up of an account fetches only the newest page of history, which is
//! stored but not routed as news.
//!
//! One iteration of the loop: take one event from the stream and everything else already
//! waiting (up to [`MAX_BATCH`]), handle them, then commit what they changed in one store
//! transaction (messages, archive position, delivery states, roster, presence). Receipts are
//! sent only after the messages they confirm are committed. A kill at any moment loses nothing
//! that the next catch-up does not fetch again: the archive position only moves in the same
//! transaction as the messages before it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use switchboard_model::Address;
use switchboard_store::{
    ArchivePosition, ImDirection, ImOutcome, ImState, MailboxState, NewIm, QueuedIm, RosterItem,
    Store, IM_MAILBOX,
};
use switchboard_sync::secrets::{load_password, Secret};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tokio_xmpp::stanzastream::{
    Connection, Event, StanzaStage, StanzaState, StanzaStream, StreamEvent,
};
use tokio_xmpp::Stanza;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;

use crate::backoff::{random_unit, Backoff, Failure};
use crate::connect::{login_within, AccountConfig};
use crate::jid::bare_of;
use crate::presence::Presences;
use crate::stanza::{self, ArchivePage, Chat, Incoming};
use crate::{ImError, LOGIN_TIMEOUT};

/// Events handled before their changes are committed together.
pub const MAX_BATCH: usize = 500;
/// Results per archive page.
const ARCHIVE_PAGE: usize = 250;
/// History fetched on an account's first connection.
const FIRST_HISTORY: usize = 50;
/// How often the outbox is looked at without being woken.
const OUTBOX_TICK: Duration = Duration::from_secs(2);
/// Queue depth between the stream and this task.
const QUEUE_DEPTH: usize = 512;
/// A session shorter than this does not reset the backoff (a server that accepts and drops).
const STABLE_SESSION: Duration = Duration::from_secs(30);
/// A chat state of ours older than this when the connection gets to it is dropped, not sent
/// (XEP-0085 suggests "paused" after 30 s of no typing anyway).
const CHAT_STATE_FRESH_MS: i64 = 30_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

async fn set_state(db: PathBuf, account_id: i64, state: &'static str, detail: Option<String>) {
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(store) = Store::open(&db) {
            let _ = store.set_account_state(account_id, state, detail.as_deref());
        }
    })
    .await;
}

async fn password(db: PathBuf, account: String) -> Result<Secret, ImError> {
    tokio::task::spawn_blocking(move || -> Result<Secret, ImError> {
        let store = Store::open(&db)?;
        Ok(load_password(&store.install_id()?, &account)?)
    })
    .await
    .map_err(|e| ImError::Protocol(format!("the keyring lookup failed: {e}")))?
}

/// The function the stanza stream calls for every new connection it needs.
#[allow(clippy::type_complexity)]
fn reconnector(
    cfg: Arc<AccountConfig>,
    db: PathBuf,
    wake: Arc<Notify>,
) -> Box<dyn FnMut(Option<String>, oneshot::Sender<Connection>) + Send + 'static> {
    let backoff = Arc::new(Mutex::new(Backoff::default()));
    let last_login: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    Box::new(move |_where, slot: oneshot::Sender<Connection>| {
        let (cfg, db, wake) = (cfg.clone(), db.clone(), wake.clone());
        let (backoff, last_login) = (backoff.clone(), last_login.clone());
        tokio::spawn(async move {
            let mut slot = slot;
            let short = last_login
                .lock()
                .ok()
                .and_then(|l| *l)
                .map(|t| t.elapsed() < STABLE_SESSION);
            match short {
                Some(true) => {
                    let d = next_wait(&backoff, Failure::Transient);
                    if !pause(d, None, &mut slot).await {
                        return;
                    }
                }
                Some(false) => {
                    if let Ok(mut b) = backoff.lock() {
                        b.reset();
                    }
                }
                None => {}
            }
            loop {
                if slot.is_closed() {
                    return;
                }
                let attempt = async {
                    let pw = password(db.clone(), cfg.name.clone()).await?;
                    login_within(&cfg, &pw, LOGIN_TIMEOUT).await
                };
                match attempt.await {
                    Ok(conn) => {
                        if let Ok(mut l) = last_login.lock() {
                            *l = Some(Instant::now());
                        }
                        let _ = slot.send(conn);
                        return;
                    }
                    Err(e) => {
                        let failure = match e {
                            ImError::Auth(_) | ImError::Secret(_) => Failure::Auth,
                            _ => Failure::Transient,
                        };
                        let d = next_wait(&backoff, failure);
                        tracing::warn!(
                            "XMPP account '{}': {e}; trying again in {:.1}s",
                            cfg.name,
                            d.as_secs_f64()
                        );
                        set_state(db.clone(), cfg.account_id, e.state(), Some(e.to_string())).await;
                        // A new password (the API wakes us after changing it) is worth trying
                        // at once; a network failure is not retried faster for a wake-up.
                        let woken = (failure == Failure::Auth).then_some(&*wake);
                        if !pause(d, woken, &mut slot).await {
                            return;
                        }
                    }
                }
            }
        });
    })
}

fn next_wait(backoff: &Mutex<Backoff>, failure: Failure) -> Duration {
    backoff
        .lock()
        .map(|mut b| b.next(failure, random_unit()))
        .unwrap_or(Duration::from_secs(5))
}

/// Waits `d` (or until woken); false when the stream no longer wants a connection.
async fn pause(d: Duration, wake: Option<&Notify>, slot: &mut oneshot::Sender<Connection>) -> bool {
    let woken = async {
        match wake {
            Some(w) => w.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = woken => true,
        _ = slot.closed() => false,
    }
}

enum PendingIq {
    Roster,
    Carbons,
    Archive(String),
}

/// An archive catch-up in progress.
struct CatchUp {
    query_id: String,
    page: ArchivePage,
    /// The first catch-up of the account: old history, not news.
    history: bool,
    /// The last result of the current page (archive id, time).
    last: Option<(String, i64)>,
    fetched: usize,
    pages: u32,
}

/// What one iteration changes in the store.
#[derive(Default)]
struct Batch {
    ims: Vec<NewIm>,
    /// Receipts to send once the message at this index is committed: (to, id).
    receipts_to_send: Vec<(usize, String, String)>,
    archive: Option<ArchivePosition>,
    states: Vec<(i64, ImState, Option<String>)>,
    /// Receipts received: (contact, id of our message).
    receipts: Vec<(String, String)>,
    /// Bounces: (from, id of our message, what the server said).
    bounces: Vec<(String, String, String)>,
    presences: Vec<(String, String, Option<String>)>,
    clear_presence: bool,
    roster: Option<Vec<RosterItem>>,
    roster_pushes: Vec<RosterItem>,
    history_complete: bool,
    account_state: Option<(&'static str, Option<String>)>,
    /// Contacts' chat states (XEP-0085): (bare JID, state, unix ms).
    chat_states: Vec<(String, &'static str, i64)>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.ims.is_empty()
            && self.archive.is_none()
            && self.states.is_empty()
            && self.receipts.is_empty()
            && self.bounces.is_empty()
            && self.presences.is_empty()
            && !self.clear_presence
            && self.roster.is_none()
            && self.roster_pushes.is_empty()
            && !self.history_complete
            && self.account_state.is_none()
            && self.chat_states.is_empty()
    }
}

/// Commits a batch; returns the outcome of each IM.
fn apply(store: &mut Store, account_id: i64, b: &mut Batch) -> Result<Vec<ImOutcome>, ImError> {
    // What the person writes back to forwards is held back from the router, in the same
    // transaction as the message, and handled right after (see crate::reply).
    crate::reply::mark_replies(store, account_id, &mut b.ims)?;
    if b.clear_presence {
        store.clear_im_presence(account_id)?;
    }
    if let Some(items) = &b.roster {
        store.set_im_roster(account_id, items)?;
    }
    for item in &b.roster_pushes {
        store.im_roster_push(account_id, item)?;
    }
    for (jid, presence, status) in &b.presences {
        store.set_im_presence(account_id, jid, presence, status.as_deref())?;
    }
    for (jid, state, at) in &b.chat_states {
        store.set_im_chat_state(account_id, jid, state, *at)?;
    }
    let outcomes = if !b.ims.is_empty() {
        store.ingest_im(account_id, &b.ims, b.archive.as_ref())?
    } else {
        if let Some(pos) = &b.archive {
            store.set_im_archive_position(account_id, pos)?;
        }
        Vec::new()
    };
    for (contact, id) in &b.receipts {
        if let Some(mid) = store.im_by_origin(account_id, id)? {
            // Only the contact it went to can confirm it.
            if store.im_message(mid)?.contact == *contact
                && store.set_im_state(mid, ImState::Delivered, None)?
            {
                // A forward's receipt confirms its delivery in the tracker.
                if let Some(d) = store
                    .forward_by_im_id(account_id, id)?
                    .and_then(|f| f.delivery_id)
                {
                    store.note_delivery_receipt(d, contact)?;
                }
            }
        }
    }
    for (from, id, what) in &b.bounces {
        if let Some(mid) = store.im_by_origin(account_id, id)? {
            let contact = store.im_message(mid)?.contact;
            let from_bare = bare_of(from);
            let from_server = from_bare.as_ref().is_some_and(|b| b.node().is_none());
            if from_bare.is_some_and(|b| b.as_str() == contact) || from_server {
                store.set_im_state(mid, ImState::Failed, Some(what))?;
            }
        }
    }
    for (id, state, detail) in &b.states {
        store.set_im_state(*id, *state, detail.as_deref())?;
    }
    if b.history_complete {
        let mut s = store
            .mailbox_state(account_id, IM_MAILBOX)?
            .unwrap_or_else(MailboxState::default);
        s.complete = true;
        store.save_mailbox_state(account_id, IM_MAILBOX, &s)?;
    }
    if let Some((state, detail)) = &b.account_state {
        store.set_account_state(account_id, state, detail.as_deref())?;
    }
    Ok(outcomes)
}

/// Runs one account's connection until the stream fails for good (then the caller starts a
/// new one later) or the task is dropped.
pub struct Session {
    cfg: Arc<AccountConfig>,
    db: PathBuf,
    own: BareJid,
    store: Option<Store>,
    stream: StanzaStream,
    wake: Arc<Notify>,
    stored: Option<Arc<Notify>>,
    online: bool,
    sm: bool,
    iqs: HashMap<String, PendingIq>,
    catch_up: Option<CatchUp>,
    presences: Presences,
    /// Contacts that may see our presence (subscription from/both): they get receipts.
    receipt_ok: HashSet<String>,
    names: HashMap<String, String>,
    inflight: HashSet<i64>,
    acked_tx: mpsc::UnboundedSender<i64>,
    acked_rx: mpsc::UnboundedReceiver<i64>,
    counter: u64,
    history_done: bool,
    session_no: u64,
}

impl Session {
    /// Opens the store and starts connecting (in the background; events come through `run`).
    pub fn start(
        cfg: AccountConfig,
        db: PathBuf,
        wake: Arc<Notify>,
        stored: Option<Arc<Notify>>,
    ) -> Result<Session, ImError> {
        let store = Store::open(&db)?;
        let history_done = store
            .mailbox_state(cfg.account_id, IM_MAILBOX)?
            .is_some_and(|s| s.complete);
        let cfg = Arc::new(cfg);
        let stream = StanzaStream::new(
            reconnector(cfg.clone(), db.clone(), wake.clone()),
            QUEUE_DEPTH,
        );
        let (acked_tx, acked_rx) = mpsc::unbounded_channel();
        Ok(Session {
            own: cfg.jid.clone(),
            cfg,
            db,
            store: Some(store),
            stream,
            wake,
            stored,
            online: false,
            sm: false,
            iqs: HashMap::new(),
            catch_up: None,
            presences: Presences::default(),
            receipt_ok: HashSet::new(),
            names: HashMap::new(),
            inflight: HashSet::new(),
            acked_tx,
            acked_rx,
            counter: 0,
            history_done,
            session_no: 0,
        })
    }

    fn next_id(&mut self, what: &str) -> String {
        self.counter += 1;
        let mut r = [0u8; 6];
        let _ = getrandom::getrandom(&mut r);
        format!("sb-{what}-{}-{}", hex::encode(r), self.counter)
    }

    async fn with_store<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Store) -> T + Send + 'static,
    ) -> Result<T, ImError> {
        let mut store = match self.store.take() {
            Some(s) => s,
            None => Store::open(&self.db)?,
        };
        let (store, out) = tokio::task::spawn_blocking(move || {
            let out = f(&mut store);
            (store, out)
        })
        .await
        .map_err(|e| ImError::Protocol(format!("a store task failed: {e}")))?;
        self.store = Some(store);
        Ok(out)
    }

    /// Handles the replies to forwards still marked pending, then sends what they queued.
    async fn handle_replies(&mut self) -> Result<(), ImError> {
        let account_id = self.cfg.account_id;
        let own = self.own.clone();
        let done = self
            .with_store(move |s| {
                crate::reply::handle_pending(
                    s,
                    account_id,
                    &own,
                    switchboard_store::ForwardLimits::default(),
                    switchboard_store::now_unix(),
                )
            })
            .await??;
        if done.mail_queued {
            if let Some(n) = &self.stored {
                n.notify_one();
            }
        }
        if done.ims_queued && self.online {
            // Boxed: sending the outbox may commit, which may handle replies again.
            Box::pin(self.send_outbox()).await?;
        }
        Ok(())
    }

    async fn send(&mut self, stanza: Stanza) -> tokio_xmpp::stanzastream::StanzaToken {
        self.stream.send(Box::new(stanza)).await
    }

    /// Runs until the stream ends (an error) or the task is dropped.
    pub async fn run(mut self) -> Result<(), ImError> {
        set_state(
            self.db.clone(),
            self.cfg.account_id,
            "syncing",
            Some(format!("connecting to {}", self.cfg.server())),
        )
        .await;
        let wake = self.wake.clone();
        let mut woken = Box::pin(wake.notified());
        woken.as_mut().enable();
        let mut tick = tokio::time::interval(OUTBOX_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut batch = Batch::default();
            let mut want_outbox = false;
            let mut ended = false;
            tokio::select! {
                ev = self.stream.next() => match ev {
                    None => ended = true,
                    Some(ev) => {
                        want_outbox |= self.handle(ev, &mut batch).await;
                        for _ in 1..MAX_BATCH {
                            match self.stream.next().now_or_never() {
                                Some(Some(ev)) => want_outbox |= self.handle(ev, &mut batch).await,
                                Some(None) => { ended = true; break }
                                None => break,
                            }
                        }
                    }
                },
                Some(id) = self.acked_rx.recv() => {
                    batch.states.push((id, ImState::Acked, None));
                    while let Ok(id) = self.acked_rx.try_recv() {
                        batch.states.push((id, ImState::Acked, None));
                    }
                }
                _ = &mut woken => {
                    woken = Box::pin(wake.notified());
                    woken.as_mut().enable();
                    want_outbox = true;
                }
                _ = tick.tick() => want_outbox = true,
            }
            self.commit(batch).await?;
            if ended {
                self.online = false;
                return Err(ImError::Protocol(format!(
                    "the XMPP stream of '{}' ended",
                    self.cfg.name
                )));
            }
            if want_outbox && self.online {
                self.send_outbox().await?;
            }
        }
    }

    async fn commit(&mut self, mut batch: Batch) -> Result<(), ImError> {
        if batch.is_empty() {
            return Ok(());
        }
        let account_id = self.cfg.account_id;
        let receipts = std::mem::take(&mut batch.receipts_to_send);
        let incoming: Vec<bool> = batch
            .ims
            .iter()
            .map(|im| im.direction == ImDirection::In && !im.history)
            .collect();
        let (outcomes, replies) = self
            .with_store(move |s| {
                let outcomes = apply(s, account_id, &mut batch)?;
                let replies = batch.ims.iter().zip(&outcomes).any(|(im, o)| {
                    matches!(o, ImOutcome::Stored(_))
                        && im.detail.as_deref() == Some(crate::reply::REPLY_PENDING)
                });
                Ok::<_, ImError>((outcomes, replies))
            })
            .await??;
        if replies {
            self.handle_replies().await?;
        }
        let news = outcomes
            .iter()
            .zip(&incoming)
            .any(|(o, inc)| *inc && matches!(o, ImOutcome::Stored(_)));
        if news {
            if let Some(n) = &self.stored {
                n.notify_one();
            }
        }
        for (index, to, id) in receipts {
            if outcomes.get(index).is_some() {
                let rid = self.next_id("rcpt");
                if let Some(m) = stanza::receipt(&to, &id, &rid) {
                    self.send(Stanza::Message(m)).await;
                }
            }
        }
        Ok(())
    }

    /// Handles one event; true when the outbox should be looked at.
    async fn handle(&mut self, ev: Event, batch: &mut Batch) -> bool {
        match ev {
            Event::Stream(StreamEvent::Reset {
                bound_jid,
                features,
            }) => {
                self.fresh_session(bound_jid, features.stream_management.is_some(), batch)
                    .await;
                true
            }
            Event::Stream(StreamEvent::Resumed) => {
                self.online = true;
                tracing::info!("XMPP account '{}': session resumed", self.cfg.name);
                batch.account_state = Some(("ok", Some("online (session resumed)".into())));
                true
            }
            Event::Stream(StreamEvent::Suspended) => {
                self.online = false;
                tracing::info!(
                    "XMPP account '{}': connection lost; reconnecting",
                    self.cfg.name
                );
                false
            }
            Event::Stanza(Stanza::Message(m)) => {
                let el = Element::from(m);
                self.on_message(&el, batch);
                false
            }
            Event::Stanza(Stanza::Presence(p)) => {
                self.on_presence(p, batch).await;
                false
            }
            Event::Stanza(Stanza::Iq(iq)) => {
                self.on_iq(iq, batch).await;
                false
            }
        }
    }

    async fn fresh_session(&mut self, bound: Jid, sm: bool, batch: &mut Batch) {
        self.session_no += 1;
        self.online = true;
        self.sm = sm;
        self.inflight.clear();
        self.iqs.clear();
        self.presences.clear();
        batch.clear_presence = true;
        tracing::info!(
            "XMPP account '{}': online as {bound}{}",
            self.cfg.name,
            if sm { " (stream management)" } else { "" }
        );
        batch.account_state = Some(("ok", Some(format!("online as {bound}"))));
        let roster_id = self.next_id("roster");
        self.iqs.insert(roster_id.clone(), PendingIq::Roster);
        let roster = Iq::from_get(
            roster_id,
            xmpp_parsers::roster::Roster {
                ver: None,
                items: vec![],
            },
        );
        self.send(Stanza::Iq(roster)).await;
        let carbons_id = self.next_id("carbons");
        self.iqs.insert(carbons_id.clone(), PendingIq::Carbons);
        self.send(Stanza::Iq(Iq::from_set(
            carbons_id,
            xmpp_parsers::carbons::Enable,
        )))
        .await;
        self.send(Stanza::Presence(Presence::available())).await;
        self.start_catch_up().await;
        // Replies stored but not handled when the last session (or process) ended.
        if let Err(e) = self.handle_replies().await {
            tracing::warn!("XMPP account '{}': {e}", self.cfg.name);
        }
    }

    async fn start_catch_up(&mut self) {
        let account_id = self.cfg.account_id;
        let pos = self
            .with_store(move |s| s.im_archive_position(account_id))
            .await;
        let pos = match pos {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::warn!("XMPP account '{}': {e}", self.cfg.name);
                None
            }
            Err(e) => {
                tracing::warn!("XMPP account '{}': {e}", self.cfg.name);
                None
            }
        };
        let (page, history) = match pos {
            Some(p) => (ArchivePage::After(p.after_id), !self.history_done),
            None => (ArchivePage::Latest, true),
        };
        self.catch_up = Some(CatchUp {
            query_id: String::new(),
            page: page.clone(),
            history,
            last: None,
            fetched: 0,
            pages: 0,
        });
        self.query_page(page).await;
    }

    async fn query_page(&mut self, page: ArchivePage) {
        let query_id = self.next_id("mam");
        let iq_id = self.next_id("mamiq");
        let max = if page == ArchivePage::Latest {
            FIRST_HISTORY
        } else {
            ARCHIVE_PAGE
        };
        if let Some(c) = self.catch_up.as_mut() {
            c.query_id = query_id.clone();
            c.page = page.clone();
            c.last = None;
            c.pages += 1;
        }
        self.iqs
            .insert(iq_id.clone(), PendingIq::Archive(query_id.clone()));
        let payload = stanza::archive_query(&query_id, &page, max);
        let iq = Iq::Set {
            from: None,
            to: None,
            id: iq_id,
            payload,
        };
        self.send(Stanza::Iq(iq)).await;
    }

    /// Builds the stored form of a chat message.
    fn new_im(&self, chat: &Chat, history: bool) -> NewIm {
        let own = &self.own;
        // No sender: the person's own server speaking.
        let from = bare_of(&chat.from).unwrap_or_else(|| BareJid::from_parts(None, own.domain()));
        let to = bare_of(&chat.to).unwrap_or_else(|| own.clone());
        let direction = if &from == own {
            ImDirection::Out
        } else {
            ImDirection::In
        };
        let contact = match direction {
            ImDirection::Out => to.clone(),
            ImDirection::In => from.clone(),
        };
        let at_ms = chat.sent_at_ms.unwrap_or_else(now_ms);
        let keys = crate::keys::keys_for(chat, &from, &to, at_ms);
        let address = |j: &BareJid| Address {
            name: self.names.get(j.as_str()).cloned(),
            email: j.to_string(),
        };
        NewIm {
            direction,
            contact: contact.to_string(),
            from: address(&from),
            to: address(&to),
            body: chat.body.clone(),
            at_ms,
            stanza_id: chat.stanza_id.clone(),
            origin_id: chat.origin_id.clone().or_else(|| chat.id.clone()),
            thread: chat.thread.clone(),
            message_key: crate::keys::message_key(&keys[0]),
            keys,
            raw: chat.raw.clone().into_bytes(),
            state: match direction {
                ImDirection::In => ImState::Received,
                ImDirection::Out => ImState::Sent,
            },
            history,
            route_note: None,
            detail: None,
        }
    }

    fn on_message(&mut self, el: &Element, batch: &mut Batch) {
        // A contact's chat state ("typing"), alone or with a message. Only from someone else
        // (carbons and archive results come from the own address) and not from group chats.
        if let Some(state) = stanza::chat_state_of(el) {
            let kind = el.attr("type").unwrap_or("normal");
            if let Some(from) = el.attr("from").and_then(bare_of) {
                if from != self.own && kind != "groupchat" && kind != "error" {
                    batch.chat_states.push((from.to_string(), state, now_ms()));
                }
            }
        }
        match stanza::classify(el, &self.own) {
            Incoming::Chat(chat) => {
                let im = self.new_im(&chat, false);
                if self.catch_up.is_none() {
                    // Live and in archive order: everything before it is stored.
                    if let Some(sid) = &chat.stanza_id {
                        batch.archive = Some(ArchivePosition {
                            after_id: sid.clone(),
                            at_ms: im.at_ms,
                        });
                    }
                }
                if chat.wants_receipt && im.direction == ImDirection::In {
                    if let Some(id) = &chat.id {
                        if self.receipt_ok.contains(&im.contact) {
                            batch.receipts_to_send.push((
                                batch.ims.len(),
                                chat.from.clone(),
                                id.clone(),
                            ));
                        }
                    }
                }
                batch.ims.push(im);
            }
            Incoming::Carbon { chat, .. } => {
                let im = self.new_im(&chat, false);
                batch.ims.push(im);
            }
            Incoming::Archived {
                query_id,
                archive_id,
                chat,
            } => {
                let Some(c) = self.catch_up.as_ref() else {
                    return;
                };
                if query_id.as_deref() != Some(c.query_id.as_str()) {
                    tracing::debug!("an archive result for an old query: ignored");
                    return;
                }
                let history = c.history;
                let at = chat
                    .as_ref()
                    .and_then(|c| c.sent_at_ms)
                    .unwrap_or_else(now_ms);
                if let Some(chat) = chat {
                    let im = self.new_im(&chat, history);
                    batch.ims.push(im);
                }
                if let Some(c) = self.catch_up.as_mut() {
                    c.last = Some((archive_id, at));
                    c.fetched += 1;
                }
            }
            Incoming::Receipt { from, id } => {
                if let Some(b) = bare_of(&from) {
                    batch.receipts.push((b.to_string(), id));
                }
            }
            Incoming::Bounce {
                from,
                id,
                condition,
                text,
            } => {
                let what = match &text {
                    Some(t) => format!("{condition}: {t}"),
                    None => condition.clone(),
                };
                tracing::warn!(
                    "XMPP account '{}': a message to {from} bounced ({what})",
                    self.cfg.name
                );
                if let Some(id) = id {
                    batch.bounces.push((from, id, what));
                }
            }
            Incoming::Ignored(why) => tracing::trace!("message ignored: {why}"),
            Incoming::Refused(why) => {
                tracing::warn!("XMPP account '{}': {why}", self.cfg.name)
            }
        }
    }

    async fn on_presence(&mut self, p: Presence, batch: &mut Batch) {
        let Some(from) = p.from.clone() else { return };
        let bare = from.to_bare();
        if bare == self.own {
            return; // the person's own other clients
        }
        match p.type_ {
            PresenceType::None | PresenceType::Unavailable => {
                let resource = from.resource().map(|r| r.as_str()).unwrap_or("");
                let show = if p.type_ == PresenceType::Unavailable {
                    "unavailable".to_string()
                } else {
                    match p.show {
                        Some(s) => show_name(&s).to_string(),
                        None => "available".to_string(),
                    }
                };
                let status = p
                    .statuses
                    .values()
                    .next()
                    .map(|s| s.to_string())
                    .filter(|s| !s.is_empty());
                let (presence, status) =
                    self.presences
                        .update(bare.as_str(), resource, &show, status);
                batch.presences.push((bare.to_string(), presence, status));
            }
            PresenceType::Subscribe => {
                // Someone asks to see our presence: accepted for people in the roster (whom
                // the person added), left for the person's other clients otherwise.
                if self.names.contains_key(bare.as_str()) || self.receipt_ok.contains(bare.as_str())
                {
                    let ok = Presence::subscribed().with_to(Jid::from(bare.clone()));
                    self.send(Stanza::Presence(ok)).await;
                } else {
                    tracing::info!(
                        "XMPP account '{}': {bare} asks to see this account's presence; \
                         accept it in another client or add them as a contact",
                        self.cfg.name
                    );
                }
            }
            _ => {}
        }
    }

    async fn on_iq(&mut self, iq: Iq, batch: &mut Batch) {
        match iq {
            Iq::Result { id, payload, .. } => match self.iqs.remove(&id) {
                Some(PendingIq::Roster) => {
                    if let Some(q) = payload {
                        self.take_roster(stanza::roster_items(&q), batch);
                    }
                }
                Some(PendingIq::Carbons) => {
                    tracing::debug!("XMPP account '{}': carbons enabled", self.cfg.name)
                }
                Some(PendingIq::Archive(qid)) => {
                    let fin = payload.as_ref().and_then(stanza::fin_of);
                    self.archive_page_done(&qid, fin, batch).await;
                }
                None => {}
            },
            Iq::Error { id, error, .. } => match self.iqs.remove(&id) {
                Some(PendingIq::Archive(_)) => self.archive_failed(error, batch).await,
                Some(PendingIq::Carbons) => tracing::info!(
                    "XMPP account '{}': the server has no message carbons ({:?}); messages of \
                     other clients are fetched from the archive at the next catch-up",
                    self.cfg.name,
                    error.defined_condition
                ),
                Some(PendingIq::Roster) => tracing::warn!(
                    "XMPP account '{}': the roster could not be fetched ({:?})",
                    self.cfg.name,
                    error.defined_condition
                ),
                None => {}
            },
            Iq::Get {
                from, id, payload, ..
            } => {
                let reply = if payload.is("ping", stanza::NS_PING) {
                    Iq::Result {
                        from: None,
                        to: from,
                        id,
                        payload: None,
                    }
                } else if payload.is("query", stanza::NS_DISCO_INFO) {
                    Iq::Result {
                        from: None,
                        to: from,
                        id,
                        payload: Some(disco_info()),
                    }
                } else {
                    unsupported(from, id)
                };
                self.send(Stanza::Iq(reply)).await;
            }
            Iq::Set {
                from, id, payload, ..
            } => {
                let from_server = from.as_ref().is_none_or(|f| f.to_bare() == self.own);
                let reply = if payload.is("query", stanza::NS_ROSTER) && from_server {
                    for item in stanza::roster_items(&payload) {
                        let item = RosterItem {
                            jid: item.jid,
                            name: item.name,
                            subscription: item.subscription,
                        };
                        self.note_contact(&item);
                        batch.roster_pushes.push(item);
                    }
                    Iq::Result {
                        from: None,
                        to: from,
                        id,
                        payload: None,
                    }
                } else {
                    unsupported(from, id)
                };
                self.send(Stanza::Iq(reply)).await;
            }
        }
    }

    fn note_contact(&mut self, item: &RosterItem) {
        if item.subscription == "remove" {
            self.names.remove(&item.jid);
            self.receipt_ok.remove(&item.jid);
            return;
        }
        self.names
            .insert(item.jid.clone(), item.name.clone().unwrap_or_default());
        if matches!(item.subscription.as_str(), "from" | "both") {
            self.receipt_ok.insert(item.jid.clone());
        } else {
            self.receipt_ok.remove(&item.jid);
        }
    }

    fn take_roster(&mut self, entries: Vec<stanza::RosterEntry>, batch: &mut Batch) {
        self.names.clear();
        self.receipt_ok.clear();
        let items: Vec<RosterItem> = entries
            .into_iter()
            .map(|e| RosterItem {
                jid: e.jid,
                name: e.name,
                subscription: e.subscription,
            })
            .collect();
        for item in &items {
            self.note_contact(item);
        }
        // Names are for display; an unnamed contact is shown by address.
        self.names.retain(|_, n| !n.is_empty());
        for item in &items {
            if matches!(item.subscription.as_str(), "from" | "both") {
                self.receipt_ok.insert(item.jid.clone());
            }
        }
        batch.roster = Some(items);
    }

    async fn archive_page_done(&mut self, qid: &str, fin: Option<stanza::Fin>, batch: &mut Batch) {
        let Some(c) = self.catch_up.as_ref() else {
            return;
        };
        if c.query_id != qid {
            return;
        }
        let fin = fin.unwrap_or(stanza::Fin {
            complete: true,
            last: None,
        });
        let last_at = c.last.as_ref().map(|(_, at)| *at);
        let newest = fin
            .last
            .clone()
            .or_else(|| c.last.as_ref().map(|(id, _)| id.clone()));
        if let Some(id) = &newest {
            batch.archive = Some(ArchivePosition {
                after_id: id.clone(),
                at_ms: last_at.unwrap_or_else(now_ms),
            });
        }
        let more = !fin.complete && c.page != ArchivePage::Latest && newest.is_some();
        if more {
            if let Some(id) = newest {
                self.query_page(ArchivePage::After(id)).await;
            }
            return;
        }
        let done = self.catch_up.take();
        if let Some(done) = done {
            if done.history {
                self.history_done = true;
                batch.history_complete = true;
            }
            tracing::info!(
                "XMPP account '{}': archive caught up ({} messages in {} pages)",
                self.cfg.name,
                done.fetched,
                done.pages
            );
        }
    }

    async fn archive_failed(&mut self, error: StanzaError, batch: &mut Batch) {
        let Some(c) = self.catch_up.as_ref() else {
            return;
        };
        // The server no longer knows the id we stopped at (its archive was cleaned up):
        // continue from that message's time instead; duplicates are recognised.
        if let (DefinedCondition::ItemNotFound, ArchivePage::After(_)) =
            (&error.defined_condition, &c.page)
        {
            let account_id = self.cfg.account_id;
            let since = self
                .with_store(move |s| s.im_archive_position(account_id))
                .await
                .ok()
                .and_then(|r| r.ok())
                .flatten()
                .map(|p| p.at_ms.saturating_sub(1000))
                .unwrap_or(0);
            tracing::info!(
                "XMPP account '{}': the archive forgot where the last catch-up stopped; \
                 fetching by time instead",
                self.cfg.name
            );
            self.query_page(ArchivePage::Since(since)).await;
            return;
        }
        let history = c.history;
        self.catch_up = None;
        tracing::warn!(
            "XMPP account '{}': the server's message archive (XEP-0313) is not available \
             ({:?}); messages sent while Switchboard was offline arrive only through offline \
             storage",
            self.cfg.name,
            error.defined_condition
        );
        if history {
            self.history_done = true;
            batch.history_complete = true;
        }
    }

    async fn send_outbox(&mut self) -> Result<(), ImError> {
        let account_id = self.cfg.account_id;
        let queued: Vec<QueuedIm> = self.with_store(move |s| s.im_outbox(account_id)).await??;
        let mut batch = Batch::default();
        for q in queued {
            if self.inflight.contains(&q.message_id) {
                continue;
            }
            let to = match crate::jid::parse_bare(&q.contact, "the recipient") {
                Ok(to) => to,
                Err(e) => {
                    batch
                        .states
                        .push((q.message_id, ImState::Failed, Some(e.to_string())));
                    continue;
                }
            };
            let msg = stanza::chat_message(&to, &q.body, &q.origin_id, q.thread.as_deref());
            let mut token = self.send(Stanza::Message(msg)).await;
            self.inflight.insert(q.message_id);
            batch.states.push((q.message_id, ImState::Sent, None));
            if self.sm {
                let tx = self.acked_tx.clone();
                let id = q.message_id;
                tokio::spawn(async move {
                    if let Some(StanzaState::Acked { .. }) =
                        token.wait_for(StanzaStage::Acked).await
                    {
                        let _ = tx.send(id);
                    }
                });
            }
        }
        self.commit(batch).await?;
        self.send_chat_states().await
    }

    /// Our queued chat states (XEP-0085), each sent once; stale ones are dropped.
    async fn send_chat_states(&mut self) -> Result<(), ImError> {
        let account_id = self.cfg.account_id;
        let since = now_ms() - CHAT_STATE_FRESH_MS;
        let states = self
            .with_store(move |s| s.take_im_chat_states(account_id, since))
            .await??;
        for c in states {
            let Ok(to) = crate::jid::parse_bare(&c.contact, "the contact") else {
                continue;
            };
            let id = self.next_id("cs");
            if let Some(m) = stanza::chat_state_message(&to, &c.state, &id) {
                self.send(Stanza::Message(m)).await;
            }
        }
        Ok(())
    }
}

fn show_name(s: &xmpp_parsers::presence::Show) -> &'static str {
    use xmpp_parsers::presence::Show;
    match s {
        Show::Away => "away",
        Show::Chat => "chat",
        Show::Dnd => "dnd",
        Show::Xa => "xa",
    }
}

fn unsupported(to: Option<Jid>, id: String) -> Iq {
    Iq::Error {
        from: None,
        to,
        id,
        error: StanzaError::new(
            ErrorType::Cancel,
            DefinedCondition::ServiceUnavailable,
            "en",
            "not supported by this client",
        ),
        payload: None,
    }
}

/// What this client supports, for peers that ask (they then request receipts).
fn disco_info() -> Element {
    let mut features = std::collections::BTreeSet::new();
    for f in [
        stanza::NS_DISCO_INFO,
        stanza::NS_RECEIPTS,
        stanza::NS_PING,
        stanza::NS_CARBONS,
        stanza::NS_SID,
        stanza::NS_CHAT_STATES,
    ] {
        features.insert(f.to_string());
    }
    xmpp_parsers::disco::DiscoInfoResult {
        node: None,
        identities: vec![xmpp_parsers::disco::Identity::new(
            "client",
            "pc",
            "en",
            "Switchboard",
        )],
        features,
        extensions: vec![],
    }
    .into()
}

/// Runs sessions for one account until the task is dropped: a session whose stream ended is
/// replaced after a pause.
pub async fn keep_account(
    cfg: AccountConfig,
    db: PathBuf,
    wake: Arc<Notify>,
    stored: Option<Arc<Notify>>,
) {
    let mut backoff = Backoff::default();
    loop {
        let started = Instant::now();
        let result = match Session::start(cfg.clone(), db.clone(), wake.clone(), stored.clone()) {
            Ok(s) => s.run().await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!("XMPP account '{}': {e}", cfg.name);
            set_state(db.clone(), cfg.account_id, e.state(), Some(e.to_string())).await;
        }
        if started.elapsed() > STABLE_SESSION {
            backoff.reset();
        }
        tokio::time::sleep(backoff.next(Failure::Transient, random_unit())).await;
    }
}
