//! A private Secret Service for one test: its own D-Bus session bus and its own
//! gnome-keyring-daemon, with every file (bus socket, keyrings, runtime dir) inside a directory
//! the test owns.
//!
//! Isolation:
//! * the bus is a fresh `dbus-daemon` with a generated config that listens only on
//!   `DIR/bus` and has **no service directories**, so nothing can be D-Bus-activated on it
//!   (not the system's gnome-keyring, not a notification daemon) — only what we start;
//! * `gnome-keyring-daemon --foreground --unlock --components=secrets` runs with `HOME`,
//!   `XDG_DATA_HOME` (where `keyrings/login.keyring` is created) and `XDG_RUNTIME_DIR` (its control
//!   socket) inside `DIR`, and unlocks/creates a "login" keyring with a fixed password fed on
//!   stdin, which becomes the default collection;
//! * children get `DBUS_SESSION_BUS_ADDRESS` pointing at that bus (see [`KeyringSession::env`]).
//!   The real user's session bus and `~/.local/share/keyrings` are never touched.
//!
//! Works as root (checked on Debian 12 with gnome-keyring 42). Both daemons are killed on drop.

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};

use crate::util::{
    chmod, find_program, format_output, run_checked, run_with_stdin, tail_file, wait_for,
    GroupChild,
};

/// The password of the test "login" keyring.
pub const KEYRING_PASSWORD: &str = "switchboard-test-keyring";

/// A running private bus + gnome-keyring. See the module docs.
#[derive(Debug)]
pub struct KeyringSession {
    dir: PathBuf,
    bus_address: String,
    env: Vec<(String, String)>,
    // Field order matters for Drop: the keyring goes before the bus it is connected to.
    keyring: GroupChild,
    _bus: GroupChild,
}

impl KeyringSession {
    /// Starts a bus and a keyring daemon whose files all live under `dir` (created if needed):
    /// `dir/home`, `dir/xdg/{data,config,cache,state,runtime}`, `dir/bus`, logs in `dir/logs`.
    pub fn start(dir: &Path) -> Result<Self> {
        let dbus_daemon = find_program("dbus-daemon", "dbus")?;
        let gnome_keyring = find_program("gnome-keyring-daemon", "gnome-keyring")?;
        // secret-tool and dbus-send are needed to check the daemon is really serving.
        find_program("secret-tool", "libsecret-tools")?;
        find_program("dbus-send", "dbus (dbus-bin)")?;

        let dir = dir.to_path_buf();
        let layout = Layout::new(&dir);
        layout.create()?;

        let socket = dir.join("bus");
        let socket_str = socket.to_string_lossy().into_owned();
        ensure!(
            socket_str.len() < 100,
            "bus socket path {socket_str} is too long for a Unix socket; use a shorter TMPDIR"
        );
        let _ = fs::remove_file(&socket);
        let bus_conf = dir.join("dbus-session.conf");
        fs::write(&bus_conf, bus_config(&socket_str))
            .with_context(|| format!("cannot write {}", bus_conf.display()))?;
        let bus_address = format!("unix:path={socket_str}");

        let bus_log = layout.logs.join("dbus-daemon.log");
        let mut cmd = Command::new(dbus_daemon);
        cmd.arg(format!("--config-file={}", bus_conf.display()))
            .arg("--nofork")
            .arg("--nopidfile")
            .env_clear()
            .envs(layout.env())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(log_file(&bus_log)?)
            .stderr(log_file(&bus_log)?);
        let mut bus = GroupChild::spawn(&mut cmd, "dbus-daemon")?;
        let up = wait_for(Duration::from_secs(10), || {
            if let Some(status) = bus.try_wait()? {
                bail!(
                    "dbus-daemon exited with {status}:\n{}",
                    tail_file(&bus_log, 20)
                );
            }
            Ok(UnixStream::connect(&socket).ok().map(|_| ()))
        })?;
        ensure!(
            up.is_some(),
            "dbus-daemon did not create {socket_str} within 10 s:\n{}",
            tail_file(&bus_log, 20)
        );

        let mut env = layout.env();
        env.push(("DBUS_SESSION_BUS_ADDRESS".into(), bus_address.clone()));
        env.push((
            "GNOME_KEYRING_CONTROL".into(),
            layout
                .runtime
                .join("keyring")
                .to_string_lossy()
                .into_owned(),
        ));

        let keyring_log = layout.logs.join("gnome-keyring.log");
        let mut cmd = Command::new(gnome_keyring);
        cmd.args(["--foreground", "--unlock", "--components=secrets"])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::piped())
            .stdout(log_file(&keyring_log)?)
            .stderr(log_file(&keyring_log)?);
        let mut keyring = GroupChild::spawn(&mut cmd, "gnome-keyring-daemon")?;
        {
            use std::io::Write;
            // --unlock reads the password up to EOF. An empty password creates no keyring, so
            // a fixed non-empty one is used.
            let mut stdin = keyring
                .child_mut()
                .stdin
                .take()
                .context("gnome-keyring-daemon has no stdin pipe")?;
            stdin
                .write_all(KEYRING_PASSWORD.as_bytes())
                .context("cannot send the keyring password")?;
        }

