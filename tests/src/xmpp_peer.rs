//! A second XMPP client for tests: `tests/tools/xmpp_peer.py` (slixmpp, from the venv that
//! `scripts/install-python-tools.sh` makes), an implementation independent of Switchboard's.
//!
//! It logs in to a [`Prosody`] as one of its users and is driven by JSON lines: commands go to
//! its stdin, events (messages, receipts, presence, errors...) come back on its stdout and are
//! collected here, so a test can wait for "a message from alice containing X" without racing.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::prosody::Prosody;
use crate::runner::workspace_root;
use crate::util::{self, GroupChild};

/// How to connect.
#[derive(Debug, Clone, Default)]
pub struct PeerOptions {
    /// Direct TLS on the c2s_tls port instead of STARTTLS on the c2s port.
    pub direct_tls: bool,
    /// Ask for this resource.
    pub resource: Option<String>,
    /// Do not send initial presence (the server then keeps messages to the bare JID offline).
    pub no_presence: bool,
}

#[derive(Default)]
struct Events {
    list: Vec<Value>,
    closed: bool,
}

/// A running slixmpp client. Killed on drop.
pub struct XmppPeer {
    jid: String,
    full_jid: String,
    stdin: Mutex<ChildStdin>,
    events: Arc<(Mutex<Events>, Condvar)>,
    child: Mutex<GroupChild>,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

fn python() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SWITCHBOARD_TEST_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = workspace_root().join("target/tools/venv/bin/python");
    if !venv.exists() {
        bail!(
            "the XMPP test peer needs slixmpp in {}: run scripts/install-python-tools.sh \
             (make test does)",
            venv.display()
        );
    }
    Ok(venv)
}

impl XmppPeer {
    /// Logs in as `user` (created in `prosody` with its default password) and waits until the
    /// session is ready (roster fetched, presence sent unless `no_presence`).
    pub fn connect(prosody: &Prosody, user: &str, options: PeerOptions) -> Result<Self> {
        let password = prosody
            .password(user)
            .ok_or_else(|| anyhow!("no user {user} in this Prosody"))?
            .to_string();
        Self::connect_with_password(prosody, user, &password, options)
    }

