//! The uniform message: what Switchboard makes of an RFC 5322 / MIME message, whatever account
//! or protocol it came through.
//!
//! [`parse`] turns raw bytes into a [`UniformMessage`] in one pass of `mail-parser`. It never
//! fails and never panics: damaged, truncated or hostile input still yields a message, and
//! whatever had to be guessed or repaired is described in
//! [`UniformMessage::parse_problems`] as a sentence naming the field or part, for example:
//!
//! * `Date header 'next tuesday' is not a valid date`
//! * `Message-ID header is missing; the key is derived from the content`
//! * `Subject header is not valid UTF-8; decoded as latin-1`
//! * `part 3 (application/pdf, 'report.pdf'): base64 body is corrupt; 4 invalid characters were skipped`
//! * `part 1 (text/plain): charset 'x-unknown' is unknown; decoded as latin-1`
//! * `part 2 (text/plain): the closing MIME boundary is missing; the message may be truncated`
//!
//! Parts are numbered in document order with the top-level entity as part 0. The list is capped
//! (a final sentence counts the rest), so a hostile message cannot inflate it.
//!
//! mail-parser itself is written not to panic, but its `debug_assert!`s do fire on some
//! malformed MIME in builds with debug assertions. Such a panic is caught (this needs the
//! default `panic = "unwind"`): the header block is still read, the body is kept as undecoded
//! text and a problem says so.
//!
//! # Identity and deduplication
//!
//! A message is identified by [`UniformMessage::message_key`]:
//!
//! * the normalised Message-ID ([`normalize_message_id`]: brackets, whitespace and comments
//!   removed, the domain part lower-cased, the left part kept as written), with
//!   `has_message_id == true`;
//! * or, when the Message-ID is missing, empty or not an id, a **synthetic key**
//!   `"<64 hex>@synthetic.switchboard.invalid"` with `has_message_id == false`. The hex is the
//!   SHA-256 of a canonical form: the decoded (RFC 2047), whitespace-collapsed values of From,
//!   To, Cc, Date and Subject (first occurrence of each, empty when absent), one per line, then a
//!   blank line, then the body bytes after the header block with line endings normalised to LF,
//!   trailing whitespace removed from every line and trailing blank lines removed. The same
//!   message fetched over IMAP (CRLF) and POP3 (perhaps LF, perhaps with or without a final
//!   CRLF) therefore gets the same key. When none of the five fields is present, the whole
//!   input takes the place of the body, so two different header-only messages cannot collide
//!   (and then be merged by `content_matches`, which compares exactly those fields).
//!
//! A Message-ID is only a claim made by the sender, and some senders reuse one for different
//! messages. Two stored messages with the same key are the **same** message only when
//! [`content_matches`] agrees; otherwise both are kept. `content_matches(a, b)` requires:
//!
//! 1. the same key;
//! 2. the same first From address (compared case-insensitively);
//! 3. the same `date`;
//! 4. the same subject after removing leading `[tag]` groups and collapsing whitespace — a
//!    mailing list adds `[list] `; "Re:"/"Fwd:" are *not* removed, a reply is another message;
//! 5. the normalised body text of one (see [`search_text`], whitespace runs collapsed to one
//!    space, trimmed) is a **prefix** of the other's — so the copy that went through a mailing
//!    list which appended a footer still matches, while the same id with a different body does
//!    not. An empty body is a prefix of every body, so a header-only copy matches the full one.
//!
//! # What goes where
//!
//! * `text_body` is the plain-text body (several inline text parts are joined with a newline);
//!   it stays `None` for an HTML-only message rather than holding a conversion. `html_body` is
//!   the HTML body as sent, **not sanitised**: whoever displays it must sanitise it
//!   ([`sanitize::sanitize_html`]).
//! * `attachments` lists every non-body part in document order, inline images included. A
//!   message/rfc822 attachment is one attachment (its own attachments are not flattened into
//!   the outer message); [`attachment_body`] returns it as raw message bytes, ready to be
//!   parsed in turn.
//! * `size` is the raw length; attachment sizes are decoded sizes.
//!
//! # Cost
//!
//! `parse` is one mail-parser pass plus linear checks; attachment sizes come from the decoded
//! buffers mail-parser already made, so nothing large is copied. [`search_text`] builds its text
//! only when called. The synthetic key hashes the body, but only for messages without an id.

