//! The index client against a real `switchboard serve` process syncing a real Dovecot: it asks
//! the index, fetches only changes, keeps what it learned across instances, fails over between
//! addresses, applies the size rule, and checks the whole store when a day has passed.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_client::{
    BodyState, ClientError, Config, IndexClient, MessageInfo, PollOutcome, Rng, ServerAddr,
};
use switchboard_tests::http::{get, request, HttpResponse};
use switchboard_tests::{Dovecot, Switchboard, TestMail};

fn mail(n: u32) -> Vec<u8> {
    TestMail::new()
        .message_id(&format!("<client{n}@example.org>"))
        .from("Carol <carol@example.org>")
        .to("alice@localhost")
        .subject(&format!("Client {n}"))
        .body(&format!("Body of client message {n}.\r\n"))
        .build()
}

/// Kills a spawned process when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Served {
    dv: Dovecot,
    sb: Switchboard,
    addr: SocketAddr,
    token: String,
    _child: Killed,
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

fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// An address where nothing listens: bound, then closed.
fn dead_url() -> String {
    format!("http://{}", free_addr())
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
    let addr = free_addr();
    let child = sb
        .spawn(&["serve", "--listen", &addr.to_string(), "--interval", "600"])
        .unwrap();
    let served = Served {
        dv,
        sb,
        addr,
        token,
        _child: Killed(child),
    };
    wait_for("the server", Duration::from_secs(20), || {
        get(addr, "/health", &[])
            .map(|r| r.status == 200)
            .unwrap_or(false)
    });
    wait_for("the first sync", Duration::from_secs(30), || {
        served.list().len() == messages as usize
    });
    wait_for("the index", Duration::from_secs(5), || {
        served.api("/api/index").json().unwrap()["seq"]
            .as_i64()
            .unwrap()
            >= messages as i64
    });
    served
}

