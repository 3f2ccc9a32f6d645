//! What the tray says: pure functions of plain data, so every wording is unit-tested. The
//! notifications' wording is the delivery engine's (`switchboard_deliver::notify`).

/// The tray's first (disabled) line and the label beside the icon.
pub fn unread_line(unread: i64) -> String {
    match unread {
        0 => "No unread messages".to_string(),
        1 => "1 unread message".to_string(),
        n => format!("{n} unread messages"),
    }
}

/// The short label next to the tray icon (panels that show one): the count, or nothing.
pub fn tray_label(unread: i64) -> String {
    match unread {
        n if n <= 0 => String::new(),
        n if n > 9999 => "9999+".to_string(),
        n => n.to_string(),
    }
}

/// The tray's tooltip / accessible description.
pub fn tray_tooltip(unread: i64, profile: Option<&str>) -> String {
    let mut s = format!("Switchboard: {}", unread_line(unread).to_lowercase());
    if let Some(p) = profile {
        s.push_str(&format!(" · profile {p}"));
    }
    s
}

/// The tray line naming the active profile.
pub fn profile_line(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("Profile: {p}"),
        None => "Profile: (none)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tray_texts() {
        assert_eq!(unread_line(0), "No unread messages");
        assert_eq!(unread_line(1), "1 unread message");
        assert_eq!(unread_line(42), "42 unread messages");
        assert_eq!(tray_label(0), "");
        assert_eq!(tray_label(12), "12");
        assert_eq!(tray_label(123_456), "9999+");
        assert_eq!(
            tray_tooltip(2, Some("Work")),
            "Switchboard: 2 unread messages · profile Work"
        );
        assert_eq!(tray_tooltip(0, None), "Switchboard: no unread messages");
        assert_eq!(profile_line(Some("Home")), "Profile: Home");
        assert_eq!(profile_line(None), "Profile: (none)");
    }
}
