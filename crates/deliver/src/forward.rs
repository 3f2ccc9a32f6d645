//! Forwarding a received message by mail, in one of two shapes:
//!
//! * **attachment** (default): a new message from the account's identity to the target,
//!   "Fwd: subject", a short text naming the original's sender, date and subject, and the
//!   original untouched as a message/rfc822 attachment;
//! * **inline**: the original itself is re-sent (RFC 5322 §3.6.6): its header and body stay as
//!   they were, with `Resent-Date/From/To/Message-ID` prepended. The recipient sees the
//!   original sender and can reply to them directly. (A receiving server that checks the
//!   original sender's SPF/DKIM policy may treat a re-sent message with suspicion; the
//!   attachment shape does not have that problem.)
//!
//! Both carry `X-Forwarded-For` (the address the original reached), `X-Forwarded-To` (the
//! target), every earlier `X-Switchboard-Forwarded` mark and this installation's own, and a
//! Message-ID / Resent-Message-ID of the form `<sbfwd.DELIVERY.INSTALL@domain>` — the same for
//! every attempt of a delivery. [`crate::headers::loop_reason`] recognises all of these when
//! the forward comes back through sync, and the router does not route it again.

use std::time::SystemTime;

use lettre::message::header::{Date, HeaderName, HeaderValue, Headers};
use lettre::message::{MultiPart, SinglePart};
use serde::{Deserialize, Serialize};

use crate::compose::{forward_subject, parse_mailbox, ComposeError, Identity};
use crate::headers::{crlf, forward_marks, forward_message_id, header_values, FORWARDED_HEADER};

/// How a forwarded message carries the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardMode {
    /// A new message with the original attached (message/rfc822).
    #[default]
    Attachment,
    /// The original re-sent as it is, with Resent-* fields.
    Inline,
}

impl std::str::FromStr for ForwardMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "attachment" => Ok(ForwardMode::Attachment),
            "inline" => Ok(ForwardMode::Inline),
            _ => Err(format!("forward mode '{s}' is not attachment or inline")),
        }
    }
}

/// One forward to build.
#[derive(Debug, Clone)]
pub struct Forward<'a> {
    pub original: &'a [u8],
    pub from: &'a Identity,
    pub to: &'a str,
    pub mode: ForwardMode,
    pub install_id: &'a str,
    pub delivery_id: i64,
    pub date: SystemTime,
    /// The address the original reached (the account's), for X-Forwarded-For.
    pub original_recipient: Option<&'a str>,
}

/// The bytes to submit and the envelope recipient.
#[derive(Debug, Clone)]
pub struct BuiltForward {
    pub raw: Vec<u8>,
    pub envelope_from: String,
    pub recipient: String,
    pub message_id: String,
}

fn header(name: &str, value: &str) -> Result<HeaderValue, ComposeError> {
    let name = HeaderName::new_from_ascii(name.to_string())
        .map_err(|e| ComposeError::Build(format!("header name {name}: {e}")))?;
    Ok(HeaderValue::new(name, value.to_string()))
}

/// A header value safe to place raw: no line breaks (a hostile original cannot inject fields
/// through a carried-over value).
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

fn rfc5322_date(t: SystemTime) -> String {
    let mut h = Headers::new();
    h.set(Date::new(t));
    let line = h.to_string();
    line.trim_start_matches("Date:").trim().to_string()
}