impl Served {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }
    fn api(&self, path: &str) -> HttpResponse {
        get(self.addr, path, &[("Authorization", &self.auth())]).unwrap()
    }
    fn call(&self, method: &str, path: &str, body: &str) -> HttpResponse {
        let auth = self.auth();
        request(
            self.addr,
            method,
            path,
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
        .unwrap()
    }
    fn list(&self) -> Vec<Value> {
        self.api("/api/messages?limit=1000").json().unwrap()["messages"]
            .as_array()
            .unwrap()
            .clone()
    }
    fn id_of(&self, subject: &str) -> i64 {
        self.list()
            .iter()
            .find(|m| m["subject"] == subject)
            .unwrap_or_else(|| panic!("no {subject}"))["id"]
            .as_i64()
            .unwrap()
    }
    /// Another `serve` (no sync) on the same data dir: a second front end of the same store.
    fn second_front_end(&self, extra: &[&str]) -> (SocketAddr, Killed) {
        let addr = free_addr();
        let mut args = vec!["serve", "--no-sync", "--listen"];
        let listen = addr.to_string();
        args.push(&listen);
        args.extend_from_slice(extra);
        let child = Killed(self.sb.spawn(&args).unwrap());
        wait_for("the second front end", Duration::from_secs(20), || {
            std::net::TcpStream::connect(addr).is_ok()
        });
        (addr, child)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn config(servers: Vec<ServerAddr>, token: &str, dir: &Path) -> Config {
    let mut c = Config::new(servers, token, dir);
    c.wait_secs = 2;
    c
}

/// Tries the servers in the order given (no shuffling), to put a dead one first.
struct InOrder;

impl Rng for InOrder {
    fn below(&mut self, n: usize) -> usize {
        n - 1
    }
}

#[derive(Default, Debug)]
struct Seen {
    added: Vec<MessageInfo>,
    updated: Vec<MessageInfo>,
    removed: Vec<i64>,
}

impl Seen {
    fn added(&self, subject: &str) -> Option<&MessageInfo> {
        self.added.iter().find(|m| m.subject == subject)
    }
}

/// Long-polls until `done` holds for everything reported so far.
fn poll_until(
    rt: &tokio::runtime::Runtime,
    c: &mut IndexClient,
    what: &str,
    done: impl Fn(&Seen) -> bool,
) -> Seen {
    let mut seen = Seen::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match rt.block_on(c.wait_once()).unwrap() {
            PollOutcome::Unchanged => {}
            PollOutcome::Changed {
                added,
                updated,
                removed,
                ..
            }
            | PollOutcome::Resynced {
                added,
                updated,
                removed,
                ..
            } => {
                seen.added.extend(added);
                seen.updated.extend(updated);
                seen.removed.extend(removed);
            }
        }
        if done(&seen) {
            return seen;
        }
    }
    panic!("timed out waiting for {what}; saw {seen:?}");
}

fn subjects(list: &[MessageInfo]) -> Vec<&str> {
    let mut s: Vec<&str> = list.iter().map(|m| m.subject.as_str()).collect();
    s.sort();
    s
}

#[test]
fn an_unchanged_index_costs_one_request_and_changes_arrive_through_it() {
    let s = serve(2);
    let rt = runtime();
    let state = tempfile::tempdir().unwrap();
    let mut c = IndexClient::new(config(
        vec![ServerAddr::new(s.url())],
        &s.token,
        state.path(),
    ))
    .unwrap();

    // First contact: the store is listed once; nothing is news, nothing is downloaded.
    match rt.block_on(c.poll_once()).unwrap() {
        PollOutcome::Resynced {
            baseline: true,
            added,
            ..
        } => assert_eq!(subjects(&added), vec!["Client 1", "Client 2"]),
        other => panic!("expected the baseline, got {other:?}"),
    }
    let after_baseline = c.stats();
    assert_eq!(after_baseline.lists, 1);
    assert_eq!(after_baseline.bodies, 0);

    // Nothing changed: one index request answered 304, and nothing else.
    for _ in 0..3 {
        assert_eq!(rt.block_on(c.poll_once()).unwrap(), PollOutcome::Unchanged);
    }
    let quiet = c.stats();
    assert_eq!(quiet.index, after_baseline.index + 3);
    assert_eq!(quiet.not_modified, after_baseline.not_modified + 3);
    assert_eq!(
        (quiet.changes, quiet.lists, quiet.bodies),
        (
            after_baseline.changes,
            after_baseline.lists,
            after_baseline.bodies
        ),
        "an unchanged index must not lead to the message list: {quiet:?}"
    );

    // New mail in Dovecot: the index moves, the change is fetched with its subject and body.
    s.dv.deliver("alice", "INBOX", &mail(3)).unwrap();
    let seen = poll_until(&rt, &mut c, "Client 3", |s| s.added("Client 3").is_some());
    let new = seen.added("Client 3").unwrap();
    assert_eq!(new.from.as_deref(), Some("carol@example.org"));
    assert!(new.size > 0);
    assert_eq!(new.body, BodyState::Fetched);
    let id3 = new.id;
    assert!(state
        .path()
        .join("bodies")
        .join(format!("{id3}.json"))
        .is_file());
    assert_eq!(c.stats().bodies, 1);
    assert_eq!(c.stats().lists, 1, "changes come from the change feed");

    // A flag set over the API is an update.
    let id1 = s.id_of("Client 1");
    let r = s.call(
        "PATCH",
        &format!("/api/messages/{id1}"),
        r#"{"flagged": true}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    poll_until(&rt, &mut c, "the update", |s| {
        s.updated.iter().any(|m| m.id == id1)
    });

    // A delete over the API is a removal, and the client forgets the message.
    let id2 = s.id_of("Client 2");
    assert_eq!(
        s.call("DELETE", &format!("/api/messages/{id2}"), "").status,
        204
    );
    poll_until(&rt, &mut c, "the removal", |s| s.removed.contains(&id2));
    assert!(!c.known().contains_key(&id2));
    let seq = c.seq().unwrap();
    let bodies_so_far = c.stats().bodies;
    assert_eq!(bodies_so_far, 1, "updates and removals download nothing");
    drop(c);

    // A new instance on the same state dir goes on from the same sequence: no re-download.
    let mut again = IndexClient::new(config(
        vec![ServerAddr::new(s.url())],
        &s.token,
        state.path(),
    ))
    .unwrap();
    assert_eq!(again.seq(), Some(seq));
    assert_eq!(again.known()[&id3].body, BodyState::Fetched);
    assert_eq!(
        rt.block_on(again.poll_once()).unwrap(),
        PollOutcome::Unchanged
    );
    let st = again.stats();
    assert_eq!(
        (st.index, st.not_modified, st.changes, st.lists, st.bodies),
        (1, 1, 0, 0, 0),
        "{st:?}"
    );
    // The kept body is served from the state dir.
    let body = rt.block_on(again.fetch_body(id3)).unwrap();
    assert!(body.text_body.unwrap().contains("client message 3"));
    assert_eq!(again.stats().bodies, 0);
}

