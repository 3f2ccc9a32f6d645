//! Profiles and routing against a real `switchboard serve` syncing a real Dovecot: the active
//! profile switched by the CLI and the API, a scheduled boundary crossed on a shifted clock
//! (SWITCHBOARD_CLOCK_OFFSET), `route explain` of synced mail naming the rule, and rules tried
//! on synced mail before they are saved.

use std::net::{SocketAddr, TcpListener};
use std::process::Child;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use switchboard_tests::http::{get, request, HttpResponse};
use switchboard_tests::{Dovecot, Switchboard, TestMail};

/// Monday 5 January 2026, 09:00 in Europe/Berlin (CET, UTC+1).
const MONDAY_9: i64 = 1_767_600_000;
/// The same day, 17:00 Berlin.
const MONDAY_17: i64 = 1_767_628_800;

struct Served {
    sb: Switchboard,
    addr: SocketAddr,
    token: String,
    child: Child,
    _dv: Dovecot,
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
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The clock offset that makes "now" `at` for every process started with it.
fn offset_to(at: i64) -> String {
    (at - real_now()).to_string()
}

impl Served {
    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }
    fn get(&self, path: &str) -> HttpResponse {
        get(self.addr, path, &[("Authorization", &self.auth())]).unwrap()
    }
    fn send(&self, method: &str, path: &str, body: &Value) -> HttpResponse {
        let body = body.to_string();
        let auth = self.auth();
        let headers: &[(&str, &str)] = &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ];
        request(self.addr, method, path, headers, body.as_bytes()).unwrap()
    }
    fn active(&self) -> Value {
        let r = self.get("/api/profiles/active");
        assert_eq!(r.status, 200, "{}", r.text());
        r.json().unwrap()
    }
    fn cli_json(&self, args: &[&str]) -> Value {
        self.sb.run_json(args).unwrap()
    }
}

fn mails() -> Vec<Vec<u8>> {
    vec![
        TestMail::new()
            .message_id("<budget@corp.example>")
            .from("The Boss <Boss@Corp.example>")
            .to("alice@localhost")
            .subject("Budget for next year")
            .header("Importance", b"high")
            .body("Please review the budget today.\r\n")
            .build(),
        TestMail::new()
            .message_id("<notes@lists.example.net>")
            .from("Dev list <dev@lists.example.net>")
            .to("dev@lists.example.net")
            .subject("[dev] weekly notes")
            .header("List-Id", b"Developers <dev.lists.example.net>")
            .body("Notes of the week. To unsubscribe, write to the list owner.\r\n")
            .build(),
        TestMail::new()
            .message_id("<hello@friends.example>")
            .from("Dana <dana@friends.example>")
            .to("alice@localhost")
            .subject("")
            .body("Lunch on Friday?\r\n")
            .build(),
    ]
}

