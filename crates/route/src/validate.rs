//! Checks on names and addresses typed by people, with errors that name the field.

/// A mail or IM address: something@something, no spaces or control characters, ≤ 254 bytes.
pub(crate) fn address(field: &str, a: &str) -> Result<(), String> {
    if a.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if a.len() > 254 {
        return Err(format!(
            "{field} '{}…' is longer than 254 bytes",
            truncate(a, 40)
        ));
    }
    if a.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{field} '{a}' contains spaces or control characters"
        ));
    }
    match a.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(()),
        _ => Err(format!(
            "{field} '{a}' is not an address like name@example.org"
        )),
    }
}

/// A profile, group or label name: 1–64 characters after trimming, no control characters.
/// Spaces are allowed ("Do not disturb").
pub(crate) fn name(field: &str, n: &str) -> Result<(), String> {
    if n.trim().is_empty() {
        return Err(format!("{field} is empty"));
    }
    if n.trim() != n {
        return Err(format!("{field} '{n}' starts or ends with spaces"));
    }
    if n.chars().count() > 64 {
        return Err(format!(
            "{field} '{}…' is longer than 64 characters",
            truncate(n, 40)
        ));
    }
    if n.chars().any(|c| c.is_control()) {
        return Err(format!(
            "{field} '{}' contains control characters",
            n.escape_debug()
        ));
    }
    Ok(())
}

pub(crate) fn truncate(s: &str, chars: usize) -> String {
    s.chars().take(chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names() {
        assert!(address("x", "a@b").is_ok());
        assert!(address("x", "ünïcode@例え.jp").is_ok());
        for bad in ["", "ab", "@b", "a@", "a b@c", "a@b\n", &"a".repeat(300)] {
            assert!(
                address("forward address", bad)
                    .unwrap_err()
                    .contains("forward address"),
                "{bad:?}"
            );
        }
        assert!(name("profile name", "Do not disturb").is_ok());
        for bad in ["", "  ", " x", "x ", "a\tb", &"n".repeat(65)] {
            assert!(
                name("profile name", bad)
                    .unwrap_err()
                    .contains("profile name"),
                "{bad:?}"
            );
        }
    }
}
