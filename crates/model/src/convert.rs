//! RFC 5322 / MIME bytes to [`UniformMessage`], on top of one mail-parser pass.
//!
//! mail-parser does the heavy lifting (header parsing, MIME structure, transfer and charset
//! decoding). This module reads its result and repairs the places where mail-parser is silently
//! lossy, recording each repair in `parse_problems`:
//!
//! * header bytes that are not UTF-8 are decoded as latin-1 instead of becoming U+FFFD;
//! * a last header with no line ending (mail-parser drops its value) is re-read;
//! * a part with corrupt base64 (mail-parser keeps it undecoded) is decoded leniently;
//! * text in an unknown charset, or mislabelled as UTF-8, is decoded as latin-1.

use std::borrow::Cow;
use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;

use mail_parser::parsers::MessageStream;
use mail_parser::{
    Addr, Address as MpAddress, Header, HeaderName, HeaderValue, Message, MessageParser,
    MessagePart, MimeHeaders, PartType,
};

use crate::decode::{
    decode_charset, decode_transfer, decoded_len, latin1, needs_recharset, snippet,
    TransferEncoding,
};
use crate::{identity, ids, rfc2231, text, Address, AttachmentMeta, UniformMessage};

/// Beyond this many problems the list only says how many more there were: a hostile message
/// with 100,000 broken parts must not produce 100,000 sentences.
const MAX_PROBLEMS: usize = 64;

#[derive(Default)]
pub(crate) struct Problems {
    list: Vec<String>,
    unlisted: usize,
}

impl Problems {
    pub(crate) fn push(&mut self, problem: impl FnOnce() -> String) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(problem());
        } else {
            self.unlisted += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.unlisted > 0 {
            self.list
                .push(format!("{} more problems were not listed", self.unlisted));
        }
        self.list
    }
}

/// mail-parser's result for one message, kept for callers that need more than the uniform view
/// (attachment bytes). Dropping it tears nested messages down iteratively: mail-parser's own
/// recursive drop overflows the stack on a few hundred thousand nested message/rfc822 parts,
/// which an attacker can fit into a few megabytes.
pub(crate) struct Mime<'x> {
    pub(crate) message: Message<'x>,
    /// For each entry of `UniformMessage::attachments`, the mail-parser part it came from.
    pub(crate) attachment_parts: Vec<u32>,
}

impl Drop for Mime<'_> {
    fn drop(&mut self) {
        let mut pending = vec![std::mem::take(&mut self.message)];
        while let Some(mut message) = pending.pop() {
            for part in &mut message.parts {
                if matches!(part.body, PartType::Message(_)) {
                    if let PartType::Message(nested) = std::mem::take(&mut part.body) {
                        pending.push(nested);
                    }
                }
            }
        }
    }
}

/// Header parsing is configured once: only the fields we read are parsed, everything else is
/// skipped, which spares the cost of parsing e.g. a dozen Received headers per message.
fn parser() -> &'static MessageParser {
    static PARSER: OnceLock<MessageParser> = OnceLock::new();
    PARSER.get_or_init(|| {
        MessageParser::new()
            .with_mime_headers()
            .header_address(HeaderName::From)
            .header_address(HeaderName::To)
            .header_address(HeaderName::Cc)
            .header_address(HeaderName::ReplyTo)
            .header_address(HeaderName::ListId)
            .header_text(HeaderName::Subject)
            .header_date(HeaderName::Date)
            .header_id(HeaderName::MessageId)
            .header_id(HeaderName::InReplyTo)
            .header_id(HeaderName::References)
            .default_header_ignore()
    })
}

/// Whether mail-parser found at least one real header field. On input that is not a message at
/// all it may still report one "header" whose name is a run of binary junk; treating that as a
/// message would hide the whole input inside a header value instead of keeping it as text.
fn has_plausible_headers(message: &Message<'_>) -> bool {
    let Some(root) = message.parts.first() else {
        return false;
    };
    root.headers.iter().any(|header| match &header.name {
        HeaderName::Other(name) => {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
        }
        _ => true,
    })
}

