//! Lenient transfer and charset decoding.
//!
//! mail-parser already decodes well-formed parts in its single pass. These decoders exist for
//! the cases it gives up on (a corrupt base64 part comes back as undecoded text) and for the
//! cases where we need the bytes *before* charset conversion (an attachment that happens to be
//! `text/*` must be handed out byte for byte, and a body in an unknown charset has to be decoded
//! again with a fallback). They never fail: anything they cannot interpret is skipped or kept
//! literally, and the caller learns how much was skipped so it can say so in `parse_problems`.

use std::borrow::Cow;

use mail_parser::decoders::charsets::map::charset_decoder;

/// The declared Content-Transfer-Encoding, reduced to what changes the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferEncoding {
    /// 7bit, 8bit, binary, absent, or anything unknown: the bytes are taken as they are,
    /// because guessing at an unknown encoding would corrupt data that may well be plain.
    Identity,
    Base64,
    QuotedPrintable,
}

impl TransferEncoding {
    pub(crate) fn from_header(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("base64") => TransferEncoding::Base64,
            Some(v) if v.eq_ignore_ascii_case("quoted-printable") => {
                TransferEncoding::QuotedPrintable
            }
            _ => TransferEncoding::Identity,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            TransferEncoding::Identity => "unencoded",
            TransferEncoding::Base64 => "base64",
            TransferEncoding::QuotedPrintable => "quoted-printable",
        }
    }
}

