//! The desktop app end to end: the release build of `switchboard-desktop` under Xvfb, driven by
//! WebDriver (tauri-driver + WebKitWebDriver), on an account of a real Dovecot added with the
//! CLI into the test's own data dir. The app syncs in-process and its window shows the inbox;
//! a new message without a notification daemon is logged once and still shows up; with dunst
//! running the delivery engine's notification (sender, subject, account) goes through the
//! app's notifier and a click opens the message; a second launch hands over to the first;
//! window size and the open view come back after a restart.
//!
//! Screenshots go to target/desktop-e2e/.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use switchboard_tests::desktop::{self, Dunst, WebDriver, Xvfb};
use switchboard_tests::{Dovecot, Switchboard, TestMail};

const WAIT: Duration = Duration::from_secs(90);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn mail(id: &str, from: &str, subject: &str) -> Vec<u8> {
    TestMail::new()
        .message_id(&format!("<{id}@desktop.example.org>"))
        .from(from)
        .to("alice@localhost")
        .subject(subject)
        .date_unix(now() - 30)
        .body(&format!("Body of {subject}.\r\n"))
        .build()
}

fn add_account(sb: &Switchboard, dv: &Dovecot) {
    let port = dv.imaps_port().to_string();
    sb.run_with_stdin_ok(
        &[
            "account",
            "add",
            "imap",
            "work",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            "alice",
            "--password-stdin",
            "--trust-cert",
            dv.cert_sha256(),
        ],
        b"alice-pass",
    )
    .unwrap();
}

fn message_id_of(sb: &Switchboard, subject: &str) -> i64 {
    let inbox = sb.run_json(&["inbox", "--json", "--limit", "100"]).unwrap();
    inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["subject"] == subject)
        .and_then(|m| m["id"].as_i64())
        .unwrap_or_else(|| panic!("'{subject}' is not in the store: {inbox}"))
}

fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

fn app_env(sb: &Switchboard, x: &Xvfb) -> Vec<(String, String)> {
    let mut env = sb.env();
    env.push(("DISPLAY".into(), x.display().to_string()));
    env.push(("RUST_LOG".into(), "info".into()));
    env
}