/// What mail-parser made of the input.
enum Parsed<'x> {
    Full(Message<'x>),
    /// The full parse panicked but the header block could still be read.
    HeadersOnly(Message<'x>),
    Nothing {
        parser_failed: bool,
    },
}

/// Keeps only results with real header fields; junk is torn down through [`Mime`]'s drop.
fn plausible(message: Message<'_>) -> Option<Message<'_>> {
    if has_plausible_headers(&message) {
        Some(message)
    } else {
        drop(Mime {
            message,
            attachment_parts: Vec::new(),
        });
        None
    }
}

/// Runs mail-parser. It is written to never panic, but it is a dependency fed with hostile
/// input (and its `debug_assert!`s do fire on malformed MIME in debug builds), so a panic is
/// caught and the header block alone is read instead; the mail is kept either way.
fn run_mail_parser(raw: &[u8]) -> Parsed<'_> {
    match catch_unwind(AssertUnwindSafe(|| parser().parse(raw))) {
        Ok(parsed) => match parsed.and_then(plausible) {
            Some(message) => Parsed::Full(message),
            None => Parsed::Nothing {
                parser_failed: false,
            },
        },
        Err(_) => match catch_unwind(AssertUnwindSafe(|| parser().parse_headers(raw))) {
            Ok(Some(message)) => match plausible(message) {
                Some(message) => Parsed::HeadersOnly(message),
                None => Parsed::Nothing {
                    parser_failed: true,
                },
            },
            _ => Parsed::Nothing {
                parser_failed: true,
            },
        },
    }
}

/// Where the header block ends (after the first empty line), for the rare case where mail-parser
/// could not tell us.
fn header_block_end(raw: &[u8]) -> usize {
    let mut line_start = 0;
    for (pos, &byte) in raw.iter().enumerate() {
        if byte == b'\n' {
            let line = raw.get(line_start..pos).unwrap_or_default();
            if line.is_empty() || line == b"\r" {
                return pos + 1;
            }
            line_start = pos + 1;
        }
    }
    raw.len()
}

fn text_of(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_string(),
        Err(_) => latin1(bytes),
    }
}

pub(crate) fn convert(raw: &[u8]) -> (UniformMessage, Option<Mime<'_>>) {
    let mut problems = Problems::default();
    let mut out = UniformMessage {
        message_key: String::new(),
        has_message_id: false,
        subject: String::new(),
        from: Vec::new(),
        to: Vec::new(),
        cc: Vec::new(),
        reply_to: Vec::new(),
        date: None,
        in_reply_to: Vec::new(),
        references: Vec::new(),
        list_id: None,
        text_body: None,
        html_body: None,
        attachments: Vec::new(),
        size: raw.len() as u64,
        parse_problems: Vec::new(),
    };

    let message = match run_mail_parser(raw) {
        Parsed::Full(message) => message,
        Parsed::HeadersOnly(message) => {
            problems.push(|| {
                "the MIME parser failed on this message; the body is kept as undecoded text".into()
            });
            let headers = message
                .parts
                .first()
                .map(|root| root.headers.as_slice())
                .unwrap_or_default();
            let body_offset = header_block_end(raw);
            read_headers(raw, headers, &mut out, &mut problems);
            if out.message_key.is_empty() {
                out.message_key = identity::synthetic_key(raw, headers, body_offset);
            }
            out.text_body = Some(text_of(raw.get(body_offset..).unwrap_or_default()));
            out.parse_problems = problems.finish();
            drop(Mime {
                message,
                attachment_parts: Vec::new(),
            });
            return (out, None);
        }
        Parsed::Nothing { parser_failed } => {
            if parser_failed {
                problems.push(|| {
                    "the MIME parser failed on this input; the whole input is kept as the text body"
                        .into()
                });
            } else if raw.is_empty() {
                problems.push(|| "the message is empty".into());
            } else {
                problems.push(|| {
                    "no header fields found; the whole input is kept as the text body".into()
                });
            }
            if !raw.is_empty() {
                out.text_body = Some(text_of(raw));
            }
            out.message_key = identity::synthetic_key(raw, &[], 0);
            out.parse_problems = problems.finish();
            return (out, None);
        }
    };

    let root_headers = message
        .parts
        .first()
        .map(|root| root.headers.as_slice())
        .unwrap_or_default();
    let body_offset = message
        .parts
        .first()
        .map_or(0, |root| root.offset_body as usize);

    read_headers(raw, root_headers, &mut out, &mut problems);
    if out.message_key.is_empty() {
        out.message_key = identity::synthetic_key(raw, root_headers, body_offset);
    }

    for (index, part) in message.parts.iter().enumerate() {
        check_part(raw, index, part, &mut problems);
    }
    out.text_body = join_bodies(raw, &message, &message.text_body, false, &mut problems);
    out.html_body = join_bodies(raw, &message, &message.html_body, true, &mut problems);

    let cid_refs = out
        .html_body
        .as_deref()
        .map(cid_references)
        .unwrap_or_default();
    let mut attachment_parts = Vec::with_capacity(message.attachments.len());
    for &part_id in &message.attachments {
        let Some(part) = message.parts.get(part_id as usize) else {
            continue;
        };
        let index = attachment_parts.len() as u32;
        out.attachments
            .push(attachment_meta(raw, index, part, &cid_refs));
        attachment_parts.push(part_id);
    }

    out.parse_problems = problems.finish();
    (
        out,
        Some(Mime {
            message,
            attachment_parts,
        }),
    )
}

