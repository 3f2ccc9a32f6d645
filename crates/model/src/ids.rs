//! Message-ID normalisation.

/// Longer than this is not an identifier a real mailer produced; RFC 5322 caps a line at 998
/// characters, and storing a megabyte-long key would bloat every index it sits in.
const MAX_ID_LEN: usize = 998;

/// Normalises a Message-ID (or one entry of In-Reply-To / References) for use as a key.
///
/// Accepts the raw header value (`" <Abc@Example.COM> (comment)"`) as well as an already
/// unbracketed id. Strips surrounding whitespace, comments outside the brackets and the angle
/// brackets, removes whitespace inside (folding artefacts), and lower-cases only the part after
/// the last `@`: the domain is case-insensitive, the left part is not (RFC 5322 §3.6.4 compares
/// ids octet by octet, and some mailers do generate ids differing only in case on the left).
///
/// Returns `None` for ids that cannot serve as a key: empty, `<>`, nothing alphanumeric, control
/// characters or stray brackets inside, or absurdly long.
pub fn normalize_message_id(raw: &str) -> Option<String> {
    let inner = match raw.find('<') {
        Some(open) => {
            let after = raw.get(open + 1..).unwrap_or_default();
            match after.find('>') {
                Some(close) => after.get(..close).unwrap_or_default(),
                // An unterminated bracket still names the id; a lost `>` is a common
                // truncation and throwing the id away would split the thread.
                None => after,
            }
        }
        None => strip_comments_unbracketed(raw),
    };

    let mut id = String::with_capacity(inner.len());
    for ch in inner.chars() {
        if ch.is_whitespace() {
            continue;
        }
        if ch.is_control() || ch == '<' || ch == '>' {
            return None;
        }
        id.push(ch);
    }
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.chars().any(char::is_alphanumeric) {
        return None;
    }
    if let Some(at) = id.rfind('@') {
        let (left, domain) = id.split_at(at);
        let domain = domain.to_lowercase();
        id = format!("{left}{domain}");
    }
    Some(id)
}

/// Removes `( ... )` comments (nested, with backslash escapes) from an id written without
/// brackets, so that `foo@bar (added by relay)` still yields `foo@bar`. Iterative, because the
/// input is untrusted and may hold a million comments in a row.
fn strip_comments_unbracketed(raw: &str) -> &str {
    let mut rest = raw;
    loop {
        let Some(start) = rest.find('(') else {
            return rest;
        };
        let before = rest.get(..start).unwrap_or_default();
        if !before.trim().is_empty() {
            // The id proper comes before the first comment; what follows a comment in an
            // unbracketed value is not part of a single id.
            return before;
        }
        // The comment comes first: the id is whatever follows the balanced comment.
        let mut depth = 0usize;
        let mut escaped = false;
        let mut end = None;
        for (pos, ch) in rest.char_indices().skip_while(|(p, _)| *p < start) {
            if escaped {
                escaped = false;
                continue;
            }
            match ch {
                '\\' => escaped = true,
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = Some(pos + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        match end {
            Some(end) => rest = rest.get(end..).unwrap_or_default(),
            None => return "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_message_id as n;

    #[test]
    fn strips_brackets_whitespace_and_lowercases_domain_only() {
        assert_eq!(
            n(" <AbC.123@Example.COM> ").as_deref(),
            Some("AbC.123@example.com")
        );
        assert_eq!(n("AbC@Example.COM").as_deref(), Some("AbC@example.com"));
        assert_eq!(
            n("<a@b@C.ORG>").as_deref(),
            Some("a@b@c.org"),
            "only after the last @"
        );
        assert_eq!(n("<no-at-sign>").as_deref(), Some("no-at-sign"));
        assert_eq!(
            n("<abc@\r\n example.com>").as_deref(),
            Some("abc@example.com")
        );
    }

    #[test]
    fn handles_comments() {
        assert_eq!(n("<a@b.c> (added)").as_deref(), Some("a@b.c"));
        assert_eq!(n("(comment) <a@B.c>").as_deref(), Some("a@b.c"));
        assert_eq!(n("a@B.c (comment)").as_deref(), Some("a@b.c"));
        assert_eq!(n("(x (nested\\)) y) a@b.c").as_deref(), Some("a@b.c"));
        assert_eq!(n("(only a comment)"), None);
        assert_eq!(n("(unterminated"), None);
        assert_eq!(
            n(&format!("{}a@b", "()".repeat(500_000))).as_deref(),
            Some("a@b")
        );
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(n(""), None);
        assert_eq!(n("   "), None);
        assert_eq!(n("<>"), None);
        assert_eq!(n("< >"), None);
        assert_eq!(n("<@>"), None);
        assert_eq!(n("<a\u{0}b@c>"), None);
        assert_eq!(n(&format!("<{}@x>", "a".repeat(2000))), None);
    }

    #[test]
    fn unterminated_bracket_keeps_the_id() {
        assert_eq!(n("<abc@Example.com").as_deref(), Some("abc@example.com"));
    }
}
