//! End-to-end test harness for Switchboard: real servers on loopback, started by this crate.
//!
//! * [`Dovecot`] — a private Dovecot (IMAP, IMAPS, POP3, POP3S) per test, with mail
//!   manipulated through `doveadm` while it runs; see [`dovecot`].
//! * [`KeyringSession`] — a private D-Bus session bus and gnome-keyring for hermetic secrets.
//! * [`Switchboard`] — runs the `switchboard` CLI with its own data dir, HOME, XDG dirs and keyring.
//! * [`TestMail`] and [`awkward_corpus`] — messages to deliver.
//! * [`ImapProbe`] / [`Pop3Probe`] — minimal clients to ask the server directly.
//! * [`desktop`] — the desktop app under Xvfb, driven by WebDriver, with a notification daemon.
//! * [`Prosody`] — a private Prosody (XMPP, STARTTLS and direct TLS) per test, with users;
//!   [`XmppPeer`] — a second XMPP client (slixmpp) driven by the test.
//! * [`SmtpSink`] — a scripted SMTP server (aiosmtpd) that records what it accepts.
//! * [`NotificationDaemon`] — dunst under Xvfb on a test's private bus.
//!
//! Every server binds 127.0.0.1 only, on free ports, with its files in its own temp dir. A
//! missing server binary is an error naming the package to install (`scripts/install-deps.sh
//! test`), never a silent skip. Set `SWITCHBOARD_TEST_KEEP=1` to keep the temp dirs.
//! See tests/README.md.

pub mod browser;
pub mod desktop;
pub mod dovecot;
pub mod http;
pub mod keyring;
pub mod mail;
pub mod notifyd;
pub mod probe;
pub mod prosody;
pub mod runner;
pub mod smtp;
pub mod tls;
pub mod util;
pub mod xmpp_peer;

pub use dovecot::{Dovecot, DovecotOptions, MailboxStatus, Ports};
pub use keyring::KeyringSession;
pub use mail::{awkward_corpus, awkward_corpus_small, TestMail};
pub use notifyd::NotificationDaemon;
pub use probe::{ImapProbe, Pop3Probe, SelectInfo};
pub use prosody::{Prosody, ProsodyOptions, XmppPorts};
pub use runner::{switchboard_bin, workspace_root, Switchboard};
pub use smtp::{Received, SmtpSink};
pub use tls::{CertKind, TlsMaterial};
pub use xmpp_peer::{flood, flood_timed, Flood, PeerOptions, Receiver, ReceiverKind, XmppPeer};