/// Which mail-parser field parser a header needs when it has to be read again.
#[derive(Clone, Copy)]
enum Field {
    Unstructured,
    Address,
    Date,
    Id,
}

/// A root header read robustly: its raw text (for problem sentences) and its parsed value.
struct ReadHeader<'a, 'x> {
    text: Cow<'a, str>,
    value: Cow<'a, HeaderValue<'x>>,
}

fn header_bytes<'r>(raw: &'r [u8], header: &Header<'_>) -> &'r [u8] {
    raw.get(header.offset_start as usize..header.offset_end as usize)
        .unwrap_or_default()
}

/// The raw value of a header as text, decoding latin-1 when it is not UTF-8. The bool says
/// whether that fallback was needed.
fn header_text(bytes: &[u8]) -> (Cow<'_, str>, bool) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Cow::Borrowed(text), false),
        Err(_) => (Cow::Owned(latin1(bytes)), true),
    }
}

fn reparse(text: &str, field: Field) -> HeaderValue<'static> {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    if !line.ends_with('\n') {
        line.push('\n');
    }
    let mut stream = MessageStream::new(line.as_bytes());
    let value = match field {
        Field::Unstructured => stream.parse_unstructured(),
        Field::Address => stream.parse_address(),
        Field::Date => stream.parse_date(),
        Field::Id => stream.parse_id(),
    };
    value.into_owned()
}

fn read_header<'a, 'x>(
    raw: &'a [u8],
    header: &'a Header<'x>,
    field: Field,
    problems: &mut Problems,
) -> ReadHeader<'a, 'x> {
    let bytes = header_bytes(raw, header);
    let (text, was_latin1) = header_text(bytes);
    if was_latin1 {
        problems.push(|| {
            format!(
                "{} header is not valid UTF-8; decoded as latin-1",
                header.name.as_str()
            )
        });
    }
    // mail-parser drops the value of a header that ends at end of input without a newline, and
    // turns non-UTF-8 bytes into U+FFFD; in both cases read the header again from its text.
    let value = if was_latin1 || !bytes.ends_with(b"\n") {
        Cow::Owned(reparse(&text, field))
    } else {
        Cow::Borrowed(&header.value)
    };
    ReadHeader { text, value }
}

/// Decoded (RFC 2047) unstructured text of a header, used for the synthetic key.
pub(crate) fn unstructured_text(raw: &[u8], header: &Header<'_>) -> String {
    let (text, _) = header_text(header_bytes(raw, header));
    match reparse(&text, Field::Unstructured) {
        HeaderValue::Text(value) => text::collapse_whitespace(&value),
        _ => text::collapse_whitespace(&text),
    }
}

