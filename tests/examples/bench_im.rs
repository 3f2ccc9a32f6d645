//! Instant-messaging benchmark (run by scripts/bench-im.sh), two parts:
//!
//! 1. **Receive rate**: how many incoming IMs per second a running `switchboard serve` stores
//!    over one XMPP connection. A flood of N chat messages (tests/tools/xmpp_flood.py, a
//!    sender costing microseconds per message) goes to the account's JID; the time runs from
//!    the first message written to the last one committed to the store. In the same run, the
//!    same flood through the same Prosody goes to two yardstick receivers
//!    (tests/tools/xmpp_receive.py): `raw`, which counts the bytes and parses nothing (the
//!    server's own delivery rate to one connection, the ceiling), and a plain slixmpp client.
//!    The three take turns, `--runs` times. Then once a *backlog*: N messages wait in offline
//!    storage while serve is stopped and are handed over at once when it starts.
//! 2. **Round trip**: mail → IM forward → IM reply → mail. A mail from bob@example.org is
//!    saved into Dovecot; serve hears of it (IMAP IDLE), syncs, routes it (a rule forwards it
//!    as an IM to carol@localhost, "the person's phone", a slixmpp client here); the phone
//!    answers in the forward's thread at once; serve turns the answer into a mail reply and
//!    submits it to the SMTP sink. Timed from `doveadm save` returning to the sink recording
//!    the reply, one round at a time, with the time stamps of every stage on the way (a bare
//!    IMAP IDLE session on the same mailbox, the tracker, the phone's events, the stored IM).
//!
//!   SWITCHBOARD_BIN=target/release/switchboard cargo run --release -p switchboard-tests \
//!       --example bench_im -- [--messages N] [--runs N] [--round-trips N] [--no-backlog]
//!
//! Prints one JSON object on stdout; progress on stderr.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use switchboard_store::{DeliveryState, DeliveryView, ImDirection, Store};
use switchboard_tests::smtp::{SINK_PASSWORD, SINK_USER};
use switchboard_tests::{
    flood, flood_timed, Dovecot, PeerOptions, Prosody, ProsodyOptions, Receiver, ReceiverKind,
    SmtpSink, Switchboard, TestMail, XmppPeer,
};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn arg(name: &str, default: usize) -> Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .context("a value after the flag")?
            .parse()
            .with_context(|| format!("{name} takes a number")),
        None => Ok(default),
    }
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn wait<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f()? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Wall clock, unix seconds (the clock the Python tools, the sink and the tracker use).
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn median(v: &[f64]) -> f64 {
    percentile(v, 50.0)
}

/// Nearest rank; NaN for an empty list.
fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut sorted = v.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// IMs stored from bob (read straight from the store, as the API would).
fn stored_from_bob(store: &Store) -> Result<i64> {
    Ok(store
        .im_conversations(None, 10)?
        .into_iter()
        .find(|c| c.contact == "bob@localhost")
        .map(|c| c.messages)
        .unwrap_or(0))
}

/// CPU seconds (user + system) a process used so far.
fn cpu_secs(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit_once(')').context("a /proc stat line")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    ensure!(fields.len() > 12, "a short /proc stat line: {stat}");
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / hz)
}

/// Waits until the XMPP account says it is online; the error names its last state.
fn wait_online(store: &Store, account: &str) -> Result<()> {
    let mut last = String::new();
    wait(
        &format!("the account '{account}' to be online"),
        Duration::from_secs(60),
        || {
            let a = store.account(account)?.context("the account")?;
            last = format!("{} ({})", a.state.state, a.state.detail.unwrap_or_default());
            Ok((a.state.state == "ok" && last.contains("(online")).then_some(()))
        },
    )
    .with_context(|| format!("its last state: {last}"))
}

fn add_xmpp_account(sb: &Switchboard, prosody: &Prosody) -> Result<()> {
    let port = prosody.ports().c2s.to_string();
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
            &port,
            "--trust-cert",
            prosody.cert_sha256(),
            "--password-stdin",
        ],
        b"alice-pass",
    )?;
    Ok(())
}

