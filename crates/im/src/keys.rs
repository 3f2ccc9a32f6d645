//! How an IM is recognised when it comes again (live, as a carbon, from offline storage, from
//! the archive): every key it can be known by. Pure.
//!
//! * `sid:<archive id>` — the id the person's own server gave it (XEP-0359 stanza-id; the
//!   archive result id). Unique per account, present on live copies when the server archives.
//! * `oid:<sender>:<origin id>` — the sender's own stable id (XEP-0359 origin-id).
//! * `mid:<sender>:<recipient>:<id attribute>:<text digest>` — for clients that set neither;
//!   the text is part of it because some clients reuse ids, and two different messages must
//!   never be merged.
//!
//! When none applies (no ids at all, no archive), the key is the text digest and the time, so
//! a repeat is only recognised when it is identical.

use sha2::{Digest, Sha256};
use xmpp_parsers::jid::BareJid;

use crate::stanza::Chat;

fn digest(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

/// Every key `chat` is known by, the most specific first. `archive_id` is the archive's id
/// when the copy came from the archive.
pub fn keys_for(chat: &Chat, sender: &BareJid, recipient: &BareJid, at_ms: i64) -> Vec<String> {
    let mut keys = Vec::with_capacity(3);
    if let Some(sid) = &chat.stanza_id {
        keys.push(format!("sid:{sid}"));
    }
    if let Some(oid) = &chat.origin_id {
        keys.push(format!("oid:{sender}:{oid}"));
    }
    if let Some(id) = &chat.id {
        keys.push(format!(
            "mid:{sender}:{recipient}:{id}:{}",
            digest(&chat.body)
        ));
    }
    if keys.is_empty() {
        keys.push(format!(
            "txt:{sender}:{recipient}:{at_ms}:{}",
            digest(&chat.body)
        ));
    }
    keys
}

/// The synthetic message key of an IM stored under `primary`.
pub fn message_key(primary: &str) -> String {
    format!(
        "{}@im.switchboard.invalid",
        hex::encode(&Sha256::digest(primary.as_bytes())[..16])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(id: Option<&str>, origin: Option<&str>, sid: Option<&str>, body: &str) -> Chat {
        Chat {
            from: "bob@example.org/x".into(),
            to: "alice@example.org".into(),
            id: id.map(String::from),
            origin_id: origin.map(String::from),
            stanza_id: sid.map(String::from),
            body: body.into(),
            thread: None,
            sent_at_ms: None,
            wants_receipt: false,
            reply_to_id: None,
            raw: String::new(),
        }
    }

    #[test]
    fn the_live_copy_and_the_archive_copy_share_a_key() {
        let bob = BareJid::new("bob@example.org").unwrap();
        let alice = BareJid::new("alice@example.org").unwrap();
        let live = keys_for(&chat(Some("m1"), None, None, "hi"), &bob, &alice, 1);
        let archived = keys_for(&chat(Some("m1"), None, Some("A1"), "hi"), &bob, &alice, 99);
        assert_eq!(archived[0], "sid:A1");
        assert!(live.iter().any(|k| archived.contains(k)));
    }

    #[test]
    fn a_reused_id_with_other_text_is_another_message() {
        let bob = BareJid::new("bob@example.org").unwrap();
        let alice = BareJid::new("alice@example.org").unwrap();
        let a = keys_for(&chat(Some("1"), None, None, "first"), &bob, &alice, 1);
        let b = keys_for(&chat(Some("1"), None, None, "second"), &bob, &alice, 1);
        assert!(a.iter().all(|k| !b.contains(k)));
    }

    #[test]
    fn without_ids_only_identical_repeats_match() {
        let bob = BareJid::new("bob@example.org").unwrap();
        let alice = BareJid::new("alice@example.org").unwrap();
        let a = keys_for(&chat(None, None, None, "x"), &bob, &alice, 5);
        assert_eq!(a.len(), 1);
        assert_eq!(a, keys_for(&chat(None, None, None, "x"), &bob, &alice, 5));
        assert_ne!(a, keys_for(&chat(None, None, None, "x"), &bob, &alice, 6));
        assert!(message_key(&a[0]).ends_with("@im.switchboard.invalid"));
    }
}
