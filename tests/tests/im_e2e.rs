//! Instant messaging end to end: a real `switchboard` (serve, or the CLI alone) with an XMPP
//! account on a private Prosody, and slixmpp peers as the contact and as the person's other
//! client.

use std::net::{SocketAddr, TcpListener};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_tests::http::{get, request};
use switchboard_tests::{PeerOptions, Prosody, Switchboard, XmppPeer};

const WAIT: Duration = Duration::from_secs(30);

fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Switchboard with the XMPP account `chat` for alice (STARTTLS, the server's certificate
/// pinned: a self-signed server).
fn switchboard_for(p: &Prosody) -> Switchboard {
    let sb = Switchboard::new().unwrap();
    let port = p.ports().c2s.to_string();
    let out = sb
        .run_with_stdin_ok(
            &[
                "account",
                "add",
                "xmpp",
                "chat",
                "--jid",
                "alice@localhost",
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--trust-cert",
                p.cert_sha256(),
                "--password-stdin",
            ],
            b"alice-pass",
        )
        .unwrap();
    assert!(out.contains("added xmpp account 'chat'"), "{out}");
    sb
}

struct Served {
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

impl Served {
    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }
    fn get(&self, path: &str) -> switchboard_tests::http::HttpResponse {
        get(self.addr, path, &[("Authorization", &self.auth())]).unwrap()
    }
    fn post(&self, path: &str, body: &Value) -> switchboard_tests::http::HttpResponse {
        request(
            self.addr,
            "POST",
            path,
            &[
                ("Authorization", &self.auth()),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
        .unwrap()
    }
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn token(sb: &Switchboard) -> String {
    if let Ok(out) = sb.run_ok(&["token", "create", "im-tests"]) {
        return out
            .lines()
            .last()
            .and_then(|l| l.split_whitespace().last())
            .unwrap()
            .to_string();
    }
    // Created before (a restarted serve): make another one with a name not used yet.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = sb
        .run_ok(&["token", "create", &format!("im-tests-{n}")])
        .unwrap();
    out.lines()
        .last()
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .to_string()
}

fn serve(sb: &Switchboard) -> Served {
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let token = token(sb);
    let child = sb
        .spawn(&["serve", "--listen", &addr.to_string(), "--interval", "600"])
        .unwrap();
    let served = Served { addr, token, child };
    wait_until("the server", WAIT, || {
        get(addr, "/health", &[])
            .ok()
            .filter(|r| r.status == 200)
            .map(|_| ())
    });
    served
}

fn account_state(sb: &Switchboard) -> (String, String) {
    let list = sb.run_json(&["account", "list", "--json"]).unwrap();
    let a = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "chat")
        .cloned()
        .unwrap();
    (
        a["state"]["state"].as_str().unwrap_or("").to_string(),
        a["state"]["detail"].as_str().unwrap_or("").to_string(),
    )
}

/// Waits until the account is online (a fresh session's presence and catch-up went out).
fn wait_online(sb: &Switchboard) {
    wait_until("the XMPP account to be online", WAIT, || {
        let (state, detail) = account_state(sb);
        (state == "ok" && detail.starts_with("online")).then_some(())
    });
}

fn conversation(sb: &Switchboard, contact: &str) -> Vec<Value> {
    sb.run_json(&["im", "show", contact, "--json", "--limit", "500"])
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn bodies(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|m| m["body"].as_str().unwrap_or("").to_string())
        .collect()
}

fn wait_for_body(sb: &Switchboard, contact: &str, body: &str) -> Value {
    wait_until(
        &format!("'{body}' in the conversation with {contact}"),
        WAIT,
        || {
            conversation(sb, contact)
                .into_iter()
                .find(|m| m["body"] == body)
        },
    )
}

fn peer(p: &Prosody, user: &str) -> XmppPeer {
    XmppPeer::connect(p, user, PeerOptions::default()).unwrap()
}

/// Sees a message from Switchboard's account (alice), as slixmpp received it.
fn peer_got(peer: &XmppPeer, body: &str) -> Value {
    peer.wait_event(WAIT, |e| {
        e["event"] == "message"
            && e["carbon"].is_null()
            && e["body"] == body
            && e["from"]
                .as_str()
                .is_some_and(|f| f.starts_with("alice@localhost"))
    })
    .unwrap()
}

#[test]
fn messages_flow_both_ways_with_receipts_presence_and_the_index() {
    let p = Prosody::start().unwrap();
    let sb = switchboard_for(&p);
    let s = serve(&sb);
    wait_online(&sb);
    let bob = peer(&p, "bob");

    // Presence: bob is online, then away with a status.
    wait_until("bob's presence", WAIT, || {
        let c = sb.run_json(&["im", "contacts", "--json"]).unwrap();
        c.as_array()
            .unwrap()
            .iter()
            .any(|c| c["jid"] == "bob@localhost" && c["presence"] == "available")
            .then_some(())
    });
    bob.set_presence(Some("away"), Some("at lunch")).unwrap();
    wait_until("bob away", WAIT, || {
        let c = s.get("/api/im/contacts").json().unwrap();
        c["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| {
                c["jid"] == "bob@localhost" && c["presence"] == "away" && c["status"] == "at lunch"
            })
            .then_some(())
    });

    // Receive, with a receipt back to bob once it is stored.
    let seq_before = s.get("/api/index").json().unwrap()["seq"].as_i64().unwrap();
    let id = bob
        .send_message("alice@localhost", "hello alice", json!({"receipt": true}))
        .unwrap();
    let got = wait_for_body(&sb, "bob@localhost", "hello alice");
    assert_eq!(got["direction"], "in");
    bob.wait_event(WAIT, |e| e["event"] == "receipt" && e["id"] == id.as_str())
        .unwrap();
    // In the consolidated inbox as channel im, and the index moved.
    let im = s.get("/api/messages?channel=im").json().unwrap();
    let msgs = im["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{im}");
    assert_eq!(msgs[0]["channel"], "im");
    assert_eq!(msgs[0]["from"]["email"], "bob@localhost");
    assert!(
        s.get("/api/messages?channel=mail").json().unwrap()["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    wait_until("the index to move", WAIT, || {
        (s.get("/api/index").json().unwrap()["seq"].as_i64().unwrap() > seq_before).then_some(())
    });

    // Send through the API: queued, sent by the running connection, confirmed by bob's client.
    let r = s.post(
        "/api/im/send",
        &json!({"to": "bob@localhost", "text": "hello bob (api)"}),
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let queued = r.json().unwrap();
    assert_eq!(queued["message"]["state"], "queued");
    let seen = peer_got(&bob, "hello bob (api)");
    assert_eq!(seen["receipt_request"], true);
    assert!(seen["origin_id"].is_string());
    wait_until("the receipt to mark it delivered", WAIT, || {
        let m = wait_for_body(&sb, "bob@localhost", "hello bob (api)");
        (m["state"] == "delivered").then_some(())
    });

    // Send from the CLI over a short connection of its own.
    let out = sb
        .run_ok(&["im", "send", "bob@localhost", "hello bob (cli)", "--json"])
        .unwrap();
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["account"], "chat");
    peer_got(&bob, "hello bob (cli)");

    // One conversation, in order, through the API and the CLI.
    let convs = s.get("/api/im/conversations").json().unwrap();
    let convs = convs["conversations"].as_array().unwrap();
    assert_eq!(convs.len(), 1, "{convs:?}");
    assert_eq!(convs[0]["contact"], "bob@localhost");
    assert_eq!(convs[0]["presence"], "away");
    let list = s
        .get("/api/im/conversations/chat/bob@localhost?limit=10")
        .json()
        .unwrap();
    let texts = bodies(list["messages"].as_array().unwrap());
    assert_eq!(
        texts,
        vec!["hello bob (cli)", "hello bob (api)", "hello alice"],
        "newest first"
    );
    let cli = sb.run_ok(&["im", "conversations"]).unwrap();
    assert!(cli.contains("bob@localhost"), "{cli}");
}

#[test]
fn carbons_bring_what_the_other_client_sends_and_receives() {
    let p = Prosody::start().unwrap();
    let sb = switchboard_for(&p);
    let _s = serve(&sb);
    wait_online(&sb);
    let bob = peer(&p, "bob");
    let phone = XmppPeer::connect(
        &p,
        "alice",
        PeerOptions {
            resource: Some("phone".into()),
            ..Default::default()
        },
    )
    .unwrap();
    // The person writes from their phone: the sent carbon lands here as outgoing.
    phone
        .send_message("bob@localhost", "sent from my phone", json!({}))
        .unwrap();
    let m = wait_for_body(&sb, "bob@localhost", "sent from my phone");
    assert_eq!(m["direction"], "out");
    // Bob answers the phone directly (full JID): a received carbon.
    bob.send_message(phone.full_jid(), "answer to the phone", json!({}))
        .unwrap();
    let m = wait_for_body(&sb, "bob@localhost", "answer to the phone");
    assert_eq!(m["direction"], "in");
    // Each once.
    let texts = bodies(&conversation(&sb, "bob@localhost"));
    assert_eq!(texts.len(), 2, "{texts:?}");
}

#[test]
fn offline_messages_and_the_archive_catch_up_after_a_restart_without_duplicates() {
    let p = Prosody::start().unwrap();
    // Before the account exists here: old history, filled in on the first connection.
    let bob = peer(&p, "bob");
    bob.send_message("alice@localhost", "old news", json!({}))
        .unwrap();
    bob.ping().unwrap();

    let sb = switchboard_for(&p);
    let mut s = serve(&sb);
    wait_online(&sb);
    wait_for_body(&sb, "bob@localhost", "old news");
    bob.send_message("alice@localhost", "while online", json!({}))
        .unwrap();
    wait_for_body(&sb, "bob@localhost", "while online");

    // Switchboard is killed; bob writes (offline storage and archive), and the person's
    // phone writes to bob (archive only: nobody stores one's own messages offline).
    s.kill9();
    for i in 1..=3 {
        bob.send_message("alice@localhost", &format!("while away {i}"), json!({}))
            .unwrap();
    }
    let phone = XmppPeer::connect(
        &p,
        "alice",
        PeerOptions {
            resource: Some("phone".into()),
            no_presence: true,
            ..Default::default()
        },
    )
    .unwrap();
    phone
        .send_message("bob@localhost", "phone while away", json!({}))
        .unwrap();
    phone.ping().unwrap();
    bob.ping().unwrap();

    let s = serve(&sb);
    wait_online(&sb);
    for body in [
        "while away 1",
        "while away 2",
        "while away 3",
        "phone while away",
    ] {
        wait_for_body(&sb, "bob@localhost", body);
    }
    let expected = 6;
    let texts = bodies(&conversation(&sb, "bob@localhost"));
    assert_eq!(texts.len(), expected, "each message once: {texts:?}");

    // Once more: a restart with nothing new changes nothing.
    drop(s);
    let _s = serve(&sb);
    wait_online(&sb);
    bob.send_message("alice@localhost", "after the second restart", json!({}))
        .unwrap();
    wait_for_body(&sb, "bob@localhost", "after the second restart");
    let texts = bodies(&conversation(&sb, "bob@localhost"));
    assert_eq!(texts.len(), expected + 1, "{texts:?}");
}

#[test]
fn a_prosody_restart_is_followed_by_a_reconnect() {
    let p = Prosody::start().unwrap();
    let sb = switchboard_for(&p);
    let _s = serve(&sb);
    wait_online(&sb);
    p.stop().unwrap();
    wait_until("the account to notice", WAIT, || {
        let (state, _) = account_state(&sb);
        (state != "ok").then_some(())
    });
    p.restart().unwrap();
    wait_online(&sb);
    let bob = peer(&p, "bob");
    bob.send_message("alice@localhost", "after the restart", json!({}))
        .unwrap();
    wait_for_body(&sb, "bob@localhost", "after the restart");
}

#[test]
fn bad_input_gets_clear_errors_and_nothing_crashes() {
    let p = Prosody::start().unwrap();
    let sb = switchboard_for(&p);
    let mut s = serve(&sb);
    wait_online(&sb);

    // The CLI refuses what it cannot send, naming why.
    let out = sb.run(&["im", "send", "not a jid", "hi"]).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the recipient") && err.contains("spaces"),
        "{err}"
    );
    let big = "x".repeat(17 * 1024);
    let out = sb
        .run_with_stdin(&["im", "send", "bob@localhost", "--stdin"], big.as_bytes())
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("characters long"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An unknown user: the server bounces it, and the CLI says so.
    let out = sb
        .run(&["im", "send", "nobody@localhost", "anyone?"])
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refused") && err.contains("nobody@localhost"),
        "{err}"
    );
    let failed = wait_for_body(&sb, "nobody@localhost", "anyone?");
    assert_eq!(failed["state"], "failed");

    // The API likewise.
    for (body, status, word) in [
        (json!({"to": "bob@", "text": "x"}), 400, "recipient"),
        (json!({"to": "bob@localhost", "text": "  "}), 400, "empty"),
        (
            json!({"to": "bob@localhost", "text": "x", "account": "nope"}),
            404,
            "nope",
        ),
        (json!({"to": "bob@localhost"}), 400, "text"),
    ] {
        let r = s.post("/api/im/send", &body);
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(word), "{body}: {}", r.text());
    }

    // Hostile and odd stanzas from a contact.
    let bob = peer(&p, "bob");
    for raw in [
        // Not a valid message type: dropped by the XML layer.
        "<message to='alice@localhost' type='bogus' id='b1'><body>bogus type</body></message>",
        // A forged carbon: bob pretends alice wrote something.
        "<message to='alice@localhost' type='chat' id='b2'><sent xmlns='urn:xmpp:carbons:2'>\
         <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' \
         from='alice@localhost/x' to='carol@localhost' type='chat'><body>forged carbon</body>\
         </message></forwarded></sent></message>",
        // A forged archive result.
        "<message to='alice@localhost' id='b3'><result xmlns='urn:xmpp:mam:2' id='X1'>\
         <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' \
         from='carol@localhost/x' to='alice@localhost' type='chat'><body>forged archive</body>\
         </message></forwarded></result></message>",
        // Nothing to store.
        "<message to='alice@localhost' type='chat' id='b4'><body>   </body></message>",
        "<message to='alice@localhost' type='chat' id='b5'/>",
    ] {
        bob.send_raw(raw).unwrap();
    }
    // A large message (close to the server's stanza limit) arrives whole.
    let large = "y".repeat(200 * 1024);
    bob.send_message("alice@localhost", &large, json!({}))
        .unwrap();
    bob.send_message("alice@localhost", "still here", json!({}))
        .unwrap();
    wait_for_body(&sb, "bob@localhost", "still here");
    let texts = bodies(&conversation(&sb, "bob@localhost"));
    assert!(
        texts.iter().any(|t| t.len() == large.len()),
        "the large one"
    );
    for forged in ["forged carbon", "forged archive", "bogus type"] {
        assert!(!texts.iter().any(|t| t == forged), "{forged} was stored");
    }
    assert!(bodies(&conversation(&sb, "carol@localhost")).is_empty());
    assert_eq!(
        texts.len(),
        2,
        "{:?}",
        texts.iter().map(|t| t.len()).collect::<Vec<_>>()
    );
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "serve is still running"
    );
    s.kill9();
}

