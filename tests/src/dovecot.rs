//! A private Dovecot 2.3 (IMAP + POP3) on 127.0.0.1, one per test.
//!
//! Everything lives in one temp dir: the config, `base_dir` (sockets, pid file), `state_dir`, the
//! log, the TLS material, the passwd-file for users, and the users' Maildirs. Four listeners on
//! free loopback ports: IMAP (STARTTLS offered), IMAPS (implicit TLS), POP3 (STLS offered) and
//! POP3S (implicit TLS). Plaintext LOGIN/USER+PASS is allowed on the plain ports.
//!
//! Mail is manipulated behind the clients' backs with `doveadm -c CONF`, which works while the
//! server runs (it goes through the server's auth socket for user lookups, so it needs the server
//! running, except [`Dovecot::deliver_many`] which writes Maildir files directly).
//!
//! Users and permissions: Dovecot refuses to give mail access to uid 0 (`Mail access not allowed
//! for root` from imap/pop3, and passwd-file/userdb reject uid 0 outright), and its login
//! processes refuse to run as root. So when the tests run as root, mail belongs to `nobody` (the
//! Maildirs are chowned to it), login processes run as `dovenull` (or `nobody`), and the master,
//! auth and config processes stay root so that the config, TLS key and passwd-file can remain
//! root-only. As a normal user everything runs as that user.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};

use crate::tls::{CertKind, TlsMaterial};
use crate::util::{
    self, chmod, find_program, run_checked, run_checked_stdin, split_query, tail_file, wait_for,
    write_atomic, GroupChild,
};

/// How long [`Dovecot::start`] waits for the listeners before giving up.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping Dovecot gets after SIGTERM before its process group gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Loopback ports of one Dovecot instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// IMAP, plaintext with STARTTLS available (RFC 3501 port 143 equivalent).
    pub imap: u16,
    /// IMAP over implicit TLS (port 993 equivalent).
    pub imaps: u16,
    /// POP3, plaintext with STLS available (port 110 equivalent).
    pub pop3: u16,
    /// POP3 over implicit TLS (port 995 equivalent).
    pub pop3s: u16,
}

/// Options for [`Dovecot::start_with`].
#[derive(Debug, Clone, Default)]
pub struct DovecotOptions {
    /// Which server certificate to present (valid, expired, wrong host name).
    pub cert: CertKind,
    /// Extra lines appended verbatim to the generated dovecot.conf (later settings win).
    pub extra_config: String,
}

/// Counters from `doveadm mailbox status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxStatus {
    pub messages: u32,
    pub unseen: u32,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: u64,
}

/// Who owns the mail on disk and who the login processes run as.
#[derive(Debug, Clone)]
struct Identity {
    /// Owner of Maildirs (uid, gid); files written by the harness are chowned to it when root.
    mail_uid: u32,
    mail_gid: u32,
    /// default_internal_user / default_internal_group (master-side services).
    internal_user: String,
    internal_group: String,
    /// default_login_user (imap-login, pop3-login).
    login_user: String,
    /// Whether files we write must be chowned to the mail owner.
    chown: bool,
}

