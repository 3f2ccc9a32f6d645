//! The embedded server: a real `switchboard serve` process, syncing a real Dovecot.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_tests::http::{get, HttpResponse};
use switchboard_tests::{Dovecot, Switchboard, TestMail};

fn mail(n: u32) -> Vec<u8> {
    TestMail::new()
        .message_id(&format!("<api{n}@example.org>"))
        .from("Carol <carol@example.org>")
        .to("alice@localhost")
        .subject(&format!("Api {n}"))
        .body(&format!("Body of api message {n}.\r\n"))
        .build()
}

struct Served {
    dv: Dovecot,
    sb: Switchboard,
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

fn serve(messages: u32) -> Served {
    let dv = Dovecot::start().unwrap();
    for n in 1..=messages {
        dv.deliver("alice", "INBOX", &mail(n)).unwrap();
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
        dv,
        sb,
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
            == messages as usize
    });
    // The index follows the store within its watch interval.
    wait_for("the index", Duration::from_secs(5), || {
        served.seq() >= messages as i64
    });
    served
}

impl Served {
    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }
    fn api(&self, path: &str) -> HttpResponse {
        get(self.addr, path, &[("Authorization", &self.auth())]).unwrap()
    }
    fn seq(&self) -> i64 {
        self.api("/api/index").json().unwrap()["seq"]
            .as_i64()
            .unwrap()
    }
    /// Long-polls the index from `seq` and returns the new sequence.
    fn wait_past(&self, seq: i64) -> i64 {
        let etag = format!("\"{seq}\"");
        let r = get(
            self.addr,
            "/api/index?wait=30",
            &[("Authorization", &self.auth()), ("If-None-Match", &etag)],
        )
        .unwrap();
        assert_eq!(
            r.status, 200,
            "the index did not move from {seq} within 30 s"
        );
        let new = r.json().unwrap()["seq"].as_i64().unwrap();
        assert!(new > seq);
        new
    }
}

#[test]
fn every_endpoint_but_health_needs_a_valid_token() {
    let s = serve(1);
    let no = get(s.addr, "/api/index", &[]).unwrap();
    assert_eq!(no.status, 401);
    assert_eq!(no.json().unwrap()["error"], "unauthorized");
    for path in [
        "/api/messages",
        "/api/messages/1",
        "/api/messages/1/raw",
        "/api/search?q=x",
        "/api/accounts",
        "/api/changes?since=0",
        "/api/events",
    ] {
        let r = get(s.addr, path, &[("Authorization", "Bearer sb_wrong")]).unwrap();
        assert_eq!(r.status, 401, "{path}");
        let r = get(s.addr, path, &[("Authorization", "Basic Zm9vOmJhcg==")]).unwrap();
        assert_eq!(r.status, 401, "{path}");
    }
    assert_eq!(get(s.addr, "/health", &[]).unwrap().status, 200);
    assert_eq!(s.api("/api/index").status, 200);
    // Revoking takes effect on the running server.
    s.sb.run_ok(&["token", "revoke", "tests"]).unwrap();
    wait_for("the revocation", Duration::from_secs(5), || {
        s.api("/api/index").status == 401
    });
    let listed = s.sb.run_json(&["token", "list", "--json"]).unwrap();
    assert_eq!(listed[0]["revoked"], true);
    assert!(
        !listed.to_string().contains(&s.token),
        "the token itself is never listed"
    );
}