        let session = Self {
            dir,
            bus_address,
            env,
            keyring,
            _bus: bus,
        };
        session.wait_ready(&keyring_log)?;
        Ok(session)
    }

    fn wait_ready(&self, keyring_log: &Path) -> Result<()> {
        // 1. the daemon owns org.freedesktop.secrets on our bus;
        let owned = wait_for(Duration::from_secs(15), || {
            let mut cmd = Command::new("dbus-send");
            self.apply(&mut cmd).args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ]);
            let out = cmd.output().context("cannot run dbus-send")?;
            Ok(String::from_utf8_lossy(&out.stdout)
                .contains("boolean true")
                .then_some(()))
        })?;
        ensure!(
            owned.is_some(),
            "gnome-keyring-daemon did not take org.freedesktop.secrets on the private bus \
             within 15 s:\n{}",
            tail_file(keyring_log, 30)
        );
        // 2. a secret can really be stored in the default collection and read back.
        let attrs = [("switchboard-harness", "canary")];
        let mut last = String::new();
        let ok = wait_for(Duration::from_secs(10), || {
            match self.store_secret("harness canary", &attrs, "canary-value") {
                Ok(()) => {}
                Err(e) => {
                    last = format!("{e:#}");
                    return Ok(None);
                }
            }
            Ok((self.lookup_secret(&attrs)?.as_deref() == Some("canary-value")).then_some(()))
        })?;
        ensure!(
            ok.is_some(),
            "the private keyring does not store secrets: {last}\n{}",
            tail_file(keyring_log, 30)
        );
        self.clear_secret(&attrs)?;
        Ok(())
    }

    /// Environment for child processes: `DBUS_SESSION_BUS_ADDRESS`, `GNOME_KEYRING_CONTROL`, and
    /// `HOME` / `XDG_*_HOME` / `XDG_RUNTIME_DIR` inside the session dir.
    pub fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    /// Sets [`KeyringSession::env`] on `cmd` (and removes `DISPLAY`/`WAYLAND_DISPLAY`, so nothing
    /// reaches for a desktop session). Returns `cmd` for chaining.
    pub fn apply<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The private bus address (`unix:path=DIR/bus`).
    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    /// The session dir given to [`KeyringSession::start`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the keyring files are (`XDG_DATA_HOME/keyrings`).
    pub fn keyrings_dir(&self) -> PathBuf {
        Layout::new(&self.dir).data.join("keyrings")
    }

    /// PID of the gnome-keyring-daemon (e.g. to kill it in a "keyring went away" test).
    pub fn keyring_pid(&self) -> u32 {
        self.keyring.id()
    }

    /// `secret-tool store --label LABEL ATTR VALUE...` with `secret` on stdin.
    pub fn store_secret(&self, label: &str, attrs: &[(&str, &str)], secret: &str) -> Result<()> {
        let mut cmd = Command::new("secret-tool");
        self.apply(&mut cmd).args(["store", "--label", label]);
        for (k, v) in attrs {
            cmd.args([k, v]);
        }
        let out = run_with_stdin(&mut cmd, secret.as_bytes()).context("cannot run secret-tool")?;
        ensure!(
            out.status.success(),
            "secret-tool store failed: {}",
            format_output("secret-tool store", &out)
        );
        Ok(())
    }

    /// `secret-tool lookup ATTR VALUE...`: `Ok(None)` when no item matches.
    pub fn lookup_secret(&self, attrs: &[(&str, &str)]) -> Result<Option<String>> {
        let mut cmd = Command::new("secret-tool");
        self.apply(&mut cmd).arg("lookup");
        for (k, v) in attrs {
            cmd.args([k, v]);
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .context("cannot run secret-tool")?;
        if out.status.success() {
            return Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()));
        }
        // secret-tool exits 1 with empty stderr when nothing matches; anything on stderr is an error.
        ensure!(
            out.stderr.is_empty(),
            "secret-tool lookup failed: {}",
            format_output("secret-tool lookup", &out)
        );
        Ok(None)
    }

    /// `secret-tool clear ATTR VALUE...`.
    pub fn clear_secret(&self, attrs: &[(&str, &str)]) -> Result<()> {
        let mut cmd = Command::new("secret-tool");
        self.apply(&mut cmd).arg("clear");
        for (k, v) in attrs {
            cmd.args([k, v]);
        }
        run_checked(&mut cmd, "secret-tool clear").map(drop)
    }

    /// Every item's attributes and label, as printed by `secret-tool search --all` (for tests that
    /// check what the app stored, and that no secret leaked elsewhere).
    pub fn search_all(&self, attrs: &[(&str, &str)]) -> Result<String> {
        let mut cmd = Command::new("secret-tool");
        self.apply(&mut cmd).args(["search", "--all", "--unlock"]);
        for (k, v) in attrs {
            cmd.args([k, v]);
        }
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .context("cannot run secret-tool")?;
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        s.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok(s)
    }
}

