//! Forwarding as IM and replies across channels (seed 001's IM delivery agent and reply
//! handler), the pure part: the short form of a forwarded message, and reading a reply.
//!
//! A forward names a short reference (`#3`) and carries an XMPP thread and a stanza id. A
//! reply is matched to its forward by, in this order: the XEP-0461 reply element (clients'
//! "reply" action), the thread (clients that keep it), or a reference typed at the start
//! ("#3 yes, fine"). Anything else from the person's IM address is not guessed at: it gets a
//! polite answer and nothing is sent — a wrong guess would mail the wrong person.

/// What the short form shows of the original.
#[derive(Debug, Clone)]
pub struct Original<'a> {
    /// `mail` or `im`.
    pub channel: &'a str,
    pub from_name: Option<&'a str>,
    pub from_addr: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

/// Lines of the original's text shown at most.
const FIRST_LINES: usize = 4;
/// Characters of the original's text shown at most.
const FIRST_CHARS: usize = 300;

/// The first lines of a text: quoted lines and the signature left out, whitespace tidied,
/// cut at a line/character limit (marked with …).
pub fn first_lines(body: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut chars = 0;
    let mut cut = false;
    for line in body.lines() {
        let trimmed = line.trim();
        if trimmed == "--" || line == "-- " {
            break;
        }
        if trimmed.is_empty() || trimmed.starts_with('>') {
            continue;
        }
        if out.len() == FIRST_LINES {
            cut = true;
            break;
        }
        let tidy: String = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
        let room = FIRST_CHARS.saturating_sub(chars);
        if tidy.chars().count() > room {
            out.push(tidy.chars().take(room).collect());
            cut = true;
            break;
        }
        chars += tidy.chars().count();
        out.push(tidy);
    }
    let mut s = out.join("\n");
    if cut {
        s.push('…');
    }
    s
}

/// The IM text of a forward.
pub fn compose(reference: &str, o: &Original<'_>) -> String {
    let who = match o.from_name.filter(|n| !n.trim().is_empty()) {
        Some(n) => format!("{} <{}>", n.trim(), o.from_addr),
        None => o.from_addr.to_string(),
    };
    let what = if o.channel == "im" { "IM" } else { "Mail" };
    let mut s = format!("[#{reference}] {what} from {who}");
    if !o.subject.trim().is_empty() {
        s.push_str(&format!("\nSubject: {}", o.subject.trim()));
    }
    let lines = first_lines(o.body);
    if !lines.is_empty() {
        s.push_str("\n\n");
        s.push_str(&lines);
    }
    let how = if o.channel == "im" {
        "as an IM"
    } else {
        "by mail"
    };
    s.push_str(&format!(
        "\n\n(Reply to this message to answer {how}, or start with #{reference}.)"
    ));
    s
}

/// A reference typed at the start of a reply (`#3`, `#3:`), and the text after it.
pub fn typed_reference(body: &str) -> Option<(String, String)> {
    let t = body.trim_start();
    let rest = t.strip_prefix('#')?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() || digits.len() > 4 {
        return None;
    }
    let after = &rest[digits.len()..];
    // "#3abc" is not a reference.
    if after
        .chars()
        .next()
        .is_some_and(|c| !c.is_whitespace() && c != ':')
    {
        return None;
    }
    let text = after.trim_start_matches(':').trim().to_string();
    let number = digits.trim_start_matches('0');
    Some((
        if number.is_empty() { "0" } else { number }.to_string(),
        text,
    ))
}

/// The reply's own text: a client's quote of the message replied to (XEP-0461 fallback, lines
/// starting with `>`) is dropped from the start.
pub fn reply_text(body: &str, is_reply: bool) -> String {
    if !is_reply {
        return body.trim().to_string();
    }
    let lines: Vec<&str> = body.lines().collect();
    let start = lines
        .iter()
        .position(|l| !l.trim_start().starts_with('>'))
        .unwrap_or(lines.len());
    lines[start..].join("\n").trim().to_string()
}

/// The answer to a message that matches no forward.
pub fn unmatched_answer() -> String {
    "I could not tell which forwarded message this answers (or it is too old), so nothing \
     was sent. Reply to a forwarded message, or start your message with its reference, \
     e.g. #3."
        .to_string()
}

/// The answer to a reply with no text.
pub fn empty_answer(reference: &str) -> String {
    format!("Your reply to #{reference} has no text, so nothing was sent.")
}

/// The confirmation of a reply passed on.
pub fn sent_answer(reference: &str, to: &str, channel: &str) -> String {
    let how = if channel == "im" {
        "as an IM"
    } else {
        "by mail"
    };
    format!("Sent to {to} {how} (#{reference}).")
}

/// The answer when passing a reply on failed at once (no outgoing server...).
pub fn failed_answer(reference: &str, why: &str) -> String {
    format!("Your reply to #{reference} could not be sent: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_form_names_sender_subject_first_lines_and_reference() {
        let body =
            "Hi,\n\n> quoted earlier text\ncan we meet   on Tuesday?\nAt 10?\nOr 11?\nOr 12?\n\
                    \n-- \nBob's signature\n";
        let text = compose(
            "3",
            &Original {
                channel: "mail",
                from_name: Some("Bob Example"),
                from_addr: "bob@example.org",
                subject: "Meeting",
                body,
            },
        );
        assert!(
            text.starts_with("[#3] Mail from Bob Example <bob@example.org>"),
            "{text}"
        );
        assert!(text.contains("Subject: Meeting"), "{text}");
        assert!(text.contains("can we meet on Tuesday?"), "{text}");
        assert!(!text.contains("quoted earlier"), "{text}");
        assert!(!text.contains("signature"), "{text}");
        assert!(text.contains("Or 11?…"), "four lines, then cut: {text}");
        assert!(text.contains("start with #3"), "{text}");
    }

    #[test]
    fn long_lines_are_cut_by_characters() {
        let s = first_lines(&"é".repeat(1000));
        assert_eq!(s.chars().count(), FIRST_CHARS + 1);
        assert!(s.ends_with('…'));
        assert_eq!(first_lines(""), "");
    }

    #[test]
    fn typed_references_are_read_only_at_the_start() {
        assert_eq!(
            typed_reference("#3 yes, fine"),
            Some(("3".into(), "yes, fine".into()))
        );
        assert_eq!(
            typed_reference("  #012: ok"),
            Some(("12".into(), "ok".into()))
        );
        assert_eq!(typed_reference("#7"), Some(("7".into(), "".into())));
        assert_eq!(typed_reference("#3abc hello"), None);
        assert_eq!(typed_reference("see #3"), None);
        assert_eq!(typed_reference("#12345 too long"), None);
        assert_eq!(typed_reference("# 3"), None);
    }

    #[test]
    fn a_clients_quote_is_dropped_from_a_reply() {
        assert_eq!(
            reply_text("> [#3] Mail from Bob\n> Subject: x\nSure, Tuesday.", true),
            "Sure, Tuesday."
        );
        assert_eq!(
            reply_text("> not a reply\ntext", false),
            "> not a reply\ntext"
        );
    }
}