fn read_headers(
    raw: &[u8],
    headers: &[Header<'_>],
    out: &mut UniformMessage,
    problems: &mut Problems,
) {
    let mut subject_seen = 0usize;
    let mut date_seen = 0usize;
    let mut id_seen = 0usize;
    let mut list_id_seen = false;
    let mut id_problem: Option<String> = None;
    let mut reference_set = HashSet::new();
    let mut in_reply_to_set = HashSet::new();

    for header in headers {
        match header.name {
            HeaderName::From => {
                let read = read_header(raw, header, Field::Address, problems);
                push_addresses(&read, "From", &mut out.from, problems);
            }
            HeaderName::To => {
                let read = read_header(raw, header, Field::Address, problems);
                push_addresses(&read, "To", &mut out.to, problems);
            }
            HeaderName::Cc => {
                let read = read_header(raw, header, Field::Address, problems);
                push_addresses(&read, "Cc", &mut out.cc, problems);
            }
            HeaderName::ReplyTo => {
                let read = read_header(raw, header, Field::Address, problems);
                push_addresses(&read, "Reply-To", &mut out.reply_to, problems);
            }
            HeaderName::Subject => {
                subject_seen += 1;
                if subject_seen == 1 {
                    let read = read_header(raw, header, Field::Unstructured, problems);
                    out.subject = match read.value.as_ref() {
                        HeaderValue::Text(value) => value.trim().to_string(),
                        _ => String::new(),
                    };
                }
            }
            HeaderName::Date => {
                date_seen += 1;
                if date_seen == 1 {
                    let read = read_header(raw, header, Field::Date, problems);
                    out.date = match read.value.as_ref() {
                        HeaderValue::DateTime(dt) if dt.is_valid() => Some(dt.to_timestamp()),
                        _ => {
                            let shown = snippet(&read.text);
                            problems.push(|| {
                                if shown.is_empty() {
                                    "Date header is empty".to_string()
                                } else {
                                    format!("Date header '{shown}' is not a valid date")
                                }
                            });
                            None
                        }
                    };
                }
            }
            HeaderName::MessageId => {
                id_seen += 1;
                if id_seen == 1 {
                    let read = read_header(raw, header, Field::Id, problems);
                    match message_ids(&read).into_iter().next() {
                        Some(id) => {
                            out.message_key = id;
                            out.has_message_id = true;
                        }
                        None => {
                            let shown = snippet(&read.text);
                            id_problem = Some(if shown.is_empty() {
                                "Message-ID header is empty".to_string()
                            } else {
                                format!("Message-ID header '{shown}' is not a valid message id")
                            });
                        }
                    }
                }
            }
            HeaderName::InReplyTo => {
                let read = read_header(raw, header, Field::Id, problems);
                push_ids(
                    &read,
                    "In-Reply-To",
                    &mut out.in_reply_to,
                    &mut in_reply_to_set,
                    problems,
                );
            }
            HeaderName::References => {
                let read = read_header(raw, header, Field::Id, problems);
                push_ids(
                    &read,
                    "References",
                    &mut out.references,
                    &mut reference_set,
                    problems,
                );
            }
            HeaderName::ListId if !list_id_seen => {
                list_id_seen = true;
                let read = read_header(raw, header, Field::Address, problems);
                out.list_id = list_id(&read);
            }
            _ => {}
        }
    }

    if id_seen == 0 {
        problems.push(|| {
            "Message-ID header is missing; the key is derived from the content".to_string()
        });
    } else if let Some(problem) = id_problem {
        problems.push(|| format!("{problem}; the key is derived from the content"));
    }
    for (count, name) in [
        (subject_seen, "Subject"),
        (date_seen, "Date"),
        (id_seen, "Message-ID"),
    ] {
        if count > 1 {
            problems.push(|| format!("the message has {count} {name} headers; the first is used"));
        }
    }
}

fn push_addresses(
    read: &ReadHeader<'_, '_>,
    field: &str,
    out: &mut Vec<Address>,
    problems: &mut Problems,
) {
    let before = out.len();
    let mut push = |addr: &Addr<'_>| {
        let email = addr.address.as_deref().unwrap_or_default().trim();
        let name = addr
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        if email.is_empty() {
            // A display name without an address ("From: John") still tells the reader who
            // wrote; keep it rather than show nothing, and say so.
            if let Some(name) = name {
                problems.push(|| {
                    format!(
                        "{field} header entry '{}' has no email address",
                        snippet(name)
                    )
                });
                out.push(Address {
                    name: Some(name.to_string()),
                    email: String::new(),
                });
            }
            return;
        }
        out.push(Address {
            name: name.map(str::to_string),
            email: email.to_string(),
        });
    };
    match read.value.as_ref() {
        HeaderValue::Address(MpAddress::List(list)) => list.iter().for_each(&mut push),
        HeaderValue::Address(MpAddress::Group(groups)) => groups
            .iter()
            .flat_map(|group| group.addresses.iter())
            .for_each(&mut push),
        _ => {}
    }
    let is_group_syntax = read.text.contains(':') && read.text.trim_end().ends_with(';');
    if out.len() == before && !read.text.trim().is_empty() && !is_group_syntax {
        let shown = snippet(&read.text);
        problems.push(|| format!("{field} header '{shown}' contains no address"));
    }
}