#[test]
fn dead_addresses_are_failed_over_and_a_refused_token_is_not() {
    let s = serve(1);
    let rt = runtime();
    let dead = dead_url();
    let dead2 = dead_url();

    // The dead address first: every poll still succeeds, through the live one.
    for _ in 0..3 {
        let state = tempfile::tempdir().unwrap();
        let mut c = IndexClient::with_rng(
            config(
                vec![ServerAddr::new(&dead), ServerAddr::new(s.url())],
                &s.token,
                state.path(),
            ),
            Box::new(InOrder),
        )
        .unwrap();
        assert!(matches!(
            rt.block_on(c.poll_once()).unwrap(),
            PollOutcome::Resynced { baseline: true, .. }
        ));
        assert_eq!(c.stats().failovers, 1);
        assert_eq!(c.current_server(), Some(s.url().as_str()));
        let failed = c.last_failures();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].url, dead);
        assert!(failed[0].error.contains("cannot connect"), "{failed:?}");
        // The live server is kept: no more failovers.
        for _ in 0..3 {
            assert_eq!(rt.block_on(c.poll_once()).unwrap(), PollOutcome::Unchanged);
        }
        assert_eq!(c.stats().failovers, 1);
    }
    // Picked at random: every poll of fresh clients succeeds whichever comes first.
    for _ in 0..6 {
        let state = tempfile::tempdir().unwrap();
        let mut c = IndexClient::new(config(
            vec![
                ServerAddr::new(&dead),
                ServerAddr::new(s.url()),
                ServerAddr::new(&dead2),
            ],
            &s.token,
            state.path(),
        ))
        .unwrap();
        rt.block_on(c.poll_once()).unwrap();
        assert_eq!(c.current_server(), Some(s.url().as_str()));
    }

    // Two front ends of one store: when the one in use goes away, the other takes over.
    let (addr2, second) = s.second_front_end(&[]);
    let url2 = format!("http://{addr2}");
    let state = tempfile::tempdir().unwrap();
    let mut c = IndexClient::with_rng(
        config(
            vec![ServerAddr::new(&url2), ServerAddr::new(s.url())],
            &s.token,
            state.path(),
        ),
        Box::new(InOrder),
    )
    .unwrap();
    rt.block_on(c.poll_once()).unwrap();
    assert_eq!(c.current_server(), Some(url2.as_str()));
    drop(second);
    s.dv.deliver("alice", "INBOX", &mail(2)).unwrap();
    poll_until(&rt, &mut c, "Client 2 after the failover", |s| {
        s.added("Client 2").is_some()
    });
    assert_eq!(c.current_server(), Some(s.url().as_str()));
    assert!(c.stats().failovers >= 1);

    // Nothing alive: the error names every address.
    let state = tempfile::tempdir().unwrap();
    let mut c = IndexClient::new(config(
        vec![ServerAddr::new(&dead), ServerAddr::new(&dead2)],
        &s.token,
        state.path(),
    ))
    .unwrap();
    let err = rt.block_on(c.poll_once()).unwrap_err();
    assert!(matches!(err, ClientError::Unreachable(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&dead) && text.contains(&dead2), "{text}");
    assert!(!err.is_fatal());

    // 401 is not a reason to try elsewhere: the live server is first, the dead one untried.
    let state = tempfile::tempdir().unwrap();
    let mut c = IndexClient::with_rng(
        config(
            vec![ServerAddr::new(s.url()), ServerAddr::new(&dead)],
            "sb_wrong",
            state.path(),
        ),
        Box::new(InOrder),
    )
    .unwrap();
    let err = rt.block_on(c.poll_once()).unwrap_err();
    assert!(
        matches!(&err, ClientError::Unauthorized { url, .. } if *url == s.url()),
        "{err:?}"
    );
    assert!(err.is_fatal());
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(c.stats().index, 1);
    assert!(c.last_failures().is_empty());
}

