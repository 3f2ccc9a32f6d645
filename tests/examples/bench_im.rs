//! Instant-messaging benchmark (run by scripts/bench-im.sh): how many incoming IMs per second a
//! running `switchboard serve` stores over one XMPP connection, and — when a mail account and
//! an SMTP sink are set up — the mail → IM forward → IM reply → mail round trip.
//!
//!   SWITCHBOARD_BIN=target/release/switchboard cargo run --release -p switchboard-tests \
//!       --example bench_im -- [--messages N] [--round-trips N]
//!
//! Prints one JSON object on stdout; progress on stderr.

use std::net::TcpListener;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;
use switchboard_store::Store;
use switchboard_tests::{flood, Prosody, ProsodyOptions, Switchboard};

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
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / hz)
}

fn online(store: &Store) -> Result<Option<()>> {
    let a = store.account("chat")?.context("the account")?;
    Ok((a.state.state == "ok"
        && a.state
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("online")))
    .then_some(()))
}

fn main() -> Result<()> {
    let messages = arg("--messages", 20_000)?;
    eprintln!("[bench-im] starting Prosody (no archive, storage in memory) and switchboard serve");
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
    let listen = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let serve = Killed(sb.spawn(&["serve", "--listen", &listen.to_string()])?);
    let store = Store::open_in(sb.data_dir())?;
    wait("the account to be online", Duration::from_secs(60), || {
        online(&store)
    })?;
    // Warm-up: the connection, the store, the router.
    let warm = 200;
    flood(&prosody, "bob", "alice@localhost", warm, "warm-up")?;
    wait("the warm-up", Duration::from_secs(120), || {
        Ok((stored_from_bob(&store)? >= warm as i64).then_some(()))
    })?;

    eprintln!("[bench-im] {messages} messages from bob");
    let before = stored_from_bob(&store)?;
    let cpu_before = cpu_secs(serve.0.id())?;
    let started = Instant::now();
    let send_secs = flood(&prosody, "bob", "alice@localhost", messages, "load")?;
    let target = before + messages as i64;
    let stored_at = wait("every message stored", Duration::from_secs(600), || {
        Ok((stored_from_bob(&store)? >= target).then(Instant::now))
    })?;
    let secs = stored_at.duration_since(started).as_secs_f64();
    let rate = messages as f64 / secs;
    let cpu_live = cpu_secs(serve.0.id())? - cpu_before;
    eprintln!(
        "[bench-im] live: stored {messages} in {secs:.2} s: {rate:.0} IM/s (the sender needed \
         {send_secs:.2} s; serve used {cpu_live:.2} s of CPU)"
    );

    // The router (in the same process) has its own work per message; let it finish so the
    // next phase starts from a quiet store.
    let routed_at = wait("routing to settle", Duration::from_secs(600), || {
        Ok(store.pending_routes(1)?.is_empty().then(Instant::now))
    })?;
    eprintln!(
        "[bench-im] the router was done {:.2} s after the first message",
        routed_at.duration_since(started).as_secs_f64()
    );

    // Backlog: the same number waits in offline storage while Switchboard is stopped; on the
    // next start the server hands them over at once, so only Switchboard's side is measured.
    drop(serve);
    std::thread::sleep(Duration::from_secs(3));
    flood(&prosody, "bob", "alice@localhost", messages, "backlog")?;
    let before = stored_from_bob(&store)?;
    let serve = Killed(sb.spawn(&["serve", "--listen", &listen.to_string()])?);
    let spawned = Instant::now();
    let target = before + messages as i64;
    // The store still says "online" from the last run until the new connection says more.
    let online_at = wait(
        "the account to connect again",
        Duration::from_secs(60),
        || {
            let a = store.account("chat")?.context("the account")?;
            Ok(
                (a.state.at.unwrap_or(0) >= switchboard_store::now_unix() - 1
                    && a.state
                        .detail
                        .as_deref()
                        .is_some_and(|d| d.starts_with("online")))
                .then(Instant::now),
            )
        },
    )
    .ok();
    let first_at = wait(
        "the first backlog message",
        Duration::from_secs(120),
        || Ok((stored_from_bob(&store)? > before).then(Instant::now)),
    )?;
    let done_at = wait("the backlog stored", Duration::from_secs(600), || {
        Ok((stored_from_bob(&store)? >= target).then(Instant::now))
    })?;
    let cpu_backlog = cpu_secs(serve.0.id())?;
    let backlog_secs = done_at.duration_since(first_at).as_secs_f64();
    let backlog_rate = messages as f64 / backlog_secs;
    eprintln!(
        "[bench-im] backlog: {messages} stored in {backlog_secs:.2} s after the first one \
         (online {:.2} s, first {:.2} s, last {:.2} s after start): {backlog_rate:.0} IM/s; \
         serve used {cpu_backlog:.2} s of CPU",
        online_at
            .map(|t| t.duration_since(spawned).as_secs_f64())
            .unwrap_or(f64::NAN),
        first_at.duration_since(spawned).as_secs_f64(),
        done_at.duration_since(spawned).as_secs_f64()
    );
    let out = json!({
        "messages": messages,
        "seconds": secs,
        "stored_per_second": rate,
        "sender_seconds": send_secs,
        "cpu_seconds": cpu_live,
        "backlog_seconds": backlog_secs,
        "backlog_per_second": backlog_rate,
        "backlog_cpu_seconds": cpu_backlog,
    });
    println!("{out}");
    drop(prosody);
    Ok(())
}
