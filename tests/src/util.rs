//! Small process, file and port helpers shared by the harness modules.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// Environment variable that keeps every harness temp dir after the test (for debugging).
pub const KEEP_ENV: &str = "SWITCHBOARD_TEST_KEEP";

/// Makes a fresh temp dir with a recognisable prefix. Kept on disk when `SWITCHBOARD_TEST_KEEP=1`.
pub fn temp_dir(prefix: &str) -> Result<tempfile::TempDir> {
    let keep = std::env::var_os(KEEP_ENV).is_some_and(|v| !v.is_empty() && v != "0");
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .disable_cleanup(keep)
        .tempdir()
        .with_context(|| format!("cannot create a temp dir with prefix {prefix}"))?;
    if keep {
        eprintln!("[harness] keeping {}", dir.path().display());
    }
    Ok(dir)
}

/// True when the test process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Effective uid and gid of this process.
pub fn current_ids() -> (u32, u32) {
    // SAFETY: geteuid/getegid have no preconditions and cannot fail.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// Name of the current effective user, from `id -un`.
pub fn current_user_name() -> Result<String> {
    let out = run_checked(Command::new("id").arg("-un"), "id -un")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Finds an executable in PATH, then in the sbin directories (dovecot lives in /usr/sbin, which is
/// not in a normal user's PATH). Fails with a message that says how to install it.
pub fn find_program(name: &str, package_hint: &str) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for extra in ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(extra));
    }
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "required program `{name}` was not found in PATH or the sbin directories; \
         it comes from the Debian package(s) {package_hint}: run `scripts/install-deps.sh test`"
    )
}

/// Renders a command line for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(char::is_whitespace) {
            s.push_str(&format!("{a:?}"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Formats a finished process for error messages (status, stdout and stderr).
pub fn format_output(cmd_line: &str, out: &Output) -> String {
    format!(
        "`{cmd_line}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        truncate_for_display(&out.stdout),
        truncate_for_display(&out.stderr)
    )
}

fn truncate_for_display(bytes: &[u8]) -> String {
    const MAX: usize = 16 * 1024;
    let s = String::from_utf8_lossy(bytes);
    if s.len() > MAX {
        let mut cut = s.len() - MAX;
        while !s.is_char_boundary(cut) {
            cut += 1;
        }
        format!("[... {cut} bytes cut ...]{}", &s[cut..])
    } else {
        s.into_owned()
    }
}

/// Runs a command to completion with stdin closed; errors (with its output) when it fails.
pub fn run_checked(cmd: &mut Command, what: &str) -> Result<Output> {
    cmd.stdin(Stdio::null());
    let line = describe(cmd);
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {what}: `{line}`"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", format_output(&line, &out));
    }
    Ok(out)
}

/// Runs a command feeding `input` on stdin; errors (with its output) when it fails.
pub fn run_checked_stdin(cmd: &mut Command, input: &[u8], what: &str) -> Result<Output> {
    let line = describe(cmd);
    let out = run_with_stdin(cmd, input).with_context(|| format!("cannot run {what}: `{line}`"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", format_output(&line, &out));
    }
    Ok(out)
}

/// Runs a command feeding `input` on stdin from a separate thread (so a child that writes a lot
/// before reading everything cannot deadlock us). Does not check the exit status.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Result<Output> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("cannot spawn")?;
    let mut stdin = child.stdin.take().context("child has no stdin pipe")?;
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        use std::io::Write;
        // A child that exits without reading everything closes the pipe: not our error to report.
        let r = stdin.write_all(&input);
        drop(stdin);
        match r {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    });
    let out = child.wait_with_output().context("cannot wait for child")?;
    writer
        .join()
        .map_err(|_| anyhow!("stdin writer thread panicked"))?
        .context("cannot write the child's stdin")?;
    Ok(out)
}

/// Last `lines` lines of a (possibly large, possibly missing) text file.
pub fn tail_file(path: &Path, lines: usize) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return format!("({} does not exist)", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(64 * 1024);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn reserved_ports() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Picks `n` distinct free TCP ports on 127.0.0.1.
///
/// The kernel hands out each one (bind to port 0); they are also remembered for the life of the
/// process so that two servers started by parallel tests in this process never get the same port.
/// A port can still be taken by another process between this call and the server's bind; callers
/// retry their start when the server reports "Address already in use".
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let mut listeners = Vec::with_capacity(n);
    let mut ports = Vec::with_capacity(n);
    let mut reserved = reserved_ports()
        .lock()
        .map_err(|_| anyhow!("port registry poisoned"))?;
    let mut attempts = 0;
    while ports.len() < n {
        attempts += 1;
        if attempts > 1000 {
            bail!("cannot find {n} free ports on 127.0.0.1");
        }
        let l = TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
        let port = l.local_addr().context("cannot read local address")?.port();
        if reserved.insert(port) {
            ports.push(port);
        }
        // Keep every listener open until all are chosen so the kernel cannot repeat a port.
        listeners.push(l);
    }
    Ok(ports)
}