#[test]
fn big_bodies_wait_on_a_slow_link_until_asked_for() {
    let s = serve(0);
    let rt = runtime();
    let slow_dir = tempfile::tempdir().unwrap();
    let fast_dir = tempfile::tempdir().unwrap();
    let slow_config = || {
        let mut c = config(vec![ServerAddr::new(s.url())], &s.token, slow_dir.path());
        c.slow_link = true;
        c.body_size_limit = Some(50_000);
        c
    };
    let mut slow = IndexClient::new(slow_config()).unwrap();
    let mut fast = IndexClient::new({
        let mut c = config(vec![ServerAddr::new(s.url())], &s.token, fast_dir.path());
        c.body_size_limit = Some(50_000);
        c
    })
    .unwrap();
    rt.block_on(slow.poll_once()).unwrap();
    rt.block_on(fast.poll_once()).unwrap();

    let attachment: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    s.dv.deliver(
        "alice",
        "INBOX",
        &TestMail::new()
            .message_id("<big@example.org>")
            .from("carol@example.org")
            .to("alice@localhost")
            .subject("Big one")
            .body("the photos")
            .attachment_typed("photos.bin", "application/octet-stream", &attachment)
            .build(),
    )
    .unwrap();
    s.dv.deliver("alice", "INBOX", &mail(1)).unwrap();

    let both = |s: &Seen| s.added("Big one").is_some() && s.added("Client 1").is_some();
    let seen = poll_until(&rt, &mut slow, "both messages (slow link)", both);
    let big = seen.added("Big one").unwrap().clone();
    let small = seen.added("Client 1").unwrap().clone();
    assert!(big.size > 200_000, "{big:?}");
    assert_eq!(big.body, BodyState::Deferred);
    assert_eq!(small.body, BodyState::Fetched);
    assert_eq!(slow.pending(), vec![big.id]);
    assert_eq!(slow.stats().bodies, 1, "only the small body was downloaded");
    let body_file = |dir: &Path, id: i64| dir.join("bodies").join(format!("{id}.json"));
    assert!(!body_file(slow_dir.path(), big.id).exists());
    assert!(body_file(slow_dir.path(), small.id).exists());

    // On demand: downloaded, kept, no longer pending — also for a new instance.
    let body = rt.block_on(slow.fetch_body(big.id)).unwrap();
    assert_eq!(body.subject, "Big one");
    assert_eq!(body.attachments.len(), 1);
    assert_eq!(body.attachments[0].size, 200_000);
    assert_eq!(slow.stats().bodies, 2);
    assert!(slow.pending().is_empty());
    assert!(body_file(slow_dir.path(), big.id).exists());
    rt.block_on(slow.fetch_body(big.id)).unwrap();
    assert_eq!(
        slow.stats().bodies,
        2,
        "the second read comes from the state dir"
    );
    drop(slow);
    let slow = IndexClient::new(slow_config()).unwrap();
    assert!(slow.pending().is_empty());
    assert_eq!(slow.known()[&big.id].body, BodyState::Fetched);

    // The same limit on a fast link: everything is downloaded during the poll.
    let seen = poll_until(&rt, &mut fast, "both messages (fast link)", both);
    assert!(seen.added.iter().all(|m| m.body == BodyState::Fetched));
    assert_eq!(fast.stats().bodies, 2);
    assert!(fast.pending().is_empty());
}