#[test]
fn desktop_app_shows_the_inbox_notifies_and_restores() {
    let bin = desktop::desktop_bin().unwrap();
    let artifacts = desktop::artifacts_dir().unwrap();
    let dv = Dovecot::start().unwrap();
    for n in 1..=3 {
        dv.deliver(
            "alice",
            "INBOX",
            &mail(
                &format!("first{n}"),
                "Carol <carol@example.org>",
                &format!("Desktop hello {n}"),
            ),
        )
        .unwrap();
    }
    let sb = Switchboard::new().unwrap();
    add_account(&sb, &dv);
    let logs = sb.dir().join("logs");
    let x = Xvfb::start(&logs).unwrap();
    let env = app_env(&sb, &x);
    let wd = WebDriver::start(&env, &logs.join("desktop-1.log")).unwrap();

    // The window signs in with the launch secret and shows the inbox, synced in-process.
    let session = wd.session(&bin, &[]).unwrap();
    session
        .wait_for_text(
            &["Desktop hello 1", "Desktop hello 2", "Desktop hello 3"],
            WAIT,
        )
        .unwrap();
    let url = session.url().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(!url.contains("/login"), "still on the sign-in URL: {url}");
    let bytes = session.screenshot(&artifacts.join("inbox.png")).unwrap();
    assert!(
        bytes > 5_000,
        "a {bytes}-byte screenshot is too small to show an inbox"
    );

    // No notification daemon on the bus: new mail still arrives (IMAP IDLE in-process), the
    // failure to notify is logged once, and nothing hangs.
    for n in 4..=5 {
        dv.deliver(
            "alice",
            "INBOX",
            &mail(
                &format!("quiet{n}"),
                "Carol <carol@example.org>",
                &format!("Desktop quiet {n}"),
            ),
        )
        .unwrap();
        session
            .wait_for_text(&[&format!("Desktop quiet {n}")], WAIT)
            .unwrap();
    }
    wait_until("the notification failure in the log", WAIT, || {
        wd.log().contains("desktop notifications are unavailable")
    });
    let log = wd.log();
    assert_eq!(
        log.matches("desktop notifications are unavailable").count(),
        1,
        "logged once, not per message:\n{log}"
    );

    // With a notification daemon: sender, subject and account; a click opens the message. The
    // delivery engine retries the two notifications that failed above; those are let come and
    // cleared first, so the one clicked is the new message's.
    let dunst = Dunst::start(&env, &sb.dir().join("dunst")).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    dunst.ctl(&["close-all"]).unwrap();
    dv.deliver(
        "alice",
        "INBOX",
        &mail(
            "notify6",
            "Dora Notify <dora@example.org>",
            "Desktop notify 6",
        ),
    )
    .unwrap();
    wait_until("the notification", WAIT, || {
        dunst
            .notifications()
            .iter()
            .any(|n| n.summary == "Dora Notify")
    });
    let shown = dunst.notifications();
    let note = shown.iter().find(|n| n.summary == "Dora Notify").unwrap();
    assert_eq!(note.app, "Switchboard");
    assert_eq!(
        note.body, "Desktop notify 6|via work",
        "subject, then account"
    );
    let id = message_id_of(&sb, "Desktop notify 6");
    dunst.click().unwrap();
    wait_until("the clicked message in the window", WAIT, || {
        session
            .url()
            .map(|u| u.ends_with(&format!("#message/{id}")))
            .unwrap_or(false)
    });
    wait_until("the message view", WAIT, || {
        session
            .execute(
                "const v = document.querySelector('[data-testid=message-view]'); \
                 return v ? v.innerText : ''",
            )
            .map(|t| t.as_str().unwrap_or("").contains("Desktop notify 6"))
            .unwrap_or(false)
    });
    session
        .screenshot(&artifacts.join("notification-opened.png"))
        .unwrap();

    // A second launch hands its arguments to the running app and exits at once.
    let mut second = Command::new(&bin);
    second
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = second.spawn().unwrap();
    let mut status = None;
    wait_until("the second launch to exit", Duration::from_secs(30), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert!(status.unwrap().success(), "second launch: {status:?}");
    assert!(session.text().unwrap().contains("Desktop notify 6"));

    // Size and the open view survive a restart.
    session.set_rect(900, 640).unwrap();
    wait_until("the resize", Duration::from_secs(10), || {
        session.rect().map(|r| r["width"] == 900).unwrap_or(false)
    });
    // The app saves its geometry a second after the last change; WebDriver then ends it hard.
    std::thread::sleep(Duration::from_secs(2));
    session.delete().unwrap();
    wait_until("the first app to exit", Duration::from_secs(30), || {
        !app_running(sb.data_dir())
    });
    let session = wd.session(&bin, &[]).unwrap();
    session.wait_for_text(&["Desktop notify 6"], WAIT).unwrap();
    // WebKitWebDriver may answer "no such window" for a moment after the page loads.
    let mut rect = Value::Null;
    wait_until(
        "the window's size",
        Duration::from_secs(15),
        || match session.rect() {
            Ok(r) => {
                rect = r;
                true
            }
            Err(e) => {
                eprintln!("window rect not available yet: {e:#}");
                false
            }
        },
    );
    assert_eq!(rect["width"], 900, "window size restored: {rect}");
    assert_eq!(rect["height"], 640, "window size restored: {rect}");
    let url = session.url().unwrap();
    assert!(
        url.ends_with(&format!("#message/{id}")),
        "the view open at quit comes back: {url}"
    );
    session
        .screenshot(&artifacts.join("restarted.png"))
        .unwrap();
    session.delete().unwrap();
}

/// Whether a `switchboard-desktop` on this data dir still serves (its port in desktop.json).
fn app_running(data_dir: &Path) -> bool {
    let Ok(s) = std::fs::read_to_string(data_dir.join("desktop.json")) else {
        return false;
    };
    let Some(port) = serde_json::from_str::<Value>(&s)
        .ok()
        .and_then(|v| v["port"].as_u64())
    else {
        return false;
    };
    std::net::TcpStream::connect(("127.0.0.1", port as u16)).is_ok()
}