/// A child process started in its own process group, so it and everything it forks can be
/// signalled at once.
#[derive(Debug)]
pub struct GroupChild {
    child: Child,
    name: String,
}

impl GroupChild {
    /// Spawns `cmd` as the leader of a new process group.
    pub fn spawn(cmd: &mut Command, name: &str) -> Result<Self> {
        cmd.process_group(0);
        let line = describe(cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {name}: `{line}`"))?;
        Ok(Self {
            child,
            name: name.to_string(),
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Exit status if the leader has exited.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .with_context(|| format!("cannot poll {}", self.name))
    }

    fn signal_group(&self, sig: libc::c_int) {
        let Ok(pgid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: plain kill(2) on our own child's process group; errors (ESRCH when the group
        // is already gone) are harmless and ignored.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }

    /// SIGTERM to the whole group, wait up to `grace`, then SIGKILL to the group. Idempotent.
    pub fn terminate(&mut self, grace: Duration) {
        if let Ok(Some(_)) = self.child.try_wait() {
            // The leader is gone, but members of its group may remain.
            self.signal_group(libc::SIGKILL);
            return;
        }
        let deadline = Instant::now() + grace;
        let mut tick = 0u32;
        while Instant::now() < deadline {
            // Repeat SIGTERM now and then: a server that is shutting down may still fork a
            // worker for a connection that was already queued, after the first signal went out,
            // and then wait for that worker (Dovecot does: its login processes die on SIGTERM
            // but nobody sends them one).
            if tick.is_multiple_of(5) {
                self.signal_group(libc::SIGTERM);
            }
            tick += 1;
            if let Ok(Some(_)) = self.child.try_wait() {
                // Give forked helpers a moment to follow their master, then make sure.
                thread::sleep(Duration::from_millis(20));
                self.signal_group(libc::SIGKILL);
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(5));
    }
}

/// Polls `f` every 25 ms until it returns `Ok(Some(v))`, errors, or `timeout` passes.
pub fn wait_for<T>(
    timeout: Duration,
    mut f: impl FnMut() -> Result<Option<T>>,
) -> Result<Option<T>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f()? {
            return Ok(Some(v));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(25));
    }
}

/// Writes a file atomically (temp file in the same directory, then rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    let name = path
        .file_name()
        .map(OsStr::to_string_lossy)
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    fs::write(&tmp, contents).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Sets Unix permission bits on a path.
pub fn chmod(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {:o} {}", mode, path.display()))
}

/// Splits a doveadm search query written as one string into arguments: words separated by
/// whitespace, with double quotes grouping words (`header Subject "two words"`).
pub fn split_query(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    let mut has_token = false;
    for c in query.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                has_token = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if has_token {
                    out.push(std::mem::take(&mut cur));
                    has_token = false;
                }
            }
            c => {
                cur.push(c);
                has_token = true;
            }
        }
    }
    if has_token {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_query_groups_quotes() {
        assert_eq!(
            split_query("header Message-ID <x@y>"),
            vec!["header", "Message-ID", "<x@y>"]
        );
        assert_eq!(
            split_query(r#"header Subject "two  words" ALL"#),
            vec!["header", "Subject", "two  words", "ALL"]
        );
        assert_eq!(
            split_query(r#"header Subject """#),
            vec!["header", "Subject", ""]
        );
    }

    #[test]
    fn missing_programs_fail_with_the_package_to_install() {
        let err = find_program("no-such-server-binary", "some-package").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("some-package"), "{msg}");
        assert!(msg.contains("scripts/install-deps.sh test"), "{msg}");
    }

    #[test]
    fn free_ports_are_distinct() {
        let a = free_ports(4).unwrap();
        let b = free_ports(4).unwrap();
        let all: HashSet<u16> = a.iter().chain(b.iter()).copied().collect();
        assert_eq!(all.len(), 8);
    }
}