/// Directory layout of a session (shared with the Switchboard runner, which uses the same HOME
/// and XDG dirs for the app as for the keyring daemon).
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub home: PathBuf,
    pub data: PathBuf,
    pub config: PathBuf,
    pub cache: PathBuf,
    pub state: PathBuf,
    pub runtime: PathBuf,
    pub logs: PathBuf,
}

impl Layout {
    pub fn new(dir: &Path) -> Self {
        let xdg = dir.join("xdg");
        Self {
            home: dir.join("home"),
            data: xdg.join("data"),
            config: xdg.join("config"),
            cache: xdg.join("cache"),
            state: xdg.join("state"),
            runtime: xdg.join("runtime"),
            logs: dir.join("logs"),
        }
    }

    pub fn create(&self) -> Result<()> {
        for d in [
            &self.home,
            &self.data,
            &self.config,
            &self.cache,
            &self.state,
            &self.runtime,
            &self.logs,
        ] {
            fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        // XDG_RUNTIME_DIR must be private to its owner (spec), gnome-keyring checks it.
        chmod(&self.runtime, 0o700)
    }

    pub fn env(&self) -> Vec<(String, String)> {
        let s = |p: &PathBuf| p.to_string_lossy().into_owned();
        vec![
            ("HOME".into(), s(&self.home)),
            ("XDG_DATA_HOME".into(), s(&self.data)),
            ("XDG_CONFIG_HOME".into(), s(&self.config)),
            ("XDG_CACHE_HOME".into(), s(&self.cache)),
            ("XDG_STATE_HOME".into(), s(&self.state)),
            ("XDG_RUNTIME_DIR".into(), s(&self.runtime)),
        ]
    }
}

fn log_file(path: &Path) -> Result<fs::File> {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

fn bus_config(socket: &str) -> String {
    // Like /usr/share/dbus-1/session.conf, minus <standard_session_servicedirs/> and includes:
    // nothing is auto-activated on this bus.
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#
    )
}