mod convert;
mod decode;
mod identity;
mod ids;
mod rfc2231;
pub mod sanitize;
mod text;

use serde::{Deserialize, Serialize};

pub use identity::{content_matches, is_synthetic_key, SYNTHETIC_KEY_DOMAIN};
pub use ids::normalize_message_id;

/// One mailbox from an address header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Address {
    /// The display name, RFC 2047 decoded; `None` when absent or blank.
    pub name: Option<String>,
    /// The address as written, trimmed. Empty only for an entry that had a display name but no
    /// address (recorded in `parse_problems`).
    pub email: String,
}

/// What is known about one attachment without holding its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachmentMeta {
    /// Position among the message's attachments, stable for the same raw bytes; pass it to
    /// [`attachment_body`].
    pub index: u32,
    /// The file name, RFC 2231 / RFC 2047 decoded.
    pub filename: Option<String>,
    /// Lower-case `type/subtype`, e.g. `"image/png"`.
    pub content_type: String,
    /// Size in bytes after transfer decoding.
    pub size: u64,
    /// The Content-ID without angle brackets.
    pub content_id: Option<String>,
    /// An image (or other part) shown inside the HTML body: it has a Content-ID and either the
    /// HTML refers to it with `cid:` or its Content-Disposition is `inline`.
    pub inline: bool,
}

/// A message in the uniform format every channel is converted into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniformMessage {
    /// The normalised Message-ID, or a synthetic key (see the crate documentation).
    pub message_key: String,
    /// `false` when `message_key` is synthetic.
    pub has_message_id: bool,
    /// RFC 2047 decoded; empty when absent.
    pub subject: String,
    pub from: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub reply_to: Vec<Address>,
    /// Unix seconds (UTC) from the Date header; `None` when absent or invalid.
    pub date: Option<i64>,
    /// Normalised message ids.
    pub in_reply_to: Vec<String>,
    /// Normalised message ids, in header order, without duplicates.
    pub references: Vec<String>,
    /// The list identifier from List-Id, without the phrase and brackets.
    pub list_id: Option<String>,
    /// The plain-text body, decoded; `None` for an HTML-only message.
    pub text_body: Option<String>,
    /// The HTML body, decoded, not sanitised.
    pub html_body: Option<String>,
    pub attachments: Vec<AttachmentMeta>,
    /// Length of the raw message in bytes.
    pub size: u64,
    /// What had to be repaired or guessed, as sentences naming the field or part.
    pub parse_problems: Vec<String>,
}

/// Parses a raw RFC 5322 message. Never panics and never fails; see the crate documentation.
pub fn parse(raw: &[u8]) -> UniformMessage {
    convert::convert(raw).0
}

/// The decoded bytes of attachment `index` (as in [`AttachmentMeta::index`]) with its metadata,
/// or `None` when the message has no such attachment. Parses `raw` again: attachments are
/// fetched rarely and one at a time, and keeping every attachment's bytes around after
/// [`parse`] would cost far more during a sync.
pub fn attachment_body(raw: &[u8], index: u32) -> Option<(AttachmentMeta, Vec<u8>)> {
    let (message, mime) = convert::convert(raw);
    let meta = message.attachments.get(index as usize)?.clone();
    let mut mime = mime?;
    let part_id = *mime.attachment_parts.get(index as usize)?;
    let part = mime.message.parts.get_mut(part_id as usize)?;
    let bytes = convert::take_attachment_bytes(raw, part);
    Some((meta, bytes))
}

/// Plain text for full-text indexing: the text body, or else the HTML body with tags removed
/// and character references decoded, or else the empty string.
pub fn search_text(m: &UniformMessage) -> String {
    search_text_of(m.text_body.as_deref(), m.html_body.as_deref())
}

/// [`search_text`] from the two bodies as stored.
pub fn search_text_of(text_body: Option<&str>, html_body: Option<&str>) -> String {
    match (text_body, html_body) {
        (Some(text), _) => text.to_string(),
        (None, Some(html)) => text::html_to_text(html),
        (None, None) => String::new(),
    }
}
