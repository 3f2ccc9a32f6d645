//! The web UI end to end: a real Chromium (Debian's, driven by playwright-core from
//! ui/e2e/inbox.e2e.mjs) against a real `switchboard serve` and a real Dovecot. Accounts are
//! added through the settings form (trusting the test server's self-signed certificate by its
//! fingerprint), the inbox fills with a progress bar, messages are opened, images loaded,
//! searched, deleted (and checked gone from Dovecot), and a message delivered meanwhile shows
//! up live. Screenshots of every step land in target/ui-e2e/.
//!
//! Needs node (with `npm ci` run in ui/) and /usr/bin/chromium: `scripts/install-deps.sh test`
//! and `make ui`. Missing either fails the test with what to install.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_tests::http::get;
use switchboard_tests::{workspace_root, Dovecot, Switchboard, TestMail};

const IMAP_COUNT: usize = 4000;
const POP3_COUNT: usize = 12;
/// 1 January 2026: the generated mail is older than anything delivered "now".
const BASE_DATE: i64 = 1_767_225_600;

/// A 1×1 PNG.
const PIXEL: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A loopback web server standing in for a newsletter's image host: counts requests.
fn image_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the image server");
    let addr = listener.local_addr().expect("its address");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let n = stream.read(&mut buf).unwrap_or(0);
            if String::from_utf8_lossy(&buf[..n]).starts_with("GET /pixel.png") {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                PIXEL.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(PIXEL);
        }
    });
    (addr, count)
}

fn node() -> PathBuf {
    let found = Command::new("node").arg("--version").output();
    match found {
        Ok(o) if o.status.success() => PathBuf::from("node"),
        _ => panic!("node is missing: install Node.js 20+ (Debian: apt-get install nodejs npm)"),
    }
}

fn require_ui_deps(ui: &Path) {
    assert!(
        ui.join("node_modules/playwright-core").is_dir(),
        "ui/node_modules is missing: run `make ui` (npm ci in ui/)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (scripts/install-deps.sh test)"
    );
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().expect("its address")
}

struct Serve(Child);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn imap_mail(images: SocketAddr) -> Vec<Vec<u8>> {
    let mut all: Vec<Vec<u8>> = (0..IMAP_COUNT as i64)
        .map(|n| {
            TestMail::new()
                .message_id(&format!("<gen{n}@example.org>"))
                .from(&format!("Sender {} <s{}@example.org>", n % 37, n % 37))
                .to("alice@localhost")
                .subject(&format!("Generated message {n}"))
                .date_unix(BASE_DATE + n * 60)
                .body(&format!("Body of generated message {n}.\r\n"))
                .build()
        })
        .collect();
    let top = BASE_DATE + IMAP_COUNT as i64 * 60;
    for (i, subject) in [
        "Lunch on Friday",
        "Re: Lunch on Friday",
        "Re: Lunch on Friday",
    ]
    .iter()
    .enumerate()
    {
        all.push(
            TestMail::new()
                .message_id(&format!("<lunch{i}@example.org>"))
                .from("Dana <dana@example.org>")
                .to("alice@localhost")
                .subject(subject)
                .date_unix(top + 60 + i as i64 * 60)
                .body("Shall we?\r\n")
                .build(),
        );
    }
    all.push(
        TestMail::new()
            .message_id("<newsletter@example.org>")
            .from("News <news@example.org>")
            .to("alice@localhost")
            .subject("Newsletter with pictures")
            .date_unix(top + 600)
            .body("Look at this picture (text part).\r\n")
            .html(&format!(
                "<p>Look at this picture:</p><p><img src=\"http://{images}/pixel.png\" alt=\"a pixel\" width=\"40\" height=\"40\"></p>"
            ))
            .build(),
    );
    all.push(
        TestMail::new()
            .message_id("<quarterly@example.org>")
            .from("Finance <finance@example.org>")
            .to("alice@localhost")
            .subject("Quarterly figures")
            .date_unix(top + 900)
            .body("The figures are attached.\r\n")
            .attachment("figures.csv", b"quarter,revenue\r\nQ1,100\r\nQ2,120\r\n")
            .build(),
    );
    all
}

fn pop3_mail() -> Vec<Vec<u8>> {
    (0..POP3_COUNT as i64)
        .map(|n| {
            TestMail::new()
                .message_id(&format!("<home{n}@example.net>"))
                .from("Grandma <grandma@example.net>")
                .to("bob@localhost")
                .subject(&format!("Home note {n}"))
                .date_unix(BASE_DATE - 86_400 + n * 60)
                .body("Greetings from home.\r\n")
                .build()
        })
        .collect()
}

/// Answers the browser script's requests ("@@ command arg") on its stdin.
struct Helper<'a> {
    dv: &'a Dovecot,
    addr: SocketAddr,
    token: String,
    images: Arc<AtomicUsize>,
}