#[test]
fn direct_tls_pins_and_wrong_passwords() {
    let p = Prosody::start().unwrap();
    let mut sb = Switchboard::new().unwrap();
    // Direct TLS, verified against the CA (no pin).
    sb.set_env("SSL_CERT_FILE", p.ca_pem_path());
    let tls_port = p.ports().c2s_tls.to_string();
    sb.run_with_stdin_ok(
        &[
            "account",
            "add",
            "xmpp",
            "chat",
            "--jid",
            "alice@localhost",
            "--host",
            "127.0.0.1",
            "--port",
            &tls_port,
            "--tls",
            "implicit",
            "--password-stdin",
        ],
        b"alice-pass",
    )
    .unwrap();
    let out = sb.run_ok(&["account", "test", "chat"]).unwrap();
    assert!(out.contains("login ok as alice@localhost/"), "{out}");
    assert!(
        out.contains("message archive") && out.contains("carbons"),
        "{out}"
    );
    // The password is in the keyring, not in the data dir.
    let listed = sb.run_ok(&["account", "list"]).unwrap();
    assert!(listed.contains("alice@localhost via 127.0.0.1"), "{listed}");

    // Without the CA, the self-signed server is refused, with the fingerprint to pin.
    sb.unset_env("SSL_CERT_FILE");
    let out = sb.run(&["account", "test", "chat"]).unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(p.cert_sha256()), "{err}");

    // A wrong pin is refused; the right one works.
    let c2s = p.ports().c2s.to_string();
    let wrong = "ab".repeat(32);
    sb.run_with_stdin_ok(
        &[
            "account",
            "add",
            "xmpp",
            "pinned",
            "--jid",
            "alice@localhost",
            "--host",
            "127.0.0.1",
            "--port",
            &c2s,
            "--trust-cert",
            &wrong,
            "--password-stdin",
        ],
        b"alice-pass",
    )
    .unwrap();
    let out = sb.run(&["account", "test", "pinned"]).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("pinned"), "{err}");

    // A wrong password: a clear login error, and the running connection records it.
    sb.run_with_stdin_ok(
        &[
            "account",
            "add",
            "xmpp",
            "wrongpw",
            "--jid",
            "bob@localhost",
            "--host",
            "127.0.0.1",
            "--port",
            &c2s,
            "--trust-cert",
            p.cert_sha256(),
            "--password-stdin",
        ],
        b"not-bobs",
    )
    .unwrap();
    let out = sb.run(&["account", "test", "wrongpw"]).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("login failed"),
        "{err}"
    );
    let _s = serve(&sb);
    wait_until("auth_failed", WAIT, || {
        let list = sb.run_json(&["account", "list", "--json"]).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "wrongpw" && a["state"]["state"] == "auth_failed")
            .then_some(())
    });
    // Bad account settings are refused before anything is stored.
    let out = sb
        .run_with_stdin(
            &[
                "account",
                "add",
                "xmpp",
                "bad",
                "--jid",
                "localhost",
                "--password-stdin",
            ],
            b"x",
        )
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no user part"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Mail and IM accounts, an SMTP sink for the mail account, rules that forward mail from bob
/// and IMs from bob as IMs to carol (the person's phone).
struct Forwarding {
    dv: switchboard_tests::Dovecot,
    sink: switchboard_tests::SmtpSink,
    p: Prosody,
    sb: Switchboard,
    _serve: Served,
}

