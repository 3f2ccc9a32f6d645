//! The index client of seed 000: asks a Switchboard server's message-ID index "anything new
//! since sequence N?", fetches only the changes when the answer moved, and never touches the
//! message list when it did not. Used by the CLI's `switchboard watch`, and meant for the UI
//! logic and household devices.
//!
//! * It remembers the last sequence it saw, and the ids it knows, in a state dir
//!   ([`Config::state_dir`]): a new instance on the same dir picks up where the last one stopped.
//! * One poll is `GET /api/index` with `If-None-Match: "<seq>"`: a 304 ends it. Otherwise
//!   `GET /api/changes?since=<seq>` (paged) brings the added, updated and removed messages, and
//!   the bodies of the added ones are downloaded — except, on a slow link, those larger than
//!   the size limit, which wait for [`IndexClient::fetch_body`] (seed 000's size rule).
//! * At most every 24 h, and whenever the change log no longer reaches back to its sequence,
//!   it lists the whole store (`/api/messages`, cursor paging) and reconciles what it knows.
//! * It holds several server addresses — front ends of the same store — picks one at random,
//!   keeps using it while it answers, and on a failure (connection refused, TLS, timeout, 5xx)
//!   moves to another at random. A 401 is not a reason to fail over: it is returned at once.
//!
//! The decisions themselves (server order, size rule, "is a full check due", applying answers)
//! are pure functions in [`logic`], tested without I/O.

mod http;
pub mod logic;
mod state;
pub mod tls;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use logic::{BodyState, Known, MessageInfo, Rng, SplitMix};
use logic::{ChangesPage, Delta};

/// One address of a server: `http://127.0.0.1:7878` (loopback only) or `https://host:port`,
/// with the SHA-256 of its certificate when it is self-signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    pub url: String,
    pub pin: Option<String>,
}

impl ServerAddr {
    pub fn new(url: impl Into<String>) -> ServerAddr {
        ServerAddr {
            url: url.into(),
            pin: None,
        }
    }
    pub fn pinned(url: impl Into<String>, pin: impl Into<String>) -> ServerAddr {
        ServerAddr {
            url: url.into(),
            pin: Some(pin.into()),
        }
    }
}

/// How the client runs.
#[derive(Clone)]
pub struct Config {
    /// Front ends of one store (their sequences must be the same sequence).
    pub servers: Vec<ServerAddr>,
    /// An API token (`switchboard token create`).
    pub token: String,
    /// Where the state and downloaded bodies are kept; created if missing.
    pub state_dir: PathBuf,
    /// Bodies of messages larger than this are not downloaded on a slow link.
    pub body_size_limit: Option<u64>,
    pub slow_link: bool,
    /// Long-poll time of [`IndexClient::wait_once`] and [`IndexClient::watch`] (1 to 60 s).
    pub wait_secs: u64,
}

impl Config {
    pub fn new(servers: Vec<ServerAddr>, token: impl Into<String>, state_dir: &Path) -> Config {
        Config {
            servers,
            token: token.into(),
            state_dir: state_dir.to_path_buf(),
            body_size_limit: None,
            slow_link: false,
            wait_secs: 30,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("servers", &self.servers)
            .field("token", &"<redacted>")
            .field("state_dir", &self.state_dir)
            .field("body_size_limit", &self.body_size_limit)
            .field("slow_link", &self.slow_link)
            .field("wait_secs", &self.wait_secs)
            .finish()
    }
}

/// One server's failure within a request that was then tried elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFailure {
    pub url: String,
    pub error: String,
}

impl std::fmt::Display for ServerFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.url, self.error)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no server address given")]
    NoServers,
    #[error("the token is empty or has characters no token has (spaces, control characters)")]
    BadToken,
    #[error("server address '{url}' is not usable: {reason}")]
    BadAddress { url: String, reason: String },
    #[error("{url} refused the token (401 unauthorized): {detail}")]
    Unauthorized { url: String, detail: String },
    #[error("no server answered: {}", .0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
    Unreachable(Vec<ServerFailure>),
    #[error("{url} answered {what} unexpectedly: {detail}")]
    Protocol {
        url: String,
        what: String,
        detail: String,
    },
    #[error("message {id} is no longer on the server ({url})")]
    Gone { id: i64, url: String },
    #[error("the client state {}: {detail}", .path.display())]
    State { path: PathBuf, detail: String },
}

