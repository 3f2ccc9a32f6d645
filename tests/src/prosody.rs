//! A private Prosody 0.12 (XMPP) on 127.0.0.1, one per test.
//!
//! Everything lives in one temp dir: the generated `prosody.cfg.lua`, the TLS material (a test CA
//! and a `localhost` certificate from [`TlsMaterial`]), and `run/` with the server's data (users,
//! rosters, offline messages, the message archive), its log and its stderr. Two client
//! listeners on free loopback ports: c2s with STARTTLS (required before login) and c2s with
//! direct TLS (XEP-0368). No s2s, no HTTP. The virtual host is `localhost`.
//!
//! Modules: roster, SASL (SCRAM, passwords hashed in `internal_hashed` storage), TLS, disco,
//! message carbons (XEP-0280), message archive (XEP-0313, every message archived, never
//! expired), stream management (XEP-0198, with resumption), offline storage, ping, and a shared
//! roster group (mod_groups) so that the users created at start see each other's presence
//! without a subscription dance.
//!
//! Prosody refuses to run as root, so when the tests run as root the server (and `prosodyctl`)
//! run as the `prosody` system user of the Debian package (`setpriv`, groups cleared), and
//! `run/` plus the TLS key belong to it. As a normal user everything runs as that user.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};

use crate::tls::{CertKind, TlsMaterial};
use crate::util::{self, chmod, find_program, run_checked, tail_file, wait_for, GroupChild};

/// How long [`Prosody::start`] waits for the listeners.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping Prosody gets after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// The XMPP domain of the test server.
pub const DOMAIN: &str = "localhost";
/// Largest stanza a client may send (Prosody's `c2s_stanza_size_limit`, set explicitly here).
pub const STANZA_SIZE_LIMIT: usize = 256 * 1024;

/// The users every [`Prosody::start`] creates (name, password); all are in one shared roster
/// group, so each has the others as contacts with presence.
pub const DEFAULT_USERS: &[(&str, &str)] = &[
    ("alice", "alice-pass"),
    ("bob", "bob-pass"),
    ("carol", "carol-pass"),
];

/// Loopback ports of one Prosody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmppPorts {
    /// Client-to-server with STARTTLS (port 5222 equivalent); TLS is required before login.
    pub c2s: u16,
    /// Client-to-server with direct TLS (XEP-0368, port 5223 equivalent).
    pub c2s_tls: u16,
}

/// Options for [`Prosody::start_with`].
#[derive(Debug, Clone)]
pub struct ProsodyOptions {
    /// Which server certificate to present.
    pub cert: CertKind,
    /// Users created before the start, all members of the shared roster group.
    pub users: Vec<(String, String)>,
    /// Keep data in memory only (faster; for benchmarks). Users are still created on disk
    /// first, so this applies to rosters, offline messages and the archive.
    pub memory_storage: bool,
    /// Modules to leave out (e.g. "mam": the archive stores ~500 messages/s and would be what
    /// a throughput benchmark measures).
    pub disabled_modules: Vec<String>,
    /// How long a dropped client's session waits for it to resume (stream management).
    pub smacks_hibernation_secs: u32,
    /// Extra Lua lines appended to the generated config (global section). Options set above
    /// must not be repeated (Prosody warns about duplicates).
    pub extra_config: String,
}

impl Default for ProsodyOptions {
    fn default() -> Self {
        Self {
            cert: CertKind::Valid,
            users: DEFAULT_USERS
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
            memory_storage: false,
            disabled_modules: Vec::new(),
            smacks_hibernation_secs: 120,
            extra_config: String::new(),
        }
    }
}

/// Who the server runs as: `None` = this process's user; `Some` = the `prosody` system user.
#[derive(Debug, Clone)]
struct RunAs {
    user: String,
    uid: u32,
    gid: u32,
}

/// A running (or stopped, see [`Prosody::stop`]) private Prosody. Killed on drop.
pub struct Prosody {
    dir: tempfile::TempDir,
    conf: PathBuf,
    run: PathBuf,
    log: PathBuf,
    stderr_log: PathBuf,
    ports: XmppPorts,
    tls: TlsMaterial,
    run_as: Option<RunAs>,
    prosody_bin: PathBuf,
    prosodyctl_bin: PathBuf,
    setpriv_bin: Option<PathBuf>,
    options: ProsodyOptions,
    process: Mutex<Option<GroupChild>>,
}

impl std::fmt::Debug for Prosody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prosody")
            .field("dir", &self.dir.path())
            .field("ports", &self.ports)
            .finish()
    }
}

impl Prosody {
    /// Starts a Prosody with a valid certificate and the users of [`DEFAULT_USERS`].
    pub fn start() -> Result<Self> {
        Self::start_with(ProsodyOptions::default())
    }

