//! Delivery commands: outgoing servers (`account smtp`), `send`, `track`, `deliveries`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use switchboard_deliver::engine::{Engine, EngineOptions};
use switchboard_deliver::send::{queue_send, SendRequest};
use switchboard_store::{DeliveryState, DeliveryView, SmtpServer, Store, TlsMode};
use switchboard_sync::secrets::{delete_password, store_password, Secret};

#[derive(Clone, Copy, ValueEnum)]
pub enum SmtpTls {
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS before anything else (submission, port 587).
    Starttls,
}

/// `account smtp NAME ...`: the account's outgoing (SMTP submission) server.
#[derive(Args)]
pub struct SmtpArgs {
    /// The account this outgoing server belongs to.
    name: String,
    #[arg(long, required_unless_present_any = ["remove", "show"])]
    host: Option<String>,
    /// Default: 465 (implicit TLS) or 587 (STARTTLS).
    #[arg(long)]
    port: Option<u16>,
    #[arg(long, value_enum, default_value = "implicit")]
    tls: SmtpTls,
    /// Log in (AUTH) as this user; the password is read from standard input and kept in the
    /// OS keyring. Without it, mail is submitted without logging in.
    #[arg(long)]
    user: Option<String>,
    /// Accepted for symmetry with `account add`; with --user the password is always read
    /// from standard input.
    #[arg(long, hide = true)]
    password_stdin: bool,
    /// Trust a self-signed server: the SHA-256 fingerprint of its certificate.
    #[arg(long)]
    trust_cert: Option<String>,
    /// The identity mail goes out as: "Name <address>" or an address (default: the user,
    /// or the account's user name, when it is an address).
    #[arg(long)]
    from: Option<String>,
    /// The IMAP folder for copies of sent mail (default: the one marked \Sent, or "Sent").
    #[arg(long)]
    sent_mailbox: Option<String>,
    /// Remove the account's outgoing server (and its password).
    #[arg(long, conflicts_with_all = ["host", "user", "from", "show"])]
    remove: bool,
    /// Show the account's outgoing server.
    #[arg(long, conflicts_with_all = ["host", "user", "from"])]
    show: bool,
}

/// `send`: new mail, a reply or a forward, through the tracker.
#[derive(Args)]
pub struct SendArgs {
    /// Send from this account (default for a reply or forward: the one the original came
    /// through; for new mail: the first, by name, with an outgoing server).
    #[arg(long)]
    account: Option<String>,
    /// A recipient: an address or "Name <address>"; repeatable.
    #[arg(long)]
    to: Vec<String>,
    #[arg(long)]
    cc: Vec<String>,
    /// Default for a reply or forward: the original's subject with Re: / Fwd:.
    #[arg(long)]
    subject: Option<String>,
    /// The text of the message.
    #[arg(
        long,
        conflicts_with = "body_stdin",
        required_unless_present = "body_stdin"
    )]
    body: Option<String>,
    /// Read the text of the message from standard input.
    #[arg(long)]
    body_stdin: bool,
    /// Reply to this message (its id here).
    #[arg(long, value_name = "ID", conflicts_with = "forward")]
    reply_to: Option<i64>,
    /// With --reply-to: reply to everyone the original went to.
    #[arg(long, requires = "reply_to")]
    all: bool,
    /// Forward this message (attached), to --to.
    #[arg(long, value_name = "ID")]
    forward: Option<i64>,
    /// Only queue it: a running `switchboard serve` (or `deliveries run`) sends it.
    #[arg(long)]
    queue_only: bool,
    #[arg(long)]
    json: bool,
}

/// `track ID`: the timeline of a message's deliveries.
#[derive(Args)]
pub struct TrackArgs {
    /// A message id (as in `inbox`), or a delivery id with --delivery.
    id: i64,
    /// ID is a delivery: show it with every delivery of the same message or mail.
    #[arg(long)]
    delivery: bool,
    #[arg(long)]
    json: bool,
}