impl Identity {
    fn detect() -> Result<Self> {
        if util::is_root() {
            let (uid, gid) = lookup_ids("nobody")
                .context("running as root, mail must belong to an unprivileged user")?;
            let login_user = if lookup_ids("dovenull").is_ok() {
                "dovenull"
            } else {
                "nobody"
            };
            Ok(Self {
                mail_uid: uid,
                mail_gid: gid,
                internal_user: "root".into(),
                internal_group: "root".into(),
                login_user: login_user.into(),
                chown: true,
            })
        } else {
            let (uid, gid) = util::current_ids();
            let user = util::current_user_name()?;
            let group = {
                let out = run_checked(Command::new("id").arg("-gn"), "id -gn")?;
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            };
            Ok(Self {
                mail_uid: uid,
                mail_gid: gid,
                internal_user: user.clone(),
                internal_group: group,
                login_user: user,
                chown: false,
            })
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

/// A running (or stopped, see [`Dovecot::stop`]) private Dovecot. Killed with its children on drop.
pub struct Dovecot {
    dir: tempfile::TempDir,
    conf: PathBuf,
    log: PathBuf,
    stderr_log: PathBuf,
    users_file: PathBuf,
    ports: Ports,
    tls: TlsMaterial,
    identity: Identity,
    dovecot_bin: PathBuf,
    doveadm_bin: PathBuf,
    options: DovecotOptions,
    users: Mutex<Vec<(String, String)>>,
    users_mtime: Mutex<u64>,
    /// The running master (None while stopped). A mutex so that `stop`/`restart` take `&self`
    /// and a test can bring the server down while another thread talks to it.
    process: Mutex<Option<GroupChild>>,
    maildir_seq: AtomicU64,
}

impl std::fmt::Debug for Dovecot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dovecot")
            .field("dir", &self.dir.path())
            .field("ports", &self.ports)
            .field(
                "running",
                &self.process.try_lock().map(|p| p.is_some()).ok(),
            )
            .finish()
    }
}

impl Dovecot {
    /// Starts a Dovecot with a valid certificate and users alice/alice-pass and bob/bob-pass.
    pub fn start() -> Result<Self> {
        Self::start_with(DovecotOptions::default())
    }

    /// Like [`Dovecot::start`], but the server certificate expired on 2021-01-01.
    pub fn start_with_expired_cert() -> Result<Self> {
        Self::start_with(DovecotOptions {
            cert: CertKind::Expired,
            ..Default::default()
        })
    }

    /// Starts a Dovecot with the given options.
    pub fn start_with(options: DovecotOptions) -> Result<Self> {
        let dovecot_bin = find_program("dovecot", "dovecot-core dovecot-imapd dovecot-pop3d")?;
        let doveadm_bin = find_program("doveadm", "dovecot-core")?;
        for (proto, pkg) in [("imap", "dovecot-imapd"), ("pop3", "dovecot-pop3d")] {
            let p = Path::new("/usr/lib/dovecot").join(proto);
            ensure!(
                p.exists() || !Path::new("/usr/lib/dovecot").exists(),
                "{} is missing: install the Debian package {pkg} (scripts/install-deps.sh test)",
                p.display()
            );
        }
        let identity = Identity::detect()?;
        let dir = util::temp_dir("sb-dovecot-")?;
        let root = dir.path().to_path_buf();
        // The mail user must be able to traverse to its home; nothing else here is readable.
        chmod(&root, 0o711)?;
        for sub in ["run", "state"] {
            fs::create_dir_all(root.join(sub))
                .with_context(|| format!("cannot create {}", root.join(sub).display()))?;
        }
        fs::create_dir_all(root.join("home")).context("cannot create home dir")?;
        chmod(&root.join("home"), 0o711)?;
        let tls = TlsMaterial::generate(&root.join("tls"), options.cert)?;
        // The CA certificate is public; let any user read it (SSL_CERT_FILE for clients).
        chmod(&root.join("tls"), 0o711)?;
        chmod(&tls.ca_pem, 0o644)?;

        let mut me = Self {
            conf: root.join("dovecot.conf"),
            log: root.join("dovecot.log"),
            stderr_log: root.join("dovecot.stderr"),
            users_file: root.join("users"),
            dir,
            ports: Ports {
                imap: 0,
                imaps: 0,
                pop3: 0,
                pop3s: 0,
            },
            tls,
            identity,
            dovecot_bin,
            doveadm_bin,
            options,
            users: Mutex::new(Vec::new()),
            users_mtime: Mutex::new(0),
            process: Mutex::new(None),
            maildir_seq: AtomicU64::new(0),
        };
        me.add_user("alice", "alice-pass")?;
        me.add_user("bob", "bob-pass")?;

        // Another process may grab a port between our probe and Dovecot's bind: retry with new ones.
        let mut last_err = None;
        for _ in 0..5 {
            let p = util::free_ports(4)?;
            me.ports = Ports {
                imap: p[0],
                imaps: p[1],
                pop3: p[2],
                pop3s: p[3],
            };
            me.write_config()?;
            let mut slot = me.lock_process()?;
            let result = me.spawn_and_wait(&mut slot);
            drop(slot);
            match result {
                Ok(()) => return Ok(me),
                Err(e) => {
                    let in_use = tail_file(&me.log, 50).contains("Address already in use")
                        || tail_file(&me.stderr_log, 50).contains("Address already in use");
                    if let Some(mut p) = me.lock_process()?.take() {
                        p.terminate(STOP_GRACE);
                    }
                    if !in_use {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("dovecot did not start")))
            .context("dovecot kept losing its ports to other processes")
    }

    fn render_config(&self) -> String {
        let d = self.dir.path().display();
        let id = &self.identity;
        let p = self.ports;
        let tls = &self.tls;
        format!(
            r#"# Generated by switchboard-tests for one test; see tests/src/dovecot.rs.
base_dir = {d}/run
state_dir = {d}/state
instance_name = switchboard-test-{imap}
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
debug_log_path = {d}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
shutdown_clients = yes

default_internal_user = {iu}
default_internal_group = {ig}
default_login_user = {lu}
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}

# Tests log in with LOGIN / USER+PASS over the plain ports on loopback.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes

# LAYOUT=fs: INBOX is ~/Maildir itself, "Archive/2024" is ~/Maildir/Archive/2024, and '.' is an
# ordinary character in names. The hierarchy separator clients see is '/'.
mail_location = maildir:~/Maildir:LAYOUT=fs
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \Drafts
  }}
  mailbox Sent {{
    special_use = \Sent
  }}
  mailbox Trash {{
    special_use = \Trash
  }}
  mailbox Junk {{
    special_use = \Junk
  }}
  mailbox Archive {{
    special_use = \Archive
  }}
}}
mail_plugins =
mail_fsync = never

ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {d}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {d}/users
  override_fields = home={d}/home/%n
}}

