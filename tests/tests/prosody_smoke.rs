//! The Prosody harness and the slixmpp peer prove themselves: both listeners speak TLS with
//! the generated certificate, users exist, messages flow with receipts, carbons, offline
//! storage and archive ids, and a restart keeps users and archive on the same ports.

use std::process::Command;
use std::time::Duration;

use serde_json::json;
use switchboard_tests::{PeerOptions, Prosody, XmppPeer};

const WAIT: Duration = Duration::from_secs(20);

fn presented_fingerprint(port: u16, starttls: bool) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost"]);
    if starttls {
        cmd.args(["-starttls", "xmpp", "-xmpphost", "localhost"]);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let start = text.find("-----BEGIN CERTIFICATE-----").expect(&text);
    let end = text.find("-----END CERTIFICATE-----").expect(&text) + 25;
    let pem = &text[start..end];
    let mut der = Command::new("openssl")
        .args(["x509", "-outform", "DER"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    der.stdin.take().unwrap().write_all(pem.as_bytes()).unwrap();
    let der = der.wait_with_output().unwrap().stdout;
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(&der))
}

#[test]
fn prosody_serves_both_tls_modes_with_the_generated_certificate() {
    let p = Prosody::start().unwrap();
    assert_eq!(
        presented_fingerprint(p.ports().c2s_tls, false),
        p.cert_sha256()
    );
    assert_eq!(presented_fingerprint(p.ports().c2s, true), p.cert_sha256());
}

#[test]
fn peers_exchange_messages_receipts_carbons_and_offline_mail() {
    let p = Prosody::start().unwrap();
    let alice = XmppPeer::connect(&p, "alice", PeerOptions::default()).unwrap();
    let bob = XmppPeer::connect(
        &p,
        "bob",
        PeerOptions {
            direct_tls: true,
            ..Default::default()
        },
    )
    .unwrap();
    // Shared roster group: bob sees alice online.
    bob.wait_event(WAIT, |e| {
        e["event"] == "presence"
            && e["from"]
                .as_str()
                .unwrap_or("")
                .starts_with("alice@localhost/")
            && e["type"] == "available"
    })
    .unwrap();

    let id = bob
        .send_message("alice@localhost", "hello alice", json!({"receipt": true}))
        .unwrap();
    let got = alice
        .wait_event(WAIT, |e| e["event"] == "message" && e["id"] == id.as_str())
        .unwrap();
    assert_eq!(got["body"], "hello alice");
    assert_eq!(got["receipt_request"], true);
    assert!(got["stanza_id"].is_string(), "archived with an id: {got}");
    bob.wait_event(WAIT, |e| e["event"] == "receipt" && e["id"] == id.as_str())
        .unwrap();

    // Carbons: a second client of alice sees what her first one sends.
    let alice2 = XmppPeer::connect(
        &p,
        "alice",
        PeerOptions {
            resource: Some("second".into()),
            ..Default::default()
        },
    )
    .unwrap();
    alice2.enable_carbons().unwrap();
    let sent = alice
        .send_message("bob@localhost", "from the first client", json!({}))
        .unwrap();
    let carbon = alice2
        .wait_event(WAIT, |e| e["carbon"] == "sent" && e["id"] == sent.as_str())
        .unwrap();
    assert_eq!(carbon["body"], "from the first client");

    // Offline: carol is not online; her message waits and arrives with a delay and an id.
    let off = bob
        .send_message("carol@localhost", "while you were out", json!({}))
        .unwrap();
    bob.ping().unwrap();
    let carol = XmppPeer::connect(&p, "carol", PeerOptions::default()).unwrap();
    let got = carol
        .wait_event(WAIT, |e| e["event"] == "message" && e["id"] == off.as_str())
        .unwrap();
    assert_eq!(got["delay"], true, "{got}");
    assert!(got["stanza_id"].is_string(), "{got}");

    // Unknown user: the message bounces.
    let lost = bob
        .send_message("nobody@localhost", "anyone?", json!({}))
        .unwrap();
    bob.wait_event(WAIT, |e| e["event"] == "error" && e["id"] == lost.as_str())
        .unwrap();
}

#[test]
fn restart_keeps_users_on_the_same_ports() {
    let p = Prosody::start().unwrap();
    let ports = p.ports();
    p.add_user("dave", "dave-pass").unwrap();
    p.stop().unwrap();
    assert!(!p.is_running());
    p.restart().unwrap();
    assert_eq!(p.ports(), ports);
    let dave = XmppPeer::connect_with_password(&p, "dave", "dave-pass", PeerOptions::default());
    assert!(dave.is_ok(), "{:?}", dave.err());
    let wrong = XmppPeer::connect_with_password(&p, "dave", "wrong", PeerOptions::default());
    assert!(wrong.is_err());
}
