//! Plain-text views of message content: HTML stripping for the full-text index and the
//! normalisations the dedup comparison relies on.

/// Elements whose content is never shown as text.
const INVISIBLE: &[&str] = &["script", "style", "head", "title", "template", "noscript"];

/// Elements that start a new line when rendered; emitting a line break keeps words on either
/// side from being glued together in the index ("foo</p><p>bar" must not index "foobar").
const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "div",
    "dl",
    "dt",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "ol",
    "p",
    "pre",
    "section",
    "table",
    "td",
    "th",
    "tr",
    "ul",
];

/// A cheap HTML-to-text conversion: drops tags, comments and invisible elements, turns block
/// elements into line breaks and decodes character references. It is not a renderer and does
/// not need to be: its output only feeds the full-text index and the dedup comparison.
pub(crate) fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let bytes = html.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(next) = html
            .get(pos..)
            .and_then(|rest| rest.find(['<', '&']))
            .map(|offset| pos + offset)
        else {
            out.push_str(html.get(pos..).unwrap_or_default());
            break;
        };
        out.push_str(html.get(pos..next).unwrap_or_default());
        pos = next;
        if bytes.get(pos) == Some(&b'&') {
            let (decoded, used) = decode_entity(html.get(pos..).unwrap_or_default());
            out.push_str(&decoded);
            pos += used;
            continue;
        }
        pos = skip_markup(html, pos, &mut out);
    }
    tidy_lines(&out)
}

/// Consumes the markup starting at `pos` (which holds `<`) and returns where text resumes.
fn skip_markup(html: &str, pos: usize, out: &mut String) -> usize {
    let rest = html.get(pos..).unwrap_or_default();
    if rest.starts_with("<!--") {
        return match rest.find("-->") {
            Some(end) => pos + end + 3,
            None => html.len(),
        };
    }
    let name_start = if rest.starts_with("</") { 2 } else { 1 };
    let name: String = rest
        .get(name_start..)
        .unwrap_or_default()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    if name.is_empty()
        && !rest
            .get(1..)
            .is_some_and(|r| r.starts_with(['/', '!', '?']))
    {
        // A lone "<" in text ("a < b") is text, not markup.
        out.push('<');
        return pos + 1;
    }
    let tag_end = find_tag_end(rest).map_or(html.len(), |end| pos + end + 1);
    let is_closing = name_start == 2;
    if !is_closing && INVISIBLE.contains(&name.as_str()) {
        let close = format!("</{name}");
        let after = html.get(tag_end..).unwrap_or_default();
        return match find_ascii_case_insensitive(after, &close) {
            Some(offset) => {
                let close_start = tag_end + offset;
                find_tag_end(html.get(close_start..).unwrap_or_default())
                    .map_or(html.len(), |end| close_start + end + 1)
            }
            None => html.len(),
        };
    }
    if BLOCK.contains(&name.as_str()) {
        out.push('\n');
    }
    tag_end
}

/// The index of the `>` closing the tag at the start of `tag`, ignoring `>` inside quoted
/// attribute values.
fn find_tag_end(tag: &str) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (index, &byte) in tag.as_bytes().iter().enumerate() {
        match (quote, byte) {
            (Some(q), b) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(byte),
            (None, b'>') => return Some(index),
            (None, _) => {}
        }
    }
    None
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

/// Decodes one character reference at the start of `text` (which holds `&`). Returns the
/// replacement and how many bytes it consumed; an unknown or malformed reference is kept as a
/// literal `&`, as browsers do.
fn decode_entity(text: &str) -> (String, usize) {
    let body: String = text
        .get(1..)
        .unwrap_or_default()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '#')
        .take(32)
        .collect();
    let has_semicolon = text
        .get(1 + body.len()..)
        .is_some_and(|r| r.starts_with(';'));
    let used = 1 + body.len() + usize::from(has_semicolon);
    let decoded = if let Some(number) = body.strip_prefix('#') {
        let value = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => number.parse::<u32>().ok(),
        };
        value.map(|v| char::from_u32(v).unwrap_or('\u{FFFD}'))
    } else {
        named_entity(&body)
    };
    match decoded {
        Some(ch) => (ch.to_string(), used),
        None => ("&".to_string(), 1),
    }
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{A0}',
        "shy" => '\u{AD}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "sect" => '§',
        "deg" => '°',
        "middot" => '·',
        "bull" => '•',
        "hellip" => '…',
        "ndash" => '–',
        "mdash" => '—',
        "lsquo" => '‘',
        "rsquo" => '’',
        "sbquo" => '‚',
        "ldquo" => '“',
        "rdquo" => '”',
        "bdquo" => '„',
        "laquo" => '«',
        "raquo" => '»',
        "times" => '×',
        "divide" => '÷',
        "auml" => 'ä',
        "ouml" => 'ö',
        "uuml" => 'ü',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        "szlig" => 'ß',
        "eacute" => 'é',
        "egrave" => 'è',
        "ecirc" => 'ê',
        "Eacute" => 'É',
        "aacute" => 'á',
        "agrave" => 'à',
        "acirc" => 'â',
        "iacute" => 'í',
        "oacute" => 'ó',
        "uacute" => 'ú',
        "ntilde" => 'ñ',
        "ccedil" => 'ç',
        "zwnj" => '\u{200C}',
        "zwj" => '\u{200D}',
        _ => return None,
    })
}

