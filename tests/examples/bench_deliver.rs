//! Delivery latency, end to end: a message is delivered into Dovecot (`doveadm save`), the
//! real `switchboard serve` hears of it through IMAP IDLE, syncs it, routes it (the active
//! profile forwards to a mail address) and submits the forward to the SMTP sink. Measured per
//! message from the moment Dovecot has it (doveadm returned) to the moment the sink has
//! recorded the forward, one message at a time.
//!
//!     SWITCHBOARD_BIN=target/release/switchboard \
//!         cargo run --release -p switchboard-tests --example bench_deliver -- [MESSAGES]
//!
//! Prints one JSON object on stdout: messages, median_ms, p95_ms, min_ms, max_ms, mean_ms,
//! every sample, and tracker_median_ms / tracker_p95_ms: the part between the routing decision
//! and the SMTP server's answer, from the tracker's own time stamps (the rest is Dovecot
//! telling the IDLE session and the sync pass). `scripts/bench-deliver.sh` runs it and
//! records the result.

use std::net::TcpListener;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use switchboard_tests::http::get;
use switchboard_tests::smtp::{SINK_PASSWORD, SINK_USER};
use switchboard_tests::{Dovecot, SmtpSink, Switchboard, TestMail};

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn wait(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !f()? {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn main() -> Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().context("MESSAGES must be a number"))
        .transpose()?
        .unwrap_or(50);
    let dv = Dovecot::start()?;
    let sink = SmtpSink::start()?;
    let sb = Switchboard::new()?;
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
            "alice@localhost",
        ],
        SINK_PASSWORD.as_bytes(),
    )?;
    sb.run_ok(&[
        "profile",
        "edit",
        "Home",
        "--channel",
        "mail:bench@example.net",
    ])?;
    sb.run_ok(&["profile", "use", "Home", "--until-released"])?;
    let free = TcpListener::bind("127.0.0.1:0")?;
    let addr = free.local_addr()?;
    drop(free);
    let mut serve = sb.spawn(&["serve", "--listen", &addr.to_string(), "--interval", "600"])?;
    let result = (|| -> Result<serde_json::Value> {
        wait("the server", Duration::from_secs(30), || {
            Ok(get(addr, "/health", &[])
                .map(|r| r.status == 200)
                .unwrap_or(false))
        })?;
        wait("the first sync", Duration::from_secs(60), || {
            let list = sb.run_json(&["account", "list", "--json"])?;
            Ok(list[0]["state"]["state"] == "ok")
        })?;
        // Let the IDLE session settle before the first sample.
        std::thread::sleep(Duration::from_millis(500));
        let mut samples = Vec::with_capacity(n);
        for i in 0..n {
            let raw = TestMail::new()
                .message_id(&format!("<bench{i}@example.org>"))
                .from("Bob <bob@example.org>")
                .to("alice@localhost")
                .subject(&format!("Bench {i}"))
                .body("A message to forward.")
                .build();
            dv.deliver("alice", "INBOX", &raw)?;
            let t0 = unix_secs(SystemTime::now());
            let mut arrived = None;
            wait(&format!("forward {i}"), Duration::from_secs(60), || {
                let recorded: Vec<f64> = sink
                    .events()?
                    .iter()
                    .filter(|ev| ev["kind"] == "data" && ev["recorded"].is_string())
                    .filter_map(|ev| ev["at"].as_f64())
                    .collect();
                arrived = recorded.get(i).copied();
                Ok(arrived.is_some())
            })?;
            let t1 = arrived.context("the sink's event has no time")?;
            samples.push(((t1 - t0) * 1000.0).max(0.0));
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut sorted = samples.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        // The tracker's part: from the routing decision (queued) to the server's 250.
        let done = sb.run_json(&[
            "deliveries",
            "--state",
            "delivered",
            "--json",
            "--limit",
            "1000",
        ])?;
        let mut tracked: Vec<f64> = done
            .as_array()
            .context("deliveries --json is not a list")?
            .iter()
            .filter_map(|d| {
                let at = |state: &str| {
                    d["events"]
                        .as_array()?
                        .iter()
                        .find(|e| e["state"] == state)?["at"]
                        .as_f64()
                };
                Some(at("delivered")? - at("queued")?)
            })
            .collect();
        tracked.sort_by(|a, b| a.total_cmp(b));
        if tracked.len() != n {
            bail!(
                "{} of {n} deliveries are recorded as delivered",
                tracked.len()
            );
        }
        Ok(serde_json::json!({
            "tracker_median_ms": percentile(&tracked, 50.0),
            "tracker_p95_ms": percentile(&tracked, 95.0),
            "messages": n,
            "median_ms": percentile(&sorted, 50.0),
            "p95_ms": percentile(&sorted, 95.0),
            "min_ms": sorted[0],
            "max_ms": sorted[sorted.len() - 1],
            "mean_ms": mean,
            "samples_ms": samples,
        }))
    })();
    let _ = serve.kill();
    let _ = serve.wait();
    println!("{}", result?);
    Ok(())
}