impl Helper<'_> {
    fn api(&self, path: &str) -> serde_json::Value {
        let auth = format!("Bearer {}", self.token);
        get(self.addr, path, &[("Authorization", &auth)])
            .and_then(|r| r.json())
            .unwrap_or(serde_json::Value::Null)
    }

    fn answer(&self, command: &str, arg: &str) -> Result<String, String> {
        match command {
            "image-requests" => Ok(self.images.load(Ordering::SeqCst).to_string()),
            "wait-image-request" => {
                wait_for("the remote image request", Duration::from_secs(20), || {
                    self.images.load(Ordering::SeqCst) > 0
                });
                Ok(self.images.load(Ordering::SeqCst).to_string())
            }
            "gone-from-dovecot" => {
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let ids = self
                        .dv
                        .message_ids("alice", "INBOX")
                        .map_err(|e| e.to_string())?;
                    if !ids.iter().any(|i| i == arg) {
                        return Ok(String::new());
                    }
                    if Instant::now() > deadline {
                        return Err(format!("{arg} is still in Dovecot after 60 s"));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            "flagged-in-dovecot" => {
                let m = self.api(&format!("/api/messages/{arg}"));
                let source = m["sources"]
                    .as_array()
                    .and_then(|s| s.iter().find(|s| s["account"] == "work"))
                    .ok_or(format!("message {arg} has no IMAP source: {m}"))?;
                let uid = source["uid"].as_u64().ok_or("the source has no uid")? as u32;
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let flags = self
                        .dv
                        .flags_by_uid("alice", "INBOX")
                        .map_err(|e| e.to_string())?;
                    if flags
                        .iter()
                        .any(|(u, f)| *u == uid && f.iter().any(|f| f == "\\Flagged"))
                    {
                        return Ok(String::new());
                    }
                    if Instant::now() > deadline {
                        return Err(format!("uid {uid} is not \\Flagged in Dovecot after 60 s"));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            "active-profile" => {
                let active = self.api("/api/profiles/active");
                active["active"]["name"]
                    .as_str()
                    .map(String::from)
                    .ok_or(format!("no active profile in {active}"))
            }
            "deliver-live" => {
                let raw = TestMail::new()
                    .message_id("<live@example.org>")
                    .from("Eve <eve@example.org>")
                    .to("alice@localhost")
                    .subject("Arrived while you watched")
                    .date_unix(
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_secs() as i64)
                            .unwrap_or(BASE_DATE * 2),
                    )
                    .body("Hello, live.\r\n")
                    .build();
                self.dv
                    .deliver("alice", "INBOX", &raw)
                    .map_err(|e| e.to_string())?;
                Ok(String::new())
            }
            other => Err(format!("unknown request {other}")),
        }
    }
}

#[test]
fn the_inbox_in_a_real_browser() {
    let root = workspace_root();
    let ui = root.join("ui");
    let node = node();
    require_ui_deps(&ui);

    let dv = Dovecot::start().unwrap();
    let (images_addr, images) = image_server();
    dv.deliver_many("alice", "INBOX", imap_mail(images_addr))
        .unwrap();
    dv.deliver_many("bob", "INBOX", pop3_mail()).unwrap();

    let sb = Switchboard::new().unwrap();
    let out = sb.run_ok(&["token", "create", "ui-e2e"]).unwrap();
    let token = out
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().last())
        .expect("a token")
        .to_string();
    let addr = free_addr();
    let _serve = Serve(
        sb.spawn(&["serve", "--listen", &addr.to_string(), "--interval", "10"])
            .unwrap(),
    );
    wait_for("the server", Duration::from_secs(30), || {
        get(addr, "/health", &[])
            .map(|r| r.status == 200)
            .unwrap_or(false)
    });
    let page = get(addr, "/", &[]).unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.text().contains("<div id=\"app\">"),
        "the binary carries no UI (run `make ui`, then build again): {}",
        page.text()
    );
    let csp = page
        .header("content-security-policy")
        .expect("the page has a CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));

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

    let shots = root.join("target/ui-e2e");
    let _ = std::fs::remove_dir_all(&shots);
    let mut child = Command::new(node)
        .arg(ui.join("e2e/inbox.e2e.mjs"))
        .current_dir(&ui)
        .env("SB_LOGIN_URL", &login)
        .env("SB_SHOTS", &shots)
        .env("SB_IMAPS_PORT", dv.imaps_port().to_string())
        .env("SB_POP3S_PORT", dv.pop3s_port().to_string())
        .env("SB_CERT_SHA256", dv.cert_sha256())
        .env("SB_IMAP_COUNT", (IMAP_COUNT + 5).to_string())
        .env("SB_POP3_COUNT", POP3_COUNT.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let mut to_node = child.stdin.take().expect("node's stdin");
    let from_node = BufReader::new(child.stdout.take().expect("node's stdout"));
    let helper = Helper {
        dv: &dv,
        addr,
        token,
        images,
    };
    let mut steps = Vec::new();
    let mut failure = None;
    for line in from_node.lines() {
        let line = line.expect("node's output");
        println!("{line}");
        if let Some(step) = line.strip_prefix("step: ") {
            steps.push(step.to_string());
        }
        if let Some(request) = line.strip_prefix("@@ ") {
            let (command, arg) = request.split_once(' ').unwrap_or((request, ""));
            let reply = match helper.answer(command, arg.trim()) {
                Ok(v) => format!("ok {v}"),
                Err(e) => {
                    failure = Some(format!("{command}: {e}"));
                    format!("fail {e}")
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
        steps.iter().any(|s| s.contains("appears without a reload")),
        "the script stopped early: {steps:?}"
    );
    // Every step left its picture.
    let pictures = std::fs::read_dir(&shots).unwrap().count();
    assert!(
        pictures >= 12,
        "{pictures} screenshots in {}",
        shots.display()
    );
    // The deleted message is gone here too; the other one of the pair stays.
    let auth = format!("Bearer {}", helper.token);
    let found = get(addr, "/api/search?q=Quarterly", &[("Authorization", &auth)])
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        found["messages"].as_array().map(Vec::len),
        Some(0),
        "{found}"
    );
    let _ = TcpStream::connect(images_addr);
}