fn forwarding() -> Forwarding {
    use switchboard_tests::smtp::{SINK_PASSWORD, SINK_USER};
    let dv = switchboard_tests::Dovecot::start().unwrap();
    let sink = switchboard_tests::SmtpSink::start().unwrap();
    let p = Prosody::start().unwrap();
    let sb = switchboard_for(&p);
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
    sb.run_ok(&[
        "rule",
        "add",
        "Bob by mail",
        "--from",
        "bob@example.org",
        "--forward-im",
        "carol@localhost",
    ])
    .unwrap();
    sb.run_ok(&[
        "rule",
        "add",
        "Bob by IM",
        "--channel",
        "im",
        "--from",
        "bob@localhost",
        "--forward-im",
        "carol@localhost",
    ])
    .unwrap();
    let serve = serve(&sb);
    wait_online(&sb);
    wait_until("the mail account's first pass", WAIT, || {
        let list = sb.run_json(&["account", "list", "--json"]).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "work" && a["state"]["state"] == "ok")
            .then_some(())
    });
    Forwarding {
        dv,
        sink,
        p,
        sb,
        _serve: serve,
    }
}

fn mail_from_bob(id: &str, subject: &str, body: &str) -> Vec<u8> {
    switchboard_tests::TestMail::new()
        .message_id(id)
        .from("Bob Sender <bob@example.org>")
        .to("Alice Example <alice@localhost>")
        .subject(subject)
        .body(body)
        .build()
}

