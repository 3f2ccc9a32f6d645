//! What a delivery is, as kept with it in the tracker (`delivery.spec`, JSON): the channel
//! with its options, the message policy it runs under, and the channels the message already
//! went to (so re-routing never picks one twice).

use serde::{Deserialize, Serialize};
use switchboard_route::{ChannelTarget, DeliveredWhen, MessagePolicy, Urgency};

use crate::forward::ForwardMode;

/// Where and how a delivery goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelSpec {
    /// A notification on this desktop.
    Desktop {
        urgency: Urgency,
        #[serde(default)]
        hide_content: bool,
        /// Rate limit: at most one notification per conversation per this many seconds.
        #[serde(default)]
        rate_limit_secs: u64,
        #[serde(default)]
        conversation: String,
    },
    /// Forward by mail.
    Mail {
        to: String,
        #[serde(default)]
        mode: ForwardMode,
    },
    /// Forward as an instant message (the channel comes with the IM work).
    Im { to: String },
    /// Kept back for a digest, held under this profile.
    Hold { profile: String },
    /// One digest listing held messages, over one channel.
    Digest {
        message_ids: Vec<i64>,
        via: ChannelTarget,
        #[serde(default)]
        urgency: Urgency,
        #[serde(default)]
        hide_content: bool,
        /// Why it goes out now ("the profile changed to Home").
        reason: String,
    },
    /// Submitting mail written here (the outgoing row has the bytes and envelope).
    Submit,
    /// Filing a copy of sent mail in the account's Sent folder.
    SentCopy {
        #[serde(default)]
        mailbox: Option<String>,
    },
}

impl ChannelSpec {
    /// The tracker's `channel` column.
    pub fn channel_name(&self) -> &'static str {
        match self {
            ChannelSpec::Desktop { .. } => "desktop",
            ChannelSpec::Mail { .. } => "mail",
            ChannelSpec::Im { .. } => "im",
            ChannelSpec::Hold { .. } => "hold",
            ChannelSpec::Digest { .. } => "digest",
            ChannelSpec::Submit => "submit",
            ChannelSpec::SentCopy { .. } => "sent_copy",
        }
    }

    /// The tracker's `target` column: the address or place, "" for this desktop.
    pub fn target(&self) -> String {
        match self {
            ChannelSpec::Desktop { .. } | ChannelSpec::Hold { .. } | ChannelSpec::Submit => {
                String::new()
            }
            ChannelSpec::Mail { to, .. } | ChannelSpec::Im { to } => to.clone(),
            ChannelSpec::Digest { via, .. } => via.label(),
            ChannelSpec::SentCopy { mailbox } => mailbox.clone().unwrap_or_default(),
        }
    }

    /// The routing channel this delivery uses, for alternates ("already used").
    pub fn target_channel(&self) -> Option<ChannelTarget> {
        match self {
            ChannelSpec::Desktop { .. } => Some(ChannelTarget::Desktop),
            ChannelSpec::Mail { to, .. } => Some(ChannelTarget::Mail {
                address: to.clone(),
            }),
            ChannelSpec::Im { to } => Some(ChannelTarget::Im {
                address: to.clone(),
            }),
            _ => None,
        }
    }

    /// Whether "delivered when read" can apply: only deliveries of a received message.
    pub fn carries_a_message(&self) -> bool {
        matches!(
            self,
            ChannelSpec::Desktop { .. } | ChannelSpec::Mail { .. } | ChannelSpec::Im { .. }
        )
    }
}

/// Options that turn an alternate channel into a concrete delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AlternateOptions {
    #[serde(default)]
    pub urgency: Urgency,
    #[serde(default)]
    pub hide_content: bool,
    #[serde(default)]
    pub forward_mode: ForwardMode,
    #[serde(default)]
    pub conversation: String,
}

/// Everything kept with a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverySpec {
    pub channel: ChannelSpec,
    pub policy: MessagePolicy,
    /// Channels this message already went to, or failed on.
    #[serde(default)]
    pub used: Vec<ChannelTarget>,
    #[serde(default)]
    pub alternate: AlternateOptions,
    /// The profile the decision was made under.
    #[serde(default)]
    pub profile: Option<String>,
}

impl DeliverySpec {
    pub fn to_json(&self) -> String {
        // Plain data (strings, numbers, enums): serialising it cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    pub fn from_json(s: &str) -> Result<DeliverySpec, String> {
        serde_json::from_str(s).map_err(|e| format!("the stored delivery spec is damaged: {e}"))
    }

    /// The spec of a delivery over `target`, taking over from this one.
    pub fn alternate_to(&self, target: &ChannelTarget) -> DeliverySpec {
        let channel = match target {
            ChannelTarget::Desktop => ChannelSpec::Desktop {
                urgency: self.alternate.urgency,
                hide_content: self.alternate.hide_content,
                // A fallback notification is not rate limited: the message has not been seen.
                rate_limit_secs: 0,
                conversation: self.alternate.conversation.clone(),
            },
            ChannelTarget::Mail { address } => ChannelSpec::Mail {
                to: address.clone(),
                mode: self.alternate.forward_mode,
            },
            ChannelTarget::Im { address } => ChannelSpec::Im {
                to: address.clone(),
            },
        };
        let mut used = self.used.clone();
        if let Some(c) = self.channel.target_channel() {
            if !used.contains(&c) {
                used.push(c);
            }
        }
        DeliverySpec {
            channel,
            policy: self.policy.clone(),
            used,
            alternate: self.alternate.clone(),
            profile: self.profile.clone(),
        }
    }

    /// Whether the policy counts this delivery done only once the message is read.
    pub fn needs_read(&self) -> bool {
        self.policy.delivered_when == DeliveredWhen::Read && self.channel.carries_a_message()
    }
}

/// The policy for mail written here: a few tries over two days, no alternates.
pub fn submit_policy() -> MessagePolicy {
    MessagePolicy {
        trials: 5,
        retry_after_secs: 60,
        expiry_secs: 2 * 86_400,
        alternates: Vec::new(),
        delivered_when: DeliveredWhen::Accepted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_and_name_their_channel() {
        let s = DeliverySpec {
            channel: ChannelSpec::Mail {
                to: "me@example.org".into(),
                mode: ForwardMode::Inline,
            },
            policy: MessagePolicy::default(),
            used: vec![],
            alternate: AlternateOptions::default(),
            profile: Some("Home".into()),
        };
        let back = DeliverySpec::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert_eq!(s.channel.channel_name(), "mail");
        assert_eq!(s.channel.target(), "me@example.org");
        assert!(DeliverySpec::from_json("{")
            .unwrap_err()
            .contains("damaged"));
    }

    #[test]
    fn an_alternate_remembers_where_the_message_went() {
        let s = DeliverySpec {
            channel: ChannelSpec::Mail {
                to: "a@x.org".into(),
                mode: ForwardMode::Attachment,
            },
            policy: MessagePolicy::default(),
            used: vec![],
            alternate: AlternateOptions {
                urgency: Urgency::Critical,
                hide_content: true,
                ..Default::default()
            },
            profile: None,
        };
        let alt = s.alternate_to(&ChannelTarget::Desktop);
        assert_eq!(
            alt.used,
            vec![ChannelTarget::Mail {
                address: "a@x.org".into()
            }]
        );
        assert!(matches!(
            alt.channel,
            ChannelSpec::Desktop {
                urgency: Urgency::Critical,
                hide_content: true,
                ..
            }
        ));
        let third = alt.alternate_to(&ChannelTarget::Im {
            address: "me@im.x".into(),
        });
        assert_eq!(third.used.len(), 2);
    }
}