/// Message ids named by an id header. Bracketed ids are taken as mail-parser found them; an
/// unbracketed value is accepted only when it is a single token, because old mailers wrote
/// phrases such as "In-Reply-To: your message of Monday" that are not ids at all.
fn message_ids(read: &ReadHeader<'_, '_>) -> Vec<String> {
    if read.text.contains('<') {
        let candidates: Vec<&str> = match read.value.as_ref() {
            HeaderValue::Text(id) => vec![id.as_ref()],
            HeaderValue::TextList(list) => list.iter().map(|id| id.as_ref()).collect(),
            _ => Vec::new(),
        };
        candidates
            .into_iter()
            .filter_map(ids::normalize_message_id)
            .collect()
    } else {
        let token = read.text.trim();
        let without_comments = match token.find('(') {
            Some(0) | None => token,
            Some(start) => token.get(..start).unwrap_or_default().trim_end(),
        };
        if without_comments.split_whitespace().count() > 1 {
            return Vec::new();
        }
        ids::normalize_message_id(without_comments)
            .into_iter()
            .collect()
    }
}

fn push_ids(
    read: &ReadHeader<'_, '_>,
    field: &str,
    out: &mut Vec<String>,
    seen: &mut HashSet<String>,
    problems: &mut Problems,
) {
    let found = message_ids(read);
    if found.is_empty() && !read.text.trim().is_empty() {
        let shown = snippet(&read.text);
        problems.push(|| format!("{field} header '{shown}' contains no valid message id"));
    }
    for id in found {
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
}

fn list_id(read: &ReadHeader<'_, '_>) -> Option<String> {
    let from_value = match read.value.as_ref() {
        HeaderValue::Address(MpAddress::List(list)) => list
            .first()
            .and_then(|addr| addr.address.as_deref().or(addr.name.as_deref()))
            .map(str::to_string),
        HeaderValue::Text(text) => Some(text.to_string()),
        _ => None,
    };
    from_value
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
}

/// The bytes of a part's body exactly as they appear in the input (before transfer decoding).
pub(crate) fn raw_body<'r>(raw: &'r [u8], part: &MessagePart<'_>) -> &'r [u8] {
    raw.get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default()
}

fn declared_encoding(part: &MessagePart<'_>) -> TransferEncoding {
    TransferEncoding::from_header(part.content_transfer_encoding())
}

fn declared_type(part: &MessagePart<'_>) -> Option<String> {
    part.content_type().map(|ct| match ct.subtype() {
        Some(sub) => format!("{}/{}", ct.ctype(), sub),
        None if ct.ctype().eq_ignore_ascii_case("text") => "text/plain".to_string(),
        None => "application/octet-stream".to_string(),
    })
}

fn content_type_of(part: &MessagePart<'_>) -> String {
    declared_type(part).unwrap_or_else(|| match part.body {
        PartType::Message(_) => "message/rfc822".to_string(),
        _ => "text/plain".to_string(),
    })
}

/// "part 3 (image/png, 'logo.png')": numbered in document order, the top-level entity being
/// part 0, so the number matches what a MIME tree viewer shows.
fn part_label(index: usize, part: &MessagePart<'_>) -> String {
    let content_type = snippet(&content_type_of(part));
    match part.attachment_name() {
        Some(name) => format!("part {index} ({content_type}, '{}')", snippet(name)),
        None => format!("part {index} ({content_type})"),
    }
}

/// Records what went wrong with one part's structure or transfer encoding. Charset problems are
/// found later, and only for parts whose text we actually use.
fn check_part(raw: &[u8], index: usize, part: &MessagePart<'_>, problems: &mut Problems) {
    let declared_multipart = part
        .content_type()
        .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("multipart"));
    if declared_multipart && !matches!(part.body, PartType::Multipart(_)) {
        problems.push(|| {
            format!(
                "{}: multipart boundary is missing or never appears; the content is kept as text",
                part_label(index, part)
            )
        });
        return;
    }
    if !part.is_encoding_problem {
        return;
    }
    let body = raw_body(raw, part);
    if body.iter().all(u8::is_ascii_whitespace) {
        // A message made of headers only is flagged by mail-parser; nothing is missing.
        return;
    }
    let declared_message = part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("message")
            && ct.subtype().is_some_and(|s| {
                s.eq_ignore_ascii_case("rfc822") || s.eq_ignore_ascii_case("global")
            })
    });
    if declared_message {
        problems.push(|| {
            format!(
                "{}: the attached message could not be parsed; it is kept as it is",
                part_label(index, part)
            )
        });
        return;
    }
    let encoding = declared_encoding(part);
    let invalid = match encoding {
        TransferEncoding::Identity => 0,
        _ => decoded_len(body, encoding).1,
    };
    if invalid > 0 {
        problems.push(|| {
            format!(
                "{}: {} body is corrupt; {invalid} invalid characters were skipped",
                part_label(index, part),
                encoding.name()
            )
        });
    } else {
        problems.push(|| {
            format!(
                "{}: the closing MIME boundary is missing; the message may be truncated",
                part_label(index, part)
            )
        });
    }
}

