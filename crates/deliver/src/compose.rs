//! Writing mail: new messages, replies (with In-Reply-To and References per RFC 5322
//! §3.6.4) and forwards, as RFC 5322 bytes ready for submission. Pure: the caller supplies the
//! original message, the identity, the time and the Message-ID.

use std::str::FromStr;
use std::time::SystemTime;

use lettre::message::header::{ContentDisposition, ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Address;
use switchboard_model::UniformMessage;

/// Why mail could not be written; names the field and the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ComposeError {
    #[error("{field} '{value}' is not a usable mail address: {reason}")]
    BadAddress {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("{0}")]
    Missing(String),
    #[error("cannot build the message: {0}")]
    Build(String),
}

/// Who mail is sent as: an account's outgoing identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: Option<String>,
    pub address: String,
}

impl Identity {
    pub fn mailbox(&self) -> Result<Mailbox, ComposeError> {
        let address = parse_address("from", &self.address)?;
        Ok(Mailbox::new(
            self.name.clone().filter(|n| !n.trim().is_empty()),
            address,
        ))
    }

    /// The domain part of the address (for Message-IDs).
    pub fn domain(&self) -> &str {
        self.address
            .rsplit_once('@')
            .map(|(_, d)| d)
            .filter(|d| !d.is_empty())
            .unwrap_or("switchboard.invalid")
    }
}

fn parse_address(field: &'static str, value: &str) -> Result<Address, ComposeError> {
    Address::from_str(value.trim()).map_err(|e| ComposeError::BadAddress {
        field,
        value: value.to_string(),
        reason: e.to_string(),
    })
}

/// Reads `addr@example.org` or `Name <addr@example.org>`.
pub fn parse_mailbox(field: &'static str, value: &str) -> Result<Mailbox, ComposeError> {
    Mailbox::from_str(value.trim()).map_err(|e| ComposeError::BadAddress {
        field,
        value: value.to_string(),
        reason: e.to_string(),
    })
}

/// A fresh Message-ID for mail written here: random, time-stamped, in the sender's domain.
pub fn new_message_id(domain: &str) -> String {
    let mut bytes = [0u8; 12];
    // A failed random source still leaves the time and process id to make it unique.
    let _ = getrandom::getrandom(&mut bytes);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!(
        "<sb.{now:x}.{}.{:x}@{domain}>",
        hex::encode(bytes),
        std::process::id()
    )
}

fn has_prefix(subject: &str, prefixes: &[&str]) -> bool {
    let s = subject.trim_start();
    prefixes.iter().any(|p| {
        s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p)
    })
}

/// "Re: subject", without piling up prefixes.
pub fn reply_subject(subject: &str) -> String {
    if has_prefix(subject, &["re:"]) {
        subject.trim().to_string()
    } else {
        format!("Re: {}", subject.trim())
    }
}

/// "Fwd: subject", without piling up prefixes.
pub fn forward_subject(subject: &str) -> String {
    if has_prefix(subject, &["fwd:", "fw:"]) {
        subject.trim().to_string()
    } else {
        format!("Fwd: {}", subject.trim())
    }
}

/// In-Reply-To and References of a reply (RFC 5322 §3.6.4): the parent's id; the parent's
/// References (or, lacking them, its single In-Reply-To) followed by the parent's id. A
/// parent without a Message-ID of its own gives nothing to refer to.
pub fn reply_threading(parent: &UniformMessage) -> (Option<String>, Vec<String>) {
    if !parent.has_message_id {
        return (None, Vec::new());
    }
    let mut refs: Vec<String> = if !parent.references.is_empty() {
        parent.references.clone()
    } else if parent.in_reply_to.len() == 1 {
        parent.in_reply_to.clone()
    } else {
        Vec::new()
    };
    refs.retain(|r| *r != parent.message_key);
    refs.push(parent.message_key.clone());
    (Some(parent.message_key.clone()), refs)
}

