//! RFC 2231 parameter values split into several segments (`filename*0*=utf-8''...;
//! filename*1*=...`).
//!
//! mail-parser decodes each segment on its own and applies the charset only to the first, so a
//! non-ASCII name split across segments (Thunderbird and Outlook do this for long names, and
//! may cut inside a UTF-8 sequence) comes out with U+FFFD. Here the segments are joined as bytes
//! first and decoded once, as the RFC intends.

use crate::decode::decode_charset;

/// One `name*N[*]=value` segment.
struct Segment {
    number: u32,
    encoded: bool,
    value: String,
}

/// The value of parameter `wanted` in a Content-Type or Content-Disposition header value, when
/// it uses RFC 2231 syntax (`wanted*=` or `wanted*0=`...); `None` when it does not.
pub(crate) fn extended_parameter(header_value: &str, wanted: &str) -> Option<String> {
    let mut segments: Vec<Segment> = Vec::new();
    for param in split_parameters(header_value) {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        let name = name.trim();
        let Some(rest) = name
            .get(..wanted.len())
            .filter(|head| head.eq_ignore_ascii_case(wanted))
            .and_then(|_| name.get(wanted.len()..))
        else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('*') else {
            continue;
        };
        let (number, encoded) = if rest.is_empty() {
            (0, true)
        } else {
            let (digits, encoded) = match rest.strip_suffix('*') {
                Some(digits) => (digits, true),
                None => (rest, false),
            };
            match digits.parse::<u32>() {
                Ok(number) => (number, encoded),
                Err(_) => continue,
            }
        };
        segments.push(Segment {
            number,
            encoded,
            value: unquote(value.trim()),
        });
    }
    if segments.is_empty() {
        return None;
    }
    segments.sort_by_key(|s| s.number);

    let mut charset: Option<String> = None;
    let mut bytes = Vec::new();
    for (position, segment) in segments.iter().enumerate() {
        let mut value = segment.value.as_str();
        if segment.encoded && position == 0 {
            // charset'language'value; the charset of the first segment covers them all.
            let mut pieces = value.splitn(3, '\'');
            if let (Some(cs), Some(_lang), Some(rest)) =
                (pieces.next(), pieces.next(), pieces.next())
            {
                charset = Some(cs.to_string()).filter(|c| !c.is_empty());
                value = rest;
            }
        }
        if segment.encoded {
            percent_decode_into(value, &mut bytes);
        } else {
            bytes.extend_from_slice(value.as_bytes());
        }
    }
    let (text, _) = decode_charset(&bytes, charset.as_deref());
    Some(text)
}

/// Splits a header value at `;` outside quoted strings; the first piece (the type) is included
/// and simply has no `=`.
fn split_parameters(value: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (pos, ch) in value.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match ch {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => {
                pieces.push(value.get(start..pos).unwrap_or_default());
                start = pos + 1;
            }
            _ => {}
        }
    }
    pieces.push(value.get(start..).unwrap_or_default());
    pieces
}

fn unquote(value: &str) -> String {
    let Some(inner) = value.strip_prefix('"') else {
        // Unquoted values cannot contain whitespace; folding may have left some.
        return value.split_whitespace().collect();
    };
    let inner = inner.strip_suffix('"').unwrap_or(inner);
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for ch in inner.chars() {
        if escaped {
            out.push(ch);
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch != '\r' && ch != '\n' {
            out.push(ch);
        }
    }
    out
}

fn percent_decode_into(value: &str, out: &mut Vec<u8>) {
    let bytes = value.as_bytes();
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
}

#[cfg(test)]
mod tests {
    use super::extended_parameter as p;

    #[test]
    fn joins_segments_before_decoding() {
        assert_eq!(
            p(
                " attachment;\n filename*0*=iso-8859-1''r%E9sum;\n filename*1*=%E9%20final.pdf\n",
                "filename"
            )
            .as_deref(),
            Some("résumé final.pdf")
        );
        // A UTF-8 sequence cut in two between segments.
        assert_eq!(
            p(
                "attachment; filename*0*=UTF-8''%C3; filename*1*=%A9t%C3%A9.txt",
                "filename"
            )
            .as_deref(),
            Some("été.txt")
        );
        assert_eq!(
            p(
                "attachment; filename*1=\"b.txt\"; filename*0=\"a \"",
                "filename"
            )
            .as_deref(),
            Some("a b.txt")
        );
        assert_eq!(
            p("application/pdf; name*=utf-8'en'%E2%82%AC.pdf", "name").as_deref(),
            Some("€.pdf")
        );
    }

    #[test]
    fn ignores_plain_parameters() {
        assert_eq!(p("attachment; filename=\"a;b.txt\"", "filename"), None);
        assert_eq!(p("attachment; filenamex*=utf-8''a", "filename"), None);
    }
}
