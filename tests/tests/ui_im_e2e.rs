//! Instant messaging in the web UI end to end: a real Chromium (Debian's, driven by
//! playwright-core from ui/e2e/chats.e2e.mjs) against a real `switchboard serve`, a private
//! Prosody and a slixmpp client as the contact. The XMPP account is added through Settings
//! (trusting the server's certificate by its fingerprint after the connection test names it,
//! then a wrong password named in words), the contact's presence shows in Chats, a message from
//! the contact appears live, typing shows both ways (XEP-0085), a reply typed in the chat view
//! reaches the contact and shows as delivered (XEP-0184), a presence change shows, and the IM is in the consolidated inbox with
//! its channel badge, opening into its conversation. Screenshots land in target/ui-im-e2e/.
//!
//! Needs node (with `npm ci` run in ui/), /usr/bin/chromium, Prosody and the Python venv with
//! slixmpp: `scripts/install-deps.sh test`, `scripts/install-python-tools.sh` and `make ui`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use switchboard_tests::http::get;
use switchboard_tests::{workspace_root, PeerOptions, Prosody, Switchboard, XmppPeer};

const WAIT: Duration = Duration::from_secs(30);

use switchboard_tests::browser::{require_ui_deps, wait_until as wait_for};

struct Serve(Child);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Acts as the contact (bob) for the browser script's requests ("@@ command \"arg\"").
struct Contact<'a> {
    prosody: &'a Prosody,
    me: String,
    peer: Option<XmppPeer>,
}

impl Contact<'_> {
    fn peer(&self) -> Result<&XmppPeer, String> {
        self.peer
            .as_ref()
            .ok_or_else(|| "the contact is not connected".to_string())
    }

    fn answer(&mut self, command: &str, arg: &str) -> Result<String, String> {
        match command {
            "peer-connect" => {
                let peer = XmppPeer::connect(self.prosody, "bob", PeerOptions::default())
                    .map_err(|e| format!("{e:#}"))?;
                self.peer = Some(peer);
                Ok(String::new())
            }
            "peer-send" => {
                let id = self
                    .peer()?
                    .send_message(&self.me, arg, json!({}))
                    .map_err(|e| format!("{e:#}"))?;
                Ok(id)
            }
            "peer-got" => {
                let me = self.me.clone();
                let got = self
                    .peer()?
                    .wait_event(WAIT, |e| {
                        e["event"] == "message"
                            && e["carbon"].is_null()
                            && e["body"] == arg
                            && e["from"].as_str().is_some_and(|f| f.starts_with(&me))
                    })
                    .map_err(|e| format!("the contact did not get {arg:?}: {e:#}"))?;
                // Switchboard asks for a receipt (XEP-0184); the contact's client answers it.
                if got["receipt_request"] != true {
                    return Err(format!("no receipt was requested: {got}"));
                }
                Ok(String::new())
            }
            "peer-typing" => {
                self.peer()?
                    .send_raw(&format!(
                        "<message to='{}' type='chat' id='typing-1'>\
                         <composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
                        self.me
                    ))
                    .map_err(|e| format!("{e:#}"))?;
                Ok(String::new())
            }
            "peer-got-chatstate" => {
                let me = self.me.clone();
                self.peer()?
                    .wait_event(WAIT, |e| {
                        e["event"] == "chatstate"
                            && e["state"] == arg
                            && e["from"].as_str().is_some_and(|f| f.starts_with(&me))
                    })
                    .map_err(|e| format!("the contact got no chat state {arg:?}: {e:#}"))?;
                Ok(String::new())
            }
            "peer-presence" => {
                let (show, status) = arg.split_once('|').unwrap_or((arg, ""));
                self.peer()?
                    .set_presence(Some(show), Some(status).filter(|s| !s.is_empty()))
                    .map_err(|e| format!("{e:#}"))?;
                Ok(String::new())
            }
            other => Err(format!("unknown request {other}")),
        }
    }
}

#[test]
fn chats_in_a_real_browser() {
    let root = workspace_root();
    let ui = root.join("ui");
    require_ui_deps(&ui);

    let prosody = Prosody::start().unwrap();
    let sb = Switchboard::new().unwrap();
    let free = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr: SocketAddr = free.local_addr().expect("its address");
    drop(free);
    let _serve = Serve(
        sb.spawn(&["serve", "--listen", &addr.to_string(), "--interval", "600"])
            .unwrap(),
    );
    wait_for("the server", WAIT, || {
        get(addr, "/health", &[])
            .map(|r| r.status == 200)
            .unwrap_or(false)
    });
    let page = get(addr, "/", &[]).unwrap();
    assert!(
        page.text().contains("<div id=\"app\">"),
        "the binary carries no UI (run `make ui`, then build again): {}",
        page.text()
    );

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

    let shots = root.join("target/ui-im-e2e");
    let _ = std::fs::remove_dir_all(&shots);
    let me = prosody.jid("alice");
    let mut child = Command::new("node")
        .arg(ui.join("e2e/chats.e2e.mjs"))
        .current_dir(&ui)
        .env("SB_LOGIN_URL", &login)
        .env("SB_SHOTS", &shots)
        .env("SB_XMPP_PORT", prosody.ports().c2s.to_string())
        .env("SB_CERT_SHA256", prosody.cert_sha256())
        .env("SB_JID", &me)
        .env(
            "SB_PASSWORD",
            prosody.password("alice").expect("alice's password"),
        )
        .env("SB_PEER_JID", prosody.jid("bob"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node");
    let mut to_node = child.stdin.take().expect("node's stdin");
    let from_node = BufReader::new(child.stdout.take().expect("node's stdout"));
    let mut contact = Contact {
        prosody: &prosody,
        me,
        peer: None,
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
            let (command, arg) = request.split_once(' ').unwrap_or((request, "\"\""));
            let arg: String = serde_json::from_str(arg).unwrap_or_default();
            let reply = match contact.answer(command, &arg) {
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
        steps
            .iter()
            .any(|s| s.contains("opening it goes to the chat")),
        "the script stopped early: {steps:?}"
    );
    let pictures = std::fs::read_dir(&shots).unwrap().count();
    assert!(
        pictures >= 9,
        "{pictures} screenshots in {}",
        shots.display()
    );
    // What the contact sent is stored once, read (the chat view marked it).
    let peer = contact.peer.as_ref().expect("the contact connected");
    assert!(
        peer.messages()
            .iter()
            .any(|m| m["body"] == "first line\nsecond line"),
        "the two-line message arrived as one: {:?}",
        peer.messages()
    );
}
