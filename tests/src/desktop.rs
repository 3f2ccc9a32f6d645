//! The desktop app under test: a virtual display ([`Xvfb`]), WebDriver ([`WebDriver`]:
//! tauri-driver in front of Debian's WebKitWebDriver) and a notification daemon ([`Dunst`]),
//! all private to one test. The app runs with a [`crate::Switchboard`]'s environment (its data
//! dir, HOME, XDG dirs and its private D-Bus with gnome-keyring), plus `DISPLAY`.
//!
//! Missing pieces are errors naming what installs them (`scripts/install-deps.sh test`,
//! `scripts/install-desktop-tools.sh`), never a skip.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::http;
use crate::runner::workspace_root;
use crate::util::{
    describe, find_program, format_output, free_ports, tail_file, wait_for, GroupChild,
};

/// A prebuilt desktop binary to test instead of building one.
pub const DESKTOP_BIN_ENV: &str = "SWITCHBOARD_DESKTOP_BIN";
/// A tauri-driver to use instead of `target/tools/tauri-driver/bin/tauri-driver`.
pub const TAURI_DRIVER_ENV: &str = "SWITCHBOARD_TAURI_DRIVER";

fn target_dir() -> PathBuf {
    let root = workspace_root();
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_relative() { root.join(t) } else { t })
        .unwrap_or_else(|| root.join("target"))
}

/// The `switchboard-desktop` binary under test: `SWITCHBOARD_DESKTOP_BIN` (must exist), or the
/// release build in `target/desktop`, built once per test process (`cargo build --release` in
/// src-tauri is a no-op when it is fresh; a cold build takes minutes).
pub fn desktop_bin() -> Result<PathBuf> {
    static BIN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| locate_or_build_desktop().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!("{e}"))
}

