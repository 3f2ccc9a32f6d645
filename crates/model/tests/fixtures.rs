//! Every `tests/fixtures/*.eml` is parsed and compared with the `.json` beside it, which holds
//! a stable subset of the result. Run with `UPDATE_FIXTURES=1` to (re)write the `.json` files
//! after an intended change, then review the diff.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use switchboard_model::{parse, UniformMessage};

/// Enough of the body to notice a decoding change without making the snapshot huge.
const BODY_PREFIX_CHARS: usize = 80;

fn snapshot(m: &UniformMessage) -> Value {
    let prefix = |text: &Option<String>| {
        text.as_deref()
            .map(|t| t.chars().take(BODY_PREFIX_CHARS).collect::<String>())
    };
    json!({
        "message_key": m.message_key,
        "has_message_id": m.has_message_id,
        "subject": m.subject,
        "from": m.from,
        "to": m.to,
        "date": m.date,
        "attachments": m.attachments,
        "text_body_prefix": prefix(&m.text_body),
        "has_html_body": m.html_body.is_some(),
        "has_parse_problems": !m.parse_problems.is_empty(),
    })
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    let mut previous = 0u8;
    for &byte in raw {
        if byte == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(byte);
        previous = byte;
    }
    out
}

#[test]
fn fixtures_match_their_snapshots() {
    let update = std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1");
    let mut emls: Vec<PathBuf> = fs::read_dir(fixture_dir())
        .expect("fixture directory")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
        .collect();
    emls.sort();
    assert!(emls.len() >= 10, "fixtures are missing");

    let mut failures = Vec::new();
    for eml in &emls {
        let raw = fs::read(eml).expect("read fixture");
        let parsed = parse(&raw);
        let actual = snapshot(&parsed);
        let json_path = eml.with_extension("json");
        if update {
            let text = serde_json::to_string_pretty(&actual).expect("serialise") + "\n";
            fs::write(&json_path, text).expect("write snapshot");
        } else {
            match fs::read_to_string(&json_path) {
                Ok(text) => {
                    let expected: Value = serde_json::from_str(&text).expect("snapshot is JSON");
                    if expected != actual {
                        failures.push(format!(
                            "{}: expected\n{}\nbut got\n{}",
                            eml.display(),
                            serde_json::to_string_pretty(&expected).unwrap_or_default(),
                            serde_json::to_string_pretty(&actual).unwrap_or_default()
                        ));
                    }
                }
                Err(_) => failures.push(format!(
                    "{} has no snapshot; run with UPDATE_FIXTURES=1",
                    eml.display()
                )),
            }
        }

        // The same message with CRLF line endings (as IMAP delivers it) must be the same
        // message: same identity, same headers, same attachments. Sizes may differ: an
        // unencoded attachment (message/rfc822) really does grow by one byte per line.
        let crlf = parse(&to_crlf(&raw));
        let shape = |m: &UniformMessage| {
            m.attachments
                .iter()
                .map(|a| {
                    (
                        a.index,
                        a.filename.clone(),
                        a.content_type.clone(),
                        a.content_id.clone(),
                        a.inline,
                    )
                })
                .collect::<Vec<_>>()
        };
        let same = crlf.message_key == parsed.message_key
            && crlf.subject == parsed.subject
            && crlf.from == parsed.from
            && crlf.to == parsed.to
            && crlf.date == parsed.date
            && shape(&crlf) == shape(&parsed)
            && crlf.parse_problems.len() == parsed.parse_problems.len();
        if !same {
            failures.push(format!("{}: CRLF copy parses differently", eml.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn list_copy_fixture_is_a_duplicate_of_the_original() {
    let read = |name: &str| parse(&fs::read(fixture_dir().join(name)).expect("fixture"));
    let original = read("01-plain.eml");
    let list_copy = read("13-crlf-list-copy.eml");
    assert_eq!(original.message_key, list_copy.message_key);
    assert!(switchboard_model::content_matches(&original, &list_copy));
    let forwarded = read("10-forwarded-rfc822.eml");
    assert!(!switchboard_model::content_matches(&original, &forwarded));
}
