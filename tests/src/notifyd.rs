//! A real desktop notification daemon for a test: `dunst` on a private X display (`Xvfb`),
//! connected to a test's private session bus (a [`crate::KeyringSession`]'s), where it owns
//! `org.freedesktop.Notifications`. What it showed is read back with `dunstctl history`
//! (JSON): each notification's app name, summary and body.
//!
//! dunst's config makes every notification expire after one second, so it moves to the
//! history quickly; `close_all` moves the displayed ones at once.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::util::{find_program, run_checked, tail_file, wait_for, GroupChild};

/// One notification as the daemon recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub appname: String,
    pub summary: String,
    pub body: String,
}

#[derive(Debug)]
pub struct NotificationDaemon {
    bus_address: String,
    display: String,
    log: std::path::PathBuf,
    // Drop order: dunst before the X server it draws on.
    dunst: Option<GroupChild>,
    xvfb: Option<GroupChild>,
}

const DUNSTRC: &str = "[global]\n    timeout = 1\n    history_length = 200\n";

fn free_display() -> Option<u32> {
    (90..400).find(|n| {
        !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
    })
}

impl NotificationDaemon {
    /// Starts Xvfb and dunst on the bus at `bus_address`; files go into `dir`.
    pub fn start(bus_address: &str, dir: &Path) -> Result<NotificationDaemon> {
        let xvfb_bin = find_program("Xvfb", "xvfb")?;
        let dunst_bin = find_program("dunst", "dunst")?;
        find_program("dunstctl", "dunst")?;
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let rc = dir.join("dunstrc");
        fs::write(&rc, DUNSTRC).context("cannot write dunstrc")?;
        let log = dir.join("notifyd.log");
        for _ in 0..5 {
            let n = free_display().context("no free X display number")?;
            let display = format!(":{n}");
            let out = fs::File::create(&log).context("cannot create notifyd.log")?;
            let mut cmd = Command::new(&xvfb_bin);
            cmd.args([
                display.as_str(),
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "800x600x24",
            ])
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
            let mut xvfb = GroupChild::spawn(&mut cmd, "Xvfb")?;
            let socket = format!("/tmp/.X11-unix/X{n}");
            let up = wait_for(Duration::from_secs(10), || {
                if xvfb.try_wait()?.is_some() {
                    return Ok(Some(false));
                }
                Ok(Path::new(&socket).exists().then_some(true))
            })?;
            if up != Some(true) {
                xvfb.terminate(Duration::from_secs(1));
                continue; // the display was taken meanwhile: try another
            }
            let out = fs::OpenOptions::new()
                .append(true)
                .open(&log)
                .context("cannot open notifyd.log")?;
            let mut cmd = Command::new(&dunst_bin);
            cmd.arg("-config")
                .arg(&rc)
                .env("DISPLAY", &display)
                .env("DBUS_SESSION_BUS_ADDRESS", bus_address)
                .env_remove("WAYLAND_DISPLAY")
                .stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out);
            let mut dunst = GroupChild::spawn(&mut cmd, "dunst")?;
            let mut d = NotificationDaemon {
                bus_address: bus_address.to_string(),
                display: display.clone(),
                log: log.clone(),
                dunst: None,
                xvfb: Some(xvfb),
            };
            // Generous: on a busy 2-core machine dunst has been seen to need over 10 s.
            let ready = wait_for(Duration::from_secs(30), || {
                if dunst.try_wait()?.is_some() {
                    bail!("dunst exited:\n{}", tail_file(&log, 20));
                }
                Ok(d.ctl(&["count", "displayed"]).ok().map(|_| ()))
            })?;
            if ready.is_none() {
                bail!(
                    "dunst did not take org.freedesktop.Notifications within 30 s:\n{}",
                    tail_file(&log, 20)
                );
            }
            d.dunst = Some(dunst);
            return Ok(d);
        }
        bail!("could not start Xvfb:\n{}", tail_file(&log, 20))
    }

    fn ctl(&self, args: &[&str]) -> Result<String> {
        let out = run_checked(
            Command::new("dunstctl")
                .args(args)
                .env("DBUS_SESSION_BUS_ADDRESS", &self.bus_address)
                .env("DISPLAY", &self.display),
            "dunstctl",
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Moves every displayed notification to the history.
    pub fn close_all(&self) -> Result<()> {
        self.ctl(&["close-all"]).map(|_| ())
    }

    /// Notifications shown and since closed or expired, newest first.
    pub fn history(&self) -> Result<Vec<Shown>> {
        let text = self.ctl(&["history"])?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("dunstctl history: {text}"))?;
        let field =
            |n: &serde_json::Value, k: &str| n[k]["data"].as_str().unwrap_or_default().to_string();
        Ok(v["data"][0]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|n| Shown {
                        appname: field(n, "appname"),
                        summary: field(n, "summary"),
                        body: field(n, "body"),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits until at least `n` notifications from `appname` are in the history.
    pub fn wait_for_shown(&self, appname: &str, n: usize, timeout: Duration) -> Result<Vec<Shown>> {
        let got = wait_for(timeout, || {
            let _ = self.close_all();
            let h: Vec<Shown> = self
                .history()?
                .into_iter()
                .filter(|s| s.appname == appname)
                .collect();
            Ok((h.len() >= n).then_some(h))
        })?;
        match got {
            Some(h) => Ok(h),
            None => bail!(
                "the notification daemon showed fewer than {n} notifications of {appname} within \
                 {timeout:?}; history: {:?}\n{}",
                self.history().unwrap_or_default(),
                tail_file(&self.log, 20)
            ),
        }
    }
}

impl Drop for NotificationDaemon {
    fn drop(&mut self) {
        if let Some(mut d) = self.dunst.take() {
            d.terminate(Duration::from_secs(2));
        }
        if let Some(mut x) = self.xvfb.take() {
            x.terminate(Duration::from_secs(2));
        }
    }
}
