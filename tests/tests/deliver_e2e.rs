//! Delivery end to end, against real servers on loopback: mail arrives in Dovecot, the real
//! `switchboard serve` syncs it (IDLE), routes it by the active profile, and the tracker's
//! deliveries go to a real SMTP server (the aiosmtpd sink) or a real notification daemon
//! (dunst under Xvfb). The policy clock runs 10× fast (`SWITCHBOARD_TEST_POLICY_SECOND_MS`),
//! so retries take a tenth of a second per policy second.

use std::net::{SocketAddr, TcpListener};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_tests::http::{get, request};
use switchboard_tests::smtp::{SINK_PASSWORD, SINK_USER};
use switchboard_tests::{Dovecot, NotificationDaemon, SmtpSink, Switchboard, TestMail};

const POLICY_SECOND_MS: &str = "100";

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Env {
    dv: Dovecot,
    sink: SmtpSink,
    sb: Switchboard,
    serve: Option<(Child, SocketAddr)>,
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some((mut c, _)) = self.serve.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Dovecot with alice, the sink, and a Switchboard with IMAP account "work" whose outgoing
/// server is the sink (STARTTLS, AUTH, pinned certificate).
fn env() -> Env {
    let dv = Dovecot::start().unwrap();
    let sink = SmtpSink::start().unwrap();
    let mut sb = Switchboard::new().unwrap();
    sb.set_env("SWITCHBOARD_TEST_POLICY_SECOND_MS", POLICY_SECOND_MS);
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
    let smtp_port = sink.starttls_port().to_string();
    sb.run_with_stdin_ok(
        &[
            "account",
            "smtp",
            "work",
            "--host",
            "127.0.0.1",
            "--port",
            &smtp_port,
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
    Env {
        dv,
        sink,
        sb,
        serve: None,
    }
}

impl Env {
    /// Starts `switchboard serve` and waits until the first pass over the account is done
    /// (mail from then on is news and gets routed).
    fn serve(&mut self) {
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let child = self
            .sb
            .spawn(&["serve", "--listen", &addr.to_string(), "--interval", "600"])
            .unwrap();
        self.serve = Some((child, addr));
        wait_until("the server", Duration::from_secs(20), || {
            get(addr, "/health", &[])
                .map(|r| r.status == 200)
                .unwrap_or(false)
        });
        wait_until("the first sync", Duration::from_secs(30), || {
            let list = self.sb.run_json(&["account", "list", "--json"]).unwrap();
            list[0]["state"]["state"] == "ok"
        });
    }

    fn kill_serve(&mut self) {
        if let Some((mut c, _)) = self.serve.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn profile(&self, args: &[&str]) {
        let mut all = vec!["profile", "edit", "Home"];
        all.extend_from_slice(args);
        self.sb.run_ok(&all).unwrap();
        self.sb
            .run_ok(&["profile", "use", "Home", "--until-released"])
            .unwrap();
    }

    /// The store id of the message with this Message-ID, once synced.
    fn message_id(&self, message_id: &str) -> i64 {
        let mut found = None;
        wait_until(
            &format!("{message_id} to be synced"),
            Duration::from_secs(30),
            || {
                let list = self
                    .sb
                    .run_json(&["inbox", "--json", "--limit", "500"])
                    .unwrap();
                found = list.as_array().unwrap().iter().find_map(|m| {
                    (m["message_id"] == message_id.trim_matches(['<', '>']))
                        .then(|| m["id"].as_i64().unwrap())
                });
                found.is_some()
            },
        );
        found.unwrap()
    }

    fn track(&self, id: i64) -> Value {
        self.sb
            .run_json(&["track", &id.to_string(), "--json"])
            .unwrap()
    }

    /// Waits until every delivery of message `id` is in one of `states`; returns the track.
    fn wait_deliveries(&self, id: i64, n: usize, states: &[&str], timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.track(id);
            let list = last["deliveries"].as_array().unwrap();
            if list.len() >= n
                && list
                    .iter()
                    .all(|d| states.contains(&d["state"].as_str().unwrap()))
            {
                return last;
            }
            assert!(
                Instant::now() < deadline,
                "deliveries of message {id} did not reach {states:?}: {last:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn serve_stderr(&self) -> String {
        std::fs::read_to_string(self.sb.spawn_logs(0).1).unwrap_or_default()
    }
}

fn steps(delivery: &Value) -> Vec<String> {
    delivery["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap().to_string())
        .collect()
}

fn mail(id: &str, subject: &str) -> Vec<u8> {
    TestMail::new()
        .message_id(id)
        .from("Bob Sender <bob@example.org>")
        .to("alice@localhost")
        .subject(subject)
        .body("The numbers are attached.")
        .build()
}

#[test]
fn new_mail_is_routed_forwarded_and_tracked_as_delivered() {
    let mut e = env();
    e.profile(&["--channel", "mail:phone@example.net"]);
    e.serve();
    e.dv.deliver(
        "alice",
        "INBOX",
        &mail("<q1@example.org>", "Quarterly numbers"),
    )
    .unwrap();
    let got = e
        .sink
        .wait_for_messages(1, Duration::from_secs(30))
        .unwrap();
    let fwd = &got[0];
    assert_eq!(fwd.rcpt_tos, vec!["phone@example.net"]);
    assert_eq!(fwd.mail_from, "alice@localhost");
    assert_eq!(fwd.auth_user.as_deref(), Some(SINK_USER));
    assert!(fwd.tls, "submitted over TLS");
    assert_eq!(fwd.header("Subject"), vec!["Fwd: Quarterly numbers"]);
    assert_eq!(fwd.header("X-Forwarded-To"), vec!["phone@example.net"]);
    assert_eq!(fwd.header("X-Forwarded-For"), vec!["alice@localhost"]);
    assert_eq!(fwd.header("X-Switchboard-Forwarded").len(), 1);
    let text = String::from_utf8_lossy(&fwd.raw);
    assert!(text.contains("Content-Type: message/rfc822"), "{text}");
    assert!(
        text.contains("Message-ID: <q1@example.org>"),
        "the original is attached"
    );

    let id = e.message_id("<q1@example.org>");
    let track = e.wait_deliveries(id, 1, &["delivered"], Duration::from_secs(10));
    assert_eq!(track["route"]["state"], "routed");
    let d = &track["deliveries"][0];
    assert_eq!(d["channel"], "mail");
    assert_eq!(d["target"], "phone@example.net");
    assert_eq!(steps(d), ["queued", "sending", "delivered"]);
    let done = &d["events"][2];
    assert_eq!(done["code"], 250, "{d:#}");
    assert!(
        done["answer"]
            .as_str()
            .unwrap()
            .contains("Message accepted"),
        "the server's own words: {d:#}"
    );
    // Routed once: nothing else went out.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(e.sink.received().unwrap().len(), 1);
}

#[test]
fn sync_watch_routes_and_delivers_too() {
    let e = env();
    e.profile(&["--channel", "mail:phone@example.net"]);
    let mut watch = e.sb.spawn(&["sync", "--watch"]).unwrap();
    wait_until("the first sync", Duration::from_secs(30), || {
        let list = e.sb.run_json(&["account", "list", "--json"]).unwrap();
        list[0]["state"]["state"] == "ok"
    });
    e.dv.deliver("alice", "INBOX", &mail("<w1@example.org>", "Watched"))
        .unwrap();
    let got = e.sink.wait_for_messages(1, Duration::from_secs(30));
    let _ = watch.kill();
    let _ = watch.wait();
    let got = got.unwrap();
    assert_eq!(got[0].header("Subject"), vec!["Fwd: Watched"]);
    let id = e.message_id("<w1@example.org>");
    assert_eq!(e.track(id)["deliveries"][0]["state"], "delivered");
}

#[test]
fn inline_forwards_resend_the_original_with_resent_fields_and_do_not_loop() {
    let mut e = env();
    e.sb.run_ok(&["deliveries", "settings", "--forward-mode", "inline"])
        .unwrap();
    e.profile(&["--channel", "mail:phone@example.net"]);
    e.serve();
    e.dv.deliver("alice", "INBOX", &mail("<in1@example.org>", "Resent"))
        .unwrap();
    let got = e
        .sink
        .wait_for_messages(1, Duration::from_secs(30))
        .unwrap();
    let r = &got[0];
    assert_eq!(r.rcpt_tos, vec!["phone@example.net"]);
    assert_eq!(r.header("Resent-From"), vec!["<alice@localhost>"]);
    assert_eq!(r.header("Resent-To"), vec!["<phone@example.net>"]);
    assert_eq!(r.header("Resent-Message-ID").len(), 1);
    assert_eq!(
        r.header("Message-ID"),
        vec!["<in1@example.org>"],
        "the original itself"
    );
    assert_eq!(r.header("From"), vec!["Bob Sender <bob@example.org>"]);
    assert_eq!(r.header("Subject"), vec!["Resent"]);
    assert_eq!(r.header("X-Forwarded-To"), vec!["phone@example.net"]);
    // It comes back: the same message again, not news.
    e.dv.deliver("alice", "INBOX", &r.raw).unwrap();
    let id = e.message_id("<in1@example.org>");
    wait_until("the copy to be synced", Duration::from_secs(20), || {
        e.sb.run_json(&["show", &id.to_string(), "--json"]).unwrap()["sources"]
            .as_array()
            .unwrap()
            .len()
            == 2
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(e.sink.received().unwrap().len(), 1, "not forwarded again");
    assert_eq!(e.track(id)["deliveries"].as_array().unwrap().len(), 1);
}

#[test]
fn a_forward_that_comes_back_is_not_forwarded_again() {
    let mut e = env();
    e.profile(&["--channel", "mail:phone@example.net"]);
    e.serve();
    e.dv.deliver("alice", "INBOX", &mail("<loop1@example.org>", "Round trip"))
        .unwrap();
    let got = e
        .sink
        .wait_for_messages(1, Duration::from_secs(30))
        .unwrap();
    // The forward lands in the same mailbox again (phone@example.net forwards back to alice).
    e.dv.deliver("alice", "INBOX", &got[0].raw).unwrap();
    let fwd_id = got[0].header("Message-ID")[0].clone();
    let back = e.message_id(&fwd_id);
    let mut route = Value::Null;
    wait_until("the loop to be recognised", Duration::from_secs(20), || {
        route = e.track(back)["route"].clone();
        route["state"] != "pending"
    });
    assert_eq!(route["state"], "skipped", "{route}");
    assert!(
        route["reason"]
            .as_str()
            .unwrap()
            .contains("forwarding loop"),
        "{route}"
    );
    assert!(e.track(back)["deliveries"].as_array().unwrap().is_empty());
    // Mail arriving after it is still forwarded: the loop cut only that one.
    e.dv.deliver("alice", "INBOX", &mail("<after@example.org>", "Afterwards"))
        .unwrap();
    let got = e
        .sink
        .wait_for_messages(2, Duration::from_secs(30))
        .unwrap();
    assert_eq!(got.len(), 2, "exactly one more: the loop was not forwarded");
    assert_eq!(got[1].header("Subject"), vec!["Fwd: Afterwards"]);
}

#[test]
fn refusals_are_retried_rerouted_dead_lettered_and_retried_on_request() {
    let mut e = env();
    e.sink
        .set_rules(&serde_json::json!({"rcpt": {
            "flaky@example.net": ["451 4.3.0 Mailbox busy, try later", "550 5.1.1 No such user"],
            "alt@example.net": ["550 5.7.1 Relaying denied"]
        }}))
        .unwrap();
    e.profile(&[
        "--channel",
        "mail:flaky@example.net",
        "--trials",
        "3",
        "--retry-after",
        "1",
        "--alternate",
        "mail:alt@example.net",
    ]);
    e.serve();
    e.dv.deliver("alice", "INBOX", &mail("<r1@example.org>", "Refused"))
        .unwrap();
    let id = e.message_id("<r1@example.org>");
    let track = e.wait_deliveries(id, 2, &["rerouted", "dead"], Duration::from_secs(30));
    let list = track["deliveries"].as_array().unwrap();
    let (first, alt) = (&list[0], &list[1]);
    assert_eq!(first["target"], "flaky@example.net");
    assert_eq!(first["state"], "rerouted");
    assert_eq!(
        steps(first),
        ["queued", "sending", "failed", "retried", "sending", "failed", "rerouted"]
    );
    assert_eq!(first["events"][2]["code"], 451);
    assert!(first["events"][2]["answer"]
        .as_str()
        .unwrap()
        .contains("Mailbox busy"));
    assert_eq!(first["events"][5]["code"], 550);
    assert_eq!(alt["target"], "alt@example.net");
    assert_eq!(alt["parent_id"], first["id"]);
    assert_eq!(steps(alt), ["queued", "sending", "failed", "dead"]);
    assert_eq!(alt["events"][2]["code"], 550);

    // The dead letter is listed with its reason and the retry action.
    let dead = e.sb.run_json(&["deliveries", "--dead", "--json"]).unwrap();
    assert_eq!(dead.as_array().unwrap().len(), 1);
    assert_eq!(dead[0]["id"], alt["id"]);
    let text = e.sb.run_ok(&["deliveries", "--dead"]).unwrap();
    let alt_id = alt["id"].as_i64().unwrap().to_string();
    assert!(
        text.contains(&format!("switchboard deliveries retry {alt_id}")),
        "{text}"
    );
    assert!(text.contains("no alternate channel left"), "{text}");

    // The server changes its mind; the retry action delivers.
    e.sink.set_rules(&serde_json::json!({"rcpt": {}})).unwrap();
    e.sb.run_ok(&["deliveries", "retry", &alt_id]).unwrap();
    let track = e.wait_deliveries(id, 2, &["rerouted", "delivered"], Duration::from_secs(20));
    let alt = &track["deliveries"][1];
    let s = steps(alt);
    assert_eq!(
        &s[4..],
        ["retry_requested", "sending", "delivered"],
        "{alt:#}"
    );
    let got = e.sink.received().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_tos, vec!["alt@example.net"]);
    assert!(e
        .sb
        .run_json(&["deliveries", "--dead", "--json"])
        .unwrap()
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn a_kill_during_delivery_is_recorded_and_retried_never_duplicated_silently() {
    let mut e = env();
    // The sink takes the message, then sits on its answer: the process dies in between.
    e.sink
        .set_rules(&serde_json::json!({"data_delay_ms": 4000, "record_before_delay": true}))
        .unwrap();
    e.profile(&["--channel", "mail:slow@example.net", "--retry-after", "1"]);
    e.serve();
    let ids = ["<k1@example.org>", "<k2@example.org>", "<k3@example.org>"];
    for (n, mid) in ids.iter().enumerate() {
        e.dv.deliver("alice", "INBOX", &mail(mid, &format!("Kill {n}")))
            .unwrap();
    }
    wait_until(
        "the sink to hold a message",
        Duration::from_secs(30),
        || {
            e.sink
                .events()
                .unwrap()
                .iter()
                .any(|ev| ev["kind"] == "data")
        },
    );
    e.kill_serve();
    e.sink.set_rules(&serde_json::json!({})).unwrap();
    e.serve();
    let mut total_attempts = 0;
    let mut interrupted = 0;
    for mid in ids {
        let id = e.message_id(mid);
        let track = e.wait_deliveries(id, 1, &["delivered"], Duration::from_secs(30));
        let list = track["deliveries"].as_array().unwrap();
        assert_eq!(list.len(), 1, "routed once: {track:#}");
        let d = &list[0];
        let attempts = d["attempts"].as_i64().unwrap();
        let marker = format!("<sbfwd.{}.", d["id"]);
        let copies = e
            .sink
            .received()
            .unwrap()
            .iter()
            .filter(|r| {
                r.header("Message-ID")
                    .iter()
                    .any(|m| m.starts_with(&marker))
            })
            .count() as i64;
        let s = steps(d);
        let cut = s.iter().filter(|x| *x == "interrupted").count() as i64;
        assert!(copies >= 1, "delivered means the sink has it: {d:#}");
        assert!(
            copies <= attempts,
            "never more copies than recorded attempts ({copies} > {attempts}): {d:#}"
        );
        assert!(
            copies - 1 <= cut,
            "a second copy only after a recorded interrupted attempt: {d:#}"
        );
        if cut > 0 {
            let i = s.iter().position(|x| x == "interrupted").unwrap();
            assert_eq!(s[i + 1], "retried", "{d:#}");
            assert!(d["events"][i]["answer"]
                .as_str()
                .unwrap()
                .contains("interrupted"));
        }
        total_attempts += attempts;
        interrupted += cut;
    }
    assert!(interrupted >= 1, "the kill interrupted an attempt");
    assert!(total_attempts >= 4);
}

#[test]
fn send_new_reply_reply_all_and_forward_thread_and_are_filed_in_sent() {
    let e = env();
    e.dv.create_mailbox("alice", "Sent").unwrap();
    let original = TestMail::new()
        .message_id("<orig@example.org>")
        .header("References", b"<root@example.org>")
        .header("In-Reply-To", b"<root@example.org>")
        .from("Bob Sender <bob@example.org>")
        .to("alice@localhost, Carol <carol@example.org>")
        .cc("dave@example.org")
        .subject("Plans")
        .body("Shall we?")
        .build();
    e.dv.deliver("alice", "INBOX", &original).unwrap();
    e.sb.run_ok(&["sync"]).unwrap();
    let id = e.message_id("<orig@example.org>").to_string();

    // A new message.
    let out =
        e.sb.run_ok(&[
            "send",
            "--account",
            "work",
            "--to",
            "Zed <zed@example.net>",
            "--subject",
            "Hello",
            "--body",
            "First line\nSecond line",
        ])
        .unwrap();
    assert!(out.contains("delivered"), "{out}");
    // A reply, body from stdin.
    e.sb.run_with_stdin_ok(
        &["send", "--reply-to", &id, "--body-stdin"],
        b"Yes, we shall.\n",
    )
    .unwrap();
    // Reply to all.
    e.sb.run_ok(&["send", "--reply-to", &id, "--all", "--body", "All of us."])
        .unwrap();
    // A forward.
    e.sb.run_ok(&[
        "send",
        "--forward",
        &id,
        "--to",
        "erin@example.net",
        "--body",
        "FYI",
    ])
    .unwrap();

    let got = e
        .sink
        .wait_for_messages(4, Duration::from_secs(10))
        .unwrap();
    let (new, reply, all, fwd) = (&got[0], &got[1], &got[2], &got[3]);
    assert_eq!(new.rcpt_tos, vec!["zed@example.net"]);
    assert_eq!(
        new.header("From"),
        vec!["\"Alice Example\" <alice@localhost>"]
    );
    assert_eq!(new.header("Subject"), vec!["Hello"]);
    assert!(new.header("In-Reply-To").is_empty());

    assert_eq!(reply.rcpt_tos, vec!["bob@example.org"]);
    assert_eq!(reply.header("Subject"), vec!["Re: Plans"]);
    assert_eq!(reply.header("In-Reply-To"), vec!["<orig@example.org>"]);
    assert_eq!(
        reply.header("References"),
        vec!["<root@example.org> <orig@example.org>"]
    );
    assert!(reply.header("Cc").is_empty());

    let mut rcpts = all.rcpt_tos.clone();
    rcpts.sort();
    assert_eq!(
        rcpts,
        ["bob@example.org", "carol@example.org", "dave@example.org"],
        "everyone but oneself"
    );
    assert_eq!(all.header("In-Reply-To"), vec!["<orig@example.org>"]);

    assert_eq!(fwd.rcpt_tos, vec!["erin@example.net"]);
    assert_eq!(fwd.header("Subject"), vec!["Fwd: Plans"]);
    let text = String::from_utf8_lossy(&fwd.raw);
    assert!(
        text.contains("message/rfc822") && text.contains("Shall we?"),
        "{text}"
    );

    // Copies in Dovecot's Sent folder, as sent.
    let sent = e.dv.message_ids("alice", "Sent").unwrap();
    assert_eq!(sent.len(), 4, "{sent:?}");
    for r in [new, reply, all, fwd] {
        let mid = r.header("Message-ID")[0].clone();
        assert!(
            sent.iter()
                .any(|s| s.contains(mid.trim_matches(['<', '>']))),
            "{mid} in {sent:?}"
        );
    }

    // The tracker shows the submission with the server's answer, then the filing.
    let list =
        e.sb.run_json(&["deliveries", "--state", "delivered", "--json"])
            .unwrap();
    let submit = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["channel"] == "submit")
        .unwrap()
        .clone();
    let track =
        e.sb.run_json(&["track", "--delivery", &submit["id"].to_string(), "--json"])
            .unwrap();
    let fam = track["deliveries"].as_array().unwrap();
    assert_eq!(fam.len(), 2);
    assert_eq!(steps(&fam[0]), ["queued", "sending", "delivered"]);
    assert_eq!(fam[0]["events"][2]["code"], 250);
    assert_eq!(fam[1]["channel"], "sent_copy");
    assert!(fam[1]["events"][2]["answer"]
        .as_str()
        .unwrap()
        .contains("filed in 'Sent'"));
}

#[test]
fn mail_refused_for_good_is_not_sent_and_is_a_dead_letter() {
    let e = env();
    e.sink
        .set_rules(&serde_json::json!({"rcpt": {"nobody@example.net": ["550 5.1.1 User unknown"]}}))
        .unwrap();
    let out =
        e.sb.run(&[
            "send",
            "--account",
            "work",
            "--to",
            "nobody@example.net",
            "--subject",
            "Hi",
            "--body",
            "x",
        ])
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("550") && text.contains("User unknown"),
        "{text}"
    );
    let dead = e.sb.run_json(&["deliveries", "--dead", "--json"]).unwrap();
    assert_eq!(dead[0]["channel"], "submit");
    assert!(e.sink.received().unwrap().is_empty());
    // Bad input is named.
    let out =
        e.sb.run(&[
            "send",
            "--account",
            "work",
            "--to",
            "not an address",
            "--subject",
            "s",
            "--body",
            "b",
        ])
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("to 'not an address'"),
        "{out:?}"
    );
}

#[test]
fn do_not_disturb_holds_and_home_releases_one_digest() {
    let mut e = env();
    e.sb.run_ok(&[
        "profile",
        "edit",
        "Home",
        "--channel",
        "mail:phone@example.net",
    ])
    .unwrap();
    e.sb.run_ok(&["profile", "use", "Do not disturb", "--until-released"])
        .unwrap();
    e.serve();
    for n in 1..=3 {
        e.dv.deliver(
            "alice",
            "INBOX",
            &mail(&format!("<h{n}@example.org>"), &format!("Held {n}")),
        )
        .unwrap();
    }
    for n in 1..=3 {
        let id = e.message_id(&format!("<h{n}@example.org>"));
        e.wait_deliveries(id, 1, &["held"], Duration::from_secs(20));
    }
    assert!(e.sink.received().unwrap().is_empty(), "nothing while held");
    e.sb.run_ok(&["profile", "use", "Home", "--until-released"])
        .unwrap();
    let got = e
        .sink
        .wait_for_messages(1, Duration::from_secs(20))
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        e.sink.received().unwrap().len(),
        1,
        "one digest, not a burst"
    );
    let digest = &got[0];
    assert_eq!(digest.rcpt_tos, vec!["phone@example.net"]);
    assert_eq!(
        digest.header("Subject"),
        vec!["Switchboard: 3 held messages"]
    );
    let text = String::from_utf8_lossy(&digest.raw);
    for n in 1..=3 {
        assert!(text.contains(&format!("Held {n}")), "{text}");
    }
    let id = e.message_id("<h1@example.org>");
    let d = &e.track(id)["deliveries"][0];
    assert_eq!(d["state"], "released");
    assert!(d["release_id"].is_i64());
}

#[test]
fn without_a_notification_daemon_it_logs_once_never_hangs_and_records_failures() {
    let mut e = env();
    // The test's private bus has no notification service.
    e.profile(&["--channel", "desktop", "--trials", "1"]);
    e.serve();
    for n in 1..=2 {
        e.dv.deliver(
            "alice",
            "INBOX",
            &mail(&format!("<n{n}@example.org>"), "Ping"),
        )
        .unwrap();
    }
    for n in 1..=2 {
        let id = e.message_id(&format!("<n{n}@example.org>"));
        let t = e.wait_deliveries(id, 1, &["dead"], Duration::from_secs(20));
        let d = &t["deliveries"][0];
        assert_eq!(steps(d), ["queued", "sending", "failed", "dead"]);
        let answer = d["events"][2]["answer"].as_str().unwrap();
        assert!(answer.contains("org.freedesktop.Notifications"), "{answer}");
    }
    let log = e.serve_stderr();
    assert_eq!(
        log.matches("desktop notification service did not take it")
            .count(),
        1,
        "logged once: {log}"
    );
    // Still working: mail keeps flowing through other channels.
    e.sb.run_ok(&[
        "profile",
        "edit",
        "Home",
        "--channel",
        "mail:phone@example.net",
    ])
    .unwrap();
    e.dv.deliver("alice", "INBOX", &mail("<n3@example.org>", "Still alive"))
        .unwrap();
    e.sink
        .wait_for_messages(1, Duration::from_secs(20))
        .unwrap();
}

#[test]
fn a_notification_daemon_shows_sender_subject_and_account_and_content_can_be_hidden() {
    let mut e = env();
    let daemon =
        NotificationDaemon::start(e.sb.keyring().bus_address(), &e.sb.dir().join("notifyd"))
            .unwrap();
    e.profile(&["--channel", "desktop"]);
    e.serve();
    e.dv.deliver("alice", "INBOX", &mail("<d1@example.org>", "Lunch at noon"))
        .unwrap();
    let id = e.message_id("<d1@example.org>");
    let t = e.wait_deliveries(id, 1, &["delivered"], Duration::from_secs(20));
    let answer = t["deliveries"][0]["events"][2]["answer"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(answer.starts_with("shown as notification"), "{answer}");
    let shown = daemon
        .wait_for_shown("Switchboard", 1, Duration::from_secs(10))
        .unwrap();
    assert_eq!(shown[0].summary, "Bob Sender");
    assert!(shown[0].body.contains("Lunch at noon"), "{shown:?}");
    assert!(shown[0].body.contains("via work"), "{shown:?}");

    e.sb.run_ok(&["profile", "edit", "Home", "--hide-content", "on"])
        .unwrap();
    e.dv.deliver("alice", "INBOX", &mail("<d2@example.org>", "Secret plans"))
        .unwrap();
    let shown = daemon
        .wait_for_shown("Switchboard", 2, Duration::from_secs(20))
        .unwrap();
    let hidden = &shown[0];
    assert_eq!(hidden.summary, "New message from Bob Sender");
    assert!(
        !hidden.summary.contains("Secret") && !hidden.body.contains("Secret"),
        "{hidden:?}"
    );
}

fn api(addr: SocketAddr, token: &str, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let r = request(
        addr,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &bytes,
    )
    .unwrap();
    let v = if r.body.is_empty() {
        Value::Null
    } else {
        r.json().unwrap()
    };
    (r.status, v)
}

#[test]
fn the_api_sends_shows_deliveries_lists_dead_letters_and_retries() {
    let mut e = env();
    e.dv.create_mailbox("alice", "Sent").unwrap();
    let token = e.sb.run_ok(&["token", "create", "t"]).unwrap();
    let token = token.split_whitespace().last().unwrap().to_string();
    e.serve();
    let addr = e.serve.as_ref().unwrap().1;

    let (status, smtp) = api(addr, &token, "GET", "/api/accounts/work/smtp", &Value::Null);
    assert_eq!(status, 200, "{smtp}");
    assert_eq!(smtp["from_addr"], "alice@localhost");
    assert!(smtp.get("password").is_none());

    e.sink
        .set_rules(&serde_json::json!({"rcpt": {"later@example.net": ["550 5.2.2 Mailbox full"]}}))
        .unwrap();
    let (status, q) = api(
        addr,
        &token,
        "POST",
        "/api/send",
        &serde_json::json!({"account": "work", "to": ["later@example.net"], "subject": "Via API", "body": "hello"}),
    );
    assert_eq!(status, 202, "{q}");
    let delivery = q["delivery_id"].as_i64().unwrap();
    let mut dead = Value::Null;
    wait_until("the dead letter", Duration::from_secs(20), || {
        dead = api(
            addr,
            &token,
            "GET",
            "/api/deliveries?state=dead",
            &Value::Null,
        )
        .1;
        dead.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(dead[0]["id"], delivery);
    assert_eq!(dead[0]["events"][2]["code"], 550);

    e.sink.set_rules(&serde_json::json!({})).unwrap();
    let (status, fam) = api(
        addr,
        &token,
        "POST",
        &format!("/api/deliveries/{delivery}/retry"),
        &Value::Null,
    );
    assert_eq!(status, 200, "{fam}");
    e.sink
        .wait_for_messages(1, Duration::from_secs(20))
        .unwrap();
    let (status, again) = api(
        addr,
        &token,
        "POST",
        &format!("/api/deliveries/{delivery}/retry"),
        &Value::Null,
    );
    wait_until("delivered", Duration::from_secs(10), || {
        api(
            addr,
            &token,
            "GET",
            "/api/deliveries?state=delivered",
            &Value::Null,
        )
        .1
        .as_array()
        .is_some_and(|a| a.iter().any(|d| d["id"] == delivery))
    });
    assert!(status == 409 || status == 200, "{status} {again}");

    // A received message's deliveries.
    e.sb.run_ok(&[
        "profile",
        "edit",
        "Home",
        "--channel",
        "mail:phone@example.net",
    ])
    .unwrap();
    e.dv.deliver("alice", "INBOX", &mail("<api1@example.org>", "API track"))
        .unwrap();
    let id = e.message_id("<api1@example.org>");
    let mut body = Value::Null;
    wait_until("the forward", Duration::from_secs(20), || {
        body = api(
            addr,
            &token,
            "GET",
            &format!("/api/messages/{id}/deliveries"),
            &Value::Null,
        )
        .1;
        body["deliveries"][0]["state"] == "delivered"
    });
    assert_eq!(body["route"]["state"], "routed");
    assert_eq!(body["deliveries"][0]["target"], "phone@example.net");

    // Reply and forward through the API.
    let (status, r) = api(
        addr,
        &token,
        "POST",
        &format!("/api/messages/{id}/reply"),
        &serde_json::json!({"body": "Got it."}),
    );
    assert_eq!(status, 202, "{r}");
    let (status, f) = api(
        addr,
        &token,
        "POST",
        &format!("/api/messages/{id}/forward"),
        &serde_json::json!({"to": ["Carol Example <carol@example.org>"], "body": "See below"}),
    );
    assert_eq!(status, 202, "{f}");
    let got = e
        .sink
        .wait_for_messages(4, Duration::from_secs(20))
        .unwrap();
    let reply = got
        .iter()
        .find(|m| m.rcpt_tos == ["bob@example.org"])
        .unwrap();
    assert_eq!(reply.header("Subject"), vec!["Re: API track"]);
    assert_eq!(reply.header("In-Reply-To"), vec!["<api1@example.org>"]);
    let fwd = got
        .iter()
        .find(|m| m.rcpt_tos == ["carol@example.org"])
        .unwrap();
    assert_eq!(fwd.header("Subject"), vec!["Fwd: API track"]);

    // Bad input is named.
    let (status, err) = api(
        addr,
        &token,
        "POST",
        "/api/send",
        &serde_json::json!({"body": "x"}),
    );
    assert_eq!(status, 400);
    assert!(err["detail"].as_str().unwrap().contains("to"), "{err}");
    let (status, err) = api(
        addr,
        &token,
        "POST",
        "/api/send",
        &serde_json::json!({"to": ["not an address"], "body": "x"}),
    );
    assert_eq!(status, 400);
    assert!(
        err["detail"].as_str().unwrap().contains("'not an address'"),
        "{err}"
    );
    let (status, _) = api(
        addr,
        &token,
        "GET",
        "/api/deliveries?state=lost",
        &Value::Null,
    );
    assert_eq!(status, 400);
    let (status, _) = api(
        addr,
        &token,
        "POST",
        "/api/deliveries/999999/retry",
        &Value::Null,
    );
    assert_eq!(status, 404);
}
