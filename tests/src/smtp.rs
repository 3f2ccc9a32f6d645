//! A scripted SMTP sink: `tests/tools/smtp_sink.py`, a real SMTP server (aiosmtpd, from the
//! venv `scripts/install-python-tools.sh` makes) on two 127.0.0.1 ports — STARTTLS (required)
//! and implicit TLS — with AUTH, a certificate from [`TlsMaterial`], answers a test can script
//! per recipient (`451` then `550`...), and every accepted message written to a directory the
//! test reads. See the script's docstring for the rules format.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::runner::workspace_root;
use crate::tls::{CertKind, TlsMaterial};
use crate::util::{self, free_ports, tail_file, wait_for, write_atomic, GroupChild};

/// The user and password the sink accepts (AUTH is required).
pub const SINK_USER: &str = "submit-user";
pub const SINK_PASSWORD: &str = "submit-pass";

/// One message the sink accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub raw: Vec<u8>,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub auth_user: Option<String>,
    pub tls: bool,
    pub port: u16,
}

impl Received {
    /// Values of a header field (case-insensitive name), unfolded.
    pub fn header(&self, name: &str) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.raw);
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some((_, v)) = fields.last_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
            } else if let Some((n, v)) = line.split_once(':') {
                fields.push((n.trim().to_string(), v.trim().to_string()));
            }
        }
        fields
            .into_iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .collect()
    }
}

#[derive(Debug)]
pub struct SmtpSink {
    dir: tempfile::TempDir,
    tls: TlsMaterial,
    starttls_port: u16,
    tls_port: u16,
    child: Option<GroupChild>,
}

/// The venv's Python, or `SWITCHBOARD_TEST_PYTHON`.
fn python() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SWITCHBOARD_TEST_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = workspace_root().join("target/tools/venv/bin/python");
    if !venv.exists() {
        bail!(
            "the SMTP sink needs aiosmtpd in {}: run scripts/install-python-tools.sh \
             (make test does)",
            venv.display()
        );
    }
    Ok(venv)
}

impl SmtpSink {
    /// Starts the sink and waits until both ports listen.
    pub fn start() -> Result<SmtpSink> {
        let dir = util::temp_dir("sb-smtp-")?;
        let tls = TlsMaterial::generate(&dir.path().join("tls"), CertKind::Valid)?;
        let python = python()?;
        let script = workspace_root().join("tests/tools/smtp_sink.py");
        for attempt in 0..3 {
            let ports = free_ports(2)?;
            let (starttls_port, tls_port) = (ports[0], ports[1]);
            let _ = fs::remove_file(dir.path().join("ready"));
            let log =
                fs::File::create(dir.path().join("sink.log")).context("cannot create sink.log")?;
            let log2 = log.try_clone().context("cannot duplicate sink.log")?;
            let mut cmd = Command::new(&python);
            cmd.arg(&script)
                .arg("--dir")
                .arg(dir.path())
                .args(["--starttls-port", &starttls_port.to_string()])
                .args(["--tls-port", &tls_port.to_string()])
                .arg("--cert")
                .arg(&tls.server_pem)
                .arg("--key")
                .arg(&tls.server_key)
                .args(["--user", SINK_USER, "--password", SINK_PASSWORD])
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2);
            let mut child = GroupChild::spawn(&mut cmd, "the SMTP sink")?;
            let ready = dir.path().join("ready");
            let up = wait_for(Duration::from_secs(20), || {
                if ready.exists() {
                    return Ok(Some(true));
                }
                if child.try_wait()?.is_some() {
                    return Ok(Some(false));
                }
                Ok(None)
            })?;
            match up {
                Some(true) => {
                    return Ok(SmtpSink {
                        dir,
                        tls,
                        starttls_port,
                        tls_port,
                        child: Some(child),
                    })
                }
                _ => {
                    child.terminate(Duration::from_secs(2));
                    let log = tail_file(&dir.path().join("sink.log"), 30);
                    if log.contains("Address already in use") && attempt < 2 {
                        continue;
                    }
                    bail!("the SMTP sink did not start:\n{log}");
                }
            }
        }
        bail!("the SMTP sink found no free ports")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The STARTTLS submission port.
    pub fn starttls_port(&self) -> u16 {
        self.starttls_port
    }

    /// The implicit-TLS submission port.
    pub fn tls_port(&self) -> u16 {
        self.tls_port
    }

    /// SHA-256 of the sink's certificate (for `--trust-cert`).
    pub fn cert_sha256(&self) -> &str {
        &self.tls.cert_sha256
    }

    /// The test CA that signed the sink's certificate.
    pub fn ca_pem(&self) -> &Path {
        &self.tls.ca_pem
    }

    /// Replaces the sink's rules (read afresh at every RCPT and DATA).
    pub fn set_rules(&self, rules: &serde_json::Value) -> Result<()> {
        write_atomic(
            &self.dir.path().join("rules.json"),
            rules.to_string().as_bytes(),
        )
    }

    /// Every message accepted so far, in order.
    pub fn received(&self) -> Result<Vec<Received>> {
        let dir = self.dir.path().join("received");
        let mut names: Vec<String> = match fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        let mut out = Vec::new();
        for n in names {
            let stem = n.trim_end_matches(".json");
            let meta: serde_json::Value = serde_json::from_slice(
                &fs::read(dir.join(&n)).with_context(|| format!("cannot read {n}"))?,
            )
            .with_context(|| format!("{n} is not JSON"))?;
            let raw = fs::read(dir.join(format!("{stem}.eml")))
                .with_context(|| format!("cannot read {stem}.eml"))?;
            out.push(Received {
                raw,
                mail_from: meta["mail_from"].as_str().unwrap_or("").to_string(),
                rcpt_tos: meta["rcpt_tos"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                auth_user: meta["auth_user"].as_str().map(str::to_string),
                tls: meta["tls"].as_bool().unwrap_or(false),
                port: meta["port"].as_u64().unwrap_or(0) as u16,
            });
        }
        Ok(out)
    }

    /// Waits until at least `n` messages were accepted; errors with the sink's log otherwise.
    pub fn wait_for_messages(&self, n: usize, timeout: Duration) -> Result<Vec<Received>> {
        let got = wait_for(timeout, || {
            let r = self.received()?;
            Ok((r.len() >= n).then_some(r))
        })?;
        match got {
            Some(r) => Ok(r),
            None => bail!(
                "the SMTP sink got {} of {n} messages within {timeout:?}; its events:\n{}",
                self.received()?.len(),
                tail_file(&self.dir.path().join("events.jsonl"), 40)
            ),
        }
    }

    /// Every RCPT/DATA answer the sink gave, in order (JSON objects).
    pub fn events(&self) -> Result<Vec<serde_json::Value>> {
        let path = self.dir.path().join("events.jsonl");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(_) => return Ok(Vec::new()),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).with_context(|| format!("bad event line {l}")))
            .collect()
    }

    /// The sink's own log (stdout and stderr).
    pub fn log_tail(&self, lines: usize) -> String {
        tail_file(&self.dir.path().join("sink.log"), lines)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.terminate(Duration::from_secs(3));
        }
        if std::thread::panicking() {
            eprintln!(
                "[harness] SMTP sink log tail:\n{}\n[harness] events:\n{}",
                self.log_tail(30),
                tail_file(&self.dir.path().join("events.jsonl"), 30)
            );
        }
    }
}