    /// Starts a Prosody with the given options.
    pub fn start_with(options: ProsodyOptions) -> Result<Self> {
        let prosody_bin = find_program("prosody", "prosody")?;
        let prosodyctl_bin = find_program("prosodyctl", "prosody")?;
        for module in [
            "mod_carbons.lua",
            "mod_smacks.lua",
            "mod_offline.lua",
            "mod_groups.lua",
        ] {
            let p = Path::new("/usr/lib/prosody/modules").join(module);
            ensure!(
                p.exists() || !Path::new("/usr/lib/prosody/modules").exists(),
                "{} is missing: the Debian package prosody (0.12) ships it; run \
                 scripts/install-deps.sh test",
                p.display()
            );
        }
        let (run_as, setpriv_bin) = if util::is_root() {
            let (uid, gid) = lookup_ids("prosody").context(
                "running as root, Prosody must run as the 'prosody' user of the Debian package \
                 (scripts/install-deps.sh test installs it)",
            )?;
            let setpriv = find_program("setpriv", "util-linux")?;
            (
                Some(RunAs {
                    user: "prosody".into(),
                    uid,
                    gid,
                }),
                Some(setpriv),
            )
        } else {
            (None, None)
        };
        let dir = util::temp_dir("sb-prosody-")?;
        let root = dir.path().to_path_buf();
        // The server user must traverse into the dir; nothing else here is listable.
        chmod(&root, 0o711)?;
        let run = root.join("run");
        fs::create_dir_all(run.join("data"))
            .with_context(|| format!("cannot create {}", run.display()))?;
        let tls = TlsMaterial::generate(&root.join("tls"), options.cert)?;
        chmod(&root.join("tls"), 0o711)?;
        chmod(&tls.ca_pem, 0o644)?;
        chmod(&tls.server_pem, 0o644)?;
        chmod(&tls.server_key, 0o600)?;
        let mut me = Self {
            conf: root.join("prosody.cfg.lua"),
            log: run.join("prosody.log"),
            stderr_log: run.join("prosody.stderr"),
            run,
            dir,
            ports: XmppPorts { c2s: 0, c2s_tls: 0 },
            tls,
            run_as,
            prosody_bin,
            prosodyctl_bin,
            setpriv_bin,
            options,
            process: Mutex::new(None),
        };
        if let Some(r) = &me.run_as {
            chown_tree(&me.run, r.uid, r.gid)?;
            std::os::unix::fs::chown(&me.tls.server_key, Some(r.uid), Some(r.gid))
                .context("cannot give the TLS key to the prosody user")?;
        }
        fs::write(me.dir.path().join("groups.txt"), me.render_groups())
            .context("cannot write the shared roster group file")?;
        chmod(&me.dir.path().join("groups.txt"), 0o644)?;
        me.write_config()?;
        let users = me.options.users.clone();
        for (user, password) in &users {
            me.add_user(user, password)?;
        }

        // Another process may take a port between our probe and Prosody's bind: retry.
        let mut last_err = None;
        for _ in 0..5 {
            let p = util::free_ports(2)?;
            me.ports = XmppPorts {
                c2s: p[0],
                c2s_tls: p[1],
            };
            me.write_config()?;
            let mut slot = me.lock_process()?;
            let result = me.spawn_and_wait(&mut slot);
            drop(slot);
            match result {
                Ok(()) => return Ok(me),
                Err(e) => {
                    if let Some(mut p) = me.lock_process()?.take() {
                        p.terminate(STOP_GRACE);
                    }
                    let log = format!("{}{}", me.log_tail(50), tail_file(&me.stderr_log, 50));
                    if !(log.contains("Address already in use") || log.contains("Failed to open")) {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("prosody did not start")))
            .context("prosody kept losing its ports to other processes")
    }

    fn render_groups(&self) -> String {
        let mut s = String::from("[Contacts]\n");
        for (user, _) in &self.options.users {
            s.push_str(&format!("{user}@{DOMAIN}\n"));
        }
        s
    }

    fn render_config(&self) -> String {
        let d = self.dir.path().display();
        let run = self.run.display();
        let storage = if self.options.memory_storage {
            "storage = { accounts = \"internal\"; roster = \"memory\"; archive = \"memory\"; \
             offline = \"memory\"; }"
        } else {
            "storage = \"internal\""
        };
        let disabled: String = std::iter::once("s2s")
            .chain(self.options.disabled_modules.iter().map(String::as_str))
            .map(|m| format!("\"{m}\"; "))
            .collect();
        let level = if std::env::var_os("SWITCHBOARD_TEST_PROSODY_DEBUG").is_some() {
            "debug"
        } else {
            "info"
        };
        format!(
            r#"-- Generated by switchboard-tests for one test; see tests/src/prosody.rs.
pidfile = "{run}/prosody.pid"
data_path = "{run}/data"
log = {{ {{ levels = {{ min = "{level}" }}, to = "file", filename = "{run}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s} }}
c2s_direct_tls_ports = {{ {c2s_tls} }}
legacy_ssl_ports = {{}}
s2s_ports = {{}}
http_ports = {{}}
https_ports = {{}}
c2s_require_encryption = true
allow_registration = false
authentication = "internal_hashed"
{storage}
modules_enabled = {{
    "roster"; "saslauth"; "tls"; "disco"; "carbons"; "mam"; "smacks"; "offline"; "ping";
    "groups";
}}
modules_disabled = {{ {disabled}}}
c2s_stanza_size_limit = {limit}
archive_expires_after = "never"
default_archive_policy = true
max_archive_query_results = 250
smacks_hibernation_time = {hibernation}
-- The memory store keeps at most this many archived (and offline) messages per user.
storage_archive_item_limit = 1000000
groups_file = "{d}/groups.txt"
ssl = {{ certificate = "{cert}"; key = "{key}"; }}
{extra}

VirtualHost "{DOMAIN}"
"#,
            c2s = self.ports.c2s,
            c2s_tls = self.ports.c2s_tls,
            limit = STANZA_SIZE_LIMIT,
            hibernation = self.options.smacks_hibernation_secs,
            cert = self.tls.server_pem.display(),
            key = self.tls.server_key.display(),
            extra = self.options.extra_config,
        )
    }

    fn write_config(&self) -> Result<()> {
        fs::write(&self.conf, self.render_config())
            .with_context(|| format!("cannot write {}", self.conf.display()))?;
        // Public: it holds no secret (the TLS key is a separate, private file).
        chmod(&self.conf, 0o644)
    }

    /// A command for a Prosody program, run as the server's user.
    fn command(&self, program: &Path) -> Command {
        match (&self.run_as, &self.setpriv_bin) {
            (Some(r), Some(setpriv)) => {
                let mut c = Command::new(setpriv);
                c.arg(format!("--reuid={}", r.uid))
                    .arg(format!("--regid={}", r.gid))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(program);
                c.env("HOME", &self.run).env("USER", &r.user);
                c
            }
            _ => Command::new(program),
        }
    }

    fn lock_process(&self) -> Result<std::sync::MutexGuard<'_, Option<GroupChild>>> {
        self.process
            .lock()
            .map_err(|_| anyhow!("prosody process lock poisoned"))
    }

    fn spawn_and_wait(&self, slot: &mut Option<GroupChild>) -> Result<()> {
        ensure!(slot.is_none(), "prosody is already running");
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_log)
            .with_context(|| format!("cannot open {}", self.stderr_log.display()))?;
        let stdout = stderr.try_clone().context("cannot clone a file handle")?;
        let mut cmd = self.command(&self.prosody_bin);
        cmd.arg("--config")
            .arg(&self.conf)
            .arg("-F")
            .current_dir(&self.run)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let process = slot.insert(GroupChild::spawn(&mut cmd, "prosody")?);
        self.wait_ready(process)
    }

    fn wait_ready(&self, process: &mut GroupChild) -> Result<()> {
        let started = Instant::now();
        let ports = self.ports;
        let mut exited = None;
        let ready = wait_for(START_TIMEOUT, || {
            if let Some(status) = process.try_wait()? {
                exited = Some(status);
                return Ok(Some(false));
            }
            Ok((offers_starttls(ports.c2s) && accepts(ports.c2s_tls)).then_some(true))
        })?;
        match (ready, exited) {
            (Some(true), _) => Ok(()),
            (_, Some(status)) => bail!(
                "prosody exited during start-up with {status}\n{}",
                self.diagnostics()
            ),
            _ => bail!(
                "prosody did not accept XMPP connections on 127.0.0.1 ports {:?} within {:?}\n{}",
                ports,
                started.elapsed(),
                self.diagnostics()
            ),
        }
    }

    /// Tail of Prosody's log and its stderr, for error messages.
    pub fn diagnostics(&self) -> String {
        format!(
            "--- tail of {} ---\n{}\n--- tail of {} ---\n{}",
            self.log.display(),
            tail_file(&self.log, 40),
            self.stderr_log.display(),
            tail_file(&self.stderr_log, 20)
        )
    }

    /// Last `lines` lines of prosody.log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_file(&self.log, lines)
    }

    /// Creates a user (or changes the password) with `prosodyctl register`; works while the
    /// server runs.
    pub fn add_user(&self, name: &str, password: &str) -> Result<()> {
        ensure!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c)),
            "user name {name:?} must be non-empty lower-case ASCII letters, digits, '.', '_' or '-'"
        );
        let mut cmd = self.command(&self.prosodyctl_bin);
        cmd.arg("--config")
            .arg(&self.conf)
            .args(["register", name, DOMAIN, password])
            .current_dir(&self.run);
        run_checked(&mut cmd, "prosodyctl register")?;
        Ok(())
    }