/// The text of a body part, repaired where mail-parser's conversion was lossy.
fn body_text<'p>(
    raw: &[u8],
    index: usize,
    part: &MessagePart<'_>,
    parsed: &'p str,
    problems: &mut Problems,
) -> Cow<'p, str> {
    let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
    let encoding = declared_encoding(part);
    // mail-parser hands back the undecoded text of a part it could not transfer-decode.
    let undecoded = part.is_encoding_problem && encoding != TransferEncoding::Identity;
    if !undecoded && !needs_recharset(parsed, charset) {
        return Cow::Borrowed(parsed);
    }
    let (bytes, _) = decode_transfer(raw_body(raw, part), encoding);
    let (text, fallback) = decode_charset(&bytes, charset);
    if let Some(fallback) = fallback {
        problems.push(|| format!("{}: {}", part_label(index, part), fallback.describe()));
    }
    Cow::Owned(text)
}

fn join_bodies(
    raw: &[u8],
    message: &Message<'_>,
    ids: &[u32],
    html: bool,
    problems: &mut Problems,
) -> Option<String> {
    let mut joined: Option<String> = None;
    for &id in ids {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        // mail-parser lists the HTML part of an html-only message among the text bodies (and
        // vice versa) for convenience; the uniform message keeps the two apart.
        let parsed = match (&part.body, html) {
            (PartType::Text(text), false) | (PartType::Html(text), true) => text,
            _ => continue,
        };
        let text = body_text(raw, id as usize, part, parsed, problems);
        match joined.as_mut() {
            None => joined = Some(text.into_owned()),
            Some(acc) => {
                if !acc.ends_with('\n') {
                    acc.push('\n');
                }
                acc.push_str(&text);
            }
        }
    }
    joined
}