fn serve(sb: &Switchboard) -> Result<Killed> {
    let listen = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    Ok(Killed(sb.spawn(&[
        "serve",
        "--listen",
        &listen.to_string(),
        "--interval",
        "600",
    ])?))
}

fn main() -> Result<()> {
    let messages = arg("--messages", 10_000)?;
    let runs = arg("--runs", 3)?;
    let round_trips = arg("--round-trips", 30)?;
    ensure!(
        messages > 0 && runs > 0,
        "--messages and --runs take positive numbers"
    );
    let receive = receive_rate(messages, runs, !flag("--no-backlog"))?;
    let round = if round_trips > 0 {
        round_trip(round_trips)?
    } else {
        Value::Null
    };
    println!("{}", json!({"receive": receive, "round_trip": round}));
    Ok(())
}

/// One flood into a yardstick receiver (as carol): messages per second from the first
/// message written to the last one received.
fn yardstick_run(prosody: &Prosody, kind: ReceiverKind, n: usize, prefix: &str) -> Result<f64> {
    let rx = Receiver::start(prosody, "carol", kind, n, prefix)?;
    let sent = flood_timed(prosody, "bob", "carol@localhost", n, prefix)?;
    let got = rx.finish()?;
    ensure!(
        got.count as usize == n,
        "the {} receiver counted {} of {n}",
        kind.as_str(),
        got.count
    );
    let secs = got.last - sent.started_at;
    eprintln!(
        "[bench-im]   {:<8} {n} in {secs:.2} s: {:.0} IM/s (the sender needed {:.2} s)",
        kind.as_str(),
        n as f64 / secs,
        sent.seconds
    );
    Ok(n as f64 / secs)
}

struct SwitchboardRun {
    rate: f64,
    secs: f64,
    sender_secs: f64,
    cpu: f64,
    routed_secs: f64,
}

/// One flood into Switchboard's account: from the first message written to the last one
/// committed (the store's change sequence, cheap to poll, then the count checked).
fn switchboard_run(
    prosody: &Prosody,
    store: &Store,
    serve: &Killed,
    n: usize,
    prefix: &str,
) -> Result<SwitchboardRun> {
    let from_bob = stored_from_bob(store)?;
    let seq = store.change_seq()?;
    let cpu_before = cpu_secs(serve.0.id())?;
    let sent = flood_timed(prosody, "bob", "alice@localhost", n, prefix)?;
    let target = seq + n as i64;
    let stored_at = wait("every message stored", Duration::from_secs(300), || {
        Ok((store.change_seq()? >= target).then(unix_now))
    })
    .map_err(|e| {
        let a = store.account("chat").ok().flatten();
        e.context(format!(
            "{} of {n} stored; the account: {:?}",
            store.change_seq().unwrap_or(0) - seq,
            a.map(|a| (a.state.state, a.state.detail))
        ))
    })?;
    let cpu = cpu_secs(serve.0.id())? - cpu_before;
    let stored = stored_from_bob(store)? - from_bob;
    ensure!(
        stored == n as i64,
        "{stored} of {n} messages from bob were stored"
    );
    let secs = stored_at - sent.started_at;
    // The router (same process) has its own work per message; it finishes before the next
    // run so that no run pays for another's.
    let routed_at = wait("routing to settle", Duration::from_secs(600), || {
        Ok(store.pending_routes(1)?.is_empty().then(unix_now))
    })?;
    let run = SwitchboardRun {
        rate: n as f64 / secs,
        secs,
        sender_secs: sent.seconds,
        cpu,
        routed_secs: routed_at - sent.started_at,
    };
    eprintln!(
        "[bench-im]   switchboard {n} stored in {secs:.2} s: {:.0} IM/s (the sender needed \
         {:.2} s; serve used {cpu:.2} s of CPU until then; routed {:.2} s after the first)",
        run.rate, run.sender_secs, run.routed_secs
    );
    Ok(run)
}