pub fn build_forward(f: &Forward<'_>) -> Result<BuiltForward, ComposeError> {
    let from = f.from.mailbox()?;
    let to = parse_mailbox("forward address", f.to)?;
    let message_id = forward_message_id(f.delivery_id, f.install_id, f.from.domain());
    let earlier_marks: Vec<String> = forward_marks(f.original)
        .iter()
        .map(|m| one_line(m))
        .collect();
    let forwarded_for = f.original_recipient.map(one_line);
    match f.mode {
        ForwardMode::Inline => {
            let mut head = String::new();
            head.push_str(&format!("Resent-Date: {}\r\n", rfc5322_date(f.date)));
            head.push_str(&format!("Resent-From: <{}>\r\n", from.email));
            head.push_str(&format!("Resent-To: <{}>\r\n", to.email));
            head.push_str(&format!("Resent-Message-ID: {message_id}\r\n"));
            if let Some(addr) = &forwarded_for {
                head.push_str(&format!("X-Forwarded-For: {addr}\r\n"));
            }
            head.push_str(&format!("X-Forwarded-To: {}\r\n", to.email));
            // Earlier marks stay where they are in the original's header.
            head.push_str(&format!("{FORWARDED_HEADER}: {}\r\n", f.install_id));
            let mut raw = head.into_bytes();
            raw.extend_from_slice(&crlf(f.original));
            Ok(BuiltForward {
                raw,
                envelope_from: from.email.to_string(),
                recipient: to.email.to_string(),
                message_id,
            })
        }
        ForwardMode::Attachment => {
            let original = switchboard_model::parse(f.original);
            let sender = original
                .from
                .first()
                .map(|a| match &a.name {
                    Some(n) => format!("{n} <{}>", a.email),
                    None => a.email.clone(),
                })
                .unwrap_or_else(|| "(no sender)".into());
            let date = header_values(f.original, "Date")
                .into_iter()
                .next()
                .unwrap_or_else(|| "(no date)".into());
            let recipients: Vec<String> = original.to.iter().map(|a| a.email.clone()).collect();
            let intro = format!(
                "---------- Forwarded message ----------\nFrom: {}\nDate: {}\nSubject: {}\nTo: {}\n\n\
                 The original message is attached.\n",
                one_line(&sender),
                one_line(&date),
                one_line(&original.subject),
                recipients.join(", ")
            );
            let mut message = lettre::Message::builder()
                .from(from.clone())
                .to(to.clone())
                .subject(forward_subject(&original.subject))
                .date(f.date)
                .message_id(Some(message_id.clone()))
                .user_agent(format!("Switchboard {}", env!("CARGO_PKG_VERSION")))
                .multipart(
                    MultiPart::mixed()
                        .singlepart(SinglePart::plain(intro))
                        .singlepart(crate::compose::message_part(f.original)),
                )
                .map_err(|e| ComposeError::Build(e.to_string()))?;
            let headers = message.headers_mut();
            if let Some(addr) = &forwarded_for {
                headers.insert_raw(header("X-Forwarded-For", addr)?);
            }
            headers.insert_raw(header("X-Forwarded-To", to.email.as_ref())?);
            // One field listing the chain: lettre keeps one field per name.
            let mut marks = earlier_marks;
            marks.push(f.install_id.to_string());
            headers.insert_raw(header(FORWARDED_HEADER, &marks.join(", "))?);
            Ok(BuiltForward {
                raw: message.formatted(),
                envelope_from: from.email.to_string(),
                recipient: to.email.to_string(),
                message_id,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::{forward_marks, header_fields, loop_reason};

    const INSTALL: &str = "0123456789abcdef0123456789abcdef";

    fn me() -> Identity {
        Identity {
            name: Some("Alice".into()),
            address: "alice@example.org".into(),
        }
    }

    const ORIGINAL: &[u8] = b"Message-ID: <orig@x.org>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\
From: Bob <bob@x.org>\r\nTo: alice@example.org\r\nSubject: Quarterly\r\n\r\nNumbers attached.\r\n";

    fn forward(mode: ForwardMode, original: &[u8]) -> BuiltForward {
        build_forward(&Forward {
            original,
            from: &me(),
            to: "phone@example.net",
            mode,
            install_id: INSTALL,
            delivery_id: 7,
            date: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_770_000_000),
            original_recipient: Some("alice@example.org"),
        })
        .unwrap()
    }

    #[test]
    fn attachment_forward_keeps_the_original_and_marks_itself() {
        let f = forward(ForwardMode::Attachment, ORIGINAL);
        assert_eq!(f.recipient, "phone@example.net");
        assert_eq!(f.message_id, format!("<sbfwd.7.{INSTALL}@example.org>"));
        let parsed = switchboard_model::parse(&f.raw);
        assert_eq!(parsed.subject, "Fwd: Quarterly");
        assert_eq!(parsed.from[0].email, "alice@example.org");
        assert_eq!(parsed.to[0].email, "phone@example.net");
        assert!(parsed.text_body.unwrap().contains("From: Bob <bob@x.org>"));
        let (meta, bytes) = switchboard_model::attachment_body(&f.raw, 0).unwrap();
        assert_eq!(meta.content_type, "message/rfc822");
        assert_eq!(bytes, ORIGINAL);
        assert_eq!(
            header_values(&f.raw, "X-Forwarded-To"),
            vec!["phone@example.net"]
        );
        assert_eq!(
            header_values(&f.raw, "X-Forwarded-For"),
            vec!["alice@example.org"]
        );
        assert_eq!(header_values(&f.raw, FORWARDED_HEADER), vec![INSTALL]);
        assert!(
            loop_reason(&f.raw, INSTALL).is_some(),
            "it is recognised when it comes back"
        );
        assert!(loop_reason(&f.raw, "another-install").is_none());
    }

    #[test]
    fn inline_forward_is_the_original_with_resent_fields() {
        let f = forward(ForwardMode::Inline, ORIGINAL);
        let fields = header_fields(&f.raw);
        let names: Vec<&str> = fields.iter().take(7).map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "Resent-Date",
                "Resent-From",
                "Resent-To",
                "Resent-Message-ID",
                "X-Forwarded-For",
                "X-Forwarded-To",
                FORWARDED_HEADER
            ]
        );
        assert!(f.raw.ends_with(ORIGINAL), "the original follows unchanged");
        let parsed = switchboard_model::parse(&f.raw);
        assert_eq!(parsed.message_key, "orig@x.org", "same message, same id");
        assert_eq!(parsed.from[0].email, "bob@x.org");
        assert!(loop_reason(&f.raw, INSTALL).is_some());
    }

    #[test]
    fn earlier_marks_are_carried_and_hostile_values_stay_on_one_line() {
        let chained = b"X-Switchboard-Forwarded: other-install\r\nMessage-ID: <c@x>\r\n\
From: bob@x.org\r\nSubject: s\r\n\r\nbody\r\n";
        let f = forward(ForwardMode::Attachment, chained);
        assert_eq!(forward_marks(&f.raw), vec!["other-install", INSTALL]);
        let hostile = b"From: bob@x.org\r\nSubject: s\r\nDate: x\r\n\r\nbody\n";
        let f = forward(ForwardMode::Attachment, hostile);
        assert!(header_values(&f.raw, "Bcc").is_empty());
        // LF-only originals are sent with CRLF.
        let lf = b"From: bob@x.org\nSubject: lf\n\nline one\nline two\n";
        let f = forward(ForwardMode::Inline, lf);
        assert!(f.raw.ends_with(b"line one\r\nline two\r\n"));
        assert!(!f.raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
    }

    #[test]
    fn a_bad_target_is_named() {
        let e = build_forward(&Forward {
            original: ORIGINAL,
            from: &me(),
            to: "nope",
            mode: ForwardMode::Attachment,
            install_id: INSTALL,
            delivery_id: 1,
            date: SystemTime::now(),
            original_recipient: None,
        })
        .unwrap_err();
        assert!(e.to_string().contains("forward address 'nope'"), "{e}");
    }
}