#[test]
fn a_full_check_runs_once_a_day_and_forgets_what_is_gone() {
    let s = serve(2);
    let rt = runtime();
    let state = tempfile::tempdir().unwrap();
    let new_client = || {
        IndexClient::new(config(
            vec![ServerAddr::new(s.url())],
            &s.token,
            state.path(),
        ))
        .unwrap()
    };
    let mut c = new_client();
    rt.block_on(c.poll_once()).unwrap();
    let state_file = c.state_file();
    drop(c);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // A message this client believes in that the store no longer has, and a check `ago` old.
    let rewrite = |ago: i64| {
        let mut v: Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
        v["last_full_check"] = (now - ago).into();
        v["messages"]["99999999"] = serde_json::json!({"size": 10, "body": "fetched"});
        std::fs::write(&state_file, v.to_string()).unwrap();
        std::fs::write(
            state.path().join("bodies/99999999.json"),
            b"{\"id\":99999999}",
        )
        .unwrap();
    };

    // 23 hours: not due, so the index alone is asked and the ghost stays.
    rewrite(23 * 3600);
    let mut c = new_client();
    assert_eq!(rt.block_on(c.poll_once()).unwrap(), PollOutcome::Unchanged);
    assert_eq!(c.stats().lists, 0);
    assert!(c.known().contains_key(&99999999));
    drop(c);

    // 25 hours: the poll lists the store and reconciles.
    rewrite(25 * 3600);
    let mut c = new_client();
    match rt.block_on(c.poll_once()).unwrap() {
        PollOutcome::Resynced {
            baseline: false,
            removed,
            added,
            ..
        } => {
            assert_eq!(removed, vec![99999999]);
            assert!(added.is_empty(), "{added:?}");
        }
        other => panic!("expected a reconcile, got {other:?}"),
    }
    assert_eq!(c.stats().lists, 1);
    assert!(!c.known().contains_key(&99999999));
    assert_eq!(c.known().len(), 2);
    assert!(!state.path().join("bodies/99999999.json").exists());
    assert!(c.last_full_check().unwrap() >= now);
    // Done for today.
    assert_eq!(rt.block_on(c.poll_once()).unwrap(), PollOutcome::Unchanged);
    assert_eq!(c.stats().lists, 1);
    drop(c);
    let on_disk: Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    assert!(on_disk["last_full_check"].as_i64().unwrap() >= now);
    assert!(on_disk["messages"].get("99999999").is_none());
}

#[test]
fn a_pinned_https_front_end_is_trusted_and_nothing_else_is() {
    let s = serve(1);
    let rt = runtime();
    let (addr, _second) = s.second_front_end(&["--tls"]);
    let (stdout, _) = s.sb.spawn_logs(1);
    let mut fingerprint = String::new();
    wait_for("the fingerprint", Duration::from_secs(10), || {
        let printed = std::fs::read_to_string(&stdout).unwrap_or_default();
        fingerprint = printed
            .lines()
            .find_map(|l| {
                l.strip_prefix("certificate SHA-256 fingerprint (pin this on other devices): ")
            })
            .unwrap_or("")
            .trim()
            .to_string();
        !fingerprint.is_empty()
    });
    let url = format!("https://{addr}");
    let state = tempfile::tempdir().unwrap();
    let mut c = IndexClient::new(config(
        vec![ServerAddr::pinned(&url, &fingerprint)],
        &s.token,
        state.path(),
    ))
    .unwrap();
    assert!(matches!(
        rt.block_on(c.poll_once()).unwrap(),
        PollOutcome::Resynced { baseline: true, .. }
    ));
    assert_eq!(rt.block_on(c.poll_once()).unwrap(), PollOutcome::Unchanged);

    // Unpinned: refused, and the error says what to pin.
    let state = tempfile::tempdir().unwrap();
    let mut c =
        IndexClient::new(config(vec![ServerAddr::new(&url)], &s.token, state.path())).unwrap();
    let err = rt.block_on(c.poll_once()).unwrap_err().to_string();
    assert!(
        err.contains(&url) && err.contains(&format!("--trust-cert {fingerprint}")),
        "{err}"
    );
    // Pinned to another certificate: refused.
    let state = tempfile::tempdir().unwrap();
    let mut c = IndexClient::new(config(
        vec![ServerAddr::pinned(&url, "ab".repeat(32))],
        &s.token,
        state.path(),
    ))
    .unwrap();
    let err = rt.block_on(c.poll_once()).unwrap_err().to_string();
    assert!(err.contains("does not match the pinned"), "{err}");
}