fn receive_rate(messages: usize, runs: usize, backlog: bool) -> Result<Value> {
    eprintln!(
        "[bench-im] receive rate: Prosody (no archive, storage in memory), switchboard serve"
    );
    // Prosody's archive module stores ~500 messages/s (each one twice, in the sender's and the
    // recipient's archive): with it on, the server would be what is measured.
    let prosody = Prosody::start_with(ProsodyOptions {
        memory_storage: true,
        disabled_modules: vec!["mam".into()],
        // A killed client's session waits (stream management) for a second only, then what
        // arrives goes to offline storage: the backlog phase.
        smacks_hibernation_secs: 1,
        ..Default::default()
    })?;
    let sb = Switchboard::new()?;
    add_xmpp_account(&sb, &prosody)?;
    let serve_proc = serve(&sb)?;
    let store = Store::open_in(sb.data_dir())?;
    wait_online(&store, "chat")?;
    // Warm-up: the connection, the store, the router; and the yardsticks' paths in Prosody.
    let warm = 200;
    flood(&prosody, "bob", "alice@localhost", warm, "warm-up")?;
    wait("the warm-up", Duration::from_secs(120), || {
        Ok((stored_from_bob(&store)? >= warm as i64).then_some(()))
    })?;
    wait("the warm-up's routing", Duration::from_secs(120), || {
        Ok(store.pending_routes(1)?.is_empty().then_some(()))
    })?;
    yardstick_run(&prosody, ReceiverKind::Raw, warm, "warm-raw")?;

    let mut raw = Vec::new();
    let mut slix = Vec::new();
    let mut sbr = Vec::new();
    for run in 0..runs {
        eprintln!(
            "[bench-im] run {} of {runs}: {messages} messages each",
            run + 1
        );
        raw.push(yardstick_run(
            &prosody,
            ReceiverKind::Raw,
            messages,
            &format!("raw{run}"),
        )?);
        slix.push(yardstick_run(
            &prosody,
            ReceiverKind::Slixmpp,
            messages,
            &format!("slix{run}"),
        )?);
        sbr.push(switchboard_run(
            &prosody,
            &store,
            &serve_proc,
            messages,
            &format!("load{run}"),
        )?);
    }
    let rates: Vec<f64> = sbr.iter().map(|r| r.rate).collect();
    let mid = |f: fn(&SwitchboardRun) -> f64| median(&sbr.iter().map(f).collect::<Vec<_>>());
    let mut out = json!({
        "messages": messages,
        "runs": runs,
        "stored_per_second": rates,
        "stored_per_second_median": median(&rates),
        "seconds_median": mid(|r| r.secs),
        "sender_seconds_median": mid(|r| r.sender_secs),
        "cpu_seconds_median": mid(|r| r.cpu),
        "routed_seconds_median": mid(|r| r.routed_secs),
        "raw_per_second": raw,
        "raw_per_second_median": median(&raw),
        "slixmpp_per_second": slix,
        "slixmpp_per_second_median": median(&slix),
        "ratio_to_raw": median(&rates) / median(&raw),
        "ratio_to_slixmpp": median(&rates) / median(&slix),
    });
    if backlog {
        out["backlog"] = backlog_run(&prosody, &sb, &store, serve_proc, messages)?;
    }
    Ok(out)
}

/// The same number waits in offline storage while Switchboard is stopped; on the next start
/// the server hands them over at once, so only Switchboard's side is measured.
fn backlog_run(
    prosody: &Prosody,
    sb: &Switchboard,
    store: &Store,
    serve_proc: Killed,
    messages: usize,
) -> Result<Value> {
    drop(serve_proc);
    // Past the one-second stream-management hibernation: the session is gone.
    std::thread::sleep(Duration::from_secs(3));
    flood(prosody, "bob", "alice@localhost", messages, "backlog")?;
    let before = stored_from_bob(store)?;
    let serve_proc = serve(sb)?;
    let spawned = Instant::now();
    let target = before + messages as i64;
    let first_at = wait(
        "the first backlog message",
        Duration::from_secs(120),
        || Ok((stored_from_bob(store)? > before).then(Instant::now)),
    )?;
    let done_at = wait("the backlog stored", Duration::from_secs(600), || {
        Ok((stored_from_bob(store)? >= target).then(Instant::now))
    })?;
    let cpu = cpu_secs(serve_proc.0.id())?;
    let secs = done_at.duration_since(first_at).as_secs_f64();
    let rate = messages as f64 / secs;
    eprintln!(
        "[bench-im] backlog: {messages} stored in {secs:.2} s after the first one (first \
         {:.2} s, last {:.2} s after start): {rate:.0} IM/s; serve used {cpu:.2} s of CPU \
         since it started",
        first_at.duration_since(spawned).as_secs_f64(),
        done_at.duration_since(spawned).as_secs_f64()
    );
    Ok(json!({
        "messages": messages,
        "seconds": secs,
        "per_second": rate,
        "first_after_start_seconds": first_at.duration_since(spawned).as_secs_f64(),
        "cpu_seconds": cpu,
    }))
}