fn locate_or_build_desktop() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os(DESKTOP_BIN_ENV) {
        let bin = PathBuf::from(bin);
        ensure!(
            bin.is_file(),
            "{DESKTOP_BIN_ENV}={} does not name an existing file",
            bin.display()
        );
        return Ok(bin);
    }
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root.join("src-tauri"))
        .args(["build", "--release", "--quiet", "--target-dir"])
        .arg(target_dir().join("desktop"))
        .env_remove("CARGO_TARGET_DIR");
    let line = describe(&cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{line}`"))?;
    if !out.status.success() {
        bail!(
            "building the desktop app failed:\n{}",
            format_output(&line, &out)
        );
    }
    let bin = target_dir().join("desktop/release/switchboard-desktop");
    ensure!(
        bin.is_file(),
        "`{line}` succeeded but {} is missing",
        bin.display()
    );
    Ok(bin)
}

/// tauri-driver, installed by `scripts/install-desktop-tools.sh`.
pub fn tauri_driver() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(TAURI_DRIVER_ENV) {
        let p = PathBuf::from(p);
        ensure!(
            p.is_file(),
            "{TAURI_DRIVER_ENV}={} does not exist",
            p.display()
        );
        return Ok(p);
    }
    let p = target_dir().join("tools/tauri-driver/bin/tauri-driver");
    ensure!(
        p.is_file(),
        "tauri-driver is not installed at {}: run scripts/install-desktop-tools.sh (make test does)",
        p.display()
    );
    Ok(p)
}

/// Where tests keep screenshots: `target/desktop-e2e/`.
pub fn artifacts_dir() -> Result<PathBuf> {
    let d = target_dir().join("desktop-e2e");
    fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    Ok(d)
}

/// A private X server on a free display number.
#[derive(Debug)]
pub struct Xvfb {
    display: String,
    _child: GroupChild,
}

impl Xvfb {
    pub fn start(log_dir: &Path) -> Result<Xvfb> {
        let xvfb = find_program("Xvfb", "xvfb")?;
        fs::create_dir_all(log_dir)?;
        for n in 90..190u32 {
            if Path::new(&format!("/tmp/.X{n}-lock")).exists()
                || Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
            {
                continue;
            }
            let log = log_dir.join(format!("xvfb-{n}.log"));
            let mut cmd = Command::new(&xvfb);
            cmd.arg(format!(":{n}"))
                .args([
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                    "-noreset",
                ])
                .stdin(Stdio::null())
                .stdout(fs::File::create(&log)?)
                .stderr(fs::File::create(&log)?);
            let mut child = GroupChild::spawn(&mut cmd, "Xvfb")?;
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
            let up = wait_for(Duration::from_secs(10), || {
                if child.try_wait()?.is_some() {
                    return Ok(Some(false));
                }
                Ok(socket.exists().then_some(true))
            })?;
            match up {
                Some(true) => {
                    return Ok(Xvfb {
                        display: format!(":{n}"),
                        _child: child,
                    })
                }
                // Lost a race for this display number to another test: try the next one.
                Some(false) => continue,
                None => bail!("Xvfb :{n} did not start in 10 s:\n{}", tail_file(&log, 20)),
            }
        }
        bail!("no free X display number between :90 and :189")
    }

    /// `DISPLAY` for clients.
    pub fn display(&self) -> &str {
        &self.display
    }
}

/// dunst, the notification daemon, on the test's private bus and display. Every notification
/// it receives is written to a log by a dunst rule, so a test can see what was shown.
#[derive(Debug)]
pub struct Dunst {
    env: Vec<(String, String)>,
    shown: PathBuf,
    _child: GroupChild,
}

impl Dunst {
    /// `env` must carry `DISPLAY` and `DBUS_SESSION_BUS_ADDRESS`.
    pub fn start(env: &[(String, String)], dir: &Path) -> Result<Dunst> {
        let dunst = find_program("dunst", "dunst")?;
        find_program("dunstctl", "dunst")?;
        fs::create_dir_all(dir)?;
        let log = dir.join("dunst.log");
        let shown = dir.join("notifications.tsv");
        let script = dir.join("record-notification.sh");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\n# dunst calls this with: appname summary body icon urgency\n\
                 printf '%s\\t%s\\t%s\\t%s\\n' \"$1\" \"$2\" \"$(printf '%s' \"$3\" | tr '\\n' '|')\" \"$5\" >> '{}'\n",
                shown.display()
            ),
        )?;
        crate::util::chmod(&script, 0o755)?;
        let config = dir.join("dunstrc");
        fs::write(
            &config,
            format!(
                "[global]\n    monitor = 0\n    follow = none\n\n[record]\n    summary = \"*\"\n    script = {}\n",
                script.display()
            ),
        )?;
        let mut cmd = Command::new(dunst);
        cmd.arg("-config")
            .arg(&config)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log)?)
            .stderr(fs::File::create(&log)?);
        let child = GroupChild::spawn(&mut cmd, "dunst")?;
        let d = Dunst {
            env: env.to_vec(),
            shown,
            _child: child,
        };
        let up = wait_for(Duration::from_secs(30), || {
            Ok(d.ctl(&["is-paused"]).ok().map(|_| ()))
        })?;
        ensure!(
            up.is_some(),
            "dunst did not start:\n{}",
            tail_file(&log, 20)
        );
        Ok(d)
    }

    /// Runs `dunstctl ARGS` against this daemon; returns stdout.
    pub fn ctl(&self, args: &[&str]) -> Result<String> {
        let mut cmd = Command::new("dunstctl");
        cmd.args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        let line = describe(&cmd);
        let out = cmd
            .output()
            .with_context(|| format!("cannot run `{line}`"))?;
        ensure!(out.status.success(), "{}", format_output(&line, &out));
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Every notification received so far: app name, summary, body (lines joined by `|`),
    /// urgency (`LOW`, `NORMAL`, `CRITICAL`).
    pub fn notifications(&self) -> Vec<Notification> {
        fs::read_to_string(&self.shown)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some(Notification {
                    app: f.next()?.to_string(),
                    summary: f.next()?.to_string(),
                    body: f.next()?.to_string(),
                    urgency: f.next()?.to_string(),
                })
            })
            .collect()
    }

    /// "Clicks" the newest notification on screen: its default action.
    pub fn click(&self) -> Result<()> {
        self.ctl(&["action", "0"]).map(|_| ())
    }
}

/// A notification as dunst received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub app: String,
    pub summary: String,
    pub body: String,
    pub urgency: String,
}

/// tauri-driver on free ports, with the app's environment; its output (and the app's, which
/// WebKitWebDriver starts as the "browser") goes to a log file.
#[derive(Debug)]
pub struct WebDriver {
    addr: SocketAddr,
    log: PathBuf,
    _child: GroupChild,
}

impl WebDriver {
    pub fn start(env: &[(String, String)], log: &Path) -> Result<WebDriver> {
        let driver = tauri_driver()?;
        let native = find_program("WebKitWebDriver", "webkit2gtk-driver")?;
        let ports = free_ports(2)?;
        let mut cmd = Command::new(driver);
        cmd.arg("--port")
            .arg(ports[0].to_string())
            .arg("--native-port")
            .arg(ports[1].to_string())
            .arg("--native-driver")
            .arg(native)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(fs::File::create(log)?)
            .stderr(fs::File::create(log)?);
        let mut child = GroupChild::spawn(&mut cmd, "tauri-driver")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], ports[0]));
        let up = wait_for(Duration::from_secs(15), || {
            if let Some(s) = child.try_wait()? {
                bail!("tauri-driver exited with {s}:\n{}", tail_file(log, 30));
            }
            Ok(http::get(addr, "/status", &[]).ok().map(|_| ()))
        })?;
        ensure!(
            up.is_some(),
            "tauri-driver did not answer on {addr}:\n{}",
            tail_file(log, 30)
        );
        Ok(WebDriver {
            addr,
            log: log.to_path_buf(),
            _child: child,
        })
    }

    /// The log of tauri-driver, WebKitWebDriver and the app.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Starts `app ARGS` and opens a session on its window.
    pub fn session(&self, app: &Path, args: &[&str]) -> Result<Session> {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": app, "args": args},
        }}});
        let v = call(self.addr, "POST", "/session", Some(&caps)).with_context(|| {
            format!(
                "starting {}; log:\n{}",
                app.display(),
                tail_file(&self.log, 40)
            )
        })?;
        let id = v["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no sessionId in {v}"))?
            .to_string();
        Ok(Session {
            addr: self.addr,
            id,
        })
    }
}

/// One WebDriver session: the app's main window.
#[derive(Debug)]
pub struct Session {
    addr: SocketAddr,
    id: String,
}

impl Session {
    fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.id)
    }

    /// The window's current URL.
    pub fn url(&self) -> Result<String> {
        let v = call(self.addr, "GET", &self.path("/url"), None)?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("the URL is not a string: {v}"))
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub fn execute(&self, script: &str) -> Result<Value> {
        call(
            self.addr,
            "POST",
            &self.path("/execute/sync"),
            Some(&json!({"script": script, "args": []})),
        )
    }

    /// The page's visible text.
    pub fn text(&self) -> Result<String> {
        Ok(self
            .execute("return document.body ? document.body.innerText : ''")?
            .as_str()
            .unwrap_or("")
            .to_string())
    }

    /// Waits until the page's text contains every one of `needles`; the error shows the text.
    pub fn wait_for_text(&self, needles: &[&str], timeout: Duration) -> Result<String> {
        let mut last = String::new();
        let found = wait_for(timeout, || {
            last = self.text().unwrap_or_default();
            Ok(needles
                .iter()
                .all(|n| last.contains(n))
                .then(|| last.clone()))
        })?;
        found.ok_or_else(|| {
            anyhow!(
                "the window did not show {needles:?} within {timeout:?}; it shows:\n{last}\n(url: {})",
                self.url().unwrap_or_default()
            )
        })
    }

    /// Saves a PNG of the window to `path`; returns its size in bytes.
    pub fn screenshot(&self, path: &Path) -> Result<usize> {
        let v = call(self.addr, "GET", &self.path("/screenshot"), None)?;
        let b64 = v.as_str().ok_or_else(|| anyhow!("no screenshot data"))?;
        let png = base64_decode(b64)?;
        ensure!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "the screenshot is not a PNG"
        );
        fs::write(path, &png).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(png.len())
    }

    /// The window's size and position.
    pub fn rect(&self) -> Result<Value> {
        call(self.addr, "GET", &self.path("/window/rect"), None)
    }

    pub fn set_rect(&self, width: u32, height: u32) -> Result<Value> {
        call(
            self.addr,
            "POST",
            &self.path("/window/rect"),
            Some(&json!({"width": width, "height": height})),
        )
    }

    /// Ends the session (WebKitWebDriver stops the app).
    pub fn delete(&self) -> Result<()> {
        call(self.addr, "DELETE", &self.path(""), None).map(|_| ())
    }
}

/// One WebDriver command; returns its `value`, or the WebDriver error as an error.
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let mut headers = vec![];
    if body.is_some() {
        headers.push(("Content-Type", "application/json"));
    }
    // tauri-driver now and then closes a connection without an answer; a GET is safe to ask
    // again, anything else is reported at once.
    let attempts = if method == "GET" { 3 } else { 1 };
    let mut tries = 0;
    let r = loop {
        tries += 1;
        match http::request(addr, method, path, &headers, bytes.as_bytes()) {
            Ok(r) => break r,
            Err(e) if tries < attempts => {
                eprintln!("WebDriver {method} {path}: {e:#}; asking again");
                std::thread::sleep(Duration::from_millis(300));
            }
            Err(e) => return Err(e).with_context(|| format!("WebDriver {method} {path}")),
        }
    };
    let v: Value = r
        .json()
        .with_context(|| format!("WebDriver {method} {path} answered {}", r.status))?;
    if r.status != 200 {
        bail!(
            "WebDriver {method} {path}: {} {}",
            r.status,
            v["value"]["message"].as_str().unwrap_or(&v.to_string())
        );
    }
    Ok(v["value"].clone())
}

/// Standard base64 (with or without padding, whitespace ignored).
pub fn base64_decode(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' | b' ' => continue,
            other => bail!("not base64: byte {other:#x}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(base64_decode("aGk").unwrap(), b"hi");
        assert!(base64_decode("a*b").is_err());
    }
}
