//! End-to-end: the real `switchboard` binary against a real Dovecot on loopback.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_tests::{awkward_corpus, Dovecot, Switchboard, TestMail};

fn mail(n: u32, subject: &str) -> Vec<u8> {
    TestMail::new()
        .message_id(&format!("<msg{n}@example.org>"))
        .from("Bob <bob@example.org>")
        .to("alice@localhost")
        .subject(subject)
        .body(&format!("This is the body of message {n}.\r\n"))
        .build()
}

struct Accounts<'a> {
    sb: &'a Switchboard,
    dv: &'a Dovecot,
}

impl Accounts<'_> {
    fn imap(&self, name: &str, user: &str, password: &str, extra: &[&str]) {
        let port = self.dv.imaps_port().to_string();
        let pin = self.dv.cert_sha256();
        let mut args = vec![
            "account",
            "add",
            "imap",
            name,
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            user,
            "--password-stdin",
            "--trust-cert",
            &pin,
        ];
        args.extend_from_slice(extra);
        self.sb
            .run_with_stdin_ok(&args, password.as_bytes())
            .expect("add imap account");
    }

    fn pop3(&self, name: &str, user: &str, password: &str, extra: &[&str]) {
        let port = self.dv.pop3_port().to_string();
        let pin = self.dv.cert_sha256();
        let mut args = vec![
            "account",
            "add",
            "pop3",
            name,
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--tls",
            "starttls",
            "--user",
            user,
            "--password-stdin",
            "--trust-cert",
            &pin,
        ];
        args.extend_from_slice(extra);
        self.sb
            .run_with_stdin_ok(&args, password.as_bytes())
            .expect("add pop3 account");
    }
}

fn inbox(sb: &Switchboard) -> Vec<Value> {
    let v = sb
        .run_json(&["inbox", "--limit", "100000", "--json"])
        .expect("inbox");
    v.as_array().expect("inbox is a JSON array").clone()
}

fn subjects(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|m| m["subject"].as_str().unwrap_or("").to_string())
        .collect()
}

fn find<'a>(list: &'a [Value], subject: &str) -> &'a Value {
    list.iter()
        .find(|m| m["subject"] == subject)
        .unwrap_or_else(|| {
            panic!(
                "no message with subject {subject:?} in {:?}",
                subjects(list)
            )
        })
}

fn sync_ok(sb: &Switchboard) -> String {
    let out = sb.run(&["sync"]).expect("run sync");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "sync failed: {stderr}");
    stderr
}

#[test]
fn imap_and_pop3_first_sync_dedups_by_message_id() {
    let dv = Dovecot::start().unwrap();
    for n in 1..=3 {
        dv.deliver("alice", "INBOX", &mail(n, &format!("Hello {n}")))
            .unwrap();
    }
    let sb = Switchboard::new().unwrap();
    let acc = Accounts { sb: &sb, dv: &dv };
    acc.imap("work", "alice", "alice-pass", &[]);
    acc.pop3("home", "alice", "alice-pass", &["--policy", "keep"]);
    sync_ok(&sb);
    let list = inbox(&sb);
    assert_eq!(list.len(), 3, "{:?}", subjects(&list));
    // Newest first.
    for m in &list {
        let accounts: HashSet<&str> = m["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["account"].as_str().unwrap())
            .collect();
        assert_eq!(accounts, HashSet::from(["work", "home"]), "{m}");
        assert!(m["message_id"].as_str().unwrap().starts_with("msg"));
        assert!(m["size"].as_i64().unwrap() > 0);
        assert_eq!(m["has_attachments"], false);
    }
    // A second sync changes nothing.
    let stderr = sync_ok(&sb);
    assert!(stderr.contains("0 new"), "{stderr}");
    assert_eq!(inbox(&sb).len(), 3);
    // Search and show.
    let found = sb.run_json(&["search", "message 2", "--json"]).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1);
    let id = found[0]["id"].as_i64().unwrap().to_string();
    let shown = sb.run_json(&["show", &id, "--json"]).unwrap();
    assert!(shown["text_body"].as_str().unwrap().contains("message 2"));
    let raw = sb.run_ok(&["show", &id, "--raw"]).unwrap();
    assert!(raw.contains("Message-ID: <msg2@example.org>"));
}