fn same_address(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

fn mailbox_text(a: &switchboard_model::Address) -> String {
    match &a.name {
        Some(n) => format!("{n} <{}>", a.email),
        None => a.email.clone(),
    }
}

/// To and Cc of a reply: the parent's Reply-To (else From); with `all`, also everyone else
/// the parent went to, except this account's own addresses and duplicates. Replying to one's
/// own message goes to its recipients.
pub fn reply_recipients(
    parent: &UniformMessage,
    own: &[String],
    all: bool,
) -> (Vec<String>, Vec<String>) {
    let mine = |email: &str| own.iter().any(|o| same_address(o, email));
    let mut seen: Vec<String> = Vec::new();
    let mut take = |list: &mut Vec<String>, a: &switchboard_model::Address| {
        if a.email.is_empty() || mine(&a.email) || seen.iter().any(|s| same_address(s, &a.email)) {
            return;
        }
        seen.push(a.email.clone());
        list.push(mailbox_text(a));
    };
    let primary = if parent.reply_to.is_empty() {
        &parent.from
    } else {
        &parent.reply_to
    };
    let mut to = Vec::new();
    for a in primary {
        take(&mut to, a);
    }
    if to.is_empty() {
        for a in &parent.to {
            take(&mut to, a);
        }
    }
    let mut cc = Vec::new();
    if all {
        for a in parent.to.iter().chain(parent.cc.iter()) {
            take(&mut cc, a);
        }
    }
    (to, cc)
}

/// Mail written here, before it becomes bytes.
#[derive(Debug, Clone)]
pub struct Draft {
    pub from: Identity,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub body: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// A message to attach as message/rfc822 (forwarding).
    pub attach_message: Option<Vec<u8>>,
    pub message_id: String,
    pub date: SystemTime,
    /// Further header fields (name, value), e.g. a forward mark.
    pub extra_headers: Vec<(String, String)>,
}

/// What a built draft is: its bytes, and the envelope.
#[derive(Debug, Clone)]
pub struct Built {
    pub raw: Vec<u8>,
    pub envelope_from: String,
    pub recipients: Vec<String>,
}

fn angle(id: &str) -> String {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    format!("<{id}>")
}

/// The original message as an attachment part: message/rfc822 when it can travel as 7bit or
/// 8bit (RFC 2046 forbids base64 there), else as an .eml file in base64.
pub(crate) fn message_part(original: &[u8]) -> SinglePart {
    let raw = crate::headers::crlf(original);
    let seven = raw.is_ascii();
    let encoding = if seven {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    match Body::new_with_encoding(raw, encoding) {
        Ok(body) => SinglePart::builder()
            .header(ContentType::parse("message/rfc822").unwrap_or(ContentType::TEXT_PLAIN))
            .header(ContentDisposition::attachment("forwarded-message.eml"))
            .body(body),
        Err(raw) => SinglePart::builder()
            .header(
                ContentType::parse("application/octet-stream").unwrap_or(ContentType::TEXT_PLAIN),
            )
            .header(ContentDisposition::attachment("forwarded-message.eml"))
            .body(Body::new(raw)),
    }
}

/// Builds the message. Every address is checked; errors name the field.
pub fn build_draft(d: &Draft) -> Result<Built, ComposeError> {
    if d.to.is_empty() && d.cc.is_empty() {
        return Err(ComposeError::Missing(
            "no recipient: give at least one --to (or --cc)".into(),
        ));
    }
    let from = d.from.mailbox()?;
    let mut b = lettre::Message::builder()
        .from(from.clone())
        .subject(d.subject.clone())
        .date(d.date)
        .message_id(Some(angle(&d.message_id)))
        .user_agent(format!("Switchboard {}", env!("CARGO_PKG_VERSION")));
    let mut recipients = Vec::new();
    for t in &d.to {
        let m = parse_mailbox("to", t)?;
        recipients.push(m.email.to_string());
        b = b.to(m);
    }
    for c in &d.cc {
        let m = parse_mailbox("cc", c)?;
        recipients.push(m.email.to_string());
        b = b.cc(m);
    }
    if let Some(parent) = &d.in_reply_to {
        b = b.in_reply_to(angle(parent));
    }
    if !d.references.is_empty() {
        let refs: Vec<String> = d.references.iter().map(|r| angle(r)).collect();
        b = b.references(refs.join(" "));
    }
    let text = SinglePart::plain(d.body.clone());
    let message = match &d.attach_message {
        Some(original) => b.multipart(
            MultiPart::mixed()
                .singlepart(text)
                .singlepart(message_part(original)),
        ),
        None => b.singlepart(text),
    }
    .map_err(|e| ComposeError::Build(e.to_string()))?;
    let mut message = message;
    for (name, value) in &d.extra_headers {
        let name = lettre::message::header::HeaderName::new_from_ascii(name.clone())
            .map_err(|e| ComposeError::Build(format!("header name {name}: {e}")))?;
        let value: String = value
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        message
            .headers_mut()
            .insert_raw(lettre::message::header::HeaderValue::new(name, value));
    }
    Ok(Built {
        raw: message.formatted(),
        envelope_from: from.email.to_string(),
        recipients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::header_values;

    fn parent(raw: &str) -> UniformMessage {
        switchboard_model::parse(raw.as_bytes())
    }

    fn me() -> Identity {
        Identity {
            name: Some("Alice Example".into()),
            address: "alice@example.org".into(),
        }
    }

    #[test]
    fn subjects_get_one_prefix() {
        assert_eq!(reply_subject("Lunch"), "Re: Lunch");
        assert_eq!(reply_subject("RE: Lunch"), "RE: Lunch");
        assert_eq!(reply_subject(""), "Re: ");
        assert_eq!(forward_subject("Lunch"), "Fwd: Lunch");
        assert_eq!(forward_subject("FW: Lunch"), "FW: Lunch");
        assert_eq!(forward_subject("Re: Lunch"), "Fwd: Re: Lunch");
        assert_eq!(reply_subject("Résumé"), "Re: Résumé");
        assert_eq!(reply_subject("é"), "Re: é");
    }

    #[test]
    fn replies_thread_per_rfc_5322() {
        let p = parent(
            "Message-ID: <c@x>\r\nIn-Reply-To: <b@x>\r\nReferences: <a@x> <b@x>\r\n\
             From: bob@x\r\nSubject: s\r\n\r\nbody",
        );
        let (irt, refs) = reply_threading(&p);
        assert_eq!(irt.as_deref(), Some("c@x"));
        assert_eq!(refs, vec!["a@x", "b@x", "c@x"]);

        let only_irt = parent("Message-ID: <c@x>\r\nIn-Reply-To: <b@x>\r\nFrom: bob@x\r\n\r\n");
        assert_eq!(reply_threading(&only_irt).1, vec!["b@x", "c@x"]);

        let first = parent("Message-ID: <c@x>\r\nFrom: bob@x\r\n\r\n");
        assert_eq!(reply_threading(&first).1, vec!["c@x"]);

        let no_id = parent("From: bob@x\r\nSubject: s\r\n\r\nbody");
        assert_eq!(reply_threading(&no_id), (None, vec![]));
    }

    #[test]
    fn reply_all_leaves_out_oneself_and_duplicates() {
        let p = parent(
            "Message-ID: <c@x>\r\nFrom: Bob <bob@x.org>\r\nTo: alice@example.org, Carol <carol@x.org>\r\n\
             Cc: BOB@x.org, dave@x.org\r\n\r\n",
        );
        let own = vec!["alice@example.org".to_string()];
        assert_eq!(
            reply_recipients(&p, &own, false),
            (vec!["Bob <bob@x.org>".to_string()], vec![])
        );
        let (to, cc) = reply_recipients(&p, &own, true);
        assert_eq!(to, vec!["Bob <bob@x.org>"]);
        assert_eq!(cc, vec!["Carol <carol@x.org>", "dave@x.org"]);

        let with_reply_to =
            parent("Message-ID: <c@x>\r\nFrom: bob@x.org\r\nReply-To: list@x.org\r\n\r\n");
        assert_eq!(
            reply_recipients(&with_reply_to, &own, false).0,
            vec!["list@x.org"]
        );
    }

    #[test]
    fn drafts_build_with_threading_headers() {
        let d = Draft {
            from: me(),
            to: vec!["Bob <bob@example.net>".into()],
            cc: vec!["carol@example.net".into()],
            subject: "Re: Lunch ünd more".into(),
            body: "Yes.\nSee you.".into(),
            in_reply_to: Some("c@x".into()),
            references: vec!["a@x".into(), "c@x".into()],
            attach_message: None,
            message_id: new_message_id("example.org"),
            date: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
            extra_headers: vec![("X-Test".into(), "one\r\nBcc: injected".into())],
        };
        let built = build_draft(&d).unwrap();
        assert_eq!(built.envelope_from, "alice@example.org");
        assert_eq!(
            built.recipients,
            vec!["bob@example.net", "carol@example.net"]
        );
        assert_eq!(header_values(&built.raw, "In-Reply-To"), vec!["<c@x>"]);
        assert_eq!(header_values(&built.raw, "References"), vec!["<a@x> <c@x>"]);
        assert_eq!(
            header_values(&built.raw, "X-Test"),
            vec!["one  Bcc: injected"]
        );
        assert!(header_values(&built.raw, "Bcc").is_empty());
        let parsed = switchboard_model::parse(&built.raw);
        assert_eq!(parsed.subject, "Re: Lunch ünd more");
        assert_eq!(parsed.from[0].email, "alice@example.org");
        assert_eq!(parsed.from[0].name.as_deref(), Some("Alice Example"));
        assert_eq!(parsed.in_reply_to, vec!["c@x"]);
        assert!(parsed.text_body.unwrap().contains("See you."));
    }

    #[test]
    fn bad_addresses_are_named() {
        let mut d = Draft {
            from: me(),
            to: vec!["not an address".into()],
            cc: vec![],
            subject: "s".into(),
            body: "b".into(),
            in_reply_to: None,
            references: vec![],
            attach_message: None,
            message_id: "<x@y>".into(),
            date: SystemTime::now(),
            extra_headers: vec![],
        };
        let e = build_draft(&d).unwrap_err().to_string();
        assert!(e.contains("to 'not an address'"), "{e}");
        d.to.clear();
        assert!(build_draft(&d)
            .unwrap_err()
            .to_string()
            .contains("no recipient"));
        d.to = vec!["b@x.org".into()];
        d.from.address = "nobody".into();
        assert!(build_draft(&d)
            .unwrap_err()
            .to_string()
            .contains("from 'nobody'"));
    }

    #[test]
    fn forwards_attach_the_original() {
        let original = b"Message-ID: <o@x>\r\nFrom: bob@x.org\r\nSubject: Orig\r\n\r\nthe body\r\n";
        let d = Draft {
            from: me(),
            to: vec!["carol@x.org".into()],
            cc: vec![],
            subject: forward_subject("Orig"),
            body: "FYI".into(),
            in_reply_to: None,
            references: vec![],
            attach_message: Some(original.to_vec()),
            message_id: "<f@example.org>".into(),
            date: SystemTime::now(),
            extra_headers: vec![],
        };
        let built = build_draft(&d).unwrap();
        let parsed = switchboard_model::parse(&built.raw);
        assert_eq!(parsed.subject, "Fwd: Orig");
        assert_eq!(parsed.attachments.len(), 1);
        assert_eq!(parsed.attachments[0].content_type, "message/rfc822");
        let (_, bytes) = switchboard_model::attachment_body(&built.raw, 0).unwrap();
        assert_eq!(switchboard_model::parse(&bytes).subject, "Orig");
    }
}
