//! Checking the XMPP addresses (JIDs) people type, with errors that say what is wrong.

use xmpp_parsers::jid::{BareJid, Jid};

use crate::ImError;

/// The longest JID RFC 7622 allows (each part at most 1023 bytes; 3071 in all).
const MAX_JID_BYTES: usize = 3071;

/// The shape of an address the API takes (`name@domain`; no space or control character, no
/// resource, none of `<>'"&:`), as a JSON-schema pattern; [`looks_like_address`] is the same
/// test. Only ASCII is named: regex flavours disagree about what else is "space".
pub const ADDRESS_PATTERN: &str = r#"^[^\x00-\x20@/<>'"&:]+@[^\x00-\x20@/<>'"&:]+$"#;

/// Whether `s` has the shape of [`ADDRESS_PATTERN`] (it may still not be a valid JID).
pub fn looks_like_address(s: &str) -> bool {
    let ok =
        |part: &str| !part.is_empty() && !part.chars().any(|c| c <= ' ' || "@/<>'\"&:".contains(c));
    match s.split_once('@') {
        Some((node, domain)) => ok(node) && ok(domain),
        None => false,
    }
}

/// A person's address: `name@domain`, no resource (`/phone`). Normalised (lower-case domain,
/// stringprep), so the same contact always has the same conversation.
pub fn parse_bare(input: &str, what: &'static str) -> Result<BareJid, ImError> {
    let s = input.trim();
    let bad = |why: String| ImError::BadJid {
        what,
        jid: s.chars().take(80).collect(),
        why,
    };
    if s.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if s.len() > MAX_JID_BYTES {
        return Err(bad(format!(
            "it is {} bytes long; at most {MAX_JID_BYTES} are allowed",
            s.len()
        )));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains spaces or control characters".into()));
    }
    let jid = Jid::new(s).map_err(|e| bad(format!("it is not a valid XMPP address ({e})")))?;
    if jid.node().is_none() {
        return Err(bad("it has no user part (expected name@domain)".into()));
    }
    if jid.resource().is_some() {
        return Err(bad(
            "it names a resource (the part after '/'); give the address without it".into(),
        ));
    }
    Ok(jid.into_bare())
}

/// The bare form of a JID from the wire, leniently: `None` when it does not parse.
pub fn bare_of(s: &str) -> Option<BareJid> {
    Jid::new(s).ok().map(Jid::into_bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_addresses() {
        assert_eq!(
            parse_bare(" Bob@Example.ORG ", "to").unwrap().as_str(),
            "bob@example.org"
        );
        assert_eq!(
            parse_bare("alice@localhost", "jid").unwrap().as_str(),
            "alice@localhost"
        );
    }

    #[test]
    fn refuses_what_is_not_a_person_with_the_reason() {
        for (input, reason) in [
            ("", "empty"),
            ("example.org", "no user part"),
            ("bob@example.org/phone", "resource"),
            ("bob smith@example.org", "spaces"),
            ("@example.org", "not a valid"),
            ("bob@", "not a valid"),
        ] {
            let err = parse_bare(input, "to").unwrap_err().to_string();
            assert!(err.contains(reason), "{input:?}: {err}");
            assert!(err.contains("to"), "{err}");
        }
        let long = format!("{}@example.org", "a".repeat(4000));
        assert!(parse_bare(&long, "to")
            .unwrap_err()
            .to_string()
            .contains("bytes long"));
    }

    #[test]
    fn the_address_shape_is_checked_like_the_pattern() {
        assert!(looks_like_address("bob@example.org"));
        assert!(looks_like_address("ü@例え.jp"));
        // Other space (NEL here) has the shape; the JID rules refuse it later.
        assert!(looks_like_address("a\u{85}b@c"));
        for s in [
            "",
            "bob",
            "@x",
            "x@",
            "a@b@c",
            "a b@c",
            "a@b/c",
            "a<b@c",
            "a\u{1c}@b",
        ] {
            assert!(!looks_like_address(s), "{s:?}");
        }
        assert!(ADDRESS_PATTERN.starts_with('^') && ADDRESS_PATTERN.ends_with('$'));
    }

    #[test]
    fn bare_of_drops_the_resource() {
        assert_eq!(
            bare_of("bob@example.org/phone").unwrap().as_str(),
            "bob@example.org"
        );
        assert!(bare_of("").is_none());
    }
}