impl ClientError {
    /// Errors that retrying cannot fix: a refused token, an unusable address or state dir.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ClientError::Unauthorized { .. }
                | ClientError::NoServers
                | ClientError::BadToken
                | ClientError::BadAddress { .. }
                | ClientError::State { .. }
        )
    }
}

/// What a poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    /// The index did not move (or moved and back): nothing was fetched.
    Unchanged,
    Changed {
        seq: i64,
        added: Vec<MessageInfo>,
        updated: Vec<MessageInfo>,
        removed: Vec<i64>,
    },
    /// A full listing was reconciled: the first contact (`baseline`: everything listed is
    /// known, nothing downloaded, nothing of it is news), the change log no longer reaching back,
    /// or the daily check (which then includes the changes of the same poll).
    Resynced {
        seq: i64,
        baseline: bool,
        added: Vec<MessageInfo>,
        updated: Vec<MessageInfo>,
        removed: Vec<i64>,
    },
}

/// Requests this client sent, by kind (each attempt counts, also on a server that failed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `GET /api/index`.
    pub index: u64,
    /// … of those answered 304.
    pub not_modified: u64,
    /// `GET /api/changes`.
    pub changes: u64,
    /// `GET /api/messages` (listing pages of the full check).
    pub lists: u64,
    /// `GET /api/messages/{id}`.
    pub bodies: u64,
    /// Requests that succeeded on another server after one failed.
    pub failovers: u64,
}

#[derive(Clone, Copy)]
enum Kind {
    Index,
    Changes,
    List,
    Body,
}

/// A message as `GET /api/messages/{id}` returns it (the fields a client shows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageBody {
    pub id: i64,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub from: Option<Address>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub text_body: Option<String>,
    #[serde(default)]
    pub html_body: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub content_type: String,
    #[serde(default)]
    pub size: u64,
}

#[derive(Deserialize)]
struct IndexSnapshot {
    seq: i64,
}

#[derive(Deserialize)]
struct ListedMessage {
    id: i64,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    from: Option<Address>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    size: i64,
}

#[derive(Deserialize)]
struct MessagePage {
    messages: Vec<ListedMessage>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    detail: String,
}