    pub fn connect_with_password(
        prosody: &Prosody,
        user: &str,
        password: &str,
        options: PeerOptions,
    ) -> Result<Self> {
        let script = workspace_root().join("tests/tools/xmpp_peer.py");
        let dir = util::temp_dir("sb-xmpp-peer-")?;
        let stderr_path = dir.path().join("stderr");
        let stderr = std::fs::File::create(&stderr_path).context("cannot create the peer log")?;
        let port = if options.direct_tls {
            prosody.ports().c2s_tls
        } else {
            prosody.ports().c2s
        };
        let mut cmd = Command::new(python()?);
        cmd.arg(&script)
            .args(["--jid", &prosody.jid(user)])
            .args(["--password", password])
            .args(["--host", prosody.host()])
            .args(["--port", &port.to_string()])
            .arg("--ca")
            .arg(prosody.ca_pem_path())
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        if options.direct_tls {
            cmd.arg("--direct-tls");
        }
        if let Some(r) = &options.resource {
            cmd.args(["--resource", r]);
        }
        if options.no_presence {
            cmd.arg("--no-presence");
        }
        let mut child = GroupChild::spawn(&mut cmd, "xmpp peer (slixmpp)")?;
        let stdin = child
            .child_mut()
            .stdin
            .take()
            .context("the peer has no stdin")?;
        let stdout = child
            .child_mut()
            .stdout
            .take()
            .context("the peer has no stdout")?;
        let events: Arc<(Mutex<Events>, Condvar)> = Arc::default();
        let sink = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| json!({"event": "unparsed", "line": line}));
                let (lock, cv) = &*sink;
                if let Ok(mut e) = lock.lock() {
                    e.list.push(value);
                }
                cv.notify_all();
            }
            let (lock, cv) = &*sink;
            if let Ok(mut e) = lock.lock() {
                e.closed = true;
            }
            cv.notify_all();
        });
        let mut peer = Self {
            jid: prosody.jid(user),
            full_jid: String::new(),
            stdin: Mutex::new(stdin),
            events,
            child: Mutex::new(child),
            stderr_path,
            _dir: dir,
        };
        let ready = peer
            .wait_event(Duration::from_secs(30), |e| {
                e["event"] == "ready" || e["event"] == "auth_failed"
            })
            .with_context(|| format!("the XMPP peer {} did not log in", peer.jid))?;
        if ready["event"] == "auth_failed" {
            bail!("the XMPP peer {} was refused: wrong password", peer.jid);
        }
        peer.full_jid = ready["jid"].as_str().unwrap_or_default().to_string();
        Ok(peer)
    }

    /// The bare JID (`bob@localhost`).
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// The full JID the server bound.
    pub fn full_jid(&self) -> &str {
        &self.full_jid
    }

    /// Sends one command object.
    pub fn command(&self, cmd: Value) -> Result<()> {
        let mut stdin = self
            .stdin
            .lock()
            .map_err(|_| anyhow!("peer stdin lock poisoned"))?;
        writeln!(stdin, "{cmd}").context("cannot write to the XMPP peer")?;
        stdin.flush().context("cannot write to the XMPP peer")
    }

    /// Sends a chat message and returns its id. `extra` may set `id`, `thread`, `receipt`,
    /// `reply_id`, `reply_to`, `type`.
    pub fn send_message(&self, to: &str, body: &str, extra: Value) -> Result<String> {
        let mut cmd = json!({"cmd": "send", "to": to, "body": body});
        if let (Some(obj), Some(more)) = (cmd.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        let before = self.event_count();
        self.command(cmd)?;
        let sent =
            self.wait_event_after(before, Duration::from_secs(10), |e| e["event"] == "sent")?;
        Ok(sent["id"].as_str().unwrap_or_default().to_string())
    }

    /// Sends raw XML over the stream, as it is.
    pub fn send_raw(&self, xml: &str) -> Result<()> {
        let before = self.event_count();
        self.command(json!({"cmd": "raw", "xml": xml}))?;
        self.wait_event_after(before, Duration::from_secs(10), |e| {
            e["event"] == "raw_sent"
        })?;
        Ok(())
    }

    /// A round trip through the server: whatever was sent before has been processed by it.
    pub fn ping(&self) -> Result<()> {
        let token = format!("{:?}", Instant::now());
        self.command(json!({"cmd": "ping", "token": token}))?;
        self.wait_event(Duration::from_secs(30), |e| {
            e["event"] == "pong" && e["token"] == token.as_str()
        })?;
        Ok(())
    }

    /// Sends `count` messages "`prefix` 0" … as fast as the stream takes them, and waits until
    /// the server has handled them all; returns the seconds that took.
    pub fn burst(&self, to: &str, count: usize, prefix: &str) -> Result<f64> {
        let before = self.event_count();
        self.command(json!({"cmd": "burst", "to": to, "count": count, "prefix": prefix}))?;
        let done = self.wait_event_after(before, Duration::from_secs(600), |e| {
            e["event"] == "burst_sent"
        })?;
        Ok(done["seconds"].as_f64().unwrap_or(0.0))
    }

    /// Changes presence (`show`: away, dnd, xa, chat; `status`: free text).
    pub fn set_presence(&self, show: Option<&str>, status: Option<&str>) -> Result<()> {
        let before = self.event_count();
        self.command(json!({"cmd": "presence", "show": show, "status": status}))?;
        self.wait_event_after(before, Duration::from_secs(10), |e| {
            e["event"] == "presence_sent"
        })?;
        Ok(())
    }

    /// Enables message carbons for this client.
    pub fn enable_carbons(&self) -> Result<()> {
        self.command(json!({"cmd": "enable_carbons"}))?;
        self.wait_event(Duration::from_secs(10), |e| e["event"] == "carbons_enabled")?;
        Ok(())
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Value> {
        let (lock, _) = &*self.events;
        lock.lock().map(|e| e.list.clone()).unwrap_or_default()
    }

    pub fn event_count(&self) -> usize {
        let (lock, _) = &*self.events;
        lock.lock().map(|e| e.list.len()).unwrap_or(0)
    }

    /// Messages with a body received so far (not carbons).
    pub fn messages(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| e["event"] == "message" && e["carbon"].is_null())
            .collect()
    }

    /// Waits for an event (past or future) matching `pred`.
    pub fn wait_event(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Result<Value> {
        self.wait_event_after(0, timeout, pred)
    }

    /// Waits for an event at index `start` or later matching `pred`.
    pub fn wait_event_after(
        &self,
        start: usize,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.events;
        let mut events = lock.lock().map_err(|_| anyhow!("peer events poisoned"))?;
        loop {
            if let Some(e) = events.list.iter().skip(start).find(|e| pred(e)) {
                return Ok(e.clone());
            }
            let now = Instant::now();
            if events.closed || now >= deadline {
                let last: Vec<String> = events
                    .list
                    .iter()
                    .rev()
                    .take(15)
                    .map(|e| e.to_string())
                    .collect();
                bail!(
                    "the XMPP peer {} {} without the awaited event; last events (newest first):\n{}\n--- peer stderr ---\n{}",
                    self.jid,
                    if events.closed { "exited" } else { "timed out" },
                    last.join("\n"),
                    util::tail_file(&self.stderr_path, 30)
                );
            }
            events = cv
                .wait_timeout(events, deadline - now)
                .map_err(|_| anyhow!("peer events poisoned"))?
                .0;
        }
    }

    /// Logs out and ends the process.
    pub fn quit(self) -> Result<()> {
        let _ = self.command(json!({"cmd": "quit"}));
        let _ = self.wait_event(Duration::from_secs(10), |e| e["event"] == "disconnected");
        Ok(())
    }
}

/// Sends `count` chat messages "`prefix` 0" … from `user` to `to` with a minimal sender
/// (`tests/tools/xmpp_flood.py`, standard library only: microseconds per message), and waits
/// until the server has handled them all. Returns the seconds that took.
pub fn flood(prosody: &Prosody, user: &str, to: &str, count: usize, prefix: &str) -> Result<f64> {
    Ok(flood_timed(prosody, user, to, count, prefix)?.seconds)
}

/// When a [`flood_timed`] ran.
#[derive(Debug, Clone, Copy)]
pub struct Flood {
    /// Wall clock (unix seconds) when the first message was written, after the login.
    pub started_at: f64,
    /// From the first message written to the server's answer to a ping sent after the last.
    pub seconds: f64,
}

/// [`flood`], also saying when the first message went out (so the sender's start-up and
/// login are not counted as the receiver's time).
pub fn flood_timed(
    prosody: &Prosody,
    user: &str,
    to: &str,
    count: usize,
    prefix: &str,
) -> Result<Flood> {
    let password = prosody
        .password(user)
        .ok_or_else(|| anyhow!("no user {user} in this Prosody"))?;
    let script = workspace_root().join("tests/tools/xmpp_flood.py");
    let out = util::run_checked(
        Command::new(python()?)
            .arg(&script)
            .args(["--jid", &prosody.jid(user)])
            .args(["--password", password])
            .args(["--host", prosody.host()])
            .args(["--port", &prosody.ports().c2s.to_string()])
            .arg("--ca")
            .arg(prosody.ca_pem_path())
            .args(["--to", to])
            .args(["--count", &count.to_string()])
            .args(["--prefix", prefix]),
        "xmpp_flood.py",
    )?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "xmpp_flood.py printed {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    })?;
    match (v["started_at"].as_f64(), v["seconds"].as_f64()) {
        (Some(started_at), Some(seconds)) => Ok(Flood {
            started_at,
            seconds,
        }),
        _ => bail!("xmpp_flood.py printed no times: {v}"),
    }
}

/// Which client [`Receiver`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverKind {
    /// Standard library, no XML parsing: the server's own delivery rate to one connection.
    Raw,
    /// A plain slixmpp client.
    Slixmpp,
}

