//! `switchboard`: the headless command line over the consolidated store and sync engine.

mod deliver;
mod im;
mod output;
mod routing;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use switchboard_store::{AccountKind, InboxQuery, NewAccount, Store, SyncPolicy, TlsMode};
use switchboard_sync::secrets::{delete_password, store_password, Secret};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "One consolidated inbox for all your mail accounts"
)]
struct Cli {
    /// Where the store lives (default: the XDG data dir, e.g. ~/.local/share/switchboard).
    #[arg(long, global = true, env = "SWITCHBOARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Add, list, test or remove mail accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Sync every account (or one) once, or keep syncing with --watch.
    Sync {
        #[arg(long)]
        account: Option<String>,
        /// Keep running: IDLE on IMAP INBOX, poll POP3 every --interval seconds.
        #[arg(long)]
        watch: bool,
        #[arg(long, default_value_t = 300)]
        interval: u64,
        /// Print what each account's pass did as JSON on stdout (progress stays on stderr).
        #[arg(long, conflicts_with = "watch")]
        json: bool,
    },
    /// The consolidated inbox, newest first.
    Inbox {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        unread: bool,
        #[arg(long)]
        json: bool,
    },
    /// One message.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
        /// Print the message source exactly as received.
        #[arg(long, conflicts_with = "json")]
        raw: bool,
    },
    /// Full-text search over sender, recipients, subject and body.
    Search {
        query: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Mark a message read/unread or flagged/unflagged; IMAP servers follow at the next sync.
    Flag {
        id: i64,
        #[arg(long, conflicts_with = "unseen")]
        seen: bool,
        #[arg(long)]
        unseen: bool,
        #[arg(long, conflicts_with = "unflagged")]
        flagged: bool,
        #[arg(long)]
        unflagged: bool,
    },
    /// Run the embedded server (HTTP/JSON API and message index) and keep every account in sync.
    Serve {
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: std::net::SocketAddr,
        /// Only serve; do not sync (another process syncs this data dir).
        #[arg(long)]
        no_sync: bool,
        /// Serve HTTPS even on loopback (any other address always gets HTTPS).
        #[arg(long)]
        tls: bool,
        /// PEM certificate chain to serve instead of the generated self-signed one.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// A name clients use to reach this server (allowed in the Host header); repeatable.
        #[arg(long)]
        host_name: Vec<String>,
        #[arg(long, default_value_t = 300)]
        interval: u64,
    },
    /// Manage API tokens for the embedded server.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Instant messages (XMPP accounts): send, conversations, contacts with presence.
    #[command(subcommand)]
    Im(im::ImCommand),
    /// Delete a message here; reverse sync deletes it on the servers at the next sync
    /// (per account policy).
    Delete { id: i64 },
    /// Profiles: list, show, use (by hand, until the next scheduled change), release, add,
    /// edit, remove, history.
    #[command(subcommand)]
    Profile(routing::ProfileCommand),
    /// The weekly schedule that picks the active profile.
    #[command(subcommand)]
    Schedule(routing::ScheduleCommand),
    /// Routing rules: list, add, remove, move, try before saving, make from a message.
    #[command(subcommand)]
    Rule(routing::RuleCommand),
    /// Contact groups (such as VIP) that rules and profiles name.
    #[command(subcommand)]
    Group(routing::GroupCommand),
    /// How the router decides about a message.
    #[command(subcommand)]
    Route(routing::RouteCommand),
    /// Send mail: a new message, a reply (--reply-to ID [--all]) or a forward (--forward ID),
    /// through the account's outgoing server; tracked like every delivery.
    Send(deliver::SendArgs),
    /// The delivery timeline of a message: every step of every delivery, with the servers'
    /// answers.
    Track(deliver::TrackArgs),
    /// Deliveries not done yet, dead letters (--dead); retry one, run due ones, settings.
    Deliveries(deliver::DeliveriesArgs),
    /// Print messages as they arrive at a running `switchboard serve` (the index client: it asks
    /// the server's index and fetches only what changed).
    Watch {
        /// http://127.0.0.1:PORT (loopback only) or https://HOST:PORT; repeat it for servers
        /// of the same store to fail over between (one is picked at random).
        #[arg(long = "server", required = true, value_name = "URL")]
        servers: Vec<String>,
        /// An API token of the server (`switchboard token create` there).
        #[arg(long, env = "SWITCHBOARD_TOKEN", hide_env_values = true)]
        token: String,
        /// The SHA-256 fingerprint of a self-signed server certificate (printed by `serve`):
        /// once for every https server, or once per --server in the same order.
        #[arg(long, value_name = "SHA256")]
        trust_cert: Vec<String>,
        /// Where the last sequence seen and downloaded messages are kept
        /// (default: <data dir>/watch/<hash of the server list>).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// With --slow-link: leave bodies of messages larger than this for later.
        #[arg(long, value_name = "BYTES", requires = "slow_link")]
        max_body_size: Option<u64>,
        /// The link is slow: apply --max-body-size.
        #[arg(long, requires = "max_body_size")]
        slow_link: bool,
        /// Long-poll time in seconds.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=60))]
        wait: u64,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once, as the last word of the last line.
    Create {
        name: String,
        /// The household member this token acts for: it sees only their accounts' messages.
        /// Without it the token acts for the store's own person and sees everything.
        #[arg(long)]
        owner: Option<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Revoke {
        name: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Protocol {
    Imap,
    Pop3,
    /// Instant messaging: give --jid; --host/--port only to override DNS SRV.
    Xmpp,
}

#[derive(Clone, Copy, ValueEnum)]
enum Tls {
    Implicit,
    Starttls,
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Add an account; the password is read from standard input and kept in the OS keyring.
    Add {
        protocol: Protocol,
        name: String,
        /// The server (required for imap and pop3; for xmpp only to override DNS SRV).
        #[arg(long)]
        host: Option<String>,
        /// Default: 993/143 (IMAP), 995/110 (POP3), 5223/5222 (XMPP) for implicit TLS/STARTTLS.
        #[arg(long)]
        port: Option<u16>,
        /// Default: implicit for imap and pop3, starttls for xmpp.
        #[arg(long, value_enum)]
        tls: Option<Tls>,
        /// The login name (imap, pop3).
        #[arg(long)]
        user: Option<String>,
        /// The XMPP address, name@domain (xmpp).
        #[arg(long)]
        jid: Option<String>,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Trust a self-signed server: the SHA-256 fingerprint of its certificate.
        #[arg(long)]
        trust_cert: Option<String>,
        /// IMAP mailboxes to sync, comma-separated; "*" for all.
        #[arg(long, value_delimiter = ',', default_value = "INBOX")]
        mailboxes: Vec<String>,
        /// mirror | keep | delete-after:N
        #[arg(long, default_value = "mirror")]
        policy: String,
        /// The household member this account belongs to (default: the store's own person).
        #[arg(long)]
        owner: Option<String>,
    },
    /// Give an account to a household member, or back to the store's own person (no OWNER).
    Owner { name: String, owner: Option<String> },
    /// List accounts with their state.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Log in and look at the mailboxes without changing anything.
    Test { name: String },
    /// Remove an account and the messages that came only through it (the server is untouched).
    Remove { name: String },
    /// Replace an account's password (read from standard input).
    Password {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Set the account's outgoing (SMTP submission) server; with --user its password is read
    /// from standard input and kept in the OS keyring.
    Smtp(deliver::SmtpArgs),
}

fn data_dir(cli: &Cli) -> Result<PathBuf> {
    if let Some(d) = &cli.data_dir {
        return Ok(d.clone());
    }
    directories::ProjectDirs::from("", "", "switchboard")
        .map(|p| p.data_dir().to_path_buf())
        .ok_or_else(|| anyhow!("cannot determine a data directory; pass --data-dir"))
}

fn read_password() -> Result<Secret> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("cannot read the password from standard input")?;
    let p = s.strip_suffix('\n').unwrap_or(&s);
    let p = p.strip_suffix('\r').unwrap_or(p);
    if p.is_empty() {
        bail!("no password on standard input");
    }
    Ok(Secret::new(p.to_string()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", output::chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(cli: Cli) -> Result<ExitCode> {
    let dir = data_dir(&cli)?;
    match cli.command {
        Command::Account(cmd) => account(&dir, cmd),
        Command::Sync {
            account,
            watch,
            interval,
            json,
        } => {
            let reporter: Arc<dyn switchboard_sync::Reporter> =
                Arc::new(output::Progress::new(std::io::stderr().is_terminal()));
            let rt = runtime()?;
            if watch {
                // New mail is routed and delivered as it arrives.
                let wake_deliver = Arc::new(tokio::sync::Notify::new());
                let reporter: Arc<dyn switchboard_sync::Reporter> =
                    Arc::new(switchboard_deliver::WakeOnSync {
                        inner: reporter,
                        wake: wake_deliver.clone(),
                    });
                // XMPP accounts stay connected alongside mail (with --account, only that one).
                let xmpp_only = match &account {
                    Some(name) => Store::open_in(&dir)?
                        .account(name)?
                        .is_some_and(|a| a.kind == AccountKind::Xmpp),
                    None => false,
                };
                let wake_im = Arc::new(tokio::sync::Notify::new());
                let im_channel: Arc<dyn switchboard_deliver::im::ImChannel> =
                    Arc::new(switchboard_im::Forwarder::new(&dir, wake_im.clone()));
                rt.block_on(async {
                    let mail = async {
                        if xmpp_only {
                            return std::future::pending().await;
                        }
                        switchboard_sync::watch_accounts(
                            &dir,
                            account.as_deref(),
                            Duration::from_secs(interval.max(10)),
                            reporter,
                            Arc::new(tokio::sync::Notify::new()),
                        )
                        .await
                        .map_err(anyhow::Error::from)
                    };
                    let im = async {
                        if account.is_some() && !xmpp_only {
                            return std::future::pending().await;
                        }
                        switchboard_im::keep_connected(
                            &dir,
                            account.as_deref(),
                            wake_im,
                            Some(wake_deliver.clone()),
                        )
                        .await
                        .map_err(anyhow::Error::from)
                    };
                    let watch = async {
                        tokio::select! {
                            r = mail => r,
                            r = im => r,
                        }
                    };
                    tokio::select! {
                        r = deliver::with_engine(&dir, wake_deliver.clone(), Some(im_channel), watch) => r,
                        _ = tokio::signal::ctrl_c() => Ok(()),
                    }
                })?;
                return Ok(ExitCode::SUCCESS);
            }
            let results = rt.block_on(switchboard_sync::sync_accounts(
                &dir,
                account.as_deref(),
                reporter,
            ))?;
            if json {
                output::sync_results(&results)?;
            }
            let failed = results.iter().filter(|(_, r)| r.is_err()).count();
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Inbox {
            limit,
            account,
            unread,
            json,
        } => {
            let store = Store::open_in(&dir)?;
            let list = store.inbox(&InboxQuery {
                limit,
                account,
                unread_only: unread,
                ..Default::default()
            })?;
            output::list(&list, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { id, json, raw } => {
            let store = Store::open_in(&dir)?;
            if raw {
                let bytes = store.raw(id)?;
                use std::io::Write;
                std::io::stdout().write_all(&bytes)?;
            } else {
                output::message(&store.message(id)?, json)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Search { query, limit, json } => {
            if query.len() > 1000 {
                bail!(
                    "the search query is {} characters long; at most 1000 are allowed",
                    query.len()
                );
            }
            let store = Store::open_in(&dir)?;
            output::list(&store.search(&query, limit)?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Flag {
            id,
            seen,
            unseen,
            flagged,
            unflagged,
        } => {
            let pick = |on: bool, off: bool| {
                if on {
                    Some(true)
                } else if off {
                    Some(false)
                } else {
                    None
                }
            };
            let (seen, flagged) = (pick(seen, unseen), pick(flagged, unflagged));
            if seen.is_none() && flagged.is_none() {
                bail!("say what to change: --seen, --unseen, --flagged or --unflagged");
            }
            let mut store = Store::open_in(&dir)?;
            let f = store.set_local_flags(id, seen, flagged)?;
            let names = f.names();
            println!(
                "message {id}: {}",
                if names.is_empty() {
                    "no flags".to_string()
                } else {
                    names.join(" ")
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            listen,
            no_sync,
            interval,
            tls,
            tls_cert,
            tls_key,
            host_name,
        } => {
            let rt = runtime()?;
            rt.block_on(async {
                let options = switchboard_server::EmbeddedOptions {
                    listen,
                    serve: switchboard_server::ServeOptions {
                        tls,
                        cert_and_key: tls_cert.zip(tls_key),
                        host_names: host_name,
                    },
                    sync: !no_sync,
                    poll_interval: Duration::from_secs(interval),
                };
                let app = switchboard_server::Embedded::bind(&dir, options).await?;
                println!("listening on {}", app.base_url());
                if let Some(fp) = app.tls_fingerprint() {
                    println!("certificate SHA-256 fingerprint (pin this on other devices): {fp}");
                }
                println!("sign in this browser once: {}", app.login_url(None));
                let reporter: Arc<dyn switchboard_sync::Reporter> =
                    Arc::new(output::Progress::new(false));
                tokio::select! {
                    r = app.run(reporter) => r.map_err(anyhow::Error::from),
                    _ = tokio::signal::ctrl_c() => Ok(()),
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(cmd) => {
            let store = Store::open_in(&dir)?;
            match cmd {
                TokenCommand::Create { name, owner } => {
                    let token =
                        switchboard_server::create_token_for(&store, &name, owner.as_deref())?;
                    println!("created token '{name}'; it is shown only now:");
                    println!("{token}");
                }
                TokenCommand::List { json } => {
                    let tokens = store.tokens()?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&tokens)?);
                    } else if tokens.is_empty() {
                        println!("no tokens");
                    } else {
                        for t in tokens {
                            println!(
                                "{:<20} created {}{}",
                                t.name,
                                switchboard_store::rfc3339(t.created_at),
                                if t.revoked { " (revoked)" } else { "" }
                            );
                        }
                    }
                }
                TokenCommand::Revoke { name } => {
                    store.revoke_token(&name)?;
                    println!("revoked token '{name}'");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch {
            servers,
            token,
            trust_cert,
            state_dir,
            max_body_size,
            slow_link,
            wait,
            json,
        } => {
            let servers = watch_servers(servers, trust_cert)?;
            let state_dir = state_dir.unwrap_or_else(|| {
                dir.join("watch")
                    .join(switchboard_client::state_dir_name(&servers))
            });
            let mut config = switchboard_client::Config::new(servers, token, &state_dir);
            config.body_size_limit = max_body_size;
            config.slow_link = slow_link;
            config.wait_secs = wait;
            let mut client = switchboard_client::IndexClient::new(config)?;
            if let Some(seq) = client.seq() {
                eprintln!(
                    "watching: resuming from sequence {seq}; new messages are printed as they arrive"
                );
            }
            let rt = runtime()?;
            rt.block_on(async {
                tokio::select! {
                    r = client.watch(|event| print_watch_event(event, json)) => r.map_err(anyhow::Error::from),
                    _ = tokio::signal::ctrl_c() => Ok(()),
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Profile(cmd) => routing::profile(&dir, cmd),
        Command::Schedule(cmd) => routing::schedule(&dir, cmd),
        Command::Rule(cmd) => routing::rule(&dir, cmd),
        Command::Group(cmd) => routing::group(&dir, cmd),
        Command::Route(cmd) => routing::route(&dir, cmd),
        Command::Im(cmd) => im::run(&dir, cmd),
        Command::Delete { id } => {
            let mut store = Store::open_in(&dir)?;
            store.delete_message(id)?;
            println!(
                "message {id} deleted here; servers follow at the next sync (per account policy)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Send(a) => deliver::send(&dir, a),
        Command::Track(a) => deliver::track(&dir, a),
        Command::Deliveries(a) => deliver::deliveries(&dir, a),
    }
}

/// Pairs `--server`s with `--trust-cert`s: none, one for all, or one per server.
fn watch_servers(
    urls: Vec<String>,
    pins: Vec<String>,
) -> Result<Vec<switchboard_client::ServerAddr>> {
    if pins.len() > 1 && pins.len() != urls.len() {
        bail!(
            "give --trust-cert once for all servers or once per --server ({} servers, {} fingerprints)",
            urls.len(),
            pins.len()
        );
    }
    Ok(urls
        .into_iter()
        .enumerate()
        .map(|(i, url)| switchboard_client::ServerAddr {
            url,
            pin: pins.get(i).or(pins.first()).cloned(),
        })
        .collect())
}

fn print_watch_event(event: switchboard_client::WatchEvent<'_>, json: bool) {
    use switchboard_client::{BodyState, MessageInfo, PollOutcome, WatchEvent};
    let outcome = match event {
        WatchEvent::Error(e) => {
            eprintln!("error: {e}; retrying");
            return;
        }
        WatchEvent::FailedOver {
            failures,
            now_using,
        } => {
            for f in failures {
                eprintln!("error: {f}; now using {now_using}");
            }
            return;
        }
        WatchEvent::Outcome(o) => o,
    };
    let (added, updated, removed) = match outcome {
        PollOutcome::Unchanged => return,
        PollOutcome::Resynced {
            baseline: true,
            added,
            seq,
            ..
        } => {
            eprintln!(
                "watching: {} messages on the server (sequence {seq}); new ones are printed as they arrive",
                added.len()
            );
            return;
        }
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
        } => (added, updated, removed),
    };
    let line = |kind: &str, m: &MessageInfo| {
        if json {
            serde_json::json!({
                "event": kind, "id": m.id, "date": m.date, "from": m.from,
                "subject": m.subject, "size": m.size, "body": m.body,
            })
            .to_string()
        } else {
            let deferred = if m.body == BodyState::Deferred {
                format!(" (body of {} KB left for later)", m.size.div_ceil(1024))
            } else {
                String::new()
            };
            format!(
                "{} {} {} {} [id {}]{deferred}",
                if kind == "added" { '+' } else { '~' },
                m.date.as_deref().unwrap_or("-"),
                m.from.as_deref().unwrap_or("(no sender)"),
                if m.subject.is_empty() {
                    "(no subject)"
                } else {
                    &m.subject
                },
                m.id
            )
        }
    };
    for m in added {
        println!("{}", line("added", m));
    }
    for m in updated {
        println!("{}", line("updated", m));
    }
    for id in removed {
        if json {
            println!("{}", serde_json::json!({"event": "removed", "id": id}));
        } else {
            println!("- removed [id {id}]");
        }
    }
}

fn account(dir: &std::path::Path, cmd: AccountCommand) -> Result<ExitCode> {
    match cmd {
        AccountCommand::Add {
            protocol,
            name,
            host,
            port,
            tls,
            user,
            jid,
            password_stdin: _,
            trust_cert,
            mailboxes,
            policy,
            owner,
        } => {
            let kind = match protocol {
                Protocol::Imap => AccountKind::Imap,
                Protocol::Pop3 => AccountKind::Pop3,
                Protocol::Xmpp => {
                    return im::add_account(
                        dir,
                        im::XmppAccountArgs {
                            name,
                            jid,
                            host,
                            port,
                            implicit_tls: tls.map(|t| matches!(t, Tls::Implicit)),
                            trust_cert,
                            owner,
                            password: read_password()?,
                        },
                    )
                }
            };
            if jid.is_some() {
                bail!("--jid is for xmpp accounts; imap and pop3 accounts take --user");
            }
            let host =
                host.ok_or_else(|| anyhow!("--host is required for imap and pop3 accounts"))?;
            let user =
                user.ok_or_else(|| anyhow!("--user is required for imap and pop3 accounts"))?;
            let tls = match tls.unwrap_or(Tls::Implicit) {
                Tls::Implicit => TlsMode::Implicit,
                Tls::Starttls => TlsMode::Starttls,
            };
            let port = port.unwrap_or(match (kind, tls) {
                (AccountKind::Imap, TlsMode::Implicit) => 993,
                (AccountKind::Imap, TlsMode::Starttls) => 143,
                (AccountKind::Pop3, TlsMode::Implicit) => 995,
                (AccountKind::Pop3, TlsMode::Starttls) => 110,
                (AccountKind::Xmpp, TlsMode::Implicit) => 5223,
                (AccountKind::Xmpp, TlsMode::Starttls) => 5222,
            });
            let policy: SyncPolicy = policy.parse()?;
            let trust_cert = match trust_cert {
                Some(pin) => Some(switchboard_sync::tls::normalize_pin(&pin).ok_or_else(|| {
                    anyhow!("--trust-cert '{pin}' is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
                })?),
                None => None,
            };
            let mailboxes: Vec<String> = mailboxes
                .into_iter()
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect();
            if let Some(o) = &owner {
                switchboard_store::validate_owner(o)?;
            }
            let password = read_password()?;
            let mut store = Store::open_in(dir)?;
            let account = store.add_account(&NewAccount {
                name: name.clone(),
                kind,
                host,
                port,
                tls,
                username: user,
                trust_cert,
                mailboxes,
                policy,
            })?;
            if let Err(e) = store_password(&store.install_id()?, &account.name, &password) {
                store.remove_account(&account.name)?;
                return Err(e).context(format!("account '{name}' was not added"));
            }
            if owner.is_some() {
                store.set_account_owner(&account.name, owner.as_deref())?;
            }
            println!(
                "added {} account '{}' ({}:{})",
                kind.as_str(),
                account.name,
                account.host,
                account.port
            );
            Ok(ExitCode::SUCCESS)
        }
        AccountCommand::Owner { name, owner } => {
            let store = Store::open_in(dir)?;
            store.set_account_owner(&name, owner.as_deref())?;
            match owner {
                Some(o) => println!("account '{name}' now belongs to '{o}'"),
                None => println!("account '{name}' now belongs to the store's owner"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AccountCommand::List { json } => {
            let store = Store::open_in(dir)?;
            output::accounts(&store.accounts()?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        AccountCommand::Test { name } => {
            let xmpp = Store::open_in(dir)?
                .account(&name)?
                .is_some_and(|a| a.kind == AccountKind::Xmpp);
            if xmpp {
                let summary =
                    im::test_account(dir, &name).with_context(|| format!("account '{name}'"))?;
                println!("{name}: {summary}");
                return Ok(ExitCode::SUCCESS);
            }
            let rt = runtime()?;
            let summary = rt
                .block_on(switchboard_sync::test_account(dir, &name))
                .with_context(|| format!("account '{name}'"))?;
            println!("{name}: {summary}");
            Ok(ExitCode::SUCCESS)
        }
        AccountCommand::Remove { name } => {
            let mut store = Store::open_in(dir)?;
            let install_id = store.install_id()?;
            let account = store.remove_account(&name)?;
            if let Err(e) = delete_password(&install_id, &account.name) {
                eprintln!("warning: account '{name}' removed, but its keyring entry could not be deleted: {e}");
            }
            let _ = delete_password(
                &install_id,
                &switchboard_deliver::smtp_secret_name(&account.name),
            );
            println!("removed account '{name}'");
            Ok(ExitCode::SUCCESS)
        }
        AccountCommand::Smtp(a) => deliver::smtp(dir, a),
        AccountCommand::Password {
            name,
            password_stdin: _,
        } => {
            let store = Store::open_in(dir)?;
            let account = store
                .account(&name)?
                .ok_or_else(|| anyhow!("no account named '{name}'"))?;
            let password = read_password()?;
            store_password(&store.install_id()?, &account.name, &password)?;
            println!("password of '{name}' updated");
            Ok(ExitCode::SUCCESS)
        }
    }
}