/// Every `cid:` reference in an HTML body, percent-decoded and lower-cased (Content-IDs are
/// compared case-insensitively by mail clients in practice).
fn cid_references(html: &str) -> HashSet<String> {
    let mut refs = HashSet::new();
    let lower = html.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(pos) = rest.find("cid:") {
        let after = rest.get(pos + 4..).unwrap_or_default();
        let end = after
            .find(['"', '\'', ')', '(', '<', '>', ' ', '\t', '\r', '\n'])
            .unwrap_or(after.len());
        let reference = after.get(..end).unwrap_or_default();
        if !reference.is_empty() {
            refs.insert(percent_decode(reference));
        }
        rest = after.get(end..).unwrap_or_default();
    }
    refs
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut pos = 0;
    while let Some(&byte) = bytes.get(pos) {
        if byte == b'%' {
            if let Some(&[h, l]) = bytes.get(pos + 1..pos + 3) {
                if let (Some(h), Some(l)) = ((h as char).to_digit(16), (l as char).to_digit(16)) {
                    out.push((h * 16 + l) as u8);
                    pos += 3;
                    continue;
                }
            }
        }
        out.push(byte);
        pos += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn normalized_content_id(part: &MessagePart<'_>) -> Option<String> {
    part.content_id()
        .map(|id| {
            id.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
        })
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

/// The attachment's file name. mail-parser's answer is used unless it contains U+FFFD, which
/// means either raw 8-bit latin-1 bytes or RFC 2231 segments it decoded one by one; then the
/// header is read again.
fn filename(raw: &[u8], part: &MessagePart<'_>) -> Option<String> {
    let parsed = part.attachment_name()?;
    let clean = |name: &str| Some(name.trim().to_string()).filter(|n| !n.is_empty());
    if !parsed.contains('\u{FFFD}') {
        return clean(parsed);
    }
    for (name, attribute) in [
        (HeaderName::ContentDisposition, "filename"),
        (HeaderName::ContentType, "name"),
    ] {
        let Some(header) = part.headers.iter().find(|h| h.name == name) else {
            continue;
        };
        let (text, was_latin1) = header_text(header_bytes(raw, header));
        if let Some(value) = rfc2231::extended_parameter(&text, attribute) {
            return clean(&value);
        }
        if was_latin1 {
            if let HeaderValue::ContentType(ct) = reparse_content_type(&text) {
                if let Some(value) = ct.attribute(attribute) {
                    return clean(value);
                }
            }
        }
    }
    clean(parsed)
}

fn reparse_content_type(text: &str) -> HeaderValue<'static> {
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    MessageStream::new(line.as_bytes())
        .parse_content_type()
        .into_owned()
}

/// Where an attachment's decoded bytes come from: mail-parser's decoded buffer when it has one
/// (no copy needed), otherwise the raw body decoded again — text parts are stored by mail-parser
/// after charset conversion, and an attachment must be handed out byte for byte.
pub(crate) enum AttachmentSource<'a> {
    Decoded(&'a [u8]),
    Raw(&'a [u8], TransferEncoding),
}

pub(crate) fn attachment_source<'a>(
    raw: &'a [u8],
    part: &'a MessagePart<'_>,
) -> AttachmentSource<'a> {
    match &part.body {
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
            AttachmentSource::Decoded(bytes.as_ref())
        }
        _ => AttachmentSource::Raw(raw_body(raw, part), declared_encoding(part)),
    }
}

/// The decoded bytes of an attachment part, taking mail-parser's buffer when it has one rather
/// than copying a possibly large attachment.
pub(crate) fn take_attachment_bytes(raw: &[u8], part: &mut MessagePart<'_>) -> Vec<u8> {
    if matches!(part.body, PartType::Binary(_) | PartType::InlineBinary(_)) {
        if let PartType::Binary(bytes) | PartType::InlineBinary(bytes) =
            std::mem::take(&mut part.body)
        {
            return bytes.into_owned();
        }
    }
    match attachment_source(raw, part) {
        AttachmentSource::Decoded(bytes) => bytes.to_vec(),
        AttachmentSource::Raw(body, encoding) => decode_transfer(body, encoding).0.into_owned(),
    }
}

fn attachment_meta(
    raw: &[u8],
    index: u32,
    part: &MessagePart<'_>,
    cid_refs: &HashSet<String>,
) -> AttachmentMeta {
    let size = match attachment_source(raw, part) {
        AttachmentSource::Decoded(bytes) => bytes.len() as u64,
        AttachmentSource::Raw(bytes, encoding) => decoded_len(bytes, encoding).0,
    };
    let content_id = normalized_content_id(part);
    let disposition_inline = part.content_disposition().is_some_and(|cd| cd.is_inline());
    let inline = content_id.as_ref().is_some_and(|id| {
        disposition_inline || cid_refs.contains(&percent_decode(&id.to_ascii_lowercase()))
    });
    AttachmentMeta {
        index,
        filename: filename(raw, part),
        content_type: content_type_of(part),
        size,
        content_id,
        inline,
    }
}