#[test]
fn forward_sync_removes_what_the_servers_removed() {
    let dv = Dovecot::start().unwrap();
    for n in 1..=3 {
        dv.deliver("alice", "INBOX", &mail(n, &format!("Fwd {n}")))
            .unwrap();
        dv.deliver("bob", "INBOX", &mail(10 + n, &format!("Pop {n}")))
            .unwrap();
    }
    let sb = Switchboard::new().unwrap();
    let acc = Accounts { sb: &sb, dv: &dv };
    acc.imap("imap", "alice", "alice-pass", &[]);
    acc.pop3("pop", "bob", "bob-pass", &[]);
    sync_ok(&sb);
    assert_eq!(inbox(&sb).len(), 6);
    dv.expunge("alice", "INBOX", "header Message-ID <msg2@example.org>")
        .unwrap();
    dv.expunge("bob", "INBOX", "header Message-ID <msg12@example.org>")
        .unwrap();
    sync_ok(&sb);
    let list = subjects(&inbox(&sb));
    assert_eq!(list.len(), 4, "{list:?}");
    assert!(!list.contains(&"Fwd 2".to_string()) && !list.contains(&"Pop 2".to_string()));
}

#[test]
fn reverse_sync_mirror_deletes_on_both_protocols() {
    let dv = Dovecot::start().unwrap();
    dv.deliver("alice", "INBOX", &mail(1, "Keep me")).unwrap();
    dv.deliver("alice", "INBOX", &mail(2, "Delete me")).unwrap();
    let sb = Switchboard::new().unwrap();
    let acc = Accounts { sb: &sb, dv: &dv };
    acc.imap("imap", "alice", "alice-pass", &["--policy", "mirror"]);
    sync_ok(&sb);
    let id = find(&inbox(&sb), "Delete me")["id"]
        .as_i64()
        .unwrap()
        .to_string();
    sb.run_ok(&["delete", &id]).unwrap();
    assert_eq!(inbox(&sb).len(), 1, "gone from the inbox at once");
    assert_eq!(
        dv.count("alice", "INBOX").unwrap(),
        2,
        "server untouched until the next sync"
    );
    sync_ok(&sb);
    assert_eq!(
        dv.message_ids("alice", "INBOX").unwrap(),
        vec!["<msg1@example.org>".to_string()]
    );

    // POP3.
    dv.deliver("bob", "INBOX", &mail(3, "Pop keep")).unwrap();
    dv.deliver("bob", "INBOX", &mail(4, "Pop delete")).unwrap();
    acc.pop3("pop", "bob", "bob-pass", &["--policy", "mirror"]);
    sync_ok(&sb);
    let id = find(&inbox(&sb), "Pop delete")["id"]
        .as_i64()
        .unwrap()
        .to_string();
    sb.run_ok(&["delete", &id]).unwrap();
    sync_ok(&sb);
    assert_eq!(
        dv.message_ids("bob", "INBOX").unwrap(),
        vec!["<msg3@example.org>".to_string()]
    );
    assert_eq!(subjects(&inbox(&sb)).len(), 2);
}

#[test]
fn keep_policy_never_deletes_remotely_nor_downloads_again() {
    let dv = Dovecot::start().unwrap();
    dv.deliver("alice", "INBOX", &mail(1, "Imap keep")).unwrap();
    dv.deliver("bob", "INBOX", &mail(2, "Pop keep")).unwrap();
    let sb = Switchboard::new().unwrap();
    let acc = Accounts { sb: &sb, dv: &dv };
    acc.imap("imap", "alice", "alice-pass", &["--policy", "keep"]);
    acc.pop3("pop", "bob", "bob-pass", &["--policy", "keep"]);
    sync_ok(&sb);
    for m in inbox(&sb) {
        sb.run_ok(&["delete", &m["id"].as_i64().unwrap().to_string()])
            .unwrap();
    }
    sync_ok(&sb);
    sync_ok(&sb);
    assert!(
        inbox(&sb).is_empty(),
        "tombstoned messages are not downloaded again"
    );
    assert_eq!(dv.count("alice", "INBOX").unwrap(), 1);
    assert_eq!(dv.count("bob", "INBOX").unwrap(), 1);
}

