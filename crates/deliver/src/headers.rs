//! Reading raw header fields (the uniform message keeps only the ones the inbox shows), and
//! recognising mail this installation forwarded when it comes back (forwarding loops).

/// Marks every message Switchboard forwards: the value is the forwarding installation's id.
/// Earlier marks of a forwarded message are carried over, so a chain of installations that
/// forward to each other sees its own id come back.
pub const FORWARDED_HEADER: &str = "X-Switchboard-Forwarded";

/// Forwards through this many installations are cut even if none of them is this one.
pub const MAX_FORWARD_HOPS: usize = 3;

/// The local part prefix of Message-IDs (and Resent-Message-IDs) of forwards made here:
/// `<sbfwd.DELIVERY.INSTALL@domain>`.
pub const FORWARD_ID_PREFIX: &str = "sbfwd.";

/// The header block: everything before the first empty line (all of it when there is none).
pub fn header_block(raw: &[u8]) -> &[u8] {
    let mut i = 0;
    while i < raw.len() {
        let line_end = raw[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| i + p + 1)
            .unwrap_or(raw.len());
        let line = &raw[i..line_end];
        if line == b"\r\n" || line == b"\n" {
            return &raw[..i];
        }
        i = line_end;
    }
    raw
}

/// Unfolded `(name, value)` pairs of the header block, in order; values trimmed. Bytes that
/// are not UTF-8 are replaced (only ASCII markers are looked for).
pub fn header_fields(raw: &[u8]) -> Vec<(String, String)> {
    let block = String::from_utf8_lossy(header_block(raw));
    let mut out: Vec<(String, String)> = Vec::new();
    for line in block.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if !name.is_empty() && !name.contains(' ') {
                out.push((name.to_string(), value.trim().to_string()));
            }
        }
    }
    out
}

/// Every value of header `name` (case-insensitive), in order.
pub fn header_values(raw: &[u8], name: &str) -> Vec<String> {
    header_fields(raw)
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect()
}

/// The Message-ID of a forward made by `install_id` for delivery `delivery_id`. The same for
/// every attempt of a delivery, so a copy sent twice (an interrupted attempt) is recognisable
/// as one message by the recipient's client.
pub fn forward_message_id(delivery_id: i64, install_id: &str, domain: &str) -> String {
    format!("<{FORWARD_ID_PREFIX}{delivery_id}.{install_id}@{domain}>")
}

/// The installation ids in a message's forward marks, in order. A mark header may hold
/// several, separated by commas or spaces.
pub fn forward_marks(raw: &[u8]) -> Vec<String> {
    forward_marks_of(&header_fields(raw))
}

fn forward_marks_of(fields: &[(String, String)]) -> Vec<String> {
    fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(FORWARDED_HEADER))
        .flat_map(|(_, v)| {
            v.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Why a message must not be routed because it is part of a forwarding loop, or `None`.
pub fn loop_reason(raw: &[u8], install_id: &str) -> Option<String> {
    let fields = header_fields(raw);
    let marks = forward_marks_of(&fields);
    if marks.iter().any(|m| m == install_id) {
        return Some(format!(
            "forwarding loop: it carries this installation's {FORWARDED_HEADER} mark, so it \
             was forwarded from here and came back"
        ));
    }
    let own_id = format!(".{install_id}@");
    for (name, value) in &fields {
        let is_id = name.eq_ignore_ascii_case("Message-ID")
            || name.eq_ignore_ascii_case("Resent-Message-ID");
        let local = value.trim().trim_start_matches('<');
        if is_id && local.starts_with(FORWARD_ID_PREFIX) && local.contains(&own_id) {
            return Some(format!(
                "forwarding loop: its {name} {value} was made here for a forward, so it came back"
            ));
        }
    }
    if marks.len() >= MAX_FORWARD_HOPS {
        return Some(format!(
            "forwarding loop: it was already forwarded {} times by Switchboard installations \
             (at most {MAX_FORWARD_HOPS})",
            marks.len()
        ));
    }
    None
}

/// Line ends as SMTP wants them: every bare LF or CR becomes CRLF.
pub fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            b'\r' | b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTALL: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn fields_are_unfolded_and_stop_at_the_body() {
        let raw = b"Subject: one\r\n two\r\nX-A:  v \r\n\r\nX-B: not a header\r\n";
        assert_eq!(
            header_fields(raw),
            vec![
                ("Subject".to_string(), "one two".to_string()),
                ("X-A".to_string(), "v".to_string())
            ]
        );
        assert_eq!(header_values(raw, "x-b"), Vec::<String>::new());
        assert_eq!(header_block(b"A: b\n\nbody"), b"A: b\n");
        assert_eq!(header_fields(b""), vec![]);
        assert_eq!(header_fields(b"no colon at all\r\n\r\n"), vec![]);
    }

    #[test]
    fn loops_are_recognised() {
        let ours = format!("{FORWARDED_HEADER}: {INSTALL}\r\nSubject: x\r\n\r\nbody");
        assert!(loop_reason(ours.as_bytes(), INSTALL)
            .unwrap()
            .contains("mark"));

        let other = format!("{FORWARDED_HEADER}: ffff\r\nSubject: x\r\n\r\n");
        assert_eq!(loop_reason(other.as_bytes(), INSTALL), None);

        let id = forward_message_id(42, INSTALL, "example.org");
        let by_id = format!("Message-ID: {id}\r\n\r\n");
        assert!(loop_reason(by_id.as_bytes(), INSTALL)
            .unwrap()
            .contains("Message-ID"));
        let resent = format!("Message-ID: <a@b>\r\nResent-Message-ID: {id}\r\n\r\n");
        assert!(loop_reason(resent.as_bytes(), INSTALL)
            .unwrap()
            .contains("Resent-Message-ID"));
        let someone_elses = forward_message_id(42, "ffff", "example.org");
        let by_other = format!("Message-ID: {someone_elses}\r\n\r\n");
        assert_eq!(loop_reason(by_other.as_bytes(), INSTALL), None);

        let hops = format!("{FORWARDED_HEADER}: a, b\r\n{FORWARDED_HEADER}: c\r\n\r\n");
        assert_eq!(forward_marks(hops.as_bytes()), vec!["a", "b", "c"]);
        assert!(loop_reason(hops.as_bytes(), INSTALL)
            .unwrap()
            .contains("3 times"));
        let listed = format!("{FORWARDED_HEADER}: ffff, {INSTALL}\r\n\r\n");
        assert!(loop_reason(listed.as_bytes(), INSTALL)
            .unwrap()
            .contains("mark"));
        // A mark in the body is not a header.
        let in_body = format!("Subject: x\r\n\r\n{FORWARDED_HEADER}: {INSTALL}\r\n");
        assert_eq!(loop_reason(in_body.as_bytes(), INSTALL), None);
        assert_eq!(loop_reason(b"", INSTALL), None);
    }

    #[test]
    fn line_ends_become_crlf() {
        assert_eq!(crlf(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
        assert_eq!(crlf(b""), b"");
    }
}