/// Where decoded bytes go. Counting instead of collecting lets `parse` report the decoded size
/// of a part without allocating a copy of it.
pub(crate) trait Sink {
    fn push(&mut self, byte: u8);
    fn extend(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }
    fn extend(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Counts decoded bytes without keeping them.
#[derive(Default)]
pub(crate) struct Counter(pub(crate) u64);

impl Sink for Counter {
    fn push(&mut self, _byte: u8) {
        self.0 += 1;
    }
    fn extend(&mut self, bytes: &[u8]) {
        self.0 += bytes.len() as u64;
    }
}

fn base64_value(byte: u8) -> Option<u8> {
    match byte {
        b'A'..=b'Z' => Some(byte - b'A'),
        b'a'..=b'z' => Some(byte - b'a' + 26),
        b'0'..=b'9' => Some(byte - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes base64, skipping every byte outside the alphabet. Returns how many non-whitespace
/// bytes were skipped: zero means the input was clean.
///
/// Skipping rather than stopping mirrors what mail clients do with damaged attachments and
/// recovers everything around a stray byte. `=` flushes a partial group, as mail-parser does, so
/// concatenated base64 runs still decode.
pub(crate) fn base64_lenient(input: &[u8], sink: &mut impl Sink) -> u64 {
    let mut chunk: u32 = 0;
    let mut count: u8 = 0;
    let mut invalid: u64 = 0;
    for &byte in input {
        if let Some(value) = base64_value(byte) {
            chunk = (chunk << 6) | u32::from(value);
            count += 1;
            if count == 4 {
                let [_, a, b, c] = chunk.to_be_bytes();
                sink.extend(&[a, b, c]);
                chunk = 0;
                count = 0;
            }
        } else if byte == b'=' {
            flush_base64(chunk, count, sink);
            chunk = 0;
            count = 0;
        } else if !byte.is_ascii_whitespace() {
            invalid += 1;
        }
    }
    flush_base64(chunk, count, sink);
    invalid
}

fn flush_base64(chunk: u32, count: u8, sink: &mut impl Sink) {
    match count {
        2 => sink.push((chunk >> 4) as u8),
        3 => sink.extend(&[(chunk >> 10) as u8, (chunk >> 2) as u8]),
        // A single leftover sextet carries fewer than 8 bits: nothing to emit.
        _ => {}
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes quoted-printable. An `=` that starts neither a hex pair nor a soft line break is kept
/// literally (and counted as invalid), which is what RFC 2045 §6.7 suggests for robustness.
pub(crate) fn quoted_printable_lenient(input: &[u8], sink: &mut impl Sink) -> u64 {
    let mut invalid = 0;
    let mut pos = 0;
    while let Some(&byte) = input.get(pos) {
        if byte != b'=' {
            sink.push(byte);
            pos += 1;
            continue;
        }
        let rest = input.get(pos + 1..).unwrap_or_default();
        if let [h, l, ..] = rest {
            if let (Some(h), Some(l)) = (hex_value(*h), hex_value(*l)) {
                sink.push((h << 4) | l);
                pos += 3;
                continue;
            }
        }
        // Soft line break: "=" then optional transport padding then CRLF or LF.
        let padding = rest
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        let after = rest.get(padding..).unwrap_or_default();
        if after.starts_with(b"\r\n") {
            pos += 1 + padding + 2;
        } else if after.starts_with(b"\n") {
            pos += 1 + padding + 1;
        } else if after.is_empty() {
            pos = input.len();
        } else {
            invalid += 1;
            sink.push(b'=');
            pos += 1;
        }
    }
    invalid
}

/// Decodes `input` into an owned buffer, borrowing when there is nothing to decode.
pub(crate) fn decode_transfer(input: &[u8], encoding: TransferEncoding) -> (Cow<'_, [u8]>, u64) {
    match encoding {
        TransferEncoding::Identity => (Cow::Borrowed(input), 0),
        TransferEncoding::Base64 => {
            let mut out = Vec::with_capacity(input.len() / 4 * 3);
            let invalid = base64_lenient(input, &mut out);
            (Cow::Owned(out), invalid)
        }
        TransferEncoding::QuotedPrintable => {
            let mut out = Vec::with_capacity(input.len());
            let invalid = quoted_printable_lenient(input, &mut out);
            (Cow::Owned(out), invalid)
        }
    }
}

/// The decoded length and the invalid-byte count, without keeping the decoded bytes.
pub(crate) fn decoded_len(input: &[u8], encoding: TransferEncoding) -> (u64, u64) {
    let mut counter = Counter::default();
    let invalid = match encoding {
        TransferEncoding::Identity => {
            counter.0 = input.len() as u64;
            0
        }
        TransferEncoding::Base64 => base64_lenient(input, &mut counter),
        TransferEncoding::QuotedPrintable => quoted_printable_lenient(input, &mut counter),
    };
    (counter.0, invalid)
}

/// The windows-1252 characters for bytes 0x80..=0x9F; the five bytes windows-1252 leaves
/// undefined map to the C1 control of the same value, as the WHATWG encoding standard does.
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž', '\u{8F}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
];

/// Windows-1252, the superset browsers and mail clients actually apply to "latin-1" labels and
/// to unlabelled 8-bit text. Every byte maps to a character, so this never loses input (and,
/// unlike a lossy UTF-8 conversion, the original bytes can be recovered from the text).
pub(crate) fn latin1(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_HIGH
                .get(usize::from(b - 0x80))
                .copied()
                .unwrap_or('\u{FFFD}'),
            _ => char::from(b),
        })
        .collect()
}

/// How a text part's charset was handled when it was not straightforward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CharsetFallback {
    /// The label is not one we know; the bytes were valid UTF-8 and read as such.
    UnknownAsUtf8(String),
    /// The label is not one we know; the bytes were read as latin-1.
    UnknownAsLatin1(String),
    /// Labelled UTF-8 (or not labelled) but not valid UTF-8; read as latin-1.
    NotUtf8AsLatin1 { declared: Option<String> },
}

impl CharsetFallback {
    pub(crate) fn describe(&self) -> String {
        match self {
            CharsetFallback::UnknownAsUtf8(cs) => {
                format!("charset '{}' is unknown; decoded as UTF-8", snippet(cs))
            }
            CharsetFallback::UnknownAsLatin1(cs) => {
                format!("charset '{}' is unknown; decoded as latin-1", snippet(cs))
            }
            CharsetFallback::NotUtf8AsLatin1 { declared: Some(cs) } => format!(
                "text declared as '{}' is not valid UTF-8; decoded as latin-1",
                snippet(cs)
            ),
            CharsetFallback::NotUtf8AsLatin1 { declared: None } => {
                "text has no charset and is not valid UTF-8; decoded as latin-1".to_string()
            }
        }
    }
}

fn is_utf8_label(charset: &str) -> bool {
    let cs = charset.trim();
    cs.eq_ignore_ascii_case("utf-8") || cs.eq_ignore_ascii_case("utf8")
}

/// Converts transfer-decoded bytes of a text part to a string.
pub(crate) fn decode_charset(
    bytes: &[u8],
    charset: Option<&str>,
) -> (String, Option<CharsetFallback>) {
    let charset = charset.map(str::trim).filter(|c| !c.is_empty());
    match charset {
        Some(cs) if !is_utf8_label(cs) => match charset_decoder(cs.as_bytes()) {
            Some(decode) => (decode(bytes), None),
            None => match std::str::from_utf8(bytes) {
                Ok(text) => (
                    text.to_string(),
                    Some(CharsetFallback::UnknownAsUtf8(cs.to_string())),
                ),
                Err(_) => (
                    latin1(bytes),
                    Some(CharsetFallback::UnknownAsLatin1(cs.to_string())),
                ),
            },
        },
        _ => match std::str::from_utf8(bytes) {
            Ok(text) => (text.to_string(), None),
            Err(_) => (
                latin1(bytes),
                Some(CharsetFallback::NotUtf8AsLatin1 {
                    declared: charset.map(str::to_string),
                }),
            ),
        },
    }
}

/// Whether mail-parser's own conversion of this part can be trusted as it is. It silently
/// falls back to lossy UTF-8 for unknown labels and for invalid UTF-8; in both cases we redo the
/// conversion so latin-1 mail stays readable and the problem is recorded.
pub(crate) fn needs_recharset(decoded_by_parser: &str, charset: Option<&str>) -> bool {
    match charset.map(str::trim).filter(|c| !c.is_empty()) {
        Some(cs) if !is_utf8_label(cs) => charset_decoder(cs.as_bytes()).is_none(),
        _ => decoded_by_parser.contains('\u{FFFD}'),
    }
}

/// A short, single-line rendering of untrusted text for use inside a problem sentence, so that
/// a 1 MB header cannot make the problem list itself huge.
pub(crate) fn snippet(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    let mut out = String::new();
    let mut chars = 0;
    for word in text.split_whitespace() {
        if chars > 0 {
            out.push(' ');
            chars += 1;
        }
        for ch in word.chars() {
            if chars >= MAX_CHARS {
                out.push('…');
                return out;
            }
            out.push(if ch.is_control() { '\u{FFFD}' } else { ch });
            chars += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(input: &[u8]) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let invalid = base64_lenient(input, &mut out);
        (out, invalid)
    }

    fn qp(input: &[u8]) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let invalid = quoted_printable_lenient(input, &mut out);
        (out, invalid)
    }

    #[test]
    fn base64_clean_and_padded() {
        assert_eq!(b64(b"aGVsbG8="), (b"hello".to_vec(), 0));
        assert_eq!(b64(b"aGVs\r\nbG8gd29y\nbGQ="), (b"hello world".to_vec(), 0));
        assert_eq!(b64(b""), (Vec::new(), 0));
    }

    #[test]
    fn base64_skips_garbage_and_counts_it() {
        assert_eq!(b64(b"aGVs!!bG8="), (b"hello".to_vec(), 2));
        assert_eq!(b64(b"\xff\x00"), (Vec::new(), 2));
    }

    #[test]
    fn base64_counter_agrees_with_decoder() {
        for input in [
            &b"aGVsbG8="[..],
            b"aGVs!!bG8=",
            b"QQ",
            b"QUI",
            b"QUJD",
            b"Q",
        ] {
            let (bytes, _) = b64(input);
            assert_eq!(
                decoded_len(input, TransferEncoding::Base64).0,
                bytes.len() as u64
            );
        }
    }

    #[test]
    fn qp_decodes_hex_and_soft_breaks() {
        assert_eq!(qp(b"caf=C3=A9 =\r\nau lait"), ("café au lait".into(), 0));
        assert_eq!(qp(b"a= \t\nb"), (b"ab".to_vec(), 0));
        assert_eq!(qp(b"50=% off=zz"), (b"50=% off=zz".to_vec(), 2));
        assert_eq!(qp(b"end="), (b"end".to_vec(), 0));
    }

    #[test]
    fn charset_known_unknown_and_invalid_utf8() {
        assert_eq!(decode_charset(b"caf\xe9", Some("iso-8859-1")).0, "café");
        assert_eq!(
            decode_charset(b"caf\xe9", Some("x-unknown")),
            (
                "café".to_string(),
                Some(CharsetFallback::UnknownAsLatin1("x-unknown".into()))
            )
        );
        assert_eq!(
            decode_charset("café".as_bytes(), Some("x-unknown")),
            (
                "café".to_string(),
                Some(CharsetFallback::UnknownAsUtf8("x-unknown".into()))
            )
        );
        assert_eq!(
            decode_charset(b"caf\xe9", None),
            (
                "café".to_string(),
                Some(CharsetFallback::NotUtf8AsLatin1 { declared: None })
            )
        );
        assert_eq!(decode_charset("café".as_bytes(), Some("UTF-8")).1, None);
    }

    #[test]
    fn latin1_maps_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let text = latin1(&all);
        assert_eq!(text.chars().count(), 256);
        assert!(!text.contains('\u{FFFD}'), "{text:?}");
    }

    #[test]
    fn snippet_is_short_and_single_line() {
        assert_eq!(snippet("  a\r\n b\t c "), "a b c");
        let long = "x".repeat(10_000);
        assert_eq!(snippet(&long).chars().count(), 61);
        assert_eq!(snippet("a\u{0}b"), "a\u{FFFD}b");
    }
}
