//! What may happen to a message: the actions rules name and decisions carry, the channels a
//! profile delivers to, and notification urgency. These are the types the delivery engine
//! consumes.

use serde::{Deserialize, Serialize};

/// How insistent a desktop notification is (the freedesktop urgency levels).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Low,
    #[default]
    Normal,
    Critical,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Urgency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Urgency::Low),
            "normal" => Ok(Urgency::Normal),
            "critical" => Ok(Urgency::Critical),
            _ => Err(format!("urgency '{s}' is not one of low, normal, critical")),
        }
    }
}

/// One place a profile can deliver to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelTarget {
    /// This desktop's notifications.
    Desktop,
    /// Forward by mail to this address.
    Mail {
        #[cfg_attr(
            feature = "openapi",
            schema(
                pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+$",
                max_length = 254
            )
        )]
        address: String,
    },
    /// Forward as an instant message to this address (e.g. a JID).
    Im {
        #[cfg_attr(
            feature = "openapi",
            schema(
                pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+$",
                max_length = 254
            )
        )]
        address: String,
    },
}

impl ChannelTarget {
    /// The action that delivers a message over this channel.
    pub fn action(&self, urgency: Urgency) -> Action {
        match self {
            ChannelTarget::Desktop => Action::Notify { urgency },
            ChannelTarget::Mail { address } => Action::ForwardMail {
                to: address.clone(),
            },
            ChannelTarget::Im { address } => Action::ForwardIm {
                to: address.clone(),
            },
        }
    }

    /// `desktop`, `mail:ADDR`, `im:ADDR` — the form the CLI reads and prints.
    pub fn label(&self) -> String {
        match self {
            ChannelTarget::Desktop => "desktop".to_string(),
            ChannelTarget::Mail { address } => format!("mail:{address}"),
            ChannelTarget::Im { address } => format!("im:{address}"),
        }
    }
}

impl std::str::FromStr for ChannelTarget {
    type Err = String;
    /// Reads `desktop`, `mail:ADDR` or `im:ADDR`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("desktop") {
            return Ok(ChannelTarget::Desktop);
        }
        let (kind, address) = s
            .split_once(':')
            .ok_or_else(|| format!("channel '{s}' is not desktop, mail:ADDRESS or im:ADDRESS"))?;
        let address = address.trim().to_string();
        crate::validate::address("channel address", &address)?;
        match kind.trim().to_ascii_lowercase().as_str() {
            "mail" => Ok(ChannelTarget::Mail { address }),
            "im" => Ok(ChannelTarget::Im { address }),
            _ => Err(format!(
                "channel '{s}' is not desktop, mail:ADDRESS or im:ADDRESS"
            )),
        }
    }
}

/// What to do with a message. Rules list actions; a [`crate::Decision`] carries the concrete
/// ones in the order they should happen.
///
/// JSON: `{"do": "notify", "urgency": "critical"}`, `{"do": "forward_mail", "to": "me@example.org"}`,
/// `{"do": "forward_im", "to": "me@im.example.org"}`, `{"do": "hold"}`, `{"do": "mark_read"}`,
/// `{"do": "label", "label": "lists"}`, `{"do": "stop"}`, `{"do": "deliver"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Action {
    /// A notification on this desktop.
    Notify { urgency: Urgency },
    /// Forward by mail (SMTP) to an address.
    ForwardMail {
        #[cfg_attr(
            feature = "openapi",
            schema(
                pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+$",
                max_length = 254
            )
        )]
        to: String,
    },
    /// Forward as an instant message to an address.
    ForwardIm {
        #[cfg_attr(
            feature = "openapi",
            schema(
                pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+$",
                max_length = 254
            )
        )]
        to: String,
    },
    /// Keep the message back; it is released with the others held, as one digest, when the
    /// profile changes or at the profile's release time (see [`crate::hold`]).
    Hold,
    /// Mark the message read in the store.
    MarkRead,
    /// Add a label to the message in the store.
    Label {
        #[cfg_attr(
            feature = "openapi",
            schema(
                pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$"
            )
        )]
        label: String,
    },
    /// Stop: no later rule is looked at, and the profile's default action is not applied.
    /// Never part of a decision's actions.
    Stop,
    /// Rules only: deliver to every channel of the active profile (at `urgency` for the
    /// desktop, the profile's own urgency when absent). Expanded into `Notify`/`ForwardMail`/
    /// `ForwardIm` in a decision; never part of a decision's actions.
    Deliver {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        urgency: Option<Urgency>,
    },
}

