//! Inputs that once broke something (most found by the fuzzer). Each `tests/regressions/*.eml`
//! must go through every entry point without panicking; drop new fuzzer artifacts here.

use std::fs;
use std::path::Path;

use switchboard_model::{attachment_body, content_matches, parse, search_text};

#[test]
fn regression_inputs_are_handled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut count = 0;
    for entry in fs::read_dir(&dir).expect("regression directory") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_none_or(|ext| ext != "eml") {
            continue;
        }
        count += 1;
        let raw = fs::read(&path).expect("read regression input");
        let message = parse(&raw);
        assert!(content_matches(&message, &message), "{}", path.display());
        let _ = search_text(&message);
        for meta in &message.attachments {
            let (again, bytes) = attachment_body(&raw, meta.index).expect("listed attachment");
            assert_eq!(&again, meta, "{}", path.display());
            assert_eq!(again.size, bytes.len() as u64, "{}", path.display());
        }
    }
    assert!(count > 0, "no regression inputs found in {}", dir.display());
}

/// mail-parser has `debug_assert!`s on malformed MIME structure. In builds with debug
/// assertions (the dev profile) this input trips one; `parse` must contain it and still return
/// the message, with a problem recorded.
#[test]
fn mail_parser_debug_assertion_is_contained() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let raw = fs::read(dir.join("mail-parser-debug-assert.eml")).expect("regression input");
    let message = parse(&raw);
    assert_eq!(message.size, raw.len() as u64);
    if cfg!(debug_assertions) {
        assert!(
            message
                .parse_problems
                .iter()
                .any(|p| p.contains("the MIME parser failed on this message")),
            "{:?}",
            message.parse_problems
        );
        assert!(message.text_body.is_some(), "the body is kept as text");
        assert_eq!(
            message.from[0].name.as_deref(),
            Some("Bob"),
            "headers are still read"
        );
    }
}