#[test]
fn delete_after_policy_deletes_on_the_server_and_keeps_the_local_copy() {
    let dv = Dovecot::start().unwrap();
    dv.deliver("bob", "INBOX", &mail(1, "Classic pop")).unwrap();
    let sb = Switchboard::new().unwrap();
    let acc = Accounts { sb: &sb, dv: &dv };
    acc.pop3("now", "bob", "bob-pass", &["--policy", "delete-after:0"]);
    sync_ok(&sb);
    assert_eq!(
        dv.count("bob", "INBOX").unwrap(),
        0,
        "deleted on the server right after storing"
    );
    sync_ok(&sb);
    assert_eq!(
        subjects(&inbox(&sb)),
        vec!["Classic pop".to_string()],
        "the local copy is the master"
    );

    // delete-after:30: not due yet; the server losing it does not remove the local copy.
    dv.deliver("alice", "INBOX", &mail(2, "Later pop")).unwrap();
    acc.pop3(
        "later",
        "alice",
        "alice-pass",
        &["--policy", "delete-after:30"],
    );
    sync_ok(&sb);
    assert_eq!(
        dv.count("alice", "INBOX").unwrap(),
        1,
        "not due for 30 days"
    );
    dv.expunge("alice", "INBOX", "ALL").unwrap();
    sync_ok(&sb);
    assert_eq!(inbox(&sb).len(), 2);
}

#[test]
fn flags_follow_the_server() {
    let dv = Dovecot::start().unwrap();
    dv.deliver("alice", "INBOX", &mail(1, "Flag me")).unwrap();
    let sb = Switchboard::new().unwrap();
    Accounts { sb: &sb, dv: &dv }.imap("imap", "alice", "alice-pass", &[]);
    sync_ok(&sb);
    let flags = |sb: &Switchboard| find(&inbox(sb), "Flag me")["flags"].clone();
    assert_eq!(flags(&sb), serde_json::json!([]));
    let unread = sb.run_json(&["inbox", "--unread", "--json"]).unwrap();
    assert_eq!(unread.as_array().unwrap().len(), 1);
    dv.set_flags("alice", "INBOX", "ALL", "\\Seen \\Flagged")
        .unwrap();
    sync_ok(&sb);
    assert_eq!(flags(&sb), serde_json::json!(["seen", "flagged"]));
    dv.remove_flags("alice", "INBOX", "ALL", "\\Flagged")
        .unwrap();
    sync_ok(&sb);
    assert_eq!(flags(&sb), serde_json::json!(["seen"]));
    let unread = sb.run_json(&["inbox", "--unread", "--json"]).unwrap();
    assert!(unread.as_array().unwrap().is_empty());

    // Changed here: pushed to the server at the next pass, not undone by it.
    let id = find(&inbox(&sb), "Flag me")["id"]
        .as_i64()
        .unwrap()
        .to_string();
    sb.run_ok(&["flag", &id, "--unseen", "--flagged"]).unwrap();
    assert_eq!(flags(&sb), serde_json::json!(["flagged"]));
    let r = sync_report(&sb, "imap");
    assert_eq!(r["flags_pushed"], 1, "{r}");
    assert_eq!(flags(&sb), serde_json::json!(["flagged"]));
    let on_server = dv.flags_by_uid("alice", "INBOX").unwrap();
    assert!(
        on_server[0].1.iter().any(|f| f == "\\Flagged"),
        "{on_server:?}"
    );
    assert!(
        !on_server[0].1.iter().any(|f| f == "\\Seen"),
        "{on_server:?}"
    );
    let again = sync_report(&sb, "imap");
    assert_eq!(again["flags_pushed"], 0);
}

#[test]
fn uidvalidity_change_remaps_without_downloading_again() {
    let dv = Dovecot::start().unwrap();
    for n in 1..=5 {
        dv.deliver("alice", "INBOX", &mail(n, &format!("Uv {n}")))
            .unwrap();
    }
    let sb = Switchboard::new().unwrap();
    Accounts { sb: &sb, dv: &dv }.imap("imap", "alice", "alice-pass", &[]);
    sync_ok(&sb);
    let before: Vec<i64> = inbox(&sb)
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    let old_uv = inbox(&sb)[0]["sources"][0]["uidvalidity"].as_i64().unwrap();
    dv.change_uidvalidity("alice", "INBOX").unwrap();
    let stderr = sync_ok(&sb);
    assert!(
        stderr.contains("0 new") && stderr.contains("5 re-mapped"),
        "{stderr}"
    );
    let after = inbox(&sb);
    let ids: Vec<i64> = after.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, before, "same stored messages");
    for m in &after {
        let srcs = m["sources"].as_array().unwrap();
        assert_eq!(srcs.len(), 1);
        assert_ne!(srcs[0]["uidvalidity"].as_i64().unwrap(), old_uv);
    }
}