# Dovecot slows down logins from an IP after failed ones (the auth penalty, kept by anvil, up to
# 15 s), which turns "wrong password, then the right one" tests into long waits. Moving anvil's
# penalty socket makes the auth process find none, and it then disables the penalty.
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    path = anvil-auth-penalty-disabled
  }}
}}
service ipc {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
}}
protocol imap {{
  mail_max_userip_connections = 1000
}}
protocol pop3 {{
  mail_max_userip_connections = 1000
}}
{extra}
"#,
            iu = id.internal_user,
            ig = id.internal_group,
            lu = id.login_user,
            uid = id.mail_uid,
            gid = id.mail_gid,
            cert = tls.server_pem.display(),
            key = tls.server_key.display(),
            imap = p.imap,
            imaps = p.imaps,
            pop3 = p.pop3,
            pop3s = p.pop3s,
            extra = self.options.extra_config,
        )
    }

    fn write_config(&self) -> Result<()> {
        fs::write(&self.conf, self.render_config())
            .with_context(|| format!("cannot write {}", self.conf.display()))?;
        chmod(&self.conf, 0o600)
    }

    fn lock_process(&self) -> Result<std::sync::MutexGuard<'_, Option<GroupChild>>> {
        self.process
            .lock()
            .map_err(|_| anyhow!("dovecot process lock poisoned"))
    }

    /// Starts the master into `slot` and waits for its listeners; on failure the (possibly
    /// still running) process is left in `slot` for the caller to terminate.
    fn spawn_and_wait(&self, slot: &mut Option<GroupChild>) -> Result<()> {
        ensure!(slot.is_none(), "dovecot is already running");
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.stderr_log)
            .with_context(|| format!("cannot open {}", self.stderr_log.display()))?;
        let stdout = stderr.try_clone().context("cannot clone a file handle")?;
        let mut cmd = Command::new(&self.dovecot_bin);
        cmd.arg("-F")
            .arg("-c")
            .arg(&self.conf)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let process = slot.insert(GroupChild::spawn(&mut cmd, "dovecot")?);
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
            let ok = greets(ports.imap, "* OK")
                && greets(ports.pop3, "+OK")
                && accepts(ports.imaps)
                && accepts(ports.pop3s);
            Ok(ok.then_some(true))
        })?;
        match (ready, exited) {
            (Some(true), _) => Ok(()),
            (_, Some(status)) => bail!(
                "dovecot exited during start-up with {status}\n{}",
                self.diagnostics()
            ),
            _ => bail!(
                "dovecot did not accept connections on 127.0.0.1 ports {:?} within {:?}\n{}",
                ports,
                started.elapsed(),
                self.diagnostics()
            ),
        }
    }

    /// Tail of Dovecot's log and its stderr, for error messages.
    pub fn diagnostics(&self) -> String {
        format!(
            "--- tail of {} ---\n{}\n--- tail of {} ---\n{}",
            self.log.display(),
            tail_file(&self.log, 40),
            self.stderr_log.display(),
            tail_file(&self.stderr_log, 20)
        )
    }

    /// Last `lines` lines of dovecot.log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_file(&self.log, lines)
    }

    /// Stops the server: SIGTERM to its process group (repeated, see [`GroupChild::terminate`]),
    /// SIGKILL to the group if it is not gone within 3 s. Takes ~0.1 s. The temp dir, users and
    /// mail stay; [`Dovecot::restart`] brings it back on the same ports.
    pub fn stop(&self) -> Result<()> {
        let mut slot = self.lock_process()?;
        self.stop_locked(&mut slot)
    }

    fn stop_locked(&self, slot: &mut Option<GroupChild>) -> Result<()> {
        if let Some(mut p) = slot.take() {
            p.terminate(STOP_GRACE);
        }
        // Make sure nothing answers any more before telling the test the server is down.
        let ports = self.ports;
        let closed = wait_for(Duration::from_secs(5), || {
            Ok((!accepts(ports.imap)
                && !accepts(ports.imaps)
                && !accepts(ports.pop3)
                && !accepts(ports.pop3s))
            .then_some(()))
        })?;
        ensure!(
            closed.is_some(),
            "dovecot was stopped but its ports still accept connections"
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
        // The ports were ours a moment ago; retry briefly if the kernel still holds them.
        for _ in 0..10 {
            match self.spawn_and_wait(&mut slot) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if let Some(mut p) = slot.take() {
                        p.terminate(STOP_GRACE);
                    }
                    if !self.log_tail(20).contains("Address already in use") {
                        return Err(e.context("cannot restart dovecot"));
                    }
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        Err(last
            .unwrap_or_else(|| anyhow!("dovecot did not restart"))
            .context("cannot restart dovecot on the same ports"))
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
    pub fn ports(&self) -> Ports {
        self.ports
    }
    pub fn imap_port(&self) -> u16 {
        self.ports.imap
    }
    pub fn imaps_port(&self) -> u16 {
        self.ports.imaps
    }
    pub fn pop3_port(&self) -> u16 {
        self.ports.pop3
    }
    pub fn pop3s_port(&self) -> u16 {
        self.ports.pop3s
    }
    /// The instance's temp dir (config, log, `tls/`, `home/<user>/Maildir`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn conf_path(&self) -> &Path {
        &self.conf
    }
    pub fn log_path(&self) -> &Path {
        &self.log
    }
    /// The generated TLS material (CA, server cert and key).
    pub fn tls(&self) -> &TlsMaterial {
        &self.tls
    }
    /// Lower-case hex SHA-256 of the server certificate's DER encoding (what a pinning client
    /// computes over the leaf certificate the server presents).
    pub fn cert_sha256(&self) -> &str {
        &self.tls.cert_sha256
    }
    /// The PEM file of the CA that signed the server certificate; set `SSL_CERT_FILE` to it to
    /// make rustls-native-certs (and OpenSSL) trust the server.
    pub fn ca_pem_path(&self) -> &Path {
        &self.tls.ca_pem
    }
    /// The home directory of `user` (its Maildir is `home/Maildir`).
    pub fn user_home(&self, user: &str) -> PathBuf {
        self.dir.path().join("home").join(user)
    }

    /// Adds (or changes the password of) a user. Dovecot re-reads the passwd-file when it
    /// changes, so this takes effect without a restart.
    pub fn add_user(&self, name: &str, password: &str) -> Result<()> {
        ensure!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "user name {name:?} must be non-empty ASCII letters, digits, '.', '_' or '-'"
        );
        ensure!(
            !password.contains([':', '\n', '\r']),
            "a password for the passwd-file must not contain ':' or line breaks"
        );
        let home = self.user_home(name);
        if !home.exists() {
            fs::create_dir_all(&home)
                .with_context(|| format!("cannot create {}", home.display()))?;
            chmod(&home, 0o700)?;
            self.chown(&home)?;
        }
        let mut users = self
            .users
            .lock()
            .map_err(|_| anyhow!("users lock poisoned"))?;
        users.retain(|(n, _)| n != name);
        users.push((name.to_string(), password.to_string()));
        let mut text = String::new();
        for (n, p) in users.iter() {
            // user:password:uid:gid:gecos:home:shell:extra — uid/gid come from mail_uid/mail_gid
            // (passwd-file rejects uid 0), home from userdb override_fields.
            text.push_str(&format!("{n}:{{PLAIN}}{p}::::::\n"));
        }
        write_atomic(&self.users_file, text.as_bytes())?;
        chmod(&self.users_file, 0o600)?;
        // Dovecot's passwd-file driver stats the file at most once per second and reloads it
        // when mtime or size changed. Give every version a distinct, increasing mtime so that
        // two edits within one second are never mistaken for one.
        let mut last = self
            .users_mtime
            .lock()
            .map_err(|_| anyhow!("users mtime lock poisoned"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let stamp = now.max(*last + 1);
        *last = stamp;
        fs::File::options()
            .write(true)
            .open(&self.users_file)
            .and_then(|f| f.set_modified(UNIX_EPOCH + Duration::from_secs(stamp)))
            .with_context(|| format!("cannot set the mtime of {}", self.users_file.display()))?;
        drop(last);
        drop(users);
        if self.is_running() {
            // Wait until the running auth process has picked the change up (within ~1 s).
            self.wait_for_auth(name, password)?;
        }
        Ok(())
    }

    /// Polls `doveadm auth test` until `user` can log in with `password` (up to 5 s).
    fn wait_for_auth(&self, user: &str, password: &str) -> Result<()> {
        let mut last = String::new();
        let ok = wait_for(Duration::from_secs(5), || {
            let out = Command::new(&self.doveadm_bin)
                .arg("-c")
                .arg(&self.conf)
                .args(["auth", "test", "-x", "service=imap", user, password])
                .stdin(Stdio::null())
                .output()
                .context("cannot run doveadm auth test")?;
            last = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            Ok(out.status.success().then_some(()))
        })?;
        ensure!(
            ok.is_some(),
            "the server did not accept the new credentials of {user} within 5 s: {last}\n{}",
            self.diagnostics()
        );
        Ok(())
    }

    fn chown(&self, path: &Path) -> Result<()> {
        if self.identity.chown {
            std::os::unix::fs::chown(
                path,
                Some(self.identity.mail_uid),
                Some(self.identity.mail_gid),
            )
            .with_context(|| format!("cannot chown {}", path.display()))?;
        }
        Ok(())
    }

    /// Runs `doveadm -c CONF ARGS...` and returns its stdout; errors with stdout and stderr.
    pub fn doveadm(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new(&self.doveadm_bin);
        cmd.arg("-c").arg(&self.conf).args(args);
        cmd.current_dir(self.dir.path());
        let out = run_checked(&mut cmd, "doveadm")
            .with_context(|| format!("doveadm {} (is the server running?)", args.join(" ")))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn doveadm_stdin(&self, args: &[&str], input: &[u8]) -> Result<String> {
        let mut cmd = Command::new(&self.doveadm_bin);
        cmd.arg("-c").arg(&self.conf).args(args);
        cmd.current_dir(self.dir.path());
        let out = run_checked_stdin(&mut cmd, input, "doveadm")
            .with_context(|| format!("doveadm {}", args.join(" ")))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether `mailbox` exists for `user`.
    pub fn mailbox_exists(&self, user: &str, mailbox: &str) -> Result<bool> {
        let out = self.doveadm(&["mailbox", "list", "-u", user])?;
        Ok(out.lines().any(|l| l == mailbox))
    }

    /// Creates `mailbox` for `user` unless it exists (INBOX always exists).
    pub fn create_mailbox(&self, user: &str, mailbox: &str) -> Result<()> {
        if mailbox.eq_ignore_ascii_case("INBOX") || self.mailbox_exists(user, mailbox)? {
            return Ok(());
        }
        self.doveadm(&["mailbox", "create", "-u", user, mailbox])
            .map(drop)
            .with_context(|| format!("cannot create mailbox {mailbox} for {user}"))
    }

    /// Appends one raw RFC 5322 message to `mailbox` (created if missing) with `doveadm save`.
    pub fn deliver(&self, user: &str, mailbox: &str, raw: &[u8]) -> Result<()> {
        self.create_mailbox(user, mailbox)?;
        self.doveadm_stdin(&["save", "-u", user, "-m", mailbox], raw)
            .map(drop)
            .with_context(|| format!("cannot deliver a message to {user}/{mailbox}"))
    }

    /// Fast path for many messages: writes Maildir files straight into `mailbox`'s `new/`
    /// (tmp/ then rename, as a delivery agent would), then has Dovecot sync the folder once so
    /// UIDs are assigned in the order given. Returns how many were written.
    pub fn deliver_many<I, M>(&self, user: &str, mailbox: &str, messages: I) -> Result<usize>
    where
        I: IntoIterator<Item = M>,
        M: AsRef<[u8]>,
    {
        self.create_mailbox(user, mailbox)?;
        // Opening the mailbox makes Dovecot create the Maildir (cur/new/tmp) if it is new.
        self.status(user, mailbox)?;
        let path = self
            .doveadm(&["mailbox", "path", "-u", user, mailbox])?
            .trim()
            .to_string();
        ensure!(!path.is_empty(), "doveadm mailbox path printed nothing");
        let maildir = PathBuf::from(path);
        let (tmp, new) = (maildir.join("tmp"), maildir.join("new"));
        ensure!(
            new.is_dir() && tmp.is_dir(),
            "{} is not a Maildir (no new/ or tmp/)",
            maildir.display()
        );
        let base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let pid = std::process::id();
        let mut n = 0usize;
        for msg in messages {
            let msg = msg.as_ref();
            // Dovecot sorts new files by the time in their name (secs, then .M<usecs>) before it
            // assigns UIDs, so a strictly increasing fake time keeps the caller's order.
            let seq = self.maildir_seq.fetch_add(1, Ordering::Relaxed);
            let name = format!(
                "{}.M{}P{pid}Q{seq}.switchboard-tests,S={}",
                base + seq / 1_000_000,
                seq % 1_000_000,
                msg.len()
            );
            let t = tmp.join(&name);
            fs::write(&t, msg).with_context(|| format!("cannot write {}", t.display()))?;
            self.chown(&t)?;
            fs::rename(&t, new.join(&name))
                .with_context(|| format!("cannot move {name} into new/"))?;
            n += 1;
        }
        // One sync picks them all up (and assigns UIDs) so later doveadm/IMAP calls see them.
        self.doveadm(&["force-resync", "-u", user, mailbox])
            .with_context(|| format!("cannot resync {user}/{mailbox} after writing {n} files"))?;
        Ok(n)
    }

    /// Expunges the messages of `mailbox` matching a doveadm search query, e.g.
    /// `header Message-ID <x@y>` (double quotes group words). Returns how many went away.
    pub fn expunge(&self, user: &str, mailbox: &str, query: &str) -> Result<usize> {
        let before = self.count(user, mailbox)?;
        let q = split_query(query);
        let mut args = vec!["expunge", "-u", user, "mailbox", mailbox];
        args.extend(q.iter().map(String::as_str));
        self.doveadm(&args)?;
        let after = self.count(user, mailbox)?;
        Ok(before.saturating_sub(after))
    }

    /// Adds flags (space-separated, e.g. `\Seen \Flagged`) to the messages matching `query`.
    pub fn set_flags(&self, user: &str, mailbox: &str, query: &str, flags: &str) -> Result<()> {
        self.flags("add", user, mailbox, query, flags)
    }

    /// Removes flags from the messages matching `query`.
    pub fn remove_flags(&self, user: &str, mailbox: &str, query: &str, flags: &str) -> Result<()> {
        self.flags("remove", user, mailbox, query, flags)
    }

    fn flags(&self, op: &str, user: &str, mailbox: &str, query: &str, flags: &str) -> Result<()> {
        let q = split_query(query);
        let mut args = vec!["flags", op, "-u", user, flags, "mailbox", mailbox];
        args.extend(q.iter().map(String::as_str));
        self.doveadm(&args).map(drop)
    }

    /// Flags of every message, by UID (system flags like `\Seen`, and keywords), sorted, without
    /// the session flag `\Recent`.
    pub fn flags_by_uid(&self, user: &str, mailbox: &str) -> Result<Vec<(u32, Vec<String>)>> {
        let rows = self.fetch_tab(user, mailbox, "uid flags", "ALL")?;
        rows.into_iter()
            .map(|r| {
                let uid = r
                    .first()
                    .context("missing uid column")?
                    .parse()
                    .context("bad uid")?;
                let mut flags: Vec<String> = r
                    .get(1)
                    .map(|f| {
                        f.split_whitespace()
                            .filter(|f| *f != "\\Recent")
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                flags.sort();
                Ok((uid, flags))
            })
            .collect()
    }

    /// `doveadm -f tab fetch FIELDS mailbox M QUERY`, rows split on tabs, header row dropped.
    fn fetch_tab(
        &self,
        user: &str,
        mailbox: &str,
        fields: &str,
        query: &str,
    ) -> Result<Vec<Vec<String>>> {
        let q = split_query(query);
        let mut args = vec!["-f", "tab", "fetch", "-u", user, fields, "mailbox", mailbox];
        args.extend(q.iter().map(String::as_str));
        let out = self.doveadm(&args)?;
        Ok(out
            .lines()
            .skip(1)
            .filter(|l| !l.is_empty())
            .map(|l| l.split('\t').map(str::to_string).collect())
            .collect())
    }

    /// UIDs of all messages in `mailbox`, ascending.
    pub fn uids(&self, user: &str, mailbox: &str) -> Result<Vec<u32>> {
        let out = self.doveadm(&["search", "-u", user, "mailbox", mailbox, "ALL"])?;
        let mut uids = out
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .with_context(|| format!("unexpected doveadm search line {l:?}"))?
                    .parse::<u32>()
                    .with_context(|| format!("bad uid in {l:?}"))
            })
            .collect::<Result<Vec<u32>>>()?;
        uids.sort_unstable();
        Ok(uids)
    }

    /// Number of messages in `mailbox`.
    pub fn count(&self, user: &str, mailbox: &str) -> Result<usize> {
        Ok(self.status(user, mailbox)?.messages as usize)
    }

    /// messages / unseen / uidvalidity / uidnext / highestmodseq of `mailbox`.
    pub fn status(&self, user: &str, mailbox: &str) -> Result<MailboxStatus> {
        let out = self.doveadm(&[
            "-f",
            "tab",
            "mailbox",
            "status",
            "-u",
            user,
            "messages unseen uidvalidity uidnext highestmodseq",
            mailbox,
        ])?;
        let mut lines = out.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
        let values: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
        let get = |name: &str| -> Result<u64> {
            let i = header
                .iter()
                .position(|h| *h == name)
                .with_context(|| format!("doveadm mailbox status printed no {name}: {out:?}"))?;
            values
                .get(i)
                .with_context(|| format!("no value for {name} in {out:?}"))?
                .parse()
                .with_context(|| format!("bad {name} in {out:?}"))
        };
        Ok(MailboxStatus {
            messages: u32::try_from(get("messages")?)?,
            unseen: u32::try_from(get("unseen")?)?,
            uidvalidity: u32::try_from(get("uidvalidity")?)?,
            uidnext: u32::try_from(get("uidnext")?)?,
            highestmodseq: get("highestmodseq")?,
        })
    }

    /// The Message-ID header values present in `mailbox`, in UID order (messages without one
    /// are skipped; a shared ID appears once per message).
    pub fn message_ids(&self, user: &str, mailbox: &str) -> Result<Vec<String>> {
        let rows = self.fetch_tab(user, mailbox, "uid hdr.message-id", "ALL")?;
        let mut with_uid: Vec<(u32, String)> = rows
            .into_iter()
            .filter_map(|r| {
                let uid = r.first()?.parse().ok()?;
                let id = r.get(1)?.trim().to_string();
                (!id.is_empty()).then_some((uid, id))
            })
            .collect();
        with_uid.sort();
        Ok(with_uid.into_iter().map(|(_, id)| id).collect())
    }

    /// Makes `mailbox` look like a server that lost its UID state: every message gets a new
    /// UID (copied within the mailbox, originals expunged, flags kept) and the mailbox a new
    /// UIDVALIDITY. Returns the new UIDVALIDITY. POP3 UIDLs change too (they contain both).
    pub fn change_uidvalidity(&self, user: &str, mailbox: &str) -> Result<u32> {
        let before = self.status(user, mailbox)?;
        if before.messages > 0 {
            let range = format!("1:{}", before.uidnext.saturating_sub(1).max(1));
            self.doveadm(&[
                "copy", "-u", user, mailbox, "mailbox", mailbox, "uid", &range,
            ])
            .context("cannot copy the messages to renumber them")?;
            self.doveadm(&["expunge", "-u", user, "mailbox", mailbox, "uid", &range])
                .context("cannot expunge the old copies")?;
        }
        let new = match before.uidvalidity.wrapping_add(1) {
            0 => 1,
            v => v,
        };
        self.doveadm(&[
            "mailbox",
            "update",
            "-u",
            user,
            "--uid-validity",
            &new.to_string(),
            mailbox,
        ])
        .context("cannot set the new UIDVALIDITY")?;
        let after = self.status(user, mailbox)?;
        ensure!(
            after.uidvalidity == new && after.messages == before.messages,
            "UIDVALIDITY change did not take: before {before:?}, after {after:?}"
        );
        Ok(new)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "[harness] dovecot in {} at drop of a failing test:\n{}",
                self.dir.path().display(),
                self.diagnostics()
            );
        }
        let slot = match self.process.get_mut() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(mut p) = slot.take() {
            p.terminate(STOP_GRACE);
        }
    }
}

fn accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn greets(port: u16, prefix: &str) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    if s.set_read_timeout(Some(Duration::from_secs(3))).is_err() {
        return false;
    }
    let mut line = String::new();
    let mut r = BufReader::new(&s);
    let ok = r.read_line(&mut line).is_ok() && line.starts_with(prefix);
    let mut w = &s;
    let _ = w.write_all(if prefix.starts_with('*') {
        b"x LOGOUT\r\n"
    } else {
        b"QUIT\r\n"
    });
    ok
}