/// Waits for a forward at the phone; returns (event, reference number).
fn forward_at(phone: &XmppPeer, needle: &str) -> (Value, String) {
    let ev = phone
        .wait_event(WAIT, |e| {
            e["event"] == "message"
                && e["carbon"].is_null()
                && e["body"].as_str().is_some_and(|b| b.contains(needle))
        })
        .unwrap();
    let body = ev["body"].as_str().unwrap();
    let reference = body
        .strip_prefix("[#")
        .and_then(|r| r.split(']').next())
        .unwrap()
        .to_string();
    (ev, reference)
}

fn answer_at(phone: &XmppPeer, after: usize, needle: &str) -> Value {
    phone
        .wait_event_after(after, WAIT, |e| {
            e["event"] == "message"
                && e["carbon"].is_null()
                && e["body"].as_str().is_some_and(|b| b.contains(needle))
        })
        .unwrap()
}

#[test]
fn mail_forwarded_as_im_is_answered_by_mail_in_its_thread() {
    let f = forwarding();
    let phone = peer(&f.p, "carol");
    f.dv.deliver(
        "alice",
        "INBOX",
        &mail_from_bob(
            "<q1@example.org>",
            "Quarterly numbers",
            "Hi Alice,\r\n\r\nare the numbers final?\r\n\r\n-- \r\nBob\r\n",
        ),
    )
    .unwrap();
    // The short form: sender, subject, first lines, a reference; in a thread, with a receipt
    // request (slixmpp answers it).
    let (fwd, reference) = forward_at(&phone, "Quarterly numbers");
    let body = fwd["body"].as_str().unwrap();
    assert!(
        body.contains("Mail from Bob Sender <bob@example.org>"),
        "{body}"
    );
    assert!(body.contains("Subject: Quarterly numbers"), "{body}");
    assert!(body.contains("are the numbers final?"), "{body}");
    assert!(!body.contains("-- "), "no signature: {body}");
    assert!(fwd["thread"].is_string(), "{fwd}");
    assert_eq!(fwd["receipt_request"], true);

    // The tracker: delivered over the IM channel, and the phone's receipt is in its timeline.
    let inbox =
        f.sb.run_json(&["inbox", "--json", "--limit", "50"])
            .unwrap();
    let original = inbox
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message_id"] == "q1@example.org")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    wait_until("the IM delivery and its receipt", WAIT, || {
        let track =
            f.sb.run_json(&["track", &original.to_string(), "--json"])
                .unwrap();
        track["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["channel"] == "im" && d["target"] == "carol@localhost")
            .filter(|d| d["state"] == "delivered")
            .filter(|d| {
                d["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["state"] == "receipt")
            })
            .map(|_| ())
    });

    // The phone answers in the forward's thread: a proper reply to bob goes out by mail.
    let before = phone.event_count();
    phone
        .send_message(
            "alice@localhost",
            "Yes, they are final.",
            json!({"thread": fwd["thread"]}),
        )
        .unwrap();
    let got = f.sink.wait_for_messages(1, WAIT).unwrap();
    let reply = &got[0];
    assert_eq!(reply.rcpt_tos, vec!["bob@example.org"]);
    assert_eq!(reply.mail_from, "alice@localhost");
    assert_eq!(reply.header("Subject"), vec!["Re: Quarterly numbers"]);
    assert_eq!(reply.header("In-Reply-To"), vec!["<q1@example.org>"]);
    assert!(reply.header("References")[0].contains("<q1@example.org>"));
    assert!(reply.header("From")[0].contains("alice@localhost"));
    assert!(String::from_utf8_lossy(&reply.raw).contains("Yes, they are final."));
    answer_at(&phone, before, "Sent to bob@example.org by mail");

    // A typed reference works too (clients that keep no thread).
    let before = phone.event_count();
    phone
        .send_message(
            "alice@localhost",
            &format!("#{reference} And the slides follow."),
            json!({}),
        )
        .unwrap();
    let got = f.sink.wait_for_messages(2, WAIT).unwrap();
    assert!(String::from_utf8_lossy(&got[1].raw).contains("And the slides follow."));
    assert!(!String::from_utf8_lossy(&got[1].raw).contains(&format!("#{reference}")));
    answer_at(&phone, before, "Sent to bob@example.org");

    // Something that answers no forward is refused politely, and nothing is sent.
    let before = phone.event_count();
    phone
        .send_message("alice@localhost", "hello, anyone there?", json!({}))
        .unwrap();
    answer_at(&phone, before, "nothing was sent");
    let before = phone.event_count();
    phone
        .send_message("alice@localhost", "#77 a reference nobody has", json!({}))
        .unwrap();
    answer_at(&phone, before, "nothing was sent");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(f.sink.received().unwrap().len(), 2, "no third mail");
    // The person's replies were not routed (forwarded back to them) themselves.
    let n_forwards = phone
        .messages()
        .iter()
        .filter(|e| e["body"].as_str().is_some_and(|b| b.starts_with("[#")))
        .count();
    assert_eq!(n_forwards, 1, "{:?}", phone.messages());
}

