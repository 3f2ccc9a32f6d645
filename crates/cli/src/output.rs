//! Human and JSON output, and the sync progress display.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Result;
use switchboard_store::{Account, MessageDetail, MessageSummary};
use switchboard_sync::{Reporter, SyncEvent};

/// "outer: inner: innermost" for an error chain, on one line.
pub fn chain(e: &anyhow::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

pub fn list(list: &[MessageSummary], json: bool) -> Result<()> {
    if json {
        return print_json(&list);
    }
    let mut out = std::io::stdout().lock();
    if list.is_empty() {
        writeln!(out, "no messages")?;
    }
    for m in list {
        let from = m
            .from
            .as_ref()
            .map(|a| a.name.clone().unwrap_or_else(|| a.email.clone()))
            .unwrap_or_else(|| "(no sender)".into());
        let accounts: Vec<&str> = m.sources.iter().map(|s| s.account.as_str()).collect();
        writeln!(
            out,
            "{:>6} {} {:<16} {:<24.24} {}{} [{}]",
            m.id,
            if m.flags.contains(&"seen") { ' ' } else { '*' },
            m.date
                .as_deref()
                .map(|d| &d[..16.min(d.len())])
                .unwrap_or("-"),
            from,
            if m.subject.is_empty() {
                "(no subject)"
            } else {
                &m.subject
            },
            if m.has_attachments { " 📎" } else { "" },
            accounts.join(",")
        )?;
    }
    Ok(())
}

pub fn message(m: &MessageDetail, json: bool) -> Result<()> {
    if json {
        return print_json(m);
    }
    let mut out = std::io::stdout().lock();
    let s = &m.summary;
    let addr = |a: &switchboard_model::Address| match &a.name {
        Some(n) => format!("{n} <{}>", a.email),
        None => a.email.clone(),
    };
    writeln!(
        out,
        "Message-ID: {}{}",
        s.message_id,
        if s.synthetic_id { " (synthetic)" } else { "" }
    )?;
    writeln!(
        out,
        "From: {}",
        s.from.as_ref().map(addr).unwrap_or_default()
    )?;
    writeln!(
        out,
        "To: {}",
        s.to.iter().map(addr).collect::<Vec<_>>().join(", ")
    )?;
    if !m.cc.is_empty() {
        writeln!(
            out,
            "Cc: {}",
            m.cc.iter().map(addr).collect::<Vec<_>>().join(", ")
        )?;
    }
    writeln!(out, "Date: {}", s.date.as_deref().unwrap_or("-"))?;
    writeln!(out, "Subject: {}", s.subject)?;
    writeln!(out, "Flags: {}", s.flags.join(" "))?;
    for src in &s.sources {
        writeln!(
            out,
            "Source: {} ({}) {}",
            src.account, src.kind, src.remote_id
        )?;
    }
    for a in &m.attachments {
        writeln!(
            out,
            "Attachment: {} ({}, {} bytes)",
            a.filename.as_deref().unwrap_or("(unnamed)"),
            a.content_type,
            a.size
        )?;
    }
    for p in &m.parse_problems {
        writeln!(out, "Problem: {p}")?;
    }
    writeln!(out)?;
    match (&m.text_body, &m.html_body) {
        (Some(t), _) => writeln!(out, "{t}")?,
        (None, Some(_)) => writeln!(out, "(HTML only; use --json or --raw)")?,
        _ => writeln!(out, "(no text body)")?,
    }
    Ok(())
}

/// `[{account, ok, report | state + error}]`: what `sync --json` prints.
pub fn sync_results(
    results: &[(
        String,
        Result<switchboard_sync::AccountReport, switchboard_sync::SyncError>,
    )],
) -> Result<()> {
    let v: Vec<serde_json::Value> = results
        .iter()
        .map(|(account, r)| match r {
            Ok(report) => serde_json::json!({"account": account, "ok": true, "report": report}),
            Err(e) => serde_json::json!({
                "account": account, "ok": false, "state": e.state(), "error": e.to_string()
            }),
        })
        .collect();
    print_json(&v)
}

#[derive(serde::Serialize)]
struct AccountJson<'a> {
    #[serde(flatten)]
    account: &'a Account,
}