/// Lines of a child's output, read on a thread so a wait can time out.
fn lines_of(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn line_matching(
    rx: &mpsc::Receiver<String>,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if pred(&line) => return line,
            Ok(line) => seen.push(line),
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("the process ended before {what}; it printed {seen:?}")
            }
        }
    }
    panic!("no {what} within {timeout:?}; saw {seen:?}");
}

#[test]
fn switchboard_watch_prints_new_mail_and_stops_on_a_refused_token() {
    let s = serve(1);
    let url = s.url();
    let spawn_watch = |extra: &[&str]| {
        let mut args = vec!["watch", "--server", url.as_str(), "--wait", "5"];
        args.extend_from_slice(extra);
        let mut cmd = s.sb.cmd(&args);
        cmd.env("SWITCHBOARD_TOKEN", &s.token)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let out = lines_of(child.stdout.take().unwrap());
        let err = lines_of(child.stderr.take().unwrap());
        (Killed(child), out, err)
    };
    let (_text, text_out, text_err) = spawn_watch(&[]);
    let json_dir = tempfile::tempdir().unwrap();
    let (_json, json_out, json_err) =
        spawn_watch(&["--json", "--state-dir", json_dir.path().to_str().unwrap()]);
    for err in [&text_err, &json_err] {
        let line = line_matching(err, "the baseline line", Duration::from_secs(20), |l| {
            l.starts_with("watching:")
        });
        assert!(line.contains("1 messages"), "{line}");
    }
    // The default state dir is under the data dir.
    assert!(s.sb.data_dir().join("watch").is_dir());
    assert!(json_dir.path().join("state.json").is_file());

    let delivered = Instant::now();
    s.dv.deliver("alice", "INBOX", &mail(2)).unwrap();
    let line = line_matching(
        &text_out,
        "a line for Client 2",
        Duration::from_secs(20),
        |l| l.contains("Client 2"),
    );
    let id = s.id_of("Client 2");
    assert!(
        line.starts_with("+ ")
            && line.contains("carol@example.org")
            && line.ends_with(&format!("[id {id}]")),
        "{line}"
    );
    let line = line_matching(
        &json_out,
        "a JSON line for Client 2",
        Duration::from_secs(20),
        |l| l.contains("Client 2"),
    );
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["event"], "added");
    assert_eq!(v["id"], id);
    assert_eq!(v["from"], "carol@example.org");
    assert_eq!(v["body"], "fetched");
    assert!(
        delivered.elapsed() < Duration::from_secs(20),
        "took {:?}",
        delivered.elapsed()
    );
    // A delete shows as a removal.
    assert_eq!(
        s.call("DELETE", &format!("/api/messages/{id}"), "").status,
        204
    );
    line_matching(
        &text_out,
        "the removal line",
        Duration::from_secs(20),
        |l| l == format!("- removed [id {id}]"),
    );

    // A refused token ends the watch with an error naming the server.
    let mut cmd =
        s.sb.cmd(&["watch", "--server", &url, "--token", "sb_wrong"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = Killed(cmd.spawn().unwrap());
    let err = lines_of(child.0.stderr.take().unwrap());
    let line = line_matching(&err, "the 401 error", Duration::from_secs(20), |l| {
        l.starts_with("error:")
    });
    assert!(line.contains(&url) && line.contains("401"), "{line}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "watch kept running after a 401");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
}