impl Action {
    /// Notify, ForwardMail, ForwardIm: the actions that send the message somewhere now.
    pub fn is_delivery(&self) -> bool {
        matches!(
            self,
            Action::Notify { .. } | Action::ForwardMail { .. } | Action::ForwardIm { .. }
        )
    }

    /// MarkRead and Label: what changes the stored message itself.
    pub fn is_local(&self) -> bool {
        matches!(self, Action::MarkRead | Action::Label { .. })
    }

    /// The channel a delivery action uses.
    pub fn channel(&self) -> Option<ChannelTarget> {
        match self {
            Action::Notify { .. } => Some(ChannelTarget::Desktop),
            Action::ForwardMail { to } => Some(ChannelTarget::Mail {
                address: to.clone(),
            }),
            Action::ForwardIm { to } => Some(ChannelTarget::Im {
                address: to.clone(),
            }),
            _ => None,
        }
    }

    /// A short phrase for explanations and the CLI: `notify (critical)`, `forward by mail to x`.
    pub fn describe(&self) -> String {
        match self {
            Action::Notify { urgency } => format!("notify ({})", urgency.as_str()),
            Action::ForwardMail { to } => format!("forward by mail to {to}"),
            Action::ForwardIm { to } => format!("forward as IM to {to}"),
            Action::Hold => "hold".to_string(),
            Action::MarkRead => "mark read".to_string(),
            Action::Label { label } => format!("label '{label}'"),
            Action::Stop => "stop".to_string(),
            Action::Deliver { urgency: None } => "deliver to the profile's channels".to_string(),
            Action::Deliver { urgency: Some(u) } => {
                format!("deliver to the profile's channels ({})", u.as_str())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_and_write_their_documented_json() {
        let cases = [
            (
                r#"{"do":"notify","urgency":"critical"}"#,
                Action::Notify {
                    urgency: Urgency::Critical,
                },
            ),
            (
                r#"{"do":"forward_mail","to":"me@example.org"}"#,
                Action::ForwardMail {
                    to: "me@example.org".into(),
                },
            ),
            (
                r#"{"do":"forward_im","to":"me@im.example.org"}"#,
                Action::ForwardIm {
                    to: "me@im.example.org".into(),
                },
            ),
            (r#"{"do":"hold"}"#, Action::Hold),
            (r#"{"do":"mark_read"}"#, Action::MarkRead),
            (
                r#"{"do":"label","label":"lists"}"#,
                Action::Label {
                    label: "lists".into(),
                },
            ),
            (r#"{"do":"stop"}"#, Action::Stop),
            (r#"{"do":"deliver"}"#, Action::Deliver { urgency: None }),
        ];
        for (json, action) in cases {
            let parsed: Action = serde_json::from_str(json).unwrap();
            assert_eq!(parsed, action, "{json}");
            assert_eq!(serde_json::to_string(&action).unwrap(), json);
        }
        assert!(serde_json::from_str::<Action>(r#"{"do":"explode"}"#).is_err());
        // Unknown fields are ignored (the API description allows them in these objects).
        assert!(serde_json::from_str::<Action>(r#"{"do":"label","label":"x","y":1}"#).is_ok());
    }

    #[test]
    fn channels_parse_from_the_cli_form() {
        assert_eq!(
            "desktop".parse::<ChannelTarget>().unwrap(),
            ChannelTarget::Desktop
        );
        assert_eq!(
            "mail:me@example.org".parse::<ChannelTarget>().unwrap(),
            ChannelTarget::Mail {
                address: "me@example.org".into()
            }
        );
        assert_eq!(
            "IM: me@im.example.org".parse::<ChannelTarget>().unwrap(),
            ChannelTarget::Im {
                address: "me@im.example.org".into()
            }
        );
        for bad in ["", "sms:123", "mail:", "mail:no at sign", "pager"] {
            let e = bad.parse::<ChannelTarget>().unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
        let json = serde_json::to_string(&ChannelTarget::Mail {
            address: "a@b".into(),
        })
        .unwrap();
        assert_eq!(json, r#"{"kind":"mail","address":"a@b"}"#);
    }
}
