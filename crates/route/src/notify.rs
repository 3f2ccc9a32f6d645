//! The notification rate limit: at most one notification per N minutes per conversation.
//! Pure state with timestamps: the delivery engine keeps one limiter, asks it before showing
//! a notification, and may persist [`NotifyLimiter::entries`] across restarts.

use std::collections::HashMap;

/// Remembers when each conversation last raised a notification.
#[derive(Debug, Clone, Default)]
pub struct NotifyLimiter {
    last: HashMap<String, i64>,
}

/// Whether a notification may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Show it (and it is recorded).
    Allow,
    /// Suppress it: the conversation notified at `last`; the next may come at `next_at`.
    Suppress { last: i64, next_at: i64 },
}

impl NotifyLimiter {
    pub fn new() -> NotifyLimiter {
        NotifyLimiter::default()
    }

    /// Restores a limiter from saved (conversation, last notification) pairs.
    pub fn from_entries(entries: impl IntoIterator<Item = (String, i64)>) -> NotifyLimiter {
        NotifyLimiter {
            last: entries.into_iter().collect(),
        }
    }

    /// Asks for a notification in `conversation` at `now` under a window of `window_secs`
    /// (0: no limit, always allowed). An allowed one is recorded; a suppressed one is not, so
    /// a steady trickle still notifies once per window. A clock that went back counts as a
    /// new window.
    pub fn check(&mut self, conversation: &str, window_secs: u64, now: i64) -> RateVerdict {
        if window_secs > 0 {
            if let Some(&last) = self.last.get(conversation) {
                let next_at = last.saturating_add(window_secs as i64);
                if now >= last && now < next_at {
                    return RateVerdict::Suppress { last, next_at };
                }
            }
        }
        self.last.insert(conversation.to_string(), now);
        RateVerdict::Allow
    }

    /// Forgets conversations quiet for longer than `max_window_secs` (memory stays bounded).
    pub fn prune(&mut self, max_window_secs: u64, now: i64) {
        self.last
            .retain(|_, &mut t| now.saturating_sub(t) < max_window_secs as i64);
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, i64)> {
        self.last.iter().map(|(k, v)| (k.as_str(), *v))
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_window_per_conversation() {
        let mut l = NotifyLimiter::new();
        let w = 600;
        assert_eq!(l.check("a", w, 1000), RateVerdict::Allow);
        assert_eq!(
            l.check("a", w, 1001),
            RateVerdict::Suppress {
                last: 1000,
                next_at: 1600
            }
        );
        assert_eq!(
            l.check("b", w, 1001),
            RateVerdict::Allow,
            "another conversation"
        );
        assert_eq!(
            l.check("a", w, 1599),
            RateVerdict::Suppress {
                last: 1000,
                next_at: 1600
            }
        );
        assert_eq!(l.check("a", w, 1600), RateVerdict::Allow, "the window ends");
        assert_eq!(l.check("a", 0, 1601), RateVerdict::Allow, "no limit");
        assert_eq!(
            l.check("a", w, 10),
            RateVerdict::Allow,
            "the clock went back"
        );
        l.prune(w, 10_000);
        assert!(l.is_empty());
        let restored = NotifyLimiter::from_entries([("a".to_string(), 50)]);
        let mut r = restored.clone();
        assert!(matches!(r.check("a", w, 60), RateVerdict::Suppress { .. }));
    }
}
