//! Message identity: the synthetic key for messages without a usable Message-ID, and the
//! content comparison that decides whether two copies with the same key are one message.

use mail_parser::{Header, HeaderName};
use sha2::{Digest, Sha256};

use crate::convert::unstructured_text;
use crate::text::{normalize_subject, one_is_prefix_of_other};
use crate::{search_text, UniformMessage};

/// The domain of synthetic keys. `.invalid` (RFC 2606) can never collide with a real
/// Message-ID domain.
pub const SYNTHETIC_KEY_DOMAIN: &str = "synthetic.switchboard.invalid";

/// Whether `key` is a synthetic key rather than a real Message-ID.
pub fn is_synthetic_key(key: &str) -> bool {
    key.strip_suffix(SYNTHETIC_KEY_DOMAIN)
        .and_then(|left| left.strip_suffix('@'))
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The headers that go into the synthetic key, in this order. Trace and transport headers
/// (Received, Return-Path, Status...) are left out on purpose: they differ between the copy an
/// IMAP server keeps and the one a POP3 server hands out.
const KEY_HEADERS: [HeaderName<'static>; 5] = [
    HeaderName::From,
    HeaderName::To,
    HeaderName::Cc,
    HeaderName::Date,
    HeaderName::Subject,
];

/// `"<64 hex>@synthetic.switchboard.invalid"`: SHA-256 over the canonical form described in the
/// crate documentation. `body_offset` is where the header block ends in `raw`.
pub(crate) fn synthetic_key(raw: &[u8], headers: &[Header<'_>], body_offset: usize) -> String {
    let values = KEY_HEADERS.map(|name| {
        headers
            .iter()
            .find(|h| h.name == name)
            .map(|header| unstructured_text(raw, header))
            .unwrap_or_default()
    });
    // Without any of the five fields the key would rest on the body alone, and two different
    // header-only messages would collide and then pass `content_matches` (which compares the
    // same fields), so one would be merged away. Hashing the whole input instead splits them;
    // the cost is that such degenerate copies only dedup when byte-identical up to line endings.
    let body_offset = if values.iter().all(String::is_empty) {
        0
    } else {
        body_offset
    };
    let mut hasher = Sha256::new();
    for value in &values {
        hasher.update(value.as_bytes());
        hasher.update(b"\n");
    }
    hasher.update(b"\n");
    hash_canonical_body(raw.get(body_offset..).unwrap_or_default(), &mut hasher);
    format!("{}@{SYNTHETIC_KEY_DOMAIN}", hex::encode(hasher.finalize()))
}

/// Feeds the body with LF line endings, trailing whitespace removed from every line and
/// trailing blank lines removed, so CRLF/LF conversions and a final CRLF added or dropped by a
/// server do not change the key. Streams line by line: no normalised copy of a large body.
fn hash_canonical_body(body: &[u8], hasher: &mut Sha256) {
    let mut pending_newlines = 0usize;
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        if index > 0 {
            pending_newlines += 1;
        }
        let end = line
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r'))
            .map_or(0, |last| last + 1);
        let Some(trimmed) = line.get(..end).filter(|t| !t.is_empty()) else {
            continue;
        };
        for _ in 0..pending_newlines {
            hasher.update(b"\n");
        }
        pending_newlines = 0;
        hasher.update(trimmed);
    }
}

/// Whether two parsed messages with the same key are copies of one message. See the crate
/// documentation for the rule and the reasons behind each part of it.
pub fn content_matches(a: &UniformMessage, b: &UniformMessage) -> bool {
    if a.message_key != b.message_key || a.date != b.date {
        return false;
    }
    let first_from = |m: &UniformMessage| m.from.first().map(|addr| addr.email.to_lowercase());
    if first_from(a) != first_from(b) {
        return false;
    }
    if normalize_subject(&a.subject) != normalize_subject(&b.subject) {
        return false;
    }
    // Cheapest case first: both have a text body, compare them in place.
    match (&a.text_body, &b.text_body) {
        (Some(x), Some(y)) => one_is_prefix_of_other(x, y),
        _ => one_is_prefix_of_other(&search_text(a), &search_text(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_hash(body: &[u8]) -> String {
        let mut hasher = Sha256::new();
        hash_canonical_body(body, &mut hasher);
        hex::encode(hasher.finalize())
    }

    #[test]
    fn canonical_body_ignores_line_endings_and_trailing_space() {
        let lf = body_hash(b"line one\nline two  \n\nline four\n");
        assert_eq!(lf, body_hash(b"line one\r\nline two\r\n\r\nline four\r\n"));
        assert_eq!(lf, body_hash(b"line one\nline two\n\nline four"));
        assert_eq!(lf, body_hash(b"line one\nline two\t\n\nline four\n\n\r\n"));
        assert_ne!(lf, body_hash(b"line one\nline two\nline four\n"));
        assert_ne!(lf, body_hash(b" line one\nline two\n\nline four\n"));
    }

    #[test]
    fn synthetic_key_shape() {
        let key = synthetic_key(b"hello", &[], 0);
        assert!(is_synthetic_key(&key), "{key}");
        assert!(!is_synthetic_key("abc@example.com"));
        assert!(!is_synthetic_key("xyz@synthetic.switchboard.invalid"));
    }
}