/// What a long poll's caller is told in [`IndexClient::watch`].
#[derive(Debug)]
pub enum WatchEvent<'a> {
    Outcome(&'a PollOutcome),
    /// A failure that the loop retries after a pause (every server down, a bad answer).
    Error(&'a ClientError),
    /// Servers that failed before `now_using` answered.
    FailedOver {
        failures: &'a [ServerFailure],
        now_using: &'a str,
    },
}

/// A state dir name for a set of servers: the same list (in any order) gives the same name.
pub fn state_dir_name(servers: &[ServerAddr]) -> String {
    let mut urls: Vec<String> = servers
        .iter()
        .map(|s| s.url.trim().trim_end_matches('/').to_ascii_lowercase())
        .collect();
    urls.sort();
    urls.dedup();
    hex::encode(&Sha256::digest(urls.join("\n").as_bytes())[..8])
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const LIST_PAGE: usize = 1000;
const CHANGES_PAGE: usize = 1000;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

struct Conn {
    server: usize,
    sender: http::Sender,
}

pub struct IndexClient {
    servers: Vec<http::Endpoint>,
    token: String,
    dir: state::StateDir,
    state: logic::State,
    body_size_limit: Option<u64>,
    slow_link: bool,
    wait_secs: u64,
    rng: Box<dyn Rng>,
    current: Option<usize>,
    conn: Option<Conn>,
    stats: Stats,
    last_failures: Vec<ServerFailure>,
}

impl IndexClient {
    /// Checks the addresses and reads the state dir; no network yet.
    pub fn new(config: Config) -> Result<IndexClient, ClientError> {
        IndexClient::with_rng(config, Box::new(SplitMix::from_entropy()))
    }

    /// [`IndexClient::new`] with the randomness that picks servers given (for tests).
    pub fn with_rng(config: Config, rng: Box<dyn Rng>) -> Result<IndexClient, ClientError> {
        if config.servers.is_empty() {
            return Err(ClientError::NoServers);
        }
        let servers = config
            .servers
            .iter()
            .map(|s| http::parse_endpoint(&s.url, s.pin.as_deref()))
            .collect::<Result<Vec<_>, _>>()?;
        let token = config.token.trim().to_string();
        if token.is_empty() || !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ClientError::BadToken);
        }
        let (dir, state) = state::StateDir::open(&config.state_dir)?;
        Ok(IndexClient {
            servers,
            token,
            dir,
            state,
            body_size_limit: config.body_size_limit,
            slow_link: config.slow_link,
            wait_secs: config.wait_secs.clamp(1, 60),
            rng,
            current: None,
            conn: None,
            stats: Stats::default(),
            last_failures: Vec::new(),
        })
    }

    /// The last sequence seen (`None` before the first contact).
    pub fn seq(&self) -> Option<i64> {
        self.state.seq
    }

    /// Unix seconds of the last full check.
    pub fn last_full_check(&self) -> Option<i64> {
        self.state.last_full_check
    }

    /// The ids this client knows, with their size and body state.
    pub fn known(&self) -> &std::collections::BTreeMap<i64, Known> {
        &self.state.messages
    }

    /// Messages whose bodies the size rule left for later.
    pub fn pending(&self) -> Vec<i64> {
        self.state
            .messages
            .iter()
            .filter(|(_, k)| k.body == BodyState::Deferred)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The file the state is kept in.
    pub fn state_file(&self) -> PathBuf {
        self.dir.state_file()
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The server that answered last.
    pub fn current_server(&self) -> Option<&str> {
        self.current
            .and_then(|i| self.servers.get(i))
            .map(|s| s.url.as_str())
    }

    /// Servers that failed during the last call (poll, full check, body fetch), each before
    /// another one answered.
    pub fn last_failures(&self) -> &[ServerFailure] {
        &self.last_failures
    }

    /// One poll: the index, and the changes only if it moved. The first poll of a new state dir
    /// lists the store instead (a baseline), and a poll runs the full check when one is due.
    pub async fn poll_once(&mut self) -> Result<PollOutcome, ClientError> {
        self.poll(None).await
    }

    /// [`IndexClient::poll_once`], but the index request waits (up to `wait_secs`) for the
    /// sequence to move before answering.
    pub async fn wait_once(&mut self) -> Result<PollOutcome, ClientError> {
        self.poll(Some(self.wait_secs)).await
    }

    /// Long-polls forever, telling `on_event` what each poll found and which failures it is
    /// riding out (pausing 1 s, doubling up to 60 s, between failed polls). Returns only on a
    /// failure retrying cannot fix ([`ClientError::is_fatal`]), e.g. a refused token.
    pub async fn watch<F>(&mut self, mut on_event: F) -> Result<(), ClientError>
    where
        F: FnMut(WatchEvent<'_>),
    {
        let mut pause = Duration::from_secs(1);
        loop {
            let started = Instant::now();
            match self.wait_once().await {
                Ok(outcome) => {
                    pause = Duration::from_secs(1);
                    if let (false, Some(now_using)) =
                        (self.last_failures.is_empty(), self.current_server())
                    {
                        on_event(WatchEvent::FailedOver {
                            failures: &self.last_failures,
                            now_using,
                        });
                    }
                    let quick = outcome == PollOutcome::Unchanged
                        && started.elapsed() < Duration::from_millis(500);
                    on_event(WatchEvent::Outcome(&outcome));
                    if quick {
                        // A server that does not hold long polls is not hammered.
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    on_event(WatchEvent::Error(&e));
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    /// Lists the whole store and reconciles what this client knows with it: ids gone from the
    /// store are forgotten (and their bodies dropped), ids it missed are learned (their bodies
    /// downloaded by the size rule). Runs by itself from a poll at most every 24 h.
    pub async fn full_check(&mut self) -> Result<PollOutcome, ClientError> {
        self.last_failures.clear();
        let baseline = self.state.seq.is_none();
        self.resync(baseline).await
    }

    /// A message's body: from the state dir when it was downloaded, otherwise from the server
    /// (and then kept). This is how a message the size rule skipped is fetched on demand.
    pub async fn fetch_body(&mut self, id: i64) -> Result<MessageBody, ClientError> {
        self.last_failures.clear();
        if let Some(bytes) = self.dir.read_body(id) {
            if let Ok(body) = serde_json::from_slice::<MessageBody>(&bytes) {
                return Ok(body);
            }
        }
        let known = self.state.messages.contains_key(&id);
        match self.download_body(id, known).await {
            Ok(body) => {
                if let Some(k) = self.state.messages.get_mut(&id) {
                    k.body = BodyState::Fetched;
                    self.dir.save(&self.state)?;
                }
                Ok(body)
            }
            Err(e @ ClientError::Gone { .. }) => {
                if self.state.messages.remove(&id).is_some() {
                    self.dir.remove_body(id);
                    self.dir.save(&self.state)?;
                }
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    async fn poll(&mut self, wait: Option<u64>) -> Result<PollOutcome, ClientError> {
        self.last_failures.clear();
        let Some(seq) = self.state.seq else {
            return self.resync(true).await;
        };
        let (path, timeout) = match wait {
            Some(w) => (
                format!("/api/index?wait={w}"),
                Duration::from_secs(w) + Duration::from_secs(30),
            ),
            None => ("/api/index".to_string(), REQUEST_TIMEOUT),
        };
        let tag = format!("\"{seq}\"");
        let (server, answer) = self
            .request(Kind::Index, &path, Some(&tag), timeout)
            .await?;
        let mut delta = Delta::default();
        let mut new_seq = seq;
        match answer.status {
            304 => self.stats.not_modified += 1,
            200 => {
                let snap: IndexSnapshot = self.parse(server, "the index", &answer.body)?;
                if snap.seq != seq {
                    match self.apply_changes_since(seq).await? {
                        Some((s, d)) => {
                            new_seq = s;
                            delta = d;
                        }
                        // The log no longer reaches back to our sequence.
                        None => return self.resync(false).await,
                    }
                }
            }
            other => return Err(self.unexpected(server, "the index", other, &answer.body)),
        }
        if logic::full_check_due(self.state.last_full_check, now_unix()) {
            if let PollOutcome::Resynced {
                seq,
                added,
                updated,
                removed,
                ..
            } = self.resync(false).await?
            {
                delta.merge(Delta {
                    added,
                    updated,
                    removed,
                });
                return Ok(if delta.is_empty() {
                    PollOutcome::Unchanged
                } else {
                    PollOutcome::Resynced {
                        seq,
                        baseline: false,
                        added: delta.added,
                        updated: delta.updated,
                        removed: delta.removed,
                    }
                });
            }
        }
        Ok(if delta.is_empty() {
            PollOutcome::Unchanged
        } else {
            PollOutcome::Changed {
                seq: new_seq,
                added: delta.added,
                updated: delta.updated,
                removed: delta.removed,
            }
        })
    }

    /// Pages through `/api/changes` from `since`, applies them to a copy of the state, downloads
    /// bodies, and commits (to memory and disk) only when all of it worked, so a failed poll is
    /// simply repeated. `None` when the server says the log was compacted past `since`.
    async fn apply_changes_since(
        &mut self,
        since: i64,
    ) -> Result<Option<(i64, Delta)>, ClientError> {
        let mut next = self.state.clone();
        let mut delta = Delta::default();
        let mut at = since;
        loop {
            let path = format!("/api/changes?since={at}&limit={CHANGES_PAGE}");
            let (server, answer) = self
                .request(Kind::Changes, &path, None, REQUEST_TIMEOUT)
                .await?;
            if answer.status != 200 {
                return Err(self.unexpected(server, "the changes", answer.status, &answer.body));
            }
            let page: ChangesPage = self.parse(server, "the changes", &answer.body)?;
            if page.resync {
                return Ok(None);
            }
            logic::apply_changes(&mut next, &page, &mut delta);
            // The sequence must move on, or paging would never end.
            let moved = page.seq > at;
            at = page.seq.max(at);
            if !page.more || !moved {
                break;
            }
        }
        for id in &delta.removed {
            self.dir.remove_body(*id);
        }
        self.fetch_new_bodies(&mut next, &mut delta.added).await?;
        next.seq = Some(at);
        self.dir.save(&next)?;
        self.state = next;
        Ok(Some((at, delta)))
    }

    /// Lists the store and reconciles; see [`IndexClient::full_check`].
    async fn resync(&mut self, baseline: bool) -> Result<PollOutcome, ClientError> {
        // The sequence first: whatever changes while listing is seen again by the next poll.
        let (server, answer) = self
            .request(Kind::Index, "/api/index", None, REQUEST_TIMEOUT)
            .await?;
        if answer.status != 200 {
            return Err(self.unexpected(server, "the index", answer.status, &answer.body));
        }
        let seq = self
            .parse::<IndexSnapshot>(server, "the index", &answer.body)?
            .seq;
        let listing = self.list_all().await?;
        let mut next = self.state.clone();
        let mut delta = logic::reconcile(&mut next, &listing, baseline);
        for id in &delta.removed {
            self.dir.remove_body(*id);
        }
        if !baseline {
            self.fetch_new_bodies(&mut next, &mut delta.added).await?;
        }
        next.seq = Some(seq);
        next.last_full_check = Some(now_unix());
        self.dir.save(&next)?;
        self.state = next;
        Ok(PollOutcome::Resynced {
            seq,
            baseline,
            added: delta.added,
            updated: delta.updated,
            removed: delta.removed,
        })
    }

    async fn list_all(&mut self) -> Result<Vec<MessageInfo>, ClientError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => format!("/api/messages?limit={LIST_PAGE}"),
                Some(c) => format!("/api/messages?limit={LIST_PAGE}&cursor={c}"),
            };
            let (server, answer) = self
                .request(Kind::List, &path, None, REQUEST_TIMEOUT)
                .await?;
            if answer.status != 200 {
                return Err(self.unexpected(
                    server,
                    "the message list",
                    answer.status,
                    &answer.body,
                ));
            }
            let page: MessagePage = self.parse(server, "the message list", &answer.body)?;
            all.extend(page.messages.into_iter().map(|m| MessageInfo {
                id: m.id,
                size: m.size.max(0) as u64,
                from: m.from.map(|a| a.email),
                subject: m.subject,
                date: m.date,
                body: BodyState::Remote,
            }));
            match page.next_cursor {
                Some(c) if Some(&c) != cursor.as_ref() && c.chars().all(is_cursor_char) => {
                    cursor = Some(c)
                }
                Some(c) if Some(&c) == cursor.as_ref() => {
                    return Err(ClientError::Protocol {
                        url: self.url(server),
                        what: "the message list".into(),
                        detail: format!("the cursor '{c}' did not move"),
                    })
                }
                Some(c) => {
                    return Err(ClientError::Protocol {
                        url: self.url(server),
                        what: "the message list".into(),
                        detail: format!("'{c}' is not a cursor"),
                    })
                }
                None => return Ok(all),
            }
        }
    }

    /// Downloads the bodies of newly learned messages by the size rule, marking each as fetched
    /// or deferred; a message gone meanwhile is dropped from the news and the state.
    async fn fetch_new_bodies(
        &mut self,
        next: &mut logic::State,
        added: &mut Vec<MessageInfo>,
    ) -> Result<(), ClientError> {
        let mut gone = Vec::new();
        for info in added.iter_mut() {
            let state = match logic::body_decision(info.size, self.slow_link, self.body_size_limit)
            {
                logic::BodyDecision::Defer => BodyState::Deferred,
                logic::BodyDecision::Fetch if self.dir.read_body(info.id).is_some() => {
                    BodyState::Fetched
                }
                logic::BodyDecision::Fetch => match self.download_body(info.id, true).await {
                    Ok(_) => BodyState::Fetched,
                    Err(ClientError::Gone { id, .. }) => {
                        gone.push(id);
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            info.body = state;
            if let Some(k) = next.messages.get_mut(&info.id) {
                k.body = state;
            }
        }
        for id in gone {
            added.retain(|m| m.id != id);
            next.messages.remove(&id);
        }
        Ok(())
    }

    /// `GET /api/messages/{id}`; kept in the state dir when `keep`.
    async fn download_body(&mut self, id: i64, keep: bool) -> Result<MessageBody, ClientError> {
        let path = format!("/api/messages/{id}");
        let (server, answer) = self
            .request(Kind::Body, &path, None, REQUEST_TIMEOUT)
            .await?;
        match answer.status {
            200 => {
                let body: MessageBody = self.parse(server, "a message", &answer.body)?;
                if keep {
                    self.dir.write_body(id, &answer.body)?;
                }
                Ok(body)
            }
            404 => Err(ClientError::Gone {
                id,
                url: self.url(server),
            }),
            other => Err(self.unexpected(server, "a message", other, &answer.body)),
        }
    }

    fn url(&self, server: usize) -> String {
        self.servers
            .get(server)
            .map(|s| s.url.clone())
            .unwrap_or_default()
    }

    fn parse<T: serde::de::DeserializeOwned>(
        &self,
        server: usize,
        what: &str,
        body: &[u8],
    ) -> Result<T, ClientError> {
        serde_json::from_slice(body).map_err(|e| ClientError::Protocol {
            url: self.url(server),
            what: what.into(),
            detail: format!("not the JSON expected ({e})"),
        })
    }

    fn unexpected(&self, server: usize, what: &str, status: u16, body: &[u8]) -> ClientError {
        ClientError::Protocol {
            url: self.url(server),
            what: what.into(),
            detail: format!("HTTP {status}: {}", error_detail(body)),
        }
    }

    /// Sends a GET to the current server, or to the others in random order when it fails.
    /// Answers other than 5xx and 403 come back to the caller; 401 becomes
    /// [`ClientError::Unauthorized`] at once.
    async fn request(
        &mut self,
        kind: Kind,
        path: &str,
        if_none_match: Option<&str>,
        timeout: Duration,
    ) -> Result<(usize, http::Answer), ClientError> {
        let order = logic::try_order(self.servers.len(), self.current, &mut *self.rng);
        let mut failures: Vec<ServerFailure> = Vec::new();
        for i in order {
            let url = self.url(i);
            match self.request_on(i, kind, path, if_none_match, timeout).await {
                Ok(answer) if answer.status == 401 => {
                    self.current = Some(i);
                    return Err(ClientError::Unauthorized {
                        url,
                        detail: error_detail(&answer.body),
                    });
                }
                Ok(answer) if answer.status >= 500 || answer.status == 403 => {
                    self.conn = None;
                    failures.push(ServerFailure {
                        url,
                        error: format!("HTTP {}: {}", answer.status, error_detail(&answer.body)),
                    });
                }
                Ok(answer) => {
                    self.current = Some(i);
                    if !failures.is_empty() {
                        self.stats.failovers += 1;
                    }
                    self.last_failures.extend(failures);
                    return Ok((i, answer));
                }
                Err(error) => {
                    self.conn = None;
                    failures.push(ServerFailure { url, error });
                }
            }
        }
        self.current = None;
        self.last_failures.extend(failures.iter().cloned());
        Err(ClientError::Unreachable(failures))
    }

    async fn request_on(
        &mut self,
        server: usize,
        kind: Kind,
        path: &str,
        if_none_match: Option<&str>,
        timeout: Duration,
    ) -> Result<http::Answer, String> {
        let ep = self
            .servers
            .get(server)
            .cloned()
            .ok_or_else(|| "no such server".to_string())?;
        let reused = matches!(&self.conn, Some(c) if c.server == server);
        if !reused {
            self.conn = None;
            let sender = http::connect(&ep).await?;
            self.conn = Some(Conn { server, sender });
        }
        let first = self.send(kind, &ep, path, if_none_match, timeout).await;
        match first {
            // A kept-alive connection the server closed meanwhile: once more on a new one.
            Err(e) if reused && e.stale => {
                self.conn = None;
                let sender = http::connect(&ep).await?;
                self.conn = Some(Conn { server, sender });
                self.send(kind, &ep, path, if_none_match, timeout)
                    .await
                    .map_err(|e| e.message)
            }
            other => other.map_err(|e| e.message),
        }
    }

    async fn send(
        &mut self,
        kind: Kind,
        ep: &http::Endpoint,
        path: &str,
        if_none_match: Option<&str>,
        timeout: Duration,
    ) -> Result<http::Answer, http::GetError> {
        let conn = self.conn.as_mut().ok_or_else(|| http::GetError {
            message: "not connected".into(),
            stale: true,
        })?;
        match kind {
            Kind::Index => self.stats.index += 1,
            Kind::Changes => self.stats.changes += 1,
            Kind::List => self.stats.lists += 1,
            Kind::Body => self.stats.bodies += 1,
        }
        http::get(
            &mut conn.sender,
            ep,
            path,
            &self.token,
            if_none_match,
            timeout,
        )
        .await
    }
}

fn is_cursor_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// The `detail` of the server's JSON error, or the start of whatever it sent.
fn error_detail(body: &[u8]) -> String {
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
        return e.detail;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no details".into()
    } else {
        text.chars().take(200).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_dir_name_depends_on_the_set_of_servers_only() {
        let a = state_dir_name(&[
            ServerAddr::new("http://127.0.0.1:1"),
            ServerAddr::new("https://h:2/"),
        ]);
        let b = state_dir_name(&[
            ServerAddr::new("HTTPS://h:2"),
            ServerAddr::new("http://127.0.0.1:1"),
        ]);
        assert_eq!(a, b);
        assert_eq!(a.len(), 16);
        assert_ne!(a, state_dir_name(&[ServerAddr::new("http://127.0.0.1:1")]));
    }

    #[test]
    fn errors_name_the_servers() {
        let e = ClientError::Unreachable(vec![
            ServerFailure {
                url: "http://127.0.0.1:1".into(),
                error: "cannot connect: refused".into(),
            },
            ServerFailure {
                url: "https://b:2".into(),
                error: "HTTP 503: busy".into(),
            },
        ]);
        let text = e.to_string();
        assert!(
            text.contains("http://127.0.0.1:1: cannot connect")
                && text.contains("https://b:2: HTTP 503"),
            "{text}"
        );
        assert!(!e.is_fatal());
        let e = ClientError::Unauthorized {
            url: "http://127.0.0.1:1".into(),
            detail: "unknown or revoked token".into(),
        };
        assert!(e.is_fatal());
        assert!(e.to_string().contains("401"));
    }

    #[test]
    fn error_details_come_from_the_json_or_the_text() {
        assert_eq!(
            error_detail(br#"{"error":"unauthorized","detail":"unknown or revoked token"}"#),
            "unknown or revoked token"
        );
        assert_eq!(error_detail(b"  Bad Gateway \n"), "Bad Gateway");
        assert_eq!(error_detail(b""), "no details");
    }

    #[test]
    fn the_config_never_shows_the_token() {
        let c = Config::new(vec![], "sb_secret", Path::new("/tmp/x"));
        assert!(!format!("{c:?}").contains("sb_secret"));
    }

    #[test]
    fn no_servers_and_bad_addresses_are_refused_before_any_io() {
        let dir = tempfile::tempdir().unwrap();
        let e = IndexClient::new(Config::new(vec![], "t", dir.path()))
            .err()
            .unwrap();
        assert!(matches!(e, ClientError::NoServers));
        let e = IndexClient::new(Config::new(
            vec![ServerAddr::new("http://10.0.0.1:80")],
            "t",
            dir.path(),
        ))
        .err()
        .unwrap();
        assert!(e.to_string().contains("http://10.0.0.1:80"), "{e}");
        for token in ["", "  ", "sb_a b", "sb_a\r\nX-Evil: 1"] {
            let e = IndexClient::new(Config::new(
                vec![ServerAddr::new("http://127.0.0.1:1")],
                token,
                dir.path(),
            ))
            .err()
            .unwrap();
            assert!(matches!(e, ClientError::BadToken), "{token:?}: {e}");
        }
    }
}
