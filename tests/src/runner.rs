//! Runs the `switchboard` CLI hermetically: its own data dir, HOME, XDG dirs and keyring.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use anyhow::{anyhow, bail, ensure, Context, Result};

use crate::keyring::{KeyringSession, Layout};
use crate::util::{self, describe, format_output};

/// Environment variable naming a prebuilt binary to test instead of building one.
pub const BIN_ENV: &str = "SWITCHBOARD_BIN";

/// The workspace root (the parent of this crate's manifest dir).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Path of the `switchboard` binary under test.
///
/// `SWITCHBOARD_BIN` wins (it must exist). Otherwise `cargo build -p switchboard-cli --bin
/// switchboard` runs once per test process and `<target>/debug/switchboard` is used; the build
/// is a no-op when the binary is fresh, and it means a test never runs a stale binary left over
/// from before the CLI's sources changed. A failed build fails every test that needs the binary,
/// with cargo's output.
pub fn switchboard_bin() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| locate_or_build().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("{e}"))
}

fn locate_or_build() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os(BIN_ENV) {
        let bin = PathBuf::from(bin);
        ensure!(
            bin.is_file(),
            "{BIN_ENV}={} does not name an existing file",
            bin.display()
        );
        return Ok(bin);
    }
    let root = workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_relative() { root.join(t) } else { t })
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("debug").join("switchboard");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root).args([
        "build",
        "--quiet",
        "-p",
        "switchboard-cli",
        "--bin",
        "switchboard",
    ]);
    let line = describe(&cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{line}`"))?;
    if !out.status.success() {
        bail!(
            "building the switchboard CLI failed, so tests that run it cannot proceed:\n{}",
            format_output(&line, &out)
        );
    }
    ensure!(
        bin.is_file(),
        "`{line}` succeeded but {} does not exist",
        bin.display()
    );
    Ok(bin)
}

/// One hermetic installation of the CLI: a temp dir holding its data dir, HOME and XDG dirs, and
/// a private keyring session. Every command it makes gets that environment and nothing of the
/// developer's (no RUST_LOG, no SSL_CERT_FILE, no SWITCHBOARD_* from outside, no DISPLAY).
#[derive(Debug)]
pub struct Switchboard {
    bin: PathBuf,
    dir: tempfile::TempDir,
    data_dir: PathBuf,
    keyring: KeyringSession,
    extra_env: BTreeMap<String, String>,
    spawned: AtomicUsize,
}

impl Switchboard {
    /// Makes the temp dir, starts its keyring session, and locates (or builds) the binary.
    pub fn new() -> Result<Self> {
        let bin = switchboard_bin()?;
        let dir = util::temp_dir("sb-run-")?;
        let data_dir = dir.path().join("data");
        fs::create_dir_all(&data_dir)
            .with_context(|| format!("cannot create {}", data_dir.display()))?;
        let keyring = KeyringSession::start(dir.path())?;
        Ok(Self {
            bin,
            dir,
            data_dir,
            keyring,
            extra_env: BTreeMap::new(),
            spawned: AtomicUsize::new(0),
        })
    }

    /// The temp dir (data/, home/, xdg/, logs/, bus).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `SWITCHBOARD_DATA_DIR` of this installation.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The binary under test.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The private keyring (to inspect what the app stored, or to kill it).
    pub fn keyring(&self) -> &KeyringSession {
        &self.keyring
    }

    /// Adds an environment variable to every later command, e.g.
    /// `sb.set_env("SSL_CERT_FILE", dovecot.ca_pem_path())` to trust the test CA.
    pub fn set_env(&mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.extra_env.insert(
            key.to_string(),
            value.as_ref().to_string_lossy().into_owned(),
        );
        self
    }

    /// Removes a variable added with [`Switchboard::set_env`].
    pub fn unset_env(&mut self, key: &str) -> &mut Self {
        self.extra_env.remove(key);
        self
    }

    /// A `Command` for `switchboard ARGS...` with the hermetic environment; stdin is null.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args).current_dir(self.dir.path());
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if k.starts_with("SWITCHBOARD_") || k.starts_with("XDG_") {
                cmd.env_remove(&key);
            }
        }
        for k in [
            "RUST_LOG",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "DBUS_SESSION_BUS_ADDRESS",
            "DISPLAY",
            "WAYLAND_DISPLAY",
        ] {
            cmd.env_remove(k);
        }
        self.keyring.apply(&mut cmd);
        cmd.envs(Layout::new(self.dir.path()).env())
            .env("SWITCHBOARD_DATA_DIR", &self.data_dir)
            .env("NO_COLOR", "1")
            .env("RUST_BACKTRACE", "1")
            .envs(&self.extra_env)
            .stdin(Stdio::null());
        cmd
    }

    /// The environment every command of this installation gets (data dir, HOME, XDG dirs,
    /// the private bus and keyring, variables added with [`Switchboard::set_env`]), for
    /// starting other programs in it, such as the desktop app.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.keyring.env();
        env.extend(Layout::new(self.dir.path()).env());
        env.push((
            "SWITCHBOARD_DATA_DIR".into(),
            self.data_dir.to_string_lossy().into_owned(),
        ));
        env.push(("NO_COLOR".into(), "1".into()));
        env.push(("RUST_BACKTRACE".into(), "1".into()));
        env.extend(self.extra_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// Runs to completion and returns the output; does not check the exit status.
    pub fn run(&self, args: &[&str]) -> Result<Output> {
        let mut cmd = self.cmd(args);
        let line = describe(&cmd);
        cmd.output().with_context(|| format!("cannot run `{line}`"))
    }

    /// Runs to completion; errors with stdout and stderr unless it exits 0. Returns stdout.
    pub fn run_ok(&self, args: &[&str]) -> Result<String> {
        let cmd = self.cmd(args);
        let line = describe(&cmd);
        let out = self.run(args)?;
        if !out.status.success() {
            bail!("{}", format_output(&line, &out));
        }
        String::from_utf8(out.stdout).with_context(|| format!("`{line}` printed non-UTF-8"))
    }

    /// [`Switchboard::run_ok`], then parses stdout as one JSON value.
    pub fn run_json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let out = self.run_ok(args)?;
        serde_json::from_str(&out).with_context(|| {
            format!(
                "`switchboard {}` did not print JSON:\n{out}",
                args.join(" ")
            )
        })
    }

    /// Runs with `stdin` fed to the process (e.g. a password); does not check the exit status.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Result<Output> {
        let mut cmd = self.cmd(args);
        let line = describe(&cmd);
        util::run_with_stdin(&mut cmd, stdin).with_context(|| format!("cannot run `{line}`"))
    }

    /// [`Switchboard::run_with_stdin`], then errors with stdout and stderr unless it exits 0.
    /// Returns stdout.
    pub fn run_with_stdin_ok(&self, args: &[&str], stdin: &[u8]) -> Result<String> {
        let line = describe(&self.cmd(args));
        let out = self.run_with_stdin(args, stdin)?;
        if !out.status.success() {
            bail!("{}", format_output(&line, &out));
        }
        String::from_utf8(out.stdout).with_context(|| format!("`{line}` printed non-UTF-8"))
    }

    /// Starts the CLI in the background (e.g. to `kill -9` it mid-sync). stdin is null; stdout
    /// and stderr go to `logs/spawn-N.stdout` / `.stderr` in [`Switchboard::dir`] (see
    /// [`Switchboard::spawn_logs`]) so a chatty child can never block on a full pipe.
    pub fn spawn(&self, args: &[&str]) -> Result<Child> {
        let n = self.spawned.fetch_add(1, Ordering::Relaxed);
        let (out_path, err_path) = self.spawn_logs(n);
        let logs = self.dir.path().join("logs");
        fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
        let out = fs::File::create(&out_path)
            .with_context(|| format!("cannot create {}", out_path.display()))?;
        let err = fs::File::create(&err_path)
            .with_context(|| format!("cannot create {}", err_path.display()))?;
        let mut cmd = self.cmd(args);
        let line = describe(&cmd);
        cmd.stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot spawn `{line}`"))
    }

    /// Paths of the stdout and stderr files of the `n`-th [`Switchboard::spawn`] (from 0).
    pub fn spawn_logs(&self, n: usize) -> (PathBuf, PathBuf) {
        let logs = self.dir.path().join("logs");
        (
            logs.join(format!("spawn-{n}.stdout")),
            logs.join(format!("spawn-{n}.stderr")),
        )
    }
}