/// `deliveries`: deliveries that are not done, or dead letters.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DeliveriesArgs {
    #[command(subcommand)]
    command: Option<DeliveriesCommand>,
    /// Only dead letters (given up), each with its reason and how to retry it.
    #[arg(long, conflicts_with = "state")]
    dead: bool,
    /// Only deliveries in this state (queued, sending, accepted, delivered, failed,
    /// rerouted, dead, held, released).
    #[arg(long)]
    state: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum DeliveriesCommand {
    /// Try a dead (or waiting) delivery again now, with a fresh set of trials.
    Retry {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Route new messages and make every due attempt now, then exit (a running `serve`
    /// does this continuously).
    Run,
    /// Delivery settings: how mail is forwarded and through which account.
    Settings {
        /// attachment (the original attached to a new message) or inline (the original
        /// re-sent as it is, with Resent-* fields).
        #[arg(long)]
        forward_mode: Option<String>,
        /// Forward through this account's outgoing server when the account a message came
        /// through has none.
        #[arg(long, conflicts_with = "no_forward_account")]
        forward_account: Option<String>,
        #[arg(long)]
        no_forward_account: bool,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn read_stdin(what: &str) -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .with_context(|| format!("cannot read {what} from standard input"))?;
    Ok(s)
}

/// Unix milliseconds as `2026-12-01T17:58:14.123Z`.
pub fn timestamp(ms: i64) -> String {
    let base = switchboard_store::rfc3339(ms.div_euclid(1000));
    format!("{}.{:03}Z", base.trim_end_matches('Z'), ms.rem_euclid(1000))
}

fn target_label(d: &switchboard_store::Delivery) -> String {
    if d.target.is_empty() {
        d.channel.clone()
    } else {
        format!("{} → {}", d.channel, d.target)
    }
}

fn print_view(out: &mut impl Write, v: &DeliveryView) -> Result<()> {
    let d = &v.delivery;
    let mut head = format!(
        "delivery {} · {} · {} · {}",
        d.id,
        target_label(d),
        d.state.as_str(),
        d.summary
    );
    if let Some(p) = d.parent_id {
        head.push_str(&format!(" (takes over from delivery {p})"));
    }
    writeln!(out, "{head}")?;
    for e in &v.events {
        let mut line = format!("  {}  {:<15}", timestamp(e.at), e.state);
        if let Some(a) = e.attempt {
            line.push_str(&format!(" attempt {a}"));
        }
        if let Some(c) = e.code {
            line.push_str(&format!(" {c}"));
        }
        if let Some(a) = &e.answer {
            line.push(' ');
            line.push_str(a);
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    if d.state == DeliveryState::Dead {
        writeln!(out, "  retry with: switchboard deliveries retry {}", d.id)?;
    }
    if let (DeliveryState::Failed, Some(at)) = (d.state, d.next_attempt_at) {
        writeln!(out, "  next attempt at {}", timestamp(at))?;
    }
    Ok(())
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

pub fn smtp(dir: &Path, a: SmtpArgs) -> Result<ExitCode> {
    let store = Store::open_in(dir)?;
    let account = store
        .account(&a.name)?
        .ok_or_else(|| anyhow!("no account named '{}'", a.name))?;
    let secret_name = switchboard_deliver::smtp_secret_name(&account.name);
    if a.show {
        match store.smtp_server(account.id)? {
            Some(s) => print_json(&s)?,
            None => println!("account '{}' has no outgoing server", a.name),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if a.remove {
        let had = store.remove_smtp_server(&a.name)?;
        if let Err(e) = delete_password(&store.install_id()?, &secret_name) {
            eprintln!("warning: the outgoing server's keyring entry could not be deleted: {e}");
        }
        println!(
            "{}",
            if had {
                format!("removed the outgoing server of '{}'", a.name)
            } else {
                format!("account '{}' had no outgoing server", a.name)
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let host = a.host.ok_or_else(|| anyhow!("--host is required"))?;
    let tls = match a.tls {
        SmtpTls::Implicit => TlsMode::Implicit,
        SmtpTls::Starttls => TlsMode::Starttls,
    };
    let port = a.port.unwrap_or(match tls {
        TlsMode::Implicit => 465,
        TlsMode::Starttls => 587,
    });
    let trust_cert = match a.trust_cert {
        Some(pin) => Some(switchboard_sync::tls::normalize_pin(&pin).ok_or_else(|| {
            anyhow!(
                "--trust-cert '{pin}' is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
            )
        })?),
        None => None,
    };
    let (from_name, from_addr) = match &a.from {
        Some(f) => {
            let m = switchboard_deliver::compose::parse_mailbox("--from", f)?;
            (m.name, m.email.to_string())
        }
        None => {
            let guess = a
                .user
                .clone()
                .filter(|u| u.contains('@'))
                .or_else(|| Some(account.username.clone()).filter(|u| u.contains('@')))
                .ok_or_else(|| {
                    anyhow!(
                        "say which address mail from '{}' goes out as: --from ADDRESS (neither the \
                         user nor the account's user name is an address)",
                        a.name
                    )
                })?;
            (None, guess)
        }
    };
    let password = match &a.user {
        Some(_) => {
            let p = read_stdin("the outgoing server's password")?;
            let p = p.strip_suffix('\n').unwrap_or(&p);
            let p = p.strip_suffix('\r').unwrap_or(p);
            if p.is_empty() {
                bail!("--user needs the password on standard input");
            }
            Some(Secret::new(p.to_string()))
        }
        None => None,
    };
    let server = SmtpServer {
        host,
        port,
        tls,
        username: a.user,
        trust_cert,
        from_addr,
        from_name,
        sent_mailbox: a.sent_mailbox,
    };
    let install_id = store.install_id()?;
    if let Some(p) = &password {
        store_password(&install_id, &secret_name, p)
            .context("the outgoing server was not saved")?;
    }
    store.set_smtp_server(&a.name, &server)?;
    if password.is_none() {
        let _ = delete_password(&install_id, &secret_name);
    }
    println!(
        "outgoing server of '{}': {}:{} ({}), sending as {}",
        a.name,
        server.host,
        server.port,
        server.tls.as_str(),
        server.from_addr
    );
    Ok(ExitCode::SUCCESS)
}

/// Exit code of `send` when the mail waits for a retry (EX_TEMPFAIL).
const TEMPFAIL: u8 = 75;

pub fn send(dir: &Path, a: SendArgs) -> Result<ExitCode> {
    let body = match (a.body, a.body_stdin) {
        (Some(b), _) => b,
        (None, true) => read_stdin("the message text")?,
        (None, false) => bail!("give the text with --body TEXT or --body-stdin"),
    };
    let mut store = Store::open_in(dir)?;
    let queued = queue_send(
        &mut store,
        &SendRequest {
            account: a.account,
            to: a.to,
            cc: a.cc,
            subject: a.subject,
            body,
            reply_to: a.reply_to,
            all: a.all,
            forward: a.forward,
            owner: None,
        },
    )?;
    drop(store);
    if a.queue_only {
        if a.json {
            print_json(&queued)?;
        } else {
            println!(
                "queued as delivery {} (Message-ID <{}>); a running `switchboard serve` sends it",
                queued.delivery_id, queued.message_id
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let rt = runtime()?;
    let family = rt.block_on(async {
        let engine = Engine::open(
            dir,
            EngineOptions {
                route: false,
                ..EngineOptions::standard()
            },
            Arc::new(tokio::sync::Notify::new()),
        )?;
        engine.attempt_now(queued.delivery_id).await?;
        // The copy for the Sent folder follows a successful submission.
        let store = Store::open_in(dir)?;
        for v in store.delivery_family(queued.delivery_id)? {
            if v.delivery.state == DeliveryState::Queued {
                engine.attempt_now(v.delivery.id).await?;
            }
        }
        Ok::<_, anyhow::Error>(store.delivery_family(queued.delivery_id)?)
    })?;
    let submit = family
        .iter()
        .find(|v| v.delivery.id == queued.delivery_id)
        .map(|v| v.delivery.state)
        .unwrap_or(DeliveryState::Queued);
    if a.json {
        print_json(&serde_json::json!({"queued": queued, "deliveries": family}))?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "message <{}> from {} to {}",
            queued.message_id,
            queued.from,
            queued.recipients.join(", ")
        )?;
        for v in &family {
            print_view(&mut out, v)?;
        }
        writeln!(
            out,
            "track it with: switchboard track --delivery {}",
            queued.delivery_id
        )?;
    }
    Ok(match submit {
        DeliveryState::Delivered => ExitCode::SUCCESS,
        DeliveryState::Dead => {
            eprintln!("error: the mail was not sent (see the timeline above)");
            ExitCode::FAILURE
        }
        _ => {
            eprintln!(
                "not sent yet: it is retried as the timeline says, by a running `switchboard \
                 serve` or `switchboard deliveries run`"
            );
            ExitCode::from(TEMPFAIL)
        }
    })
}

pub fn track(dir: &Path, a: TrackArgs) -> Result<ExitCode> {
    let store = Store::open_in(dir)?;
    let (message_id, views) = if a.delivery {
        let views = store.delivery_family(a.id)?;
        (views.first().and_then(|v| v.delivery.message_id), views)
    } else {
        let _ = store.message(a.id)?;
        (Some(a.id), store.message_deliveries(a.id)?)
    };
    let route = match message_id {
        Some(m) => store.route_state(m)?,
        None => None,
    };
    if a.json {
        print_json(&serde_json::json!({
            "message_id": message_id,
            "route": route.as_ref().map(|(state, reason)| serde_json::json!({"state": state, "reason": reason})),
            "deliveries": views,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if let Some(m) = message_id {
        match &route {
            Some((state, reason)) => writeln!(
                out,
                "message {m}: {state}{}",
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            )?,
            None => writeln!(
                out,
                "message {m}: stored before routing began here; not routed"
            )?,
        }
    }
    if views.is_empty() {
        writeln!(out, "no deliveries")?;
    }
    for v in &views {
        print_view(&mut out, v)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn deliveries(dir: &Path, a: DeliveriesArgs) -> Result<ExitCode> {
    match a.command {
        Some(DeliveriesCommand::Retry { id, json }) => retry(dir, id, json),
        Some(DeliveriesCommand::Run) => {
            let rt = runtime()?;
            let r = rt.block_on(async {
                let engine = Engine::open(
                    dir,
                    EngineOptions::standard(),
                    Arc::new(tokio::sync::Notify::new()),
                )?;
                Ok::<_, anyhow::Error>(engine.drain().await?)
            })?;
            println!(
                "routed {} message{}, made {} attempt{}, released {} held, recovered {} \
                 interrupted",
                r.routed,
                if r.routed == 1 { "" } else { "s" },
                r.started,
                if r.started == 1 { "" } else { "s" },
                r.released,
                r.recovered
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(DeliveriesCommand::Settings {
            forward_mode,
            forward_account,
            no_forward_account,
        }) => {
            let store = Store::open_in(dir)?;
            if let Some(m) = forward_mode {
                let mode: switchboard_deliver::forward::ForwardMode = m
                    .parse()
                    .map_err(|e: String| anyhow!("--forward-mode: {e}"))?;
                let text = match mode {
                    switchboard_deliver::forward::ForwardMode::Attachment => "attachment",
                    switchboard_deliver::forward::ForwardMode::Inline => "inline",
                };
                store.set_delivery_setting("forward_mode", Some(text))?;
            }
            if let Some(acc) = forward_account {
                if store.account(&acc)?.is_none() {
                    bail!("no account named '{acc}'");
                }
                store.set_delivery_setting("forward_account", Some(&acc))?;
            }
            if no_forward_account {
                store.set_delivery_setting("forward_account", None)?;
            }
            println!(
                "forward mode: {}\nforward account: {}",
                store
                    .delivery_setting("forward_mode")?
                    .unwrap_or_else(|| "attachment".into()),
                store
                    .delivery_setting("forward_account")?
                    .unwrap_or_else(|| "(the account the message came through)".into())
            );
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let store = Store::open_in(dir)?;
            let states: Vec<DeliveryState> = if a.dead {
                vec![DeliveryState::Dead]
            } else if let Some(s) = &a.state {
                vec![s.parse()?]
            } else {
                vec![
                    DeliveryState::Sending,
                    DeliveryState::Queued,
                    DeliveryState::Failed,
                    DeliveryState::Accepted,
                    DeliveryState::Held,
                    DeliveryState::Dead,
                ]
            };
            let mut all = Vec::new();
            for s in states {
                all.extend(store.deliveries_in_state(s, a.limit, None)?);
            }
            if a.json {
                print_json(&all)?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut out = std::io::stdout().lock();
            if all.is_empty() {
                writeln!(
                    out,
                    "{}",
                    if a.dead {
                        "no dead letters"
                    } else {
                        "no deliveries waiting"
                    }
                )?;
            }
            for v in &all {
                let d = &v.delivery;
                let last = v
                    .events
                    .iter()
                    .rev()
                    .find_map(|e| e.answer.clone())
                    .unwrap_or_default();
                writeln!(
                    out,
                    "delivery {} · {} · {} · {}",
                    d.id,
                    target_label(d),
                    d.state.as_str(),
                    d.summary
                )?;
                if !last.is_empty() {
                    writeln!(out, "  {last}")?;
                }
                if d.state == DeliveryState::Dead {
                    writeln!(out, "  retry with: switchboard deliveries retry {}", d.id)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn retry(dir: &Path, id: i64, json: bool) -> Result<ExitCode> {
    let mut store = Store::open_in(dir)?;
    store.request_retry(id)?;
    drop(store);
    let rt = runtime()?;
    let views = rt.block_on(async {
        let engine = Engine::open(
            dir,
            EngineOptions {
                route: false,
                ..EngineOptions::standard()
            },
            Arc::new(tokio::sync::Notify::new()),
        )?;
        // A running engine may take it first; then this attempt simply does not happen.
        engine.attempt_now(id).await?;
        let store = Store::open_in(dir)?;
        for v in store.delivery_family(id)? {
            if v.delivery.state == DeliveryState::Queued && v.delivery.parent_id == Some(id) {
                engine.attempt_now(v.delivery.id).await?;
            }
        }
        Ok::<_, anyhow::Error>(store.delivery_family(id)?)
    })?;
    if json {
        print_json(&views)?;
    } else {
        let mut out = std::io::stdout().lock();
        for v in &views {
            print_view(&mut out, v)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `fut` with the delivery engine beside it (for `sync --watch`). The engine is woken
/// whenever a sync pass ends.
pub async fn with_engine<F: std::future::Future<Output = Result<()>>>(
    dir: &Path,
    wake: Arc<tokio::sync::Notify>,
    im: Option<Arc<dyn switchboard_deliver::im::ImChannel>>,
    fut: F,
) -> Result<()> {
    let mut options = EngineOptions::standard();
    options.im = im;
    let engine = Engine::open(dir, options, wake)?;
    tokio::select! {
        r = fut => r,
        _ = engine.run() => Ok(()),
    }
}
