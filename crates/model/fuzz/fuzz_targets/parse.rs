//! Feeds arbitrary bytes through every public entry point that takes untrusted input. Any
//! panic, stack overflow, timeout or out-of-memory is a bug: `parse` promises to never fail.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_model::{attachment_body, content_matches, parse, search_text};

fuzz_target!(|raw: &[u8]| {
    let message = parse(raw);
    assert!(content_matches(&message, &message), "a message must match itself");
    let _ = search_text(&message);

    // A second message derived from the first exercises the comparison on unequal inputs.
    if let Some((_, rest)) = raw.split_first() {
        let other = parse(rest);
        let _ = content_matches(&message, &other);
    }

    for meta in &message.attachments {
        let (again, bytes) =
            attachment_body(raw, meta.index).expect("every listed attachment can be fetched");
        assert_eq!(&again, meta, "metadata is stable for the same bytes");
        assert_eq!(again.size, bytes.len() as u64, "size is the decoded size");
    }
    assert!(attachment_body(raw, message.attachments.len() as u32).is_none());
});
