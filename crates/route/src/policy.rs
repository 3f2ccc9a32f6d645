//! Message policy (seed 001, "Message Policy"): how hard the delivery engine tries on one
//! channel, when it gives up, where it turns next, and what counts as delivered. Pure data
//! plus the retry arithmetic, so the engine and its tests agree on it.

use serde::{Deserialize, Serialize};

use crate::ChannelTarget;

/// When a delivery counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveredWhen {
    /// The channel accepted it: the SMTP server answered 250, the notification daemon showed
    /// it, the IM server took the stanza.
    #[default]
    Accepted,
    /// The person read it: the message was marked read here (or the notification clicked).
    /// Until then the delivery stays open and the expiry applies.
    Read,
}

/// Per profile: trials, expiry, alternate channels in order, what counts as delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct MessagePolicy {
    /// Attempts on one channel before it counts as failed (at least 1).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 100))]
    #[serde(deserialize_with = "crate::int::u32")]
    pub trials: u32,
    /// Seconds before the first retry; each further retry waits twice as long as the one
    /// before, capped at one hour.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 86400))]
    #[serde(deserialize_with = "crate::int::u32")]
    pub retry_after_secs: u32,
    /// A channel still not delivered this many seconds after its first attempt has failed,
    /// whatever trials remain (0: no expiry).
    #[cfg_attr(feature = "openapi", schema(maximum = 31536000))]
    #[serde(deserialize_with = "crate::int::u64")]
    pub expiry_secs: u64,
    /// Where to try next, in order, once a channel has failed. Channels the message already
    /// went to (or failed on) are skipped.
    pub alternates: Vec<ChannelTarget>,
    pub delivered_when: DeliveredWhen,
}

impl Default for MessagePolicy {
    fn default() -> Self {
        MessagePolicy {
            trials: 3,
            retry_after_secs: 60,
            expiry_secs: 24 * 3600,
            alternates: Vec::new(),
            delivered_when: DeliveredWhen::Accepted,
        }
    }
}

/// The longest wait between two attempts.
pub const MAX_RETRY_DELAY_SECS: u64 = 3600;

impl MessagePolicy {
    /// Seconds to wait before attempt number `next_attempt` (2 = the first retry), or `None`
    /// when the trials are used up.
    pub fn retry_delay(&self, next_attempt: u32) -> Option<u64> {
        if next_attempt <= 1 || next_attempt > self.trials.max(1) {
            return None;
        }
        let doublings = (next_attempt - 2).min(20);
        Some((u64::from(self.retry_after_secs.max(1)) << doublings).min(MAX_RETRY_DELAY_SECS))
    }

    /// Whether a channel first tried at `first_attempt_at` has expired at `now`.
    pub fn expired(&self, first_attempt_at: i64, now: i64) -> bool {
        self.expiry_secs > 0 && now.saturating_sub(first_attempt_at) >= self.expiry_secs as i64
    }

    /// The next alternate after the channels already used, in the policy's order.
    pub fn next_alternate(&self, used: &[ChannelTarget]) -> Option<&ChannelTarget> {
        self.alternates.iter().find(|c| !used.contains(c))
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.trials) {
            return Err(format!(
                "policy trials must be 1 to 100, not {}",
                self.trials
            ));
        }
        if !(1..=86_400).contains(&self.retry_after_secs) {
            return Err(format!(
                "policy retry_after_secs must be 1 to 86400, not {}",
                self.retry_after_secs
            ));
        }
        if self.expiry_secs > 365 * 86_400 {
            return Err(format!(
                "policy expiry_secs must be at most a year (31536000), not {}",
                self.expiry_secs
            ));
        }
        for c in &self.alternates {
            crate::profile::validate_channel("policy alternate", c)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_and_stop_after_the_trials() {
        let p = MessagePolicy {
            trials: 5,
            retry_after_secs: 30,
            ..Default::default()
        };
        let delays: Vec<_> = (0..=6).map(|n| p.retry_delay(n)).collect();
        assert_eq!(
            delays,
            [None, None, Some(30), Some(60), Some(120), Some(240), None]
        );
        let long = MessagePolicy {
            trials: 100,
            retry_after_secs: 600,
            ..Default::default()
        };
        assert_eq!(long.retry_delay(90), Some(MAX_RETRY_DELAY_SECS));
        let once = MessagePolicy {
            trials: 1,
            ..Default::default()
        };
        assert_eq!(once.retry_delay(2), None);
    }

    #[test]
    fn expiry_and_alternates() {
        let p = MessagePolicy {
            expiry_secs: 100,
            alternates: vec![
                ChannelTarget::Mail {
                    address: "a@b".into(),
                },
                ChannelTarget::Desktop,
            ],
            ..Default::default()
        };
        assert!(!p.expired(1000, 1099));
        assert!(p.expired(1000, 1100));
        assert!(!MessagePolicy {
            expiry_secs: 0,
            ..p.clone()
        }
        .expired(0, i64::MAX));
        assert_eq!(p.next_alternate(&[]), Some(&p.alternates[0]));
        assert_eq!(
            p.next_alternate(&[p.alternates[0].clone()]),
            Some(&ChannelTarget::Desktop)
        );
        assert_eq!(p.next_alternate(&p.alternates), None);
    }

    #[test]
    fn bad_policies_are_named() {
        let bad = MessagePolicy {
            trials: 0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("trials"));
        let bad = MessagePolicy {
            retry_after_secs: 0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("retry_after_secs"));
        assert!(MessagePolicy::default().validate().is_ok());
        let p: MessagePolicy = serde_json::from_str(r#"{"trials": 2}"#).unwrap();
        assert_eq!(p.trials, 2);
        assert_eq!(p.retry_after_secs, 60);
    }
}