/// Dovecot with three messages, synced, with a Work schedule in Berlin; the CLI has run on a
/// clock at Monday 08:50, and `serve` starts on one at 08:59:50.
fn serve() -> Served {
    let dv = Dovecot::start().unwrap();
    for m in mails() {
        dv.deliver("alice", "INBOX", &m).unwrap();
    }
    let mut sb = Switchboard::new().unwrap();
    sb.set_env("SWITCHBOARD_CLOCK_OFFSET", offset_to(MONDAY_9 - 600));
    let port = dv.imaps_port().to_string();
    sb.run_with_stdin_ok(
        &[
            "account",
            "add",
            "imap",
            "mail",
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
    sb.run_ok(&["sync"]).unwrap();
    sb.run_ok(&["schedule", "zone", "Europe/Berlin"]).unwrap();
    let out = sb
        .run_ok(&[
            "schedule", "add", "work", "--days", "mon-fri", "--from", "09:00", "--to", "17:00",
        ])
        .unwrap();
    assert!(out.contains("Work mon-fri 09:00-17:00"), "{out}");
    sb.run_ok(&["group", "add", "VIP", "boss@corp.example"])
        .unwrap();
    sb.run_ok(&[
        "rule",
        "add",
        "Lists",
        "--list-id",
        "*",
        "--label",
        "lists",
        "--mark-read",
        "--stop",
    ])
    .unwrap();
    let token = sb.run_ok(&["token", "create", "tests"]).unwrap();
    let token = token.split_whitespace().last().unwrap().to_string();

    // From here on every process runs on one clock, ten seconds before Monday 09:00.
    sb.set_env("SWITCHBOARD_CLOCK_OFFSET", offset_to(MONDAY_9 - 10));
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let child = sb
        .spawn(&["serve", "--listen", &addr.to_string(), "--interval", "600"])
        .unwrap();
    wait_for("the server", Duration::from_secs(30), || {
        get(addr, "/health", &[])
            .map(|r| r.status == 200)
            .unwrap_or(false)
    });
    Served {
        sb,
        addr,
        token,
        child,
        _dv: dv,
    }
}

fn message_id(s: &Served, subject_part: &str) -> i64 {
    let list = s.cli_json(&["inbox", "--json"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains(subject_part))
        .unwrap_or_else(|| panic!("no synced message with '{subject_part}' in {list}"))["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn the_schedule_cli_and_api_switch_profiles_and_routing_follows() {
    let s = serve();

    // The schedule boundary at 09:00 passes on the shifted clock: Work becomes active, and
    // the running server records the switch at the boundary's instant.
    wait_for(
        "the scheduled switch to Work",
        Duration::from_secs(60),
        || s.active()["active"]["name"] == "Work",
    );
    let a = s.active();
    assert_eq!(a["active"]["why"], "scheduled", "{a}");
    assert_eq!(a["active"]["since"], MONDAY_9, "{a}");
    assert_eq!(a["active"]["until"], MONDAY_17, "{a}");
    assert!(
        a["why"]
            .as_str()
            .unwrap()
            .contains("Work mon-fri 09:00-17:00"),
        "{a}"
    );
    wait_for("the switch in the history", Duration::from_secs(30), || {
        s.get("/api/profiles/history").json().unwrap()[0]["profile"] == "Work"
    });
    let h = s.get("/api/profiles/history").json().unwrap();
    assert_eq!(h[0]["reason"], "scheduled", "{h}");
    assert_eq!(h[0]["previous"], "Home", "{h}");
    assert_eq!(h[0]["at"], MONDAY_9, "{h}");

    // Switching by API: Meeting holds until the next boundary (17:00).
    let r = s.send("POST", "/api/profiles/active", &json!({"name": "meeting"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let a = r.json().unwrap();
    assert_eq!(a["active"]["name"], "Meeting");
    assert_eq!(a["active"]["why"], "manual");
    assert_eq!(a["active"]["until"], MONDAY_17);
    // ... and the CLI sees it.
    let listed = s.cli_json(&["profile", "list", "--json"]);
    assert_eq!(listed["active"]["name"], "Meeting", "{listed}");
    // Switching by CLI: the server sees it.
    let out = s.sb.run_ok(&["profile", "use", "Do not disturb"]).unwrap();
    assert!(out.contains("active: Do not disturb (manual"), "{out}");
    assert_eq!(s.active()["active"]["name"], "Do not disturb");

    // Route explain of synced mail, by CLI and API, names the rule that matched and why.
    let boss = message_id(&s, "Budget");
    let list = message_id(&s, "weekly notes");
    let plain = s
        .cli_json(&["inbox", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["subject"] == "")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let e = s.cli_json(&["route", "explain", &boss.to_string(), "--json"]);
    assert_eq!(e["profile"], "Do not disturb", "{e}");
    assert_eq!(
        e["decision"]["actions"],
        json!([{"do": "notify", "urgency": "critical"}]),
        "{e}"
    );
    let text = e["decision"]["explanation"].to_string();
    assert!(
        text.contains("rule 1 'VIPs break through' matched"),
        "{text}"
    );
    assert!(
        text.contains("boss@corp.example is in group 'VIP'"),
        "{text}"
    );
    let out =
        s.sb.run_ok(&["route", "explain", &plain.to_string(), "--all"])
            .unwrap();
    assert!(out.contains("message") && out.contains(": hold"), "{out}");
    assert!(
        out.contains("profile Do not disturb's default action: hold for the digest"),
        "{out}"
    );
    assert!(out.contains("did not match"), "{out}");
    let r = s.get(&format!("/api/messages/{list}/route"));
    assert_eq!(r.status, 200, "{}", r.text());
    let e = r.json().unwrap();
    assert_eq!(
        e["decision"]["actions"],
        json!([{"do": "mark_read"}, {"do": "label", "label": "lists"}]),
        "{e}"
    );
    assert_eq!(e["decision"]["matched"][0]["rule"], "Lists", "{e}");
    assert!(
        e["decision"]["explanation"]
            .to_string()
            .contains("came through list dev.lists.example.net"),
        "{e}"
    );
    let r = s.get(&format!("/api/messages/{boss}/route?profile=home"));
    assert_eq!(
        r.json().unwrap()["decision"]["actions"],
        json!([{"do": "notify", "urgency": "normal"}])
    );
    assert_eq!(s.get("/api/messages/999999/route").status, 404);

    // Releasing: the schedule decides again.
    let r = s.send("DELETE", "/api/profiles/active", &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json().unwrap()["active"]["name"], "Work");

    // Trying rules on the synced mail before saving them, by CLI and API.
    let t = s.cli_json(&[
        "rule",
        "try",
        "--from-domain",
        "corp.example",
        "--forward-mail",
        "me@phone.example",
        "--json",
    ]);
    assert_eq!(t["scanned"], 3, "{t}");
    let matches = t["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 1, "{t}");
    assert_eq!(matches[0]["id"], boss);
    assert_eq!(
        matches[0]["now"],
        json!([{"do": "notify", "urgency": "normal"}]),
        "{t}"
    );
    assert_eq!(
        matches[0]["with_rule"]["actions"],
        json!([{"do": "forward_mail", "to": "me@phone.example"}]),
        "{t}"
    );
    let r = s.send(
        "POST",
        "/api/rules/try",
        &json!({"rule": {"name": "quiet unsubscribes", "conditions": [{"if": "body", "words": "unsubscribe"}],
                 "actions": [{"do": "hold"}]}, "position": 1}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let t = r.json().unwrap();
    assert_eq!(t["matches"].as_array().unwrap().len(), 1, "{t}");
    assert_eq!(t["matches"][0]["id"], list);
    // The tried rule holds it; "Lists" after it still marks it read and labels it.
    assert_eq!(
        t["matches"][0]["with_rule"]["actions"],
        json!([{"do": "mark_read"}, {"do": "label", "label": "lists"}, {"do": "hold"}]),
        "{t}"
    );
    let rules = s.get("/api/rules").json().unwrap();
    assert_eq!(
        rules.as_array().unwrap().len(),
        2,
        "trying saved nothing: {rules}"
    );

    // A rule from a message, then it decides.
    let out =
        s.sb.run_ok(&[
            "rule",
            "from-message",
            &boss.to_string(),
            "--by",
            "sender",
            "--label",
            "boss",
            "--position",
            "1",
        ])
        .unwrap();
    assert!(out.contains("From boss@corp.example"), "{out}");
    let e = s
        .get(&format!("/api/messages/{boss}/route"))
        .json()
        .unwrap();
    assert_eq!(
        e["decision"]["matched"][0]["rule"], "From boss@corp.example",
        "{e}"
    );
    assert_eq!(
        e["decision"]["actions"][0],
        json!({"do": "label", "label": "boss"}),
        "{e}"
    );

    // Household members read but do not change.
    let member =
        s.sb.run_ok(&["token", "create", "bob-laptop", "--owner", "bob"])
            .unwrap();
    let member = member.split_whitespace().last().unwrap().to_string();
    let bearer = format!("Bearer {member}");
    // The running server learns of new tokens within its watch interval.
    wait_for("the new token", Duration::from_secs(10), || {
        get(s.addr, "/api/profiles", &[("Authorization", &bearer)])
            .map(|r| r.status == 200)
            .unwrap_or(false)
    });
    let r = request(
        s.addr,
        "POST",
        "/api/profiles/active",
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        br#"{"name":"Home"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(s.active()["active"]["name"], "Work");
}

#[test]
fn profile_and_rule_errors_name_what_is_wrong() {
    let sb = Switchboard::new().unwrap();
    let fail = |args: &[&str]| {
        let out = sb.run(args).unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(fail(&["profile", "use", "Gym"]).contains("no profile named 'Gym'"));
    assert!(fail(&[
        "schedule", "add", "Work", "--days", "funday", "--from", "09:00", "--to", "17:00"
    ])
    .contains("funday"));
    assert!(
        fail(&["schedule", "add", "Work", "--days", "mon", "--from", "9", "--to", "17:00"])
            .contains("--from")
    );
    assert!(fail(&["schedule", "zone", "Mars/Olympus"]).contains("Mars/Olympus"));
    assert!(fail(&["rule", "add", "nothing", "--from", "a@b.example"])
        .contains("say what the rule does"));
    assert!(
        fail(&["rule", "add", "bad", "--forward-mail", "nobody", "--stop"])
            .contains("forward address")
    );
    assert!(fail(&["rule", "add", "scoped", "--in", "Gym", "--hold"]).contains("'Gym'"));
    assert!(fail(&["rule", "remove", "99"]).contains("no rule with id 99"));
    assert!(fail(&["profile", "remove", "Home"]).contains("active"));
    assert!(fail(&["route", "explain", "42"]).contains("no message with id 42"));
    assert!(fail(&["rule", "from-message", "42", "--by", "list", "--hold"]).contains("42"));
    // Nothing above changed anything.
    let rules = sb.run_json(&["rule", "list", "--json"]).unwrap();
    assert_eq!(rules.as_array().unwrap().len(), 1);
    let p = sb.run_json(&["profile", "list", "--json"]).unwrap();
    assert_eq!(p["profiles"].as_array().unwrap().len(), 5);
    assert_eq!(p["active"]["name"], "Home");
}
