//! Desktop notifications (freedesktop notification service over the session D-Bus, via
//! notify-rust and libdbus). A call never hangs: with no session bus it fails at once, with a
//! bus but no notification service D-Bus answers ServiceUnknown at once, and a service that
//! does not answer is given up after notify-rust's 2 s call timeout. The first failure of a
//! process is logged once to stderr; every failure is recorded in the tracker as a failed
//! attempt with D-Bus's own words.

use std::sync::atomic::{AtomicBool, Ordering};

use switchboard_route::Urgency;

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesktopNote {
    pub summary: String,
    pub body: String,
    pub urgency: Urgency,
    /// The message a click on the notification opens (none for a digest); a notifier that
    /// can act on clicks (the desktop app's) uses it.
    pub message_id: Option<i64>,
}

/// Why a notification was not shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyFailure {
    pub answer: String,
    /// A service may appear later (the person logs in): worth retrying.
    pub transient: bool,
}

/// Shows notifications. Blocking; call it off the async threads.
pub trait Notifier: Send + Sync {
    /// Shows `note`; the answer says what the service did ("shown as notification 12").
    fn show(&self, note: &DesktopNote) -> Result<String, NotifyFailure>;
}

/// The desktop's notification service.
#[derive(Debug, Default)]
pub struct DesktopNotifier {
    warned: AtomicBool,
}

impl DesktopNotifier {
    pub fn new() -> DesktopNotifier {
        DesktopNotifier::default()
    }
}

impl Notifier for DesktopNotifier {
    fn show(&self, note: &DesktopNote) -> Result<String, NotifyFailure> {
        let urgency = match note.urgency {
            Urgency::Low => notify_rust::Urgency::Low,
            Urgency::Normal => notify_rust::Urgency::Normal,
            Urgency::Critical => notify_rust::Urgency::Critical,
        };
        let shown = notify_rust::Notification::new()
            .appname("Switchboard")
            .summary(&note.summary)
            .body(&note.body)
            .icon("mail-unread")
            .urgency(urgency)
            .show();
        match shown {
            Ok(handle) => Ok(format!("shown as notification {}", handle.id())),
            Err(e) => {
                let answer = format!("the desktop notification service did not take it: {e}");
                if !self.warned.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "warning: {answer}; notifications are recorded as failed (and retried \
                         per the profile's policy) until a notification service runs"
                    );
                }
                Err(NotifyFailure {
                    answer,
                    transient: true,
                })
            }
        }
    }
}

/// Text for a notification body: notification services may read a little HTML there.
fn plain(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// What a notification about one message says: the sender, the subject, the account it
/// came through. With `hide_content` the subject stays out.
pub fn message_note(
    sender: Option<&switchboard_model::Address>,
    subject: &str,
    accounts: &[String],
    hide_content: bool,
    urgency: Urgency,
) -> DesktopNote {
    let who = match sender {
        Some(a) => a
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| a.email.clone()),
        None => "an unknown sender".to_string(),
    };
    let via = if accounts.is_empty() {
        String::new()
    } else {
        format!("via {}", accounts.join(", "))
    };
    if hide_content {
        DesktopNote {
            summary: format!("New message from {}", one_line(&who, 80)),
            body: plain(&via),
            urgency,
            message_id: None,
        }
    } else {
        let subject = if subject.trim().is_empty() {
            "(no subject)".to_string()
        } else {
            one_line(subject, 200)
        };
        DesktopNote {
            summary: one_line(&who, 80),
            body: plain(&if via.is_empty() {
                subject
            } else {
                format!("{subject}\n{via}")
            }),
            urgency,
            message_id: None,
        }
    }
}

/// A digest notification: how many messages were held, and (unless hidden) who sent what.
pub fn digest_note(
    lines: &[(String, String)],
    reason: &str,
    hide_content: bool,
    urgency: Urgency,
) -> DesktopNote {
    let n = lines.len();
    let mut body = String::new();
    for (sender, subject) in lines.iter().take(10) {
        if hide_content {
            body.push_str(&format!("{}\n", one_line(sender, 80)));
        } else {
            body.push_str(&format!(
                "{}: {}\n",
                one_line(sender, 60),
                one_line(subject, 120)
            ));
        }
    }
    if n > 10 {
        body.push_str(&format!("and {} more\n", n - 10));
    }
    DesktopNote {
        summary: format!(
            "{n} held message{} ({reason})",
            if n == 1 { "" } else { "s" }
        ),
        body: plain(body.trim_end()),
        urgency,
        message_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_model::Address;

    fn bob() -> Address {
        Address {
            name: Some("Bob <Builder>".into()),
            email: "bob@x.org".into(),
        }
    }

    #[test]
    fn notes_name_sender_subject_and_account() {
        let n = message_note(
            Some(&bob()),
            "Lunch & more",
            &["work".into()],
            false,
            Urgency::Normal,
        );
        assert_eq!(n.summary, "Bob <Builder>");
        assert_eq!(n.body, "Lunch &amp; more\nvia work");
        let hidden = message_note(
            Some(&bob()),
            "Secret plans",
            &["work".into()],
            true,
            Urgency::Low,
        );
        assert!(!hidden.body.contains("Secret") && !hidden.summary.contains("Secret"));
        assert_eq!(hidden.summary, "New message from Bob <Builder>");
        let odd = message_note(None, " \r\n", &[], false, Urgency::Normal);
        assert_eq!(
            (odd.summary.as_str(), odd.body.as_str()),
            ("an unknown sender", "(no subject)")
        );
        let long = message_note(None, &"x".repeat(5000), &[], false, Urgency::Normal);
        assert!(long.body.chars().count() <= 200);
    }

    #[test]
    fn digests_list_at_most_ten() {
        let lines: Vec<(String, String)> = (0..12)
            .map(|i| (format!("s{i}"), format!("subject {i}")))
            .collect();
        let d = digest_note(
            &lines,
            "the profile changed to Home",
            false,
            Urgency::Normal,
        );
        assert_eq!(d.summary, "12 held messages (the profile changed to Home)");
        assert!(d.body.contains("s0: subject 0"));
        assert!(d.body.ends_with("and 2 more"));
        let hidden = digest_note(&lines[..1], "release time", true, Urgency::Normal);
        assert!(!hidden.body.contains("subject"));
        assert_eq!(hidden.summary, "1 held message (release time)");
    }
}