/// A bare IMAP IDLE session on alice's INBOX (plain port, loopback): the wall clock of every
/// `* N EXISTS` it hears, i.e. when Dovecot announced new mail, independent of Switchboard.
struct IdleWatcher {
    exists: Arc<Mutex<Vec<f64>>>,
    stream: TcpStream,
}

impl IdleWatcher {
    fn start(dv: &Dovecot) -> Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", dv.imap_port()))
            .context("cannot connect the IDLE watcher")?;
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        let mut until = |tag: &str, reader: &mut BufReader<TcpStream>| -> Result<()> {
            loop {
                line.clear();
                ensure!(reader.read_line(&mut line)? > 0, "IMAP closed the watcher");
                if line.starts_with(tag) {
                    ensure!(line.contains("OK"), "the IDLE watcher was refused: {line}");
                    return Ok(());
                }
            }
        };
        until("* OK", &mut reader)?;
        writer.write_all(b"w1 LOGIN alice alice-pass\r\nw2 SELECT INBOX\r\n")?;
        until("w1 ", &mut reader)?;
        until("w2 ", &mut reader)?;
        writer.write_all(b"w3 IDLE\r\n")?;
        loop {
            let mut l = String::new();
            ensure!(reader.read_line(&mut l)? > 0, "IMAP closed the watcher");
            if l.starts_with('+') {
                break;
            }
        }
        let exists: Arc<Mutex<Vec<f64>>> = Arc::default();
        let sink = exists.clone();
        std::thread::spawn(move || {
            let mut l = String::new();
            while reader.read_line(&mut l).is_ok_and(|n| n > 0) {
                if l.starts_with("* ") && l.trim_end().ends_with(" EXISTS") {
                    if let Ok(mut v) = sink.lock() {
                        v.push(unix_now());
                    }
                }
                l.clear();
            }
        });
        Ok(Self { exists, stream })
    }

    /// The first announcement at or after `t`.
    fn first_after(&self, t: f64) -> Option<f64> {
        self.exists.lock().ok()?.iter().copied().find(|&at| at >= t)
    }
}

