//! Writing mail, the tracker and rules in the web UI end to end: a real Chromium (Debian's,
//! driven by playwright-core from ui/e2e/route.e2e.mjs) against a real `switchboard serve`,
//! a real Dovecot and the SMTP sink (aiosmtpd). Account "work" (IMAP) has the sink as its
//! outgoing server, "home" (POP3) has none. In the browser: sending from "home" is refused
//! with how to set an outgoing server, Esc asks before discarding, a bad address is named,
//! a reply typed with `r` and sent with Ctrl+Enter reaches the sink with In-Reply-To and
//! shows as delivered in the compose pane and in the tracker (steps with times and the
//! server's answer), mail the sink refuses becomes a dead letter whose reason is shown and
//! whose Retry queues it again, and a rule from the message's sender is tried, saved and
//! listed, and a profile's default action is edited. Screenshots land in target/ui-route-e2e/.
//!
//! Needs node (with `npm ci` run in ui/), /usr/bin/chromium, Dovecot and the Python venv with
//! aiosmtpd: `scripts/install-deps.sh test`, `scripts/install-python-tools.sh` and `make ui`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use switchboard_tests::http::get;
use switchboard_tests::smtp::{SINK_PASSWORD, SINK_USER};
use switchboard_tests::{workspace_root, Dovecot, SmtpSink, Switchboard, TestMail};

/// The recipient the sink refuses for good.
const REFUSED: &str = "nobody@example.org";

use switchboard_tests::browser::{require_ui_deps, wait_until as wait_for};

struct Serve(Child);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn add_accounts(sb: &Switchboard, dv: &Dovecot, sink: &SmtpSink) {
    let imap = dv.imaps_port().to_string();
    sb.run_with_stdin_ok(
        &[
            "account",
            "add",
            "imap",
            "work",
            "--host",
            "127.0.0.1",
            "--port",
            &imap,
            "--user",
            "alice",
            "--password-stdin",
            "--trust-cert",
            dv.cert_sha256(),
        ],
        b"alice-pass",
    )
    .unwrap();
    let pop3 = dv.pop3s_port().to_string();
    sb.run_with_stdin_ok(
        &[
            "account",
            "add",
            "pop3",
            "home",
            "--host",
            "127.0.0.1",
            "--port",
            &pop3,
            "--user",
            "bob",
            "--password-stdin",
            "--trust-cert",
            dv.cert_sha256(),
        ],
        b"bob-pass",
    )
    .unwrap();
    let smtp = sink.starttls_port().to_string();
    sb.run_with_stdin_ok(
        &[
            "account",
            "smtp",
            "work",
            "--host",
            "127.0.0.1",
            "--port",
            &smtp,
            "--tls",
            "starttls",
            "--user",
            SINK_USER,
            "--trust-cert",
            sink.cert_sha256(),
            "--from",
            "Alice Example <alice@localhost>",
        ],
        SINK_PASSWORD.as_bytes(),
    )
    .unwrap();
}

#[test]
fn writing_tracking_and_rules_in_a_real_browser() {
    let root = workspace_root();
    let ui = root.join("ui");
    require_ui_deps(&ui);

    let dv = Dovecot::start().unwrap();
    let lunch = TestMail::new()
        .message_id("<lunch@example.org>")
        .from("Dana <dana@example.org>")
        .to("alice@localhost")
        .subject("Lunch on Friday")
        .date_unix(1_767_225_600)
        .body("Shall we?\r\n")
        .build();
    dv.deliver("alice", "INBOX", &lunch).unwrap();
    let sink = SmtpSink::start().unwrap();
    sink.set_rules(&json!({"rcpt": {REFUSED: ["550 5.1.1 No such user here"]}}))
        .unwrap();

    let sb = Switchboard::new().unwrap();
    add_accounts(&sb, &dv, &sink);
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = free.local_addr().unwrap();
    drop(free);
    let _serve = Serve(
        sb.spawn(&["serve", "--listen", &addr.to_string(), "--interval", "600"])
            .unwrap(),
    );
    wait_for("the server", Duration::from_secs(30), || {
        get(addr, "/health", &[])
            .map(|r| r.status == 200)
            .unwrap_or(false)
    });
    let (stdout_log, _) = sb.spawn_logs(0);
    let mut login = String::new();
    wait_for("the sign-in URL", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&stdout_log).unwrap_or_default();
        match text
            .lines()
            .find_map(|l| l.split_whitespace().find(|w| w.contains("/login?secret=")))
        {
            Some(url) => {
                login = url.to_string();
                true
            }
            None => false,
        }
    });

    let shots = root.join("target/ui-route-e2e");
    let _ = std::fs::remove_dir_all(&shots);
    let mut child = Command::new("node")
        .arg(ui.join("e2e/route.e2e.mjs"))
        .current_dir(&ui)
        .env("SB_LOGIN_URL", &login)
        .env("SB_SHOTS", &shots)
        .env("SB_REFUSED_RCPT", REFUSED)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let mut to_node = child.stdin.take().expect("node's stdin");
    let from_node = BufReader::new(child.stdout.take().expect("node's stdout"));
    let mut steps = Vec::new();
    let mut failure = None;
    for line in from_node.lines() {
        let line = line.expect("node's output");
        println!("{line}");
        if let Some(step) = line.strip_prefix("step: ") {
            steps.push(step.to_string());
        }
        if let Some(request) = line.strip_prefix("@@ ") {
            let reply = match request.trim() {
                // The first message the sink accepted: the reply.
                "sink-reply" => match sink.wait_for_messages(1, Duration::from_secs(30)) {
                    Ok(got) => {
                        let m = &got[0];
                        let text = String::from_utf8_lossy(&m.raw).into_owned();
                        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
                        let answer = json!({
                            "in_reply_to": m.header("In-Reply-To").first().cloned().unwrap_or_default(),
                            "rcpt": m.rcpt_tos,
                            "body": body,
                        });
                        format!("ok {answer}")
                    }
                    Err(e) => {
                        failure = Some(format!("sink-reply: {e}"));
                        format!("fail {e}")
                    }
                },
                other => {
                    failure = Some(format!("unknown request {other}"));
                    format!("fail unknown request {other}")
                }
            };
            writeln!(to_node, "{reply}").expect("answer node");
        }
    }
    let status = child.wait().expect("node ends");
    assert!(failure.is_none(), "{}", failure.unwrap_or_default());
    assert!(
        status.success(),
        "the browser script failed after steps {steps:?}"
    );
    assert!(
        steps.iter().any(|s| s.starts_with("done")),
        "the script stopped early: {steps:?}"
    );

    // What the browser did is what the server holds.
    let received = sink.received().unwrap();
    let reply = &received[0];
    assert_eq!(reply.header("In-Reply-To"), vec!["<lunch@example.org>"]);
    assert_eq!(reply.rcpt_tos, vec!["dana@example.org"]);
    assert!(
        received
            .iter()
            .all(|m| !m.rcpt_tos.iter().any(|r| r == REFUSED)),
        "the refused recipient got nothing"
    );
    let rules = sb.run_ok(&["rule", "list"]).unwrap_or_default();
    assert!(rules.contains("From Dana"), "the saved rule: {rules}");
    let work = sb.run_json(&["profile", "show", "Work", "--json"]).unwrap();
    assert_eq!(
        work["default_action"], "quiet",
        "the edited profile: {work}"
    );
    let pictures = std::fs::read_dir(&shots).unwrap().count();
    assert!(
        pictures >= 10,
        "{pictures} screenshots in {}",
        shots.display()
    );
}