/// Trims every line, collapses horizontal whitespace and keeps at most one blank line in a row.
fn tidy_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let mut words = line.split_whitespace().peekable();
        if words.peek().is_none() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_run > 0 {
                out.push('\n');
            }
        }
        blank_run = 0;
        let mut first = true;
        for word in words {
            if !first {
                out.push(' ');
            }
            out.push_str(word);
            first = false;
        }
    }
    out
}

/// Collapses every whitespace run to one space and trims both ends.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The subject as the dedup comparison sees it: leading `[tag]` groups removed (mailing lists
/// add them), whitespace collapsed. "Re:" and "Fwd:" are kept on purpose: a reply is a different
/// message from the one it answers.
pub(crate) fn normalize_subject(subject: &str) -> String {
    let mut rest = subject.trim_start();
    while let Some(after_open) = rest.strip_prefix('[') {
        match after_open.find(']') {
            Some(close) => rest = after_open.get(close + 1..).unwrap_or_default().trim_start(),
            None => break,
        }
    }
    collapse_whitespace(rest)
}

/// The characters of `text` with whitespace runs collapsed to one space and both ends trimmed,
/// produced lazily so two large bodies can be compared without building normalised copies.
fn normalized_chars(text: &str) -> impl Iterator<Item = char> + '_ {
    text.split_whitespace()
        .enumerate()
        .flat_map(|(index, word)| (index > 0).then_some(' ').into_iter().chain(word.chars()))
}

/// Whether the normalised form of one text is a prefix of the normalised form of the other.
pub(crate) fn one_is_prefix_of_other(a: &str, b: &str) -> bool {
    let mut a = normalized_chars(a);
    let mut b = normalized_chars(b);
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => {}
            (Some(_), Some(_)) => return false,
            // One side ended with everything so far equal: it is a prefix of the other.
            _ => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_strips_tags_and_decodes_entities() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head>\
                    <body><p>Hello&nbsp;<b>wor</b>ld &amp; friends</p><p>a &lt; b &#8364; &#x41; &bogus;</p>\
                    <!-- hidden --><script>alert('<p>x</p>')</script><div>end</div></body></html>";
        assert_eq!(
            html_to_text(html),
            "Hello world & friends\n\na < b € A &bogus;\n\nend"
        );
    }

    #[test]
    fn html_keeps_lone_brackets_and_survives_truncation() {
        assert_eq!(html_to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(html_to_text("text <a href=\"x>y\">link</a>"), "text link");
        assert_eq!(html_to_text("<p>cut <scr"), "cut");
        assert_eq!(html_to_text("<script>never closed"), "");
        assert_eq!(html_to_text("&"), "&");
        assert_eq!(html_to_text("&#xFFFFFFFF;"), "\u{FFFD}");
    }

    #[test]
    fn subject_normalisation_strips_only_leading_tags() {
        assert_eq!(normalize_subject("[list] [PATCH]  Fix  it"), "Fix it");
        assert_eq!(normalize_subject("Re: [list] Fix"), "Re: [list] Fix");
        assert_eq!(normalize_subject("[unterminated Fix"), "[unterminated Fix");
    }

    #[test]
    fn prefix_comparison_ignores_whitespace_differences() {
        assert!(one_is_prefix_of_other("a  b\r\nc", " a b c\n--\nfooter"));
        assert!(one_is_prefix_of_other("a b c -- footer", "a\tb c"));
        assert!(!one_is_prefix_of_other("a b c", "a b d"));
        assert!(one_is_prefix_of_other("", "anything"));
    }
}