#[test]
fn an_im_forwarded_as_im_is_answered_by_im() {
    let f = forwarding();
    let phone = peer(&f.p, "carol");
    let bob = peer(&f.p, "bob");
    bob.send_message("alice@localhost", "Lunch at noon?", json!({}))
        .unwrap();
    let (fwd, _reference) = forward_at(&phone, "Lunch at noon?");
    assert!(fwd["body"]
        .as_str()
        .unwrap()
        .contains("IM from bob@localhost"));
    // The phone uses its client's "reply" (XEP-0461), quoting the forward.
    let before = phone.event_count();
    phone
        .send_message(
            "alice@localhost",
            "> [#1] IM from bob@localhost\nSure, see you there.",
            json!({"reply_id": fwd["id"], "reply_to": fwd["from"]}),
        )
        .unwrap();
    let got = bob
        .wait_event(WAIT, |e| {
            e["event"] == "message" && e["body"] == "Sure, see you there."
        })
        .unwrap();
    assert!(got["from"]
        .as_str()
        .unwrap()
        .starts_with("alice@localhost/"));
    answer_at(&phone, before, "Sent to bob@localhost as an IM");
    // In the conversation with bob, as written by this person.
    let m = wait_for_body(&f.sb, "bob@localhost", "Sure, see you there.");
    assert_eq!(m["direction"], "out");
    assert!(f.sink.received().unwrap().is_empty(), "no mail for an IM");
}