    /// Stops the server (SIGTERM, SIGKILL after 5 s). Data stays; [`Prosody::restart`] brings
    /// it back on the same ports. Connected clients see the stream end (system-shutdown).
    pub fn stop(&self) -> Result<()> {
        let mut slot = self.lock_process()?;
        self.stop_locked(&mut slot)
    }

    fn stop_locked(&self, slot: &mut Option<GroupChild>) -> Result<()> {
        if let Some(mut p) = slot.take() {
            p.terminate(STOP_GRACE);
        }
        let ports = self.ports;
        let closed = wait_for(Duration::from_secs(5), || {
            Ok((!accepts(ports.c2s) && !accepts(ports.c2s_tls)).then_some(()))
        })?;
        ensure!(
            closed.is_some(),
            "prosody was stopped but its ports still accept connections"
        );
        Ok(())
    }

    /// Starts the server again on the same ports (stopping it first if it runs).
    pub fn restart(&self) -> Result<()> {
        let mut slot = self.lock_process()?;
        if slot.is_some() {
            self.stop_locked(&mut slot)?;
        }
        let mut last = None;
        for _ in 0..10 {
            match self.spawn_and_wait(&mut slot) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if let Some(mut p) = slot.take() {
                        p.terminate(STOP_GRACE);
                    }
                    let log = self.log_tail(20);
                    if !(log.contains("Address already in use") || log.contains("Failed to open")) {
                        return Err(e.context("cannot restart prosody"));
                    }
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        Err(last
            .unwrap_or_else(|| anyhow!("prosody did not restart"))
            .context("cannot restart prosody on the same ports"))
    }

    /// Whether the server process is running.
    pub fn is_running(&self) -> bool {
        let Ok(mut slot) = self.process.lock() else {
            return false;
        };
        match slot.as_mut() {
            Some(p) => matches!(p.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Always "127.0.0.1".
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }
    pub fn ports(&self) -> XmppPorts {
        self.ports
    }
    /// The XMPP domain, `localhost`.
    pub fn domain(&self) -> &'static str {
        DOMAIN
    }
    /// `user@localhost`.
    pub fn jid(&self, user: &str) -> String {
        format!("{user}@{DOMAIN}")
    }
    /// The password of a user created at start.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.options
            .users
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, p)| p.as_str())
    }
    /// The instance's temp dir.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn conf_path(&self) -> &Path {
        &self.conf
    }
    pub fn log_path(&self) -> &Path {
        &self.log
    }
    pub fn tls(&self) -> &TlsMaterial {
        &self.tls
    }
    /// Lower-case hex SHA-256 of the server certificate (what a pinning client computes).
    pub fn cert_sha256(&self) -> &str {
        &self.tls.cert_sha256
    }
    /// The CA that signed the server certificate; `SSL_CERT_FILE` makes clients trust it.
    pub fn ca_pem_path(&self) -> &Path {
        &self.tls.ca_pem
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "[harness] prosody at {}:\n{}",
                self.dir.path().display(),
                self.diagnostics()
            );
        }
        if let Ok(mut slot) = self.process.lock() {
            if let Some(mut p) = slot.take() {
                p.terminate(STOP_GRACE);
            }
        }
    }
}

fn lookup_ids(user: &str) -> Result<(u32, u32)> {
    let uid = run_checked(Command::new("id").args(["-u", user]), "id -u")?;
    let gid = run_checked(Command::new("id").args(["-g", user]), "id -g")?;
    let parse = |b: &[u8]| -> Result<u32> {
        String::from_utf8_lossy(b)
            .trim()
            .parse()
            .with_context(|| format!("cannot parse the id of user {user}"))
    };
    Ok((parse(&uid.stdout)?, parse(&gid.stdout)?))
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .with_context(|| format!("cannot chown {}", path.display()))?;
    if path.is_dir() {
        for entry in
            fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))?
        {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Opens a stream on the plain c2s port and checks that the server offers STARTTLS: proof that
/// Prosody itself, fully started, answers there.
fn offers_starttls(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let header = format!(
        "<?xml version='1.0'?><stream:stream to='{DOMAIN}' version='1.0' \
         xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    );
    if s.write_all(header.as_bytes()).is_err() {
        return false;
    }
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                seen.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&seen).contains("urn:ietf:params:xml:ns:xmpp-tls") {
                    let _ = s.write_all(b"</stream:stream>");
                    return true;
                }
            }
        }
    }
    false
}
