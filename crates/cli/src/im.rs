//! `switchboard im ...` and the XMPP side of `switchboard account add`.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use switchboard_store::{AccountKind, ImDirection, NewAccount, Store, SyncPolicy, TlsMode};
use switchboard_sync::secrets::{store_password, Secret};

#[derive(Subcommand)]
pub enum ImCommand {
    /// Send an instant message now, over a short connection of its own, and wait for the
    /// server's verdict (a bounce, such as "no such user", is an error).
    Send {
        /// The recipient's address (name@domain).
        to: String,
        /// The text; omit it with --stdin.
        #[arg(required_unless_present = "stdin")]
        text: Option<String>,
        /// Read the text from standard input.
        #[arg(long, conflicts_with = "text")]
        stdin: bool,
        /// The XMPP account to send from (needed when there are several).
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Conversations, one per account and contact, the most recent first.
    Conversations {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// The messages of one conversation, oldest first.
    Show {
        /// The contact's address.
        contact: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Contacts (the roster) with their presence.
    Contacts {
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// The XMPP account for `--account`, or the only one.
fn account_name(store: &Store, name: Option<String>) -> Result<String> {
    Ok(switchboard_im::pick_account(store, name.as_deref())?.name)
}

pub fn run(dir: &Path, cmd: ImCommand) -> Result<ExitCode> {
    match cmd {
        ImCommand::Send {
            to,
            text,
            stdin,
            account,
            json,
        } => {
            let text = match text {
                Some(t) => t,
                None => {
                    debug_assert!(stdin);
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .context("cannot read the message from standard input")?;
                    s
                }
            };
            let rt = runtime()?;
            let report = rt.block_on(switchboard_im::send_now(
                dir,
                account.as_deref(),
                &to,
                &text,
            ))?;
            if json {
                print_json(&report)?;
            } else {
                println!(
                    "sent to {} from '{}' ({}; message {})",
                    report.to,
                    report.account,
                    report.state.as_str(),
                    report.message_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ImCommand::Conversations { limit, json } => {
            let store = Store::open_in(dir)?;
            let list = store.im_conversations(None, limit)?;
            if json {
                return print_json(&list).map(|_| ExitCode::SUCCESS);
            }
            if list.is_empty() {
                println!("no conversations yet");
            }
            for c in list {
                let who = match &c.name {
                    Some(n) => format!("{n} <{}>", c.contact),
                    None => c.contact.clone(),
                };
                let arrow = if c.last.direction == ImDirection::Out {
                    "you: "
                } else {
                    ""
                };
                println!(
                    "{:<12} {} [{}] {} messages, {} unread — {}{}",
                    c.account,
                    who,
                    c.presence,
                    c.messages,
                    c.unread,
                    arrow,
                    snippet(&c.last.body, 60)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ImCommand::Show {
            contact,
            account,
            limit,
            json,
        } => {
            let store = Store::open_in(dir)?;
            let account = account_name(&store, account)?;
            let contact = switchboard_im::jid::parse_bare(&contact, "the contact")?.to_string();
            let mut list = store.im_conversation(&account, &contact, limit, None)?;
            list.reverse();
            if json {
                return print_json(&list).map(|_| ExitCode::SUCCESS);
            }
            for m in list {
                let who = if m.direction == ImDirection::Out {
                    "you".to_string()
                } else {
                    m.contact.clone()
                };
                let state = match m.direction {
                    ImDirection::Out => format!(" ({})", m.state.as_str()),
                    ImDirection::In => String::new(),
                };
                println!("{} {who}{state}: {}", m.date, m.body);
            }
            Ok(ExitCode::SUCCESS)
        }
        ImCommand::Contacts { account, json } => {
            let store = Store::open_in(dir)?;
            let list = store.im_contacts(account.as_deref(), None)?;
            if json {
                return print_json(&list).map(|_| ExitCode::SUCCESS);
            }
            if list.is_empty() {
                println!("no contacts");
            }
            for c in list {
                println!(
                    "{:<12} {:<32} {:<10} {}{}",
                    c.account,
                    c.jid,
                    c.presence,
                    c.name.as_deref().unwrap_or(""),
                    c.status
                        .as_deref()
                        .map(|s| format!(" — {s}"))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn snippet(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Settings of `account add xmpp`.
pub struct XmppAccountArgs {
    pub name: String,
    pub jid: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `None`: STARTTLS (the XMPP default).
    pub implicit_tls: Option<bool>,
    pub trust_cert: Option<String>,
    pub owner: Option<String>,
    pub password: Secret,
}

/// Adds an XMPP account: the password goes to the keyring, the rest to the store.
pub fn add_account(dir: &Path, a: XmppAccountArgs) -> Result<ExitCode> {
    let jid = a
        .jid
        .ok_or_else(|| anyhow!("--jid is required for xmpp accounts (name@domain)"))?;
    let jid = switchboard_im::jid::parse_bare(&jid, "--jid")?;
    let tls = if a.implicit_tls == Some(true) {
        TlsMode::Implicit
    } else {
        TlsMode::Starttls
    };
    let (host, port) = match (a.host, a.port) {
        (Some(h), p) => {
            let default = if tls == TlsMode::Implicit { 5223 } else { 5222 };
            (h, p.unwrap_or(default))
        }
        (None, Some(_)) => {
            bail!("--port needs --host (without both, DNS SRV records find the server)")
        }
        (None, None) => (String::new(), 0),
    };
    let trust_cert = match a.trust_cert {
        Some(pin) => Some(switchboard_sync::tls::normalize_pin(&pin).ok_or_else(|| {
            anyhow!(
                "--trust-cert '{pin}' is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
            )
        })?),
        None => None,
    };
    if let Some(o) = &a.owner {
        switchboard_store::validate_owner(o)?;
    }
    let mut store = Store::open_in(dir)?;
    let account = store.add_account(&NewAccount {
        name: a.name.clone(),
        kind: AccountKind::Xmpp,
        host,
        port,
        tls,
        username: jid.to_string(),
        trust_cert,
        mailboxes: vec![],
        policy: SyncPolicy::Keep,
    })?;
    if let Err(e) = store_password(&store.install_id()?, &account.name, &a.password) {
        store.remove_account(&account.name)?;
        return Err(e).context(format!("account '{}' was not added", a.name));
    }
    if a.owner.is_some() {
        store.set_account_owner(&account.name, a.owner.as_deref())?;
    }
    let server = if account.host.is_empty() {
        format!("{} via DNS SRV", jid.domain())
    } else {
        format!("{}:{}", account.host, account.port)
    };
    println!(
        "added xmpp account '{}' ({jid}, {server}, {})",
        account.name,
        account.tls.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

/// `account test` for an XMPP account.
pub fn test_account(dir: &Path, name: &str) -> Result<String> {
    let rt = runtime()?;
    Ok(rt.block_on(switchboard_im::test_account(dir, name))?)
}
