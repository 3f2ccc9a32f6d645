//! Instant messaging: XMPP accounts next to mail accounts, their messages in the consolidated
//! inbox (seed 001's IM receiving agent), sending, and the IM side of forwarding with replies
//! across channels.
//!
//! * [`keep_connected`] runs one connection per XMPP account (see [`session`]): TLS verified
//!   or pinned per account, reconnect with backoff and jitter, stream management (XEP-0198)
//!   resumption when the server offers it, roster and presence, message carbons (XEP-0280) so
//!   what the person's other clients send and receive lands here too, offline messages, and an
//!   archive (XEP-0313) catch-up after every fresh session so nothing sent while Switchboard
//!   was off is missed. Delivery receipts (XEP-0184) both ways.
//! * Every IM is stored once ([`keys`]), whether it comes live, as a carbon, from offline
//!   storage or from the archive, as a message with channel `im`, and moves the index.
//! * [`send_now`] sends one message over a short connection (the CLI); [`queue_message`]
//!   puts one in the outbox of the account's running connection (the API).
//!
//! Pure parts (stanza reading and writing, keys, backoff, presence) have no I/O and are tested
//! on literal XML; the connection is tested against a real Prosody in `tests/`.

pub mod backoff;
pub mod channel;
mod connect;
pub mod forward;
pub mod jid;
pub mod keys;
mod oneshot;
pub mod presence;
pub mod reply;
pub mod session;
pub mod stanza;
mod supervisor;

use std::time::Duration;

pub use channel::{ForwardFailure, Forwarder};
pub use connect::AccountConfig;
pub use oneshot::{pick_account, queue_message, send_now, test_account, SendReport};
pub use supervisor::keep_connected;

/// The longest text Switchboard sends in one IM, in characters (at most 64 KiB as UTF-8).
/// Servers refuse larger stanzas (Prosody's default limit is 256 KiB, others allow less); a
/// clear error here beats a dropped connection.
pub const MAX_TEXT_CHARS: usize = 16 * 1024;

/// How long a one-shot connection (`im send`, `account test`) may take to log in.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of the IM side, as sentences that name what failed.
#[derive(Debug, thiserror::Error)]
pub enum ImError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Tls(String),
    #[error("login failed: {0}")]
    Auth(String),
    #[error("the server answered: {0}")]
    Server(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("{what} '{jid}' is not usable: {why}")]
    BadJid {
        what: &'static str,
        jid: String,
        why: String,
    },
    #[error("the message is {len} characters long; at most {max} can be sent as one IM")]
    TooLong { len: usize, max: usize },
    #[error("the message is empty")]
    Empty,
    #[error("no XMPP account named '{0}'")]
    NoAccount(String),
    #[error("{0}")]
    Choose(String),
    #[error("the message to {to} was refused: {condition}{}", .text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default())]
    Rejected {
        to: String,
        condition: String,
        text: Option<String>,
    },
    #[error(transparent)]
    Store(#[from] switchboard_store::StoreError),
    #[error(transparent)]
    Secret(#[from] switchboard_sync::SecretError),
}

impl ImError {
    /// The account state this error leaves the account in (the same words as mail accounts).
    pub fn state(&self) -> &'static str {
        match self {
            ImError::Unreachable(_) => "unreachable",
            ImError::Tls(_) => "tls_error",
            ImError::Auth(_) | ImError::Secret(_) => "auth_failed",
            _ => "error",
        }
    }
}

/// Checks a text before it is sent: something besides ASCII spaces and control characters
/// (the API's schema says the same with `[^\x00-\x20]`), at most [`MAX_TEXT_CHARS`]
/// characters.
pub fn check_text(text: &str) -> Result<(), ImError> {
    if text.chars().all(|c| c <= ' ') {
        return Err(ImError::Empty);
    }
    let len = text.chars().count();
    if len > MAX_TEXT_CHARS {
        return Err(ImError::TooLong {
            len,
            max: MAX_TEXT_CHARS,
        });
    }
    Ok(())
}

/// The text with every character XML 1.0 cannot carry (control characters other than tab
/// and line breaks, U+FFFE, U+FFFF) replaced by U+FFFD: one such character in a stanza would
/// make the server close the connection.
pub fn xml_safe(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_checked_before_sending() {
        assert!(check_text("hi").is_ok());
        assert!(matches!(check_text("  \n"), Err(ImError::Empty)));
        assert!(matches!(check_text("\u{1c}\u{1f} "), Err(ImError::Empty)));
        let err = check_text(&"é".repeat(MAX_TEXT_CHARS + 1)).unwrap_err();
        assert!(err.to_string().contains("characters long"), "{err}");
        assert!(check_text(&"é".repeat(MAX_TEXT_CHARS)).is_ok());
        assert_eq!(xml_safe("a\u{1}b\tc\u{ffff}"), "a\u{fffd}b\tc\u{fffd}");
        let r = ImError::Rejected {
            to: "nobody@example.org".into(),
            condition: "service-unavailable".into(),
            text: Some("no such user".into()),
        };
        assert_eq!(
            r.to_string(),
            "the message to nobody@example.org was refused: service-unavailable (no such user)"
        );
    }
}