#[test]
fn an_xmpp_account_edited_over_the_api_keeps_a_valid_address() {
    let sb = Switchboard::new().unwrap();
    let s = serve(&sb);
    // Kept without a login (nothing listens on port 9: the connection just keeps failing).
    let r = s.post(
        "/api/accounts",
        &json!({"kind": "xmpp", "name": "chat", "username": "alice@localhost",
                "password": "x", "host": "127.0.0.1", "port": 9, "test": false}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let patch = |body: Value| {
        request(
            s.addr,
            "PATCH",
            "/api/accounts/chat",
            &[
                ("Authorization", &s.auth()),
                ("Content-Type", "application/json"),
            ],
            body.to_string().as_bytes(),
        )
        .unwrap()
    };
    let r = patch(json!({"username": "not an address"}));
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("username") && r.text().contains("spaces"),
        "{}",
        r.text()
    );
    // Normalised as on adding (lower-case domain); no server means DNS SRV (port 0).
    let r = patch(json!({"username": "alice@LOCALHOST", "host": "", "port": 0}));
    assert_eq!(r.status, 200, "{}", r.text());
    let a: Value = r.json().unwrap();
    assert_eq!(a["username"], "alice@localhost", "{a}");
    assert_eq!(a["host"], "", "{a}");
    assert_eq!(a["port"], 0, "{a}");
}

#[test]
fn chat_states_go_both_ways_only_with_clients_that_use_them() {
    let p = Prosody::start().unwrap();
    let sb = switchboard_for(&p);
    let s = serve(&sb);
    wait_online(&sb);
    let bob = peer(&p, "bob");
    let typing = json!({"to": "bob@localhost", "state": "composing"});
    // Bob's client has not sent a chat state: none is sent to it.
    let r = s.post("/api/im/chat-state", &typing);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json().unwrap()["queued"], false);

    // Bob types: the API says so.
    bob.send_raw(
        "<message to='alice@localhost' type='chat' id='cs1'>\
         <composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
    )
    .unwrap();
    let state_of_bob = || {
        s.get("/api/im/chat-states").json().unwrap()["chat_states"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["contact"] == "bob@localhost").cloned())
    };
    let seen = wait_until("bob's chat state", WAIT, || {
        state_of_bob().filter(|c| c["state"] == "composing")
    });
    assert_eq!(seen["account"], "chat");
    assert!(seen["at_ms"].as_i64().unwrap_or(0) > 0, "{seen}");
    // Typing is not a message.
    assert!(conversation(&sb, "bob@localhost").is_empty());

    // Now ours go to him: once, alone, not archived.
    let before = bob.event_count();
    let r = s.post("/api/im/chat-state", &typing);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json().unwrap()["queued"], true);
    let got = bob
        .wait_event_after(before, WAIT, |e| e["event"] == "chatstate")
        .unwrap();
    assert_eq!(got["state"], "composing", "{got}");
    assert_eq!(got["body"], false, "{got}");
    assert_eq!(got["no_store"], true, "{got}");
    assert!(
        got["from"]
            .as_str()
            .is_some_and(|f| f.starts_with("alice@localhost")),
        "{got}"
    );

    // His message carries "active": typing is over, and the message is stored.
    bob.send_raw(
        "<message to='alice@localhost' type='chat' id='cs2'><body>done typing</body>\
         <active xmlns='http://jabber.org/protocol/chatstates'/></message>",
    )
    .unwrap();
    wait_for_body(&sb, "bob@localhost", "done typing");
    wait_until("bob's chat state to be active", WAIT, || {
        state_of_bob().filter(|c| c["state"] == "active")
    });

    // Bad input is named.
    for (body, status, word) in [
        (
            json!({"to": "bob@localhost", "state": "typing"}),
            400,
            "state",
        ),
        (json!({"to": "bob@", "state": "paused"}), 400, "contact"),
        (
            json!({"to": "bob@localhost", "state": "paused", "account": "nope"}),
            404,
            "nope",
        ),
    ] {
        let r = s.post("/api/im/chat-state", &body);
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(word), "{body}: {}", r.text());
    }
}