impl Drop for IdleWatcher {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// One round's time stamps (unix seconds).
#[derive(Default, Clone, Copy)]
struct Round {
    saved: f64,
    announced: Option<f64>,
    forward_at_phone: f64,
    reply_sent: f64,
    at_sink: f64,
}

fn round_trip(n: usize) -> Result<Value> {
    eprintln!("[bench-im] round trips: Dovecot, SMTP sink, Prosody, switchboard serve");
    let dv = Dovecot::start()?;
    let sink = SmtpSink::start()?;
    let prosody = Prosody::start()?;
    let sb = Switchboard::new()?;
    add_xmpp_account(&sb, &prosody)?;
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
    )?;
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
    )?;
    sb.run_ok(&[
        "rule",
        "add",
        "Bob by mail",
        "--from",
        "bob@example.org",
        "--forward-im",
        "carol@localhost",
    ])?;
    let _serve = serve(&sb)?;
    let store = Store::open_in(sb.data_dir())?;
    wait_online(&store, "chat")?;
    wait(
        "the mail account's first pass",
        Duration::from_secs(60),
        || {
            let a = store.account("work")?.context("the mail account")?;
            Ok((a.state.state == "ok").then_some(()))
        },
    )?;
    let phone = XmppPeer::connect(&prosody, "carol", PeerOptions::default())?;
    let idle = IdleWatcher::start(&dv)?;
    // Let the IDLE sessions settle before the first round.
    std::thread::sleep(Duration::from_millis(500));
    let client_to_client = client_to_client_ms(&prosody, &phone, n)?;

    let timeout = Duration::from_secs(60);
    let mut rounds = Vec::with_capacity(n);
    for i in 0..n {
        let subject = format!("Round trip {i}");
        let raw = TestMail::new()
            .message_id(&format!("<rt{i}@example.org>"))
            .from("Bob Sender <bob@example.org>")
            .to("Alice Example <alice@localhost>")
            .subject(&subject)
            .body("Are the numbers final?\r\n")
            .build();
        let before = phone.event_count();
        dv.deliver("alice", "INBOX", &raw)?;
        let saved = unix_now();
        let fwd = phone.wait_event_after(before, timeout, |e| {
            e["event"] == "message"
                && e["carbon"].is_null()
                && e["body"].as_str().is_some_and(|b| b.contains(&subject))
        })?;
        let sent_id = phone.send_message(
            "alice@localhost",
            &format!("Yes, final ({i})."),
            json!({"thread": fwd["thread"]}),
        )?;
        let sent = phone.wait_event_after(before, timeout, |e| {
            e["event"] == "sent" && e["id"] == sent_id.as_str()
        })?;
        let mut at_sink = None;
        wait(&format!("reply {i} at the sink"), timeout, || {
            let recorded: Vec<f64> = sink
                .events()?
                .iter()
                .filter(|ev| ev["kind"] == "data" && ev["recorded"].is_string())
                .filter_map(|ev| ev["at"].as_f64())
                .collect();
            at_sink = recorded.get(i).copied();
            Ok(at_sink.map(|_| ()))
        })?;
        // The phone hears what was done before the next round starts.
        phone.wait_event_after(before, timeout, |e| {
            e["event"] == "message"
                && e["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Sent to bob@example.org"))
        })?;
        let r = Round {
            saved,
            announced: idle.first_after(saved),
            forward_at_phone: fwd["at"]
                .as_f64()
                .context("the forward event has no time")?,
            reply_sent: sent["at"].as_f64().context("the sent event has no time")?,
            at_sink: at_sink.context("the sink's event has no time")?,
        };
        eprintln!(
            "[bench-im]   round {}: {:.0} ms",
            i + 1,
            (r.at_sink - r.saved) * 1000.0
        );
        rounds.push(r);
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = breakdown(&store, &rounds)?;
    out["client_to_client_median_ms"] = json!(median(&client_to_client));
    out["client_to_client_p95_ms"] = json!(percentile(&client_to_client, 95.0));
    Ok(out)
}

/// The yardstick for the answer's way in: one slixmpp client (bob) to another (the phone)
/// through the same Prosody, from "sent" to "received", `n` times.
fn client_to_client_ms(prosody: &Prosody, phone: &XmppPeer, n: usize) -> Result<Vec<f64>> {
    let bob = XmppPeer::connect(prosody, "bob", PeerOptions::default())?;
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let body = format!("client to client {k}");
        let before = phone.event_count();
        let id = bob.send_message("carol@localhost", &body, json!({}))?;
        let sent = bob.wait_event(Duration::from_secs(10), |e| {
            e["event"] == "sent" && e["id"] == id.as_str()
        })?;
        let got = phone.wait_event_after(before, Duration::from_secs(10), |e| {
            e["event"] == "message" && e["body"] == body.as_str()
        })?;
        let (Some(t0), Some(t1)) = (sent["at"].as_f64(), got["at"].as_f64()) else {
            bail!("the peers' events have no times");
        };
        out.push((t1 - t0) * 1000.0);
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "[bench-im]   slixmpp to slixmpp through Prosody: median {:.1} ms",
        median(&out)
    );
    bob.quit()?;
    Ok(out)
}

/// Deliveries that reached one of the states an attempt ends in, oldest first.
fn finished_deliveries(store: &Store) -> Result<Vec<DeliveryView>> {
    let mut all = Vec::new();
    for state in [DeliveryState::Delivered, DeliveryState::Accepted] {
        all.extend(store.deliveries_in_state(state, 10_000, None)?);
    }
    all.sort_by_key(|d| d.delivery.id);
    Ok(all)
}