#[test]
fn foreign_host_and_origin_are_refused() {
    let s = serve(1);
    let auth = s.auth();
    let r = get(
        s.addr,
        "/api/index",
        &[("Authorization", &auth), ("Host", "attacker.example")],
    )
    .unwrap();
    assert_eq!(r.status, 403);
    let r = get(s.addr, "/health", &[("Host", "attacker.example")]).unwrap();
    assert_eq!(r.status, 403);
    let r = get(
        s.addr,
        "/api/index",
        &[
            ("Authorization", &auth),
            ("Origin", "http://attacker.example"),
        ],
    )
    .unwrap();
    assert_eq!(r.status, 403);
    let own = format!("http://{}", s.addr);
    let r = get(
        s.addr,
        "/api/index",
        &[("Authorization", &auth), ("Origin", &own)],
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let localhost = format!("localhost:{}", s.addr.port());
    let r = get(
        s.addr,
        "/api/index",
        &[("Authorization", &auth), ("Host", &localhost)],
    )
    .unwrap();
    assert_eq!(r.status, 200);
}

#[test]
fn the_index_answers_304_small_and_moves_on_every_change() {
    let s = serve(3);
    let first = s.api("/api/index");
    let seq = first.json().unwrap()["seq"].as_i64().unwrap();
    assert!(seq >= 3);
    assert_eq!(first.header("etag"), Some(format!("\"{seq}\"").as_str()));
    assert_eq!(first.json().unwrap()["latest"]["from"], "carol@example.org");

    // No change: 304, empty body, small on the wire both ways.
    let etag = format!("\"{seq}\"");
    let r = get(
        s.addr,
        "/api/index",
        &[("Authorization", &s.auth()), ("If-None-Match", &etag)],
    )
    .unwrap();
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert!(
        r.request_bytes <= 200,
        "request is {} bytes",
        r.request_bytes
    );
    assert!(
        r.response_bytes <= 200,
        "response is {} bytes",
        r.response_bytes
    );

    // New mail delivered into Dovecot: IDLE → sync → the long poll wakes.
    s.dv.deliver("alice", "INBOX", &mail(4)).unwrap();
    let after_add = s.wait_past(seq);

    // Flag change on the server.
    s.dv.set_flags(
        "alice",
        "INBOX",
        "header Message-ID <api1@example.org>",
        "\\Flagged",
    )
    .unwrap();
    let after_flag = s.wait_past(after_add);

    // Delete here (another process on the same data dir).
    let list = s.api("/api/messages").json().unwrap();
    let id = list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["subject"] == "Api 3")
        .unwrap()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    s.sb.run_ok(&["delete", &id]).unwrap();
    let after_delete = s.wait_past(after_flag);

    // Delete on the server plus a new delivery: the count is unchanged, the sequence is not.
    let count_before = s.api("/api/messages").json().unwrap()["messages"]
        .as_array()
        .unwrap()
        .len();
    s.dv.expunge("alice", "INBOX", "header Message-ID <api2@example.org>")
        .unwrap();
    s.dv.deliver("alice", "INBOX", &mail(5)).unwrap();
    wait_for("delete + add", Duration::from_secs(20), || {
        let changes = s
            .api(&format!("/api/changes?since={after_delete}"))
            .json()
            .unwrap();
        changes["removed"].as_array().unwrap().len() == 1
            && changes["added"].as_array().unwrap().len() == 1
    });
    let count_after = s.api("/api/messages").json().unwrap()["messages"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(count_before, count_after);
    // The index follows the database within its watch interval.
    wait_for("the index to count both", Duration::from_secs(5), || {
        s.seq() >= after_delete + 2
    });

    let changes = s.api(&format!("/api/changes?since={seq}")).json().unwrap();
    let added: Vec<&Value> = changes["added"].as_array().unwrap().iter().collect();
    assert!(added
        .iter()
        .any(|m| m["subject"] == "Api 4" && m["size"].as_i64().unwrap() > 0));
    assert_eq!(changes["updated"].as_array().unwrap().len(), 1);
}

#[test]
fn messages_search_and_bad_input() {
    let s = serve(5);
    // Channel filter: everything here came by mail.
    let mail_only = s.api("/api/messages?channel=mail").json().unwrap();
    let all = mail_only["messages"].as_array().unwrap();
    assert_eq!(all.len(), 5);
    assert!(all.iter().all(|m| m["channel"] == "mail"), "{mail_only}");
    let im = s.api("/api/messages?channel=im").json().unwrap();
    assert!(im["messages"].as_array().unwrap().is_empty(), "{im}");
    let bad = s.api("/api/messages?channel=fax");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("channel"), "{}", bad.text());
    let page1 = s.api("/api/messages?limit=2").json().unwrap();
    assert_eq!(page1["messages"].as_array().unwrap().len(), 2);
    let cursor = page1["next_cursor"].as_str().unwrap().to_string();
    let page2 = s
        .api(&format!("/api/messages?limit=2&cursor={cursor}"))
        .json()
        .unwrap();
    let page3 = s
        .api(&format!(
            "/api/messages?limit=2&cursor={}",
            page2["next_cursor"].as_str().unwrap()
        ))
        .json()
        .unwrap();
    let mut subjects: Vec<String> = [&page1, &page2, &page3]
        .iter()
        .flat_map(|p| {
            p["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["subject"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(page3["next_cursor"], Value::Null);
    subjects.sort();
    assert_eq!(subjects, vec!["Api 1", "Api 2", "Api 3", "Api 4", "Api 5"]);

    let id = page1["messages"][0]["id"].as_i64().unwrap();
    let one = s.api(&format!("/api/messages/{id}")).json().unwrap();
    assert!(one["text_body"].as_str().unwrap().contains("api message"));
    let raw = s.api(&format!("/api/messages/{id}/raw"));
    assert_eq!(raw.header("content-type"), Some("message/rfc822"));
    assert!(raw.text().contains("Message-ID: <api"));
    let found = s.api("/api/search?q=api%20message%203").json().unwrap();
    assert_eq!(found["messages"].as_array().unwrap().len(), 1);
    let accounts = s.api("/api/accounts").json().unwrap();
    assert_eq!(accounts[0]["name"], "imap");
    assert!(!accounts.to_string().contains("alice-pass"));

    for (path, status) in [
        ("/api/messages/999999", 404),
        ("/api/messages/abc", 400),
        ("/api/messages/-1/raw", 400),
        ("/api/messages?cursor=garbage", 400),
        ("/api/messages?limit=0", 400),
        ("/api/messages?limit=lots", 400),
        ("/api/messages?unread=perhaps", 400),
        ("/api/changes", 400),
        ("/api/changes?since=-4", 400),
        ("/api/search", 400),
        ("/api/nowhere", 404),
    ] {
        let r = s.api(path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        if status != 404 || path != "/api/nowhere" {
            let body = r
                .json()
                .unwrap_or_else(|_| panic!("{path}: not JSON: {}", r.text()));
            assert!(
                body["error"].is_string() && body["detail"].is_string(),
                "{path}: {body}"
            );
        }
    }
    let huge = format!("/api/search?q={}", "a".repeat(5000));
    assert_eq!(s.api(&huge).status, 400);
    let future = s.api("/api/changes?since=99999999").json().unwrap();
    assert_eq!(future["resync"], true);
}

#[test]
fn the_event_stream_pushes_the_sequence() {
    let s = serve(1);
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET /api/events HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\n\r\n",
        s.addr,
        s.auth()
    )
    .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let seq = s.seq();
    let mut delivered = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the stream closed");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if !delivered && seen.contains(&format!("data: {{\"seq\":{seq}}}")) {
            s.dv.deliver("alice", "INBOX", &mail(2)).unwrap();
            delivered = true;
        }
        let pushed = seen
            .split("data: {\"seq\":")
            .skip(1)
            .filter_map(|rest| rest.split('}').next()?.parse::<i64>().ok())
            .any(|n| n > seq);
        if pushed {
            assert!(seen.contains("text/event-stream"));
            return;
        }
    }
    panic!("no pushed sequence after delivery: {seen}");
}

impl Served {
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> HttpResponse {
        let auth = self.auth();
        let mut headers = vec![("Authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        switchboard_tests::http::request(
            self.addr,
            method,
            path,
            &headers,
            body.unwrap_or("").as_bytes(),
        )
        .unwrap()
    }
    fn id_of(&self, subject: &str) -> i64 {
        let list = self.api("/api/messages?limit=1000").json().unwrap();
        list["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["subject"] == subject)
            .unwrap_or_else(|| panic!("no {subject}"))["id"]
            .as_i64()
            .unwrap()
    }
}

#[test]
fn flags_and_deletes_reach_the_server_promptly() {
    let s = serve(3);
    let id = s.id_of("Api 1");
    let r = s.call(
        "PATCH",
        &format!("/api/messages/{id}"),
        Some(r#"{"seen": true, "flagged": true}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json().unwrap()["flags"],
        serde_json::json!(["seen", "flagged"])
    );
    // The API woke the sync task out of IDLE: the server has the flags within seconds.
    wait_for("flags on the server", Duration::from_secs(15), || {
        let flags = s.dv.flags_by_uid("alice", "INBOX").unwrap();
        flags[0].1.iter().any(|f| f == "\\Seen") && flags[0].1.iter().any(|f| f == "\\Flagged")
    });
    let id2 = s.id_of("Api 2");
    let r = s.call("DELETE", &format!("/api/messages/{id2}"), None);
    assert_eq!(r.status, 204);
    assert_eq!(
        s.call("GET", &format!("/api/messages/{id2}"), None).status,
        404
    );
    wait_for("the delete on the server", Duration::from_secs(15), || {
        s.dv.count("alice", "INBOX").unwrap() == 2
    });
    assert_eq!(
        s.call("DELETE", &format!("/api/messages/{id2}"), None)
            .status,
        404
    );

    let r = s.call("POST", "/api/sync", None);
    assert_eq!(r.status, 202);
    let status = s.api("/api/sync").json().unwrap();
    assert_eq!(status[0]["account"], "imap");

    for (body, why) in [
        ("{not json", "syntax"),
        (r#"{"seen": "yes"}"#, "wrong type"),
        (r#"{"colour": "red"}"#, "unknown field"),
    ] {
        let r = s.call("PATCH", &format!("/api/messages/{id}"), Some(body));
        assert_eq!(r.status, 400, "{why}: {}", r.text());
        assert!(r.json().unwrap()["detail"].is_string(), "{why}");
    }
    // Nothing to change: the current flags, unchanged.
    let r = s.call("PATCH", &format!("/api/messages/{id}"), Some("{}"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json().unwrap()["flags"],
        serde_json::json!(["seen", "flagged"])
    );
}

#[test]
fn accounts_are_added_tested_edited_and_removed_over_the_api() {
    let s = serve(1);
    let port = s.dv.imaps_port();
    // Wrong password: refused with the server's words, and nothing is kept.
    let r = s.call(
        "POST",
        "/api/accounts",
        Some(&format!(r#"{{"kind":"imap","name":"other","host":"127.0.0.1","port":{port},"username":"bob","password":"wrong","trust_cert":"{}"}}"#, s.dv.cert_sha256())),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json().unwrap()["error"], "auth_failed");
    assert_eq!(
        s.api("/api/accounts")
            .json()
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Untrusted certificate: the answer carries the fingerprint to offer "trust this certificate".
    let r = s.call(
        "POST",
        "/api/accounts",
        Some(&format!(r#"{{"kind":"imap","name":"other","host":"127.0.0.1","port":{port},"username":"bob","password":"bob-pass"}}"#)),
    );
    assert_eq!(r.status, 422, "{}", r.text());
    let v = r.json().unwrap();
    assert_eq!(v["error"], "tls_error");
    assert_eq!(v["fingerprint"], s.dv.cert_sha256());
    // Trusted by pin: created, and the password is nowhere in the answer.
    let r = s.call(
        "POST",
        "/api/accounts",
        Some(&format!(r#"{{"kind":"imap","name":"other","host":"127.0.0.1","port":{port},"username":"bob","password":"bob-pass","trust_cert":"{}"}}"#, v["fingerprint"].as_str().unwrap())),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(!r.text().contains("bob-pass"));
    let r = s.call(
        "PATCH",
        "/api/accounts/other",
        Some(r#"{"policy":"keep","mailboxes":["INBOX","Archive"]}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().unwrap()["policy"], "keep");
    let r = s.call(
        "PATCH",
        "/api/accounts/other",
        Some(r#"{"policy":"sometimes"}"#),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        s.call(
            "PATCH",
            "/api/accounts/nobody",
            Some(r#"{"policy":"keep"}"#)
        )
        .status,
        404
    );
    assert_eq!(s.call("DELETE", "/api/accounts/other", None).status, 204);
    assert_eq!(s.call("DELETE", "/api/accounts/other", None).status, 404);
    let r = s.call(
        "POST",
        "/api/accounts",
        Some(r#"{"kind":"smtp","name":"x"}"#),
    );
    assert_eq!(r.status, 400);
}

#[test]
fn attachments_download_with_their_type_and_a_safe_name() {
    let s = serve(0);
    let pdf = b"%PDF-1.4 fake but binary \x00\x01\x02".to_vec();
    s.dv.deliver(
        "alice",
        "INBOX",
        &TestMail::new()
            .message_id("<att@example.org>")
            .from("carol@example.org")
            .to("alice@localhost")
            .subject("With attachment")
            .body("see attached")
            .attachment_typed("Résumé \"final\".pdf", "application/pdf", &pdf)
            .build(),
    )
    .unwrap();
    s.call("POST", "/api/sync", None);
    wait_for("the message", Duration::from_secs(15), || {
        s.api("/api/messages").json().unwrap()["messages"]
            .as_array()
            .unwrap()
            .len()
            == 1
    });
    let id = s.id_of("With attachment");
    let r = s.api(&format!("/api/messages/{id}/attachments/0"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pdf);
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let disposition = r.header("content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment;")
            && disposition.contains("filename*=UTF-8''R%C3%A9sum%C3%A9"),
        "{disposition}"
    );
    assert_eq!(
        s.api(&format!("/api/messages/{id}/attachments/7")).status,
        404
    );
    assert_eq!(
        s.api(&format!("/api/messages/{id}/attachments/x")).status,
        400
    );
}

#[test]
fn the_launch_secret_signs_in_a_browser_once() {
    let s = serve(1);
    // `serve` prints the sign-in URL on its first lines.
    let (stdout, _) = s.sb.spawn_logs(0);
    let printed = std::fs::read_to_string(stdout).unwrap();
    let url = printed
        .lines()
        .find_map(|l| l.split_whitespace().find(|w| w.contains("/login?secret=")))
        .unwrap_or_else(|| panic!("no sign-in URL in {printed:?}"))
        .to_string();
    let path = &url[url.find("/login").unwrap()..];
    let wrong = get(s.addr, "/login?secret=nope", &[]).unwrap();
    assert_eq!(wrong.status, 401);
    let r = get(s.addr, path, &[]).unwrap();
    assert_eq!(r.status, 303);
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let with_cookie = get(s.addr, "/api/index", &[("Cookie", &pair)]).unwrap();
    assert_eq!(with_cookie.status, 200);
    let forged = get(s.addr, "/api/index", &[("Cookie", "sb_session=0000")]).unwrap();
    assert_eq!(forged.status, 401);
    // Exchanged once: the same secret no longer works.
    assert_eq!(get(s.addr, path, &[]).unwrap().status, 401);
}

fn openssl_get(addr: SocketAddr, path: &str) -> (String, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl must be installed (scripts/install-deps.sh test)");
    write!(
        child.stdin.as_mut().unwrap(),
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let cert = Command::new("sh")
        .arg("-c")
        .arg(format!("echo | openssl s_client -connect {addr} 2>/dev/null | openssl x509 -outform DER | sha256sum"))
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&cert.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string(),
    )
}

#[test]
fn tls_serving_prints_a_stable_fingerprint_and_refuses_plain_http() {
    let sb = Switchboard::new().unwrap();
    let mut fingerprints = Vec::new();
    for _ in 0..2 {
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let n = fingerprints.len();
        let mut child = sb
            .spawn(&["serve", "--listen", &addr.to_string(), "--tls", "--no-sync"])
            .unwrap();
        let (stdout, _) = sb.spawn_logs(n);
        let mut printed = String::new();
        wait_for("the fingerprint line", Duration::from_secs(20), || {
            printed = std::fs::read_to_string(&stdout).unwrap_or_default();
            printed.contains("fingerprint")
        });
        let fp = printed
            .lines()
            .find(|l| l.contains("fingerprint"))
            .and_then(|l| l.split_whitespace().last())
            .unwrap()
            .to_string();
        assert!(printed.contains(&format!("https://{addr}")), "{printed}");
        let (body, presented) = openssl_get(addr, "/health");
        assert!(body.contains("{\"ok\":true}"), "{body}");
        assert_eq!(
            presented, fp,
            "the printed fingerprint is the served certificate's"
        );
        let plain = get(addr, "/health", &[]);
        assert!(
            plain.map(|r| r.status != 200).unwrap_or(true),
            "plain HTTP must not be served"
        );
        fingerprints.push(fp);
        let _ = child.kill();
        let _ = child.wait();
    }
    assert_eq!(
        fingerprints[0], fingerprints[1],
        "the generated certificate is kept"
    );
}

fn token_for(sb: &Switchboard, name: &str, owner: Option<&str>) -> String {
    let mut args = vec!["token", "create", name];
    if let Some(o) = owner {
        args.extend(["--owner", o]);
    }
    let out = sb.run_ok(&args).unwrap();
    out.lines()
        .last()
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .to_string()
}

fn api_as(addr: SocketAddr, token: &str, path: &str, extra: &[(&str, &str)]) -> HttpResponse {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Authorization", auth.as_str())];
    headers.extend_from_slice(extra);
    get(addr, path, &headers).unwrap()
}

fn subjects(r: &HttpResponse) -> Vec<String> {
    let mut s: Vec<String> = r.json().unwrap()["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap_or("").to_string())
        .collect();
    s.sort();
    s
}

#[test]
fn household_members_see_their_own_messages_and_sequence() {
    let dv = Dovecot::start().unwrap();
    dv.deliver("alice", "INBOX", &mail(1)).unwrap();
    dv.deliver("alice", "INBOX", &mail(2)).unwrap();
    let bobs = |n: u32| {
        TestMail::new()
            .message_id(&format!("<bob{n}@example.org>"))
            .from("Dave <dave@example.org>")
            .to("bob@localhost")
            .subject(&format!("Parcel {n}"))
            .body("Your parcel is on its way.\r\n")
            .build()
    };
    dv.deliver("bob", "INBOX", &bobs(1)).unwrap();
    let sb = Switchboard::new().unwrap();
    let imaps = dv.imaps_port().to_string();
    let pop3 = dv.pop3_port().to_string();
    let pin = dv.cert_sha256().to_string();
    let add = |proto: &str, name: &str, port: &str, tls: &str, user: &str, owner: &str| {
        let pass = format!("{user}-pass");
        sb.run_with_stdin_ok(
            &[
                "account",
                "add",
                proto,
                name,
                "--host",
                "127.0.0.1",
                "--port",
                port,
                "--tls",
                tls,
                "--user",
                user,
                "--password-stdin",
                "--trust-cert",
                &pin,
                "--owner",
                owner,
            ],
            pass.as_bytes(),
        )
        .unwrap();
    };
    add("imap", "alice-imap", &imaps, "implicit", "alice", "alice");
    add("pop3", "bob-pop", &pop3, "starttls", "bob", "bob");
    let err = sb
        .run_with_stdin(&["account", "owner", "bob-pop", "not a name"], b"")
        .unwrap();
    assert!(!err.status.success(), "a bad owner name is refused");
    let admin = token_for(&sb, "desk", None);
    let alice = token_for(&sb, "alice-phone", Some("alice"));
    let bob = token_for(&sb, "bob-tablet", Some("bob"));

    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let mut child = sb
        .spawn(&["serve", "--listen", &addr.to_string(), "--interval", "1"])
        .unwrap();
    let _stop = KillOnDrop(&mut child);
    wait_for("the first sync of both", Duration::from_secs(30), || {
        get(addr, "/health", &[]).is_ok_and(|r| r.status == 200)
            && subjects(&api_as(addr, &admin, "/api/messages", &[])).len() == 3
    });

    // Each sees their own mail; the store's owner sees all of it.
    assert_eq!(
        subjects(&api_as(addr, &alice, "/api/messages", &[])),
        vec!["Api 1", "Api 2"]
    );
    assert_eq!(
        subjects(&api_as(addr, &bob, "/api/messages", &[])),
        vec!["Parcel 1"]
    );
    let bob_list = api_as(addr, &bob, "/api/messages", &[]).json().unwrap();
    let parcel = bob_list["messages"][0]["id"].as_i64().unwrap();
    for path in [
        format!("/api/messages/{parcel}"),
        format!("/api/messages/{parcel}/raw"),
    ] {
        let r = api_as(addr, &alice, &path, &[]);
        assert_eq!(r.status, 404, "{path} as alice: {}", r.text());
    }
    assert_eq!(
        api_as(addr, &bob, &format!("/api/messages/{parcel}"), &[]).status,
        200
    );
    let found = api_as(addr, &alice, "/api/search?q=parcel", &[]);
    assert_eq!(
        subjects(&found),
        Vec::<String>::new(),
        "search is scoped too"
    );
    assert_eq!(
        subjects(&api_as(addr, &bob, "/api/search?q=parcel", &[])).len(),
        1
    );
    let accounts = api_as(addr, &alice, "/api/accounts", &[]).json().unwrap();
    let names: Vec<&str> = accounts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["alice-imap"]);
    let auth = format!("Bearer {alice}");
    let r = switchboard_tests::http::request(
        addr,
        "POST",
        "/api/sync",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("alice"), "{}", r.text());

    // A delivery to Bob moves Bob's sequence and the global one, not Alice's.
    let index = |token: &str| api_as(addr, token, "/api/index", &[]).json().unwrap();
    let alice_seq = index(&alice)["seq"].as_i64().unwrap();
    let bob_seq = index(&bob)["seq"].as_i64().unwrap();
    let global_seq = index(&admin)["seq"].as_i64().unwrap();
    dv.deliver("bob", "INBOX", &bobs(2)).unwrap();
    let etag = format!("\"{bob_seq}\"");
    let moved = api_as(
        addr,
        &bob,
        "/api/index?wait=30",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(moved.status, 200, "Bob's index did not move");
    let new_bob = moved.json().unwrap()["seq"].as_i64().unwrap();
    assert!(new_bob > bob_seq);
    assert!(index(&admin)["seq"].as_i64().unwrap() > global_seq);
    let etag = format!("\"{alice_seq}\"");
    let unchanged = api_as(addr, &alice, "/api/index", &[("If-None-Match", &etag)]);
    assert_eq!(unchanged.status, 304, "Alice's index moved for Bob's mail");
    let changes = api_as(addr, &bob, &format!("/api/changes?since={bob_seq}"), &[])
        .json()
        .unwrap();
    let added: Vec<&str> = changes["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(added, vec!["Parcel 2"]);
    let theirs = api_as(
        addr,
        &alice,
        &format!("/api/changes?since={alice_seq}"),
        &[],
    )
    .json()
    .unwrap();
    assert!(theirs["added"].as_array().unwrap().is_empty(), "{theirs}");
}

struct KillOnDrop<'a>(&'a mut Child);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