pub fn accounts(list: &[Account], json: bool) -> Result<()> {
    if json {
        let v: Vec<AccountJson<'_>> = list.iter().map(|a| AccountJson { account: a }).collect();
        return print_json(&v);
    }
    let mut out = std::io::stdout().lock();
    if list.is_empty() {
        writeln!(out, "no accounts; add one with `switchboard account add imap NAME --host ... --user ... --password-stdin`")?;
    }
    for a in list {
        // An XMPP account's username is its address; without a host, DNS SRV finds the server.
        let server = match (a.kind, a.host.is_empty()) {
            (switchboard_store::AccountKind::Xmpp, true) => format!("{} via DNS SRV", a.username),
            (switchboard_store::AccountKind::Xmpp, false) => {
                format!("{} via {}:{}", a.username, a.host, a.port)
            }
            _ => format!("{}@{}:{}", a.username, a.host, a.port),
        };
        writeln!(
            out,
            "{:<16} {:<4} {} ({}, {}) {}{}",
            a.name,
            a.kind.as_str(),
            server,
            a.tls.as_str(),
            a.policy,
            a.state.state,
            a.state
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

/// Progress on stderr: a live line per account on a terminal, plain lines otherwise.
pub struct Progress {
    tty: bool,
    started: Mutex<std::collections::HashMap<String, Instant>>,
}

impl Progress {
    pub fn new(tty: bool) -> Progress {
        Progress {
            tty,
            started: Mutex::new(Default::default()),
        }
    }
}

impl Reporter for Progress {
    fn event(&self, e: &SyncEvent<'_>) {
        let mut err = std::io::stderr().lock();
        match e {
            SyncEvent::Started { account } => {
                if let Ok(mut s) = self.started.lock() {
                    s.insert(account.to_string(), Instant::now());
                }
                if !self.tty {
                    let _ = writeln!(err, "{account}: syncing");
                }
            }
            SyncEvent::Progress {
                account,
                mailbox,
                done,
                total,
            } => {
                let elapsed = self
                    .started
                    .lock()
                    .ok()
                    .and_then(|s| s.get(*account).map(|t| t.elapsed().as_secs_f64()))
                    .unwrap_or(0.0);
                let rate = if elapsed > 0.0 {
                    *done as f64 / elapsed
                } else {
                    0.0
                };
                let eta = if rate > 0.0 {
                    (*total - *done) as f64 / rate
                } else {
                    0.0
                };
                let where_ = if mailbox.is_empty() {
                    String::new()
                } else {
                    format!(" {mailbox}")
                };
                if self.tty {
                    let _ = write!(err, "\r\x1b[2K{account}{where_}: {done}/{total} ({rate:.0} msg/s, ETA {eta:.0}s)");
                } else {
                    let _ = writeln!(
                        err,
                        "{account}{where_}: {done}/{total} ({rate:.0} msg/s, ETA {eta:.0}s)"
                    );
                }
            }
            SyncEvent::Finished { account, result } => {
                if self.tty {
                    let _ = write!(err, "\r\x1b[2K");
                }
                let _ = match result {
                    Ok(r) => writeln!(
                        err,
                        "{account}: ok ({} new, {} merged, {} removed, {} deleted on server, {} flag changes{}{})",
                        r.stored,
                        r.merged,
                        r.removed,
                        r.deleted_remote,
                        r.flags_changed,
                        if r.remapped > 0 { format!(", {} re-mapped", r.remapped) } else { String::new() },
                        if r.parse_problems > 0 { format!(", {} with parse problems", r.parse_problems) } else { String::new() },
                    ),
                    Err(e) => writeln!(err, "error: account '{account}': {} ({e})", e.state()),
                };
            }
        }
    }
}