fn event_at(d: &DeliveryView, state: &str) -> Option<f64> {
    d.events
        .iter()
        .find(|e| e.state == state)
        .map(|e| e.at as f64 / 1000.0)
}

/// Splits each round at the stages the stores and clients time-stamped.
fn breakdown(store: &Store, rounds: &[Round]) -> Result<Value> {
    let n = rounds.len();
    let deliveries = finished_deliveries(store)?;
    let forwards: Vec<&DeliveryView> = deliveries
        .iter()
        .filter(|d| d.delivery.channel == "im" && d.delivery.target == "carol@localhost")
        .collect();
    let replies: Vec<&DeliveryView> = deliveries
        .iter()
        .filter(|d| d.delivery.outgoing_id.is_some() && d.delivery.target == "bob@example.org")
        .collect();
    ensure!(
        forwards.len() == n && replies.len() == n,
        "{} IM forwards and {} mail replies were tracked for {n} rounds",
        forwards.len(),
        replies.len()
    );
    let mut answers: Vec<(i64, f64)> = store
        .im_conversation("chat", "carol@localhost", 10_000, None)?
        .into_iter()
        .filter(|m| m.direction == ImDirection::In)
        .map(|m| (m.id, m.at_ms as f64 / 1000.0))
        .collect();
    answers.sort_by_key(|a| a.0);
    ensure!(
        answers.len() == n,
        "{} answers from the phone stored for {n} rounds",
        answers.len()
    );

    let mut stages: Vec<(&str, &str, Vec<f64>)> = vec![
        ("announce", "Dovecot announces the new mail to IDLE", vec![]),
        (
            "sync_route",
            "sync pass stores it, the router decides",
            vec![],
        ),
        ("forward", "forward composed, sent, at the phone", vec![]),
        ("phone", "the phone's client answers", vec![]),
        ("reply_in", "the answer reaches Switchboard", vec![]),
        (
            "reply_handling",
            "matched to the forward, mail reply queued",
            vec![],
        ),
        (
            "smtp",
            "delivery engine: SMTP submission to the sink",
            vec![],
        ),
    ];
    let mut totals = Vec::with_capacity(n);
    let mut without_phone = Vec::with_capacity(n);
    let mut samples = Vec::with_capacity(n);
    for (i, r) in rounds.iter().enumerate() {
        let routed = event_at(forwards[i], "queued").context("a forward without 'queued'")?;
        let reply_queued =
            event_at(replies[i], "queued").context("a mail reply without 'queued'")?;
        let answer_in = answers[i].1;
        // Without a bare IDLE announcement (none heard), the stage is folded into the next.
        let announced = r.announced.unwrap_or(r.saved);
        let parts = [
            announced - r.saved,
            routed - announced,
            r.forward_at_phone - routed,
            r.reply_sent - r.forward_at_phone,
            answer_in - r.reply_sent,
            reply_queued - answer_in,
            r.at_sink - reply_queued,
        ];
        for (stage, part) in stages.iter_mut().zip(parts) {
            stage.2.push(part * 1000.0);
        }
        let total = (r.at_sink - r.saved) * 1000.0;
        totals.push(total);
        without_phone.push(total - parts[3] * 1000.0);
        samples.push(total);
    }
    let stage_json: Vec<Value> = stages
        .iter()
        .map(|(key, what, v)| {
            json!({"stage": key, "what": what, "median_ms": median(v), "p95_ms": percentile(v, 95.0)})
        })
        .collect();
    let announced = rounds.iter().filter(|r| r.announced.is_some()).count();
    Ok(json!({
        "rounds": n,
        "median_ms": median(&totals),
        "p95_ms": percentile(&totals, 95.0),
        "min_ms": percentile(&totals, 0.0),
        "max_ms": percentile(&totals, 100.0),
        "without_phone_median_ms": median(&without_phone),
        "idle_announcements_heard": announced,
        "stages": stage_json,
        "samples_ms": samples,
    }))
}