impl ReceiverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Slixmpp => "slixmpp",
        }
    }
}

/// When a [`Receiver`] had them all.
#[derive(Debug, Clone, Copy)]
pub struct Arrivals {
    pub count: u64,
    /// Wall clock (unix seconds) of the first and the last message.
    pub first: f64,
    pub last: f64,
}

/// A yardstick client (`tests/tools/xmpp_receive.py`) online as one user, counting the chat
/// messages of one flood. Killed on drop.
pub struct Receiver {
    child: GroupChild,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
    what: String,
}

impl Receiver {
    /// Logs in as `user` with presence and returns once it is online; it then counts `count`
    /// messages whose body starts with "`prefix` ".
    pub fn start(
        prosody: &Prosody,
        user: &str,
        kind: ReceiverKind,
        count: usize,
        prefix: &str,
    ) -> Result<Self> {
        let password = prosody
            .password(user)
            .ok_or_else(|| anyhow!("no user {user} in this Prosody"))?;
        let script = workspace_root().join("tests/tools/xmpp_receive.py");
        let what = format!("xmpp_receive.py --mode {}", kind.as_str());
        let mut cmd = Command::new(python()?);
        cmd.arg(&script)
            .args(["--mode", kind.as_str()])
            .args(["--jid", &prosody.jid(user)])
            .args(["--password", password])
            .args(["--host", prosody.host()])
            .args(["--port", &prosody.ports().c2s.to_string()])
            .arg("--ca")
            .arg(prosody.ca_pem_path())
            .args(["--count", &count.to_string()])
            .args(["--prefix", prefix])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let mut child = GroupChild::spawn(&mut cmd, &what)?;
        let stdout = child
            .child_mut()
            .stdout
            .take()
            .with_context(|| format!("{what} has no stdout"))?;
        let mut r = Self {
            child,
            lines: BufReader::new(stdout).lines(),
            what,
        };
        let ready = r.next_line()?;
        if ready["event"] != "ready" {
            bail!("{} said {ready} instead of being ready", r.what);
        }
        Ok(r)
    }

    fn next_line(&mut self) -> Result<Value> {
        match self.lines.next() {
            Some(line) => {
                let line = line.with_context(|| format!("cannot read from {}", self.what))?;
                serde_json::from_str(&line)
                    .with_context(|| format!("{} printed {line:?}", self.what))
            }
            None => bail!(
                "{} ended without an answer (its stderr is above)",
                self.what
            ),
        }
    }

    /// Waits (up to the script's own timeout) until every message arrived.
    pub fn finish(mut self) -> Result<Arrivals> {
        let v = self.next_line()?;
        match (v["count"].as_u64(), v["first"].as_f64(), v["last"].as_f64()) {
            (Some(count), Some(first), Some(last)) => Ok(Arrivals { count, first, last }),
            _ => bail!("{} printed {v}", self.what),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.child.terminate(Duration::from_secs(2));
    }
}

impl Drop for XmppPeer {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            c.terminate(Duration::from_secs(2));
        }
    }
}