#[test]
fn kill_9_mid_sync_then_resync_has_no_duplicate_and_no_loss() {
    let dv = Dovecot::start().unwrap();
    let n = 3000u32;
    dv.deliver_many(
        "alice",
        "INBOX",
        (0..n).map(|i| mail(i, &format!("Bulk {i}"))),
    )
    .unwrap();
    dv.deliver_many(
        "bob",
        "INBOX",
        (0..n / 3).map(|i| mail(i, &format!("Bulk {i}"))),
    )
    .unwrap();
    let sb = Switchboard::new().unwrap();
    let acc = Accounts { sb: &sb, dv: &dv };
    acc.imap("imap", "alice", "alice-pass", &[]);
    acc.pop3("pop", "bob", "bob-pass", &["--policy", "keep"]);
    // Kill at a few different points.
    let mut interrupted = 0;
    for round in 0..3 {
        let mut child = sb.spawn(&["sync"]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let target = 300 * (round + 1);
        loop {
            let count = inbox(&sb).len();
            if count >= target as usize || Instant::now() > deadline {
                break;
            }
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let still_running = child.try_wait().unwrap().is_none();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if still_running && inbox(&sb).len() < n as usize {
            interrupted += 1;
        }
    }
    assert!(
        interrupted > 0,
        "no kill landed mid-sync; the test proved nothing"
    );
    sync_ok(&sb);
    let list = inbox(&sb);
    let keys: Vec<&str> = list
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    let unique: HashSet<&str> = keys.iter().copied().collect();
    assert_eq!(keys.len(), unique.len(), "no duplicate");
    assert_eq!(list.len(), n as usize, "no loss");
    let with_two = list
        .iter()
        .filter(|m| m["sources"].as_array().unwrap().len() == 2)
        .count();
    assert_eq!(with_two, (n / 3) as usize, "POP3 copies merged");
}

#[test]
fn bad_accounts_get_clear_errors_and_do_not_block_the_others() {
    let dv = Dovecot::start().unwrap();
    dv.deliver("alice", "INBOX", &mail(1, "Still arrives"))
        .unwrap();
    let sb = Switchboard::new().unwrap();
    let acc = Accounts { sb: &sb, dv: &dv };
    acc.imap("good", "alice", "alice-pass", &[]);
    acc.imap("wrongpw", "alice", "not-the-password", &[]);
    acc.pop3("wrongpop", "bob", "nope", &[]);
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    sb.run_with_stdin_ok(
        &[
            "account",
            "add",
            "imap",
            "dead",
            "--host",
            "127.0.0.1",
            "--port",
            &dead_port,
            "--user",
            "x",
            "--password-stdin",
        ],
        b"x",
    )
    .unwrap();
    let out = sb.run(&["sync"]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("account 'wrongpw': auth_failed")
            && stderr.contains("Authentication failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("account 'wrongpop': auth_failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("account 'dead': unreachable") && stderr.contains(&dead_port),
        "{stderr}"
    );
    assert_eq!(subjects(&inbox(&sb)), vec!["Still arrives".to_string()]);
    let accounts = sb.run_json(&["account", "list", "--json"]).unwrap();
    let state = |name: &str| {
        accounts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .map(|a| a["state"]["state"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(state("good"), "ok");
    assert_eq!(state("wrongpw"), "auth_failed");
    assert_eq!(state("dead"), "unreachable");
    // Passwords never appear in the store or the listing.
    let listing = serde_json::to_string(&accounts).unwrap();
    assert!(!listing.contains("alice-pass") && !listing.contains("not-the-password"));
    let db = std::fs::read(sb.data_dir().join("switchboard.sqlite3")).unwrap();
    assert!(
        !db.windows(10).any(|w| w == b"alice-pass"),
        "password found in SQLite"
    );

    // The server going down mid-life: a clear error, then recovery.
    dv.stop().unwrap();
    let out = sb.run(&["sync", "--account", "good"]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("account 'good': unreachable"),
        "{stderr}"
    );
    dv.restart().unwrap();
    let out = sb.run(&["sync", "--account", "good"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn certificates_are_verified_and_pinned_per_account() {
    let dv = Dovecot::start().unwrap();
    dv.deliver("alice", "INBOX", &mail(1, "Tls")).unwrap();
    let sb = Switchboard::new().unwrap();
    let port = dv.imaps_port().to_string();
    let add = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "account",
            "add",
            "imap",
            name,
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            "alice",
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        sb.run_with_stdin_ok(&args, b"alice-pass").unwrap();
    };
    add("unpinned", &[]);
    let out = sb.run(&["account", "test", "unpinned"]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("not trusted") && stderr.contains(dv.cert_sha256()),
        "{stderr}"
    );
    let wrong = "00".repeat(32);
    add("wrongpin", &["--trust-cert", &wrong]);
    let out = sb.run(&["account", "test", "wrongpin"]).unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match the pinned"));
    add("pinned", &["--trust-cert", dv.cert_sha256()]);
    let ok = sb.run_ok(&["account", "test", "pinned"]).unwrap();
    assert!(
        ok.contains("login ok") && ok.contains("INBOX: 1 messages"),
        "{ok}"
    );
    // Trusting the issuing CA (as a system store would) verifies without a pin; STARTTLS too.
    let ca = dv.ca_pem_path().to_string_lossy().to_string();
    let out = sb
        .cmd(&["account", "test", "unpinned"])
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain_port = dv.imap_port().to_string();
    sb.run_with_stdin_ok(
        &[
            "account",
            "add",
            "imap",
            "starttls",
            "--host",
            "127.0.0.1",
            "--port",
            &plain_port,
            "--tls",
            "starttls",
            "--user",
            "alice",
            "--password-stdin",
        ],
        b"alice-pass",
    )
    .unwrap();
    let out = sb
        .cmd(&["account", "test", "starttls"])
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A bad pin argument is refused up front.
    let out = sb
        .run_with_stdin(
            &[
                "account",
                "add",
                "imap",
                "x",
                "--host",
                "h",
                "--user",
                "u",
                "--password-stdin",
                "--trust-cert",
                "abc",
            ],
            b"p",
        )
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--trust-cert"));
}

#[test]
fn expired_certificate_is_named_as_such() {
    let dv = Dovecot::start_with_expired_cert().unwrap();
    let sb = Switchboard::new().unwrap();
    let port = dv.imaps_port().to_string();
    sb.run_with_stdin_ok(
        &[
            "account",
            "add",
            "imap",
            "old",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--user",
            "alice",
            "--password-stdin",
        ],
        b"alice-pass",
    )
    .unwrap();
    let out = sb
        .cmd(&["account", "test", "old"])
        .env("SSL_CERT_FILE", dv.ca_pem_path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("expired"),
        "{stderr}"
    );
}

#[test]
fn awkward_messages_are_all_stored_and_nothing_is_dropped() {
    let dv = Dovecot::start().unwrap();
    let corpus = awkward_corpus();
    for (_, raw) in &corpus {
        dv.deliver("alice", "INBOX", raw).unwrap();
        dv.deliver("bob", "INBOX", raw).unwrap();
    }
    let sb = Switchboard::new().unwrap();
    let acc = Accounts { sb: &sb, dv: &dv };
    acc.imap("imap", "alice", "alice-pass", &[]);
    acc.pop3("pop", "bob", "bob-pass", &[]);
    sync_ok(&sb);
    let list = inbox(&sb);
    // Every message arrives once, with both sources; the two sharing a Message-ID stay two.
    assert_eq!(list.len(), corpus.len(), "{:?}", subjects(&list));
    for m in &list {
        assert_eq!(
            m["sources"].as_array().unwrap().len(),
            2,
            "{}",
            m["subject"]
        );
        let id = m["id"].as_i64().unwrap().to_string();
        let shown = sb.run_json(&["show", &id, "--json"]).unwrap();
        assert!(shown["size"].as_i64().unwrap() > 0);
        let raw = sb.cmd(&["show", &id, "--raw"]).output().unwrap();
        assert!(raw.status.success() && raw.stdout.len() as i64 >= m["size"].as_i64().unwrap() - 4);
    }
    let big = list
        .iter()
        .find(|m| m["size"].as_i64().unwrap() > 25_000_000)
        .expect("the 25 MB message");
    assert_eq!(big["has_attachments"], true);
    let synthetic = list.iter().filter(|m| m["synthetic_id"] == true).count();
    assert!(
        synthetic >= 1,
        "the message without Message-ID got a synthetic one"
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

#[test]
fn watch_mode_receives_new_mail_through_idle() {
    let dv = Dovecot::start().unwrap();
    dv.deliver("alice", "INBOX", &mail(1, "Before watch"))
        .unwrap();
    let sb = Switchboard::new().unwrap();
    Accounts { sb: &sb, dv: &dv }.imap("imap", "alice", "alice-pass", &[]);
    // The poll interval is long: only IDLE can bring the new message in time.
    let mut child = sb.spawn(&["sync", "--watch", "--interval", "600"]).unwrap();
    wait_for("the first pass", Duration::from_secs(30), || {
        inbox(&sb).len() == 1
    });
    std::thread::sleep(Duration::from_millis(500));
    dv.deliver("alice", "INBOX", &mail(2, "Pushed by IDLE"))
        .unwrap();
    wait_for("the IDLE push", Duration::from_secs(20), || {
        subjects(&inbox(&sb)).contains(&"Pushed by IDLE".to_string())
    });
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn first_sync_stores_newest_first_and_resumes_after_interruption() {
    let dv = Dovecot::start().unwrap();
    let n = 2000u32;
    dv.deliver_many(
        "alice",
        "INBOX",
        (0..n).map(|i| mail(i, &format!("Order {i}"))),
    )
    .unwrap();
    let sb = Switchboard::new().unwrap();
    Accounts { sb: &sb, dv: &dv }.imap("imap", "alice", "alice-pass", &[]);
    let mut child = sb.spawn(&["sync"]).unwrap();
    wait_for("part of the first sync", Duration::from_secs(60), || {
        inbox(&sb).len() >= 200 || child.try_wait().ok().flatten().is_some()
    });
    let _ = child.kill();
    let _ = child.wait();
    let partial = inbox(&sb);
    let stored = partial.len();
    assert!(
        stored < n as usize,
        "the sync finished before it could be interrupted"
    );
    {
        let max_uid = *dv.uids("alice", "INBOX").unwrap().iter().max().unwrap() as i64;
        // Batches of at most 250 UIDs go from the top down.
        let min_stored = partial
            .iter()
            .map(|m| m["sources"][0]["uid"].as_i64().unwrap())
            .min()
            .unwrap();
        assert!(
            min_stored > max_uid - stored as i64 - 250,
            "stored {stored}, lowest uid {min_stored}, highest on server {max_uid}: not newest first"
        );
    }
    sync_ok(&sb);
    assert_eq!(inbox(&sb).len(), n as usize);
}

#[test]
fn version_and_usage_errors_are_clear() {
    let sb = Switchboard::new().unwrap();
    let v = sb.run_ok(&["--version"]).unwrap();
    assert!(v.starts_with("switchboard "), "{v}");
    let out = sb.run(&["show", "999"]).unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no message with id 999"));
    let out = sb.run(&["delete", "999"]).unwrap();
    assert!(!out.status.success());
    let out = sb
        .run_with_stdin(
            &[
                "account",
                "add",
                "imap",
                "bad name",
                "--host",
                "h",
                "--user",
                "u",
                "--password-stdin",
            ],
            b"p",
        )
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("'bad name'"));
    let out = sb
        .run_with_stdin(
            &[
                "account",
                "add",
                "imap",
                "p",
                "--host",
                "h",
                "--user",
                "u",
                "--password-stdin",
                "--policy",
                "sometimes",
            ],
            b"p",
        )
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("policy"));
    let out = sb.run(&["sync", "--account", "nobody"]).unwrap();
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("no account named 'nobody'")
    );
    let empty = sb.run_json(&["inbox", "--json"]).unwrap();
    assert_eq!(empty, serde_json::json!([]));
}

#[test]
fn configured_mailboxes_are_synced_and_a_missing_one_is_named() {
    let dv = Dovecot::start().unwrap();
    dv.deliver("alice", "INBOX", &mail(1, "In the inbox"))
        .unwrap();
    dv.deliver("alice", "Archive", &mail(2, "In the archive"))
        .unwrap();
    dv.deliver("alice", "Lists", &mail(3, "In lists")).unwrap();
    let sb = Switchboard::new().unwrap();
    let acc = Accounts { sb: &sb, dv: &dv };
    acc.imap(
        "two",
        "alice",
        "alice-pass",
        &["--mailboxes", "INBOX,Archive"],
    );
    sync_ok(&sb);
    let mut got = subjects(&inbox(&sb));
    got.sort();
    assert_eq!(
        got,
        vec!["In the archive".to_string(), "In the inbox".to_string()]
    );
    let archived = find(&inbox(&sb), "In the archive")["sources"][0]["mailbox"].clone();
    assert_eq!(archived, "Archive");

    acc.imap("all", "alice", "alice-pass", &["--mailboxes", "*"]);
    sync_ok(&sb);
    assert_eq!(inbox(&sb).len(), 3);
    let all = inbox(&sb);
    assert_eq!(
        find(&all, "In lists")["sources"].as_array().unwrap().len(),
        1
    );

    acc.imap(
        "missing",
        "alice",
        "alice-pass",
        &["--mailboxes", "INBOX,Nope"],
    );
    let out = sb.run(&["sync", "--account", "missing"]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("'Nope'"),
        "{stderr}"
    );
}

fn sync_report(sb: &Switchboard, account: &str) -> Value {
    let v = sb
        .run_json(&["sync", "--account", account, "--json"])
        .expect("sync --json");
    assert_eq!(v[0]["ok"], true, "{v}");
    v[0]["report"].clone()
}

#[test]
fn qresync_finds_changes_without_a_full_scan() {
    let dv = Dovecot::start().unwrap();
    for n in 1..=20 {
        dv.deliver("alice", "INBOX", &mail(n, &format!("Q {n}")))
            .unwrap();
    }
    let sb = Switchboard::new().unwrap();
    Accounts { sb: &sb, dv: &dv }.imap("imap", "alice", "alice-pass", &[]);
    let first = sync_report(&sb, "imap");
    assert_eq!(first["stored"], 20);
    let none = sync_report(&sb, "imap");
    assert_eq!(none["unchanged_mailboxes"], 1, "{none}");
    dv.expunge("alice", "INBOX", "header Message-ID <msg3@example.org>")
        .unwrap();
    dv.set_flags(
        "alice",
        "INBOX",
        "header Message-ID <msg4@example.org>",
        "\\Flagged",
    )
    .unwrap();
    dv.deliver("alice", "INBOX", &mail(21, "Q 21")).unwrap();
    let changed = sync_report(&sb, "imap");
    assert_eq!(changed["full_scans"], 0, "QRESYNC path expected: {changed}");
    assert_eq!(changed["stored"], 1, "{changed}");
    assert_eq!(changed["vanished"], 1, "{changed}");
    assert_eq!(changed["flags_changed"], 1, "{changed}");
    let list = inbox(&sb);
    assert_eq!(list.len(), 20);
    assert_eq!(find(&list, "Q 4")["flags"], serde_json::json!(["flagged"]));
}

#[test]
fn servers_without_condstore_are_synced_by_uid_diff() {
    // The same Dovecot, advertising only IMAP4rev1 basics: no CONDSTORE, QRESYNC or UIDPLUS.
    let dv = Dovecot::start_with(switchboard_tests::DovecotOptions {
        extra_config: "imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE\n".into(),
        ..Default::default()
    })
    .unwrap();
    for n in 1..=5 {
        dv.deliver("alice", "INBOX", &mail(n, &format!("Old {n}")))
            .unwrap();
    }
    let sb = Switchboard::new().unwrap();
    Accounts { sb: &sb, dv: &dv }.imap("imap", "alice", "alice-pass", &[]);
    sync_report(&sb, "imap");
    dv.expunge("alice", "INBOX", "header Message-ID <msg1@example.org>")
        .unwrap();
    dv.set_flags(
        "alice",
        "INBOX",
        "header Message-ID <msg2@example.org>",
        "\\Seen",
    )
    .unwrap();
    let r = sync_report(&sb, "imap");
    assert_eq!(r["full_scans"], 1, "{r}");
    assert_eq!(r["vanished"], 1, "{r}");
    assert_eq!(r["flags_changed"], 1, "{r}");
    // Reverse sync without UIDPLUS falls back to EXPUNGE.
    let id = find(&inbox(&sb), "Old 5")["id"]
        .as_i64()
        .unwrap()
        .to_string();
    sb.run_ok(&["delete", &id]).unwrap();
    let r = sync_report(&sb, "imap");
    assert_eq!(r["deleted_remote"], 1, "{r}");
    assert_eq!(dv.count("alice", "INBOX").unwrap(), 3);
    assert_eq!(inbox(&sb).len(), 3);
}
