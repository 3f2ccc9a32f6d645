//! Rules: ordered, each with conditions on the message and the actions to take when they
//! hold, optionally limited to some profiles. Contact groups ("VIP") name sets of senders.

use serde::{Deserialize, Serialize};

use crate::facts::{Importance, MessageChannel, MessageFacts};
use crate::{Action, Profile};

/// One condition on a message. JSON: `{"if": "sender_domain", "domain": "example.org"}`.
///
/// Text comparisons ignore case. `subject`/`body` hold when every word of `words` occurs as a
/// whole word (the body: its first 1 MiB of text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "if", rename_all = "snake_case")]
pub enum Condition {
    /// The channel the message came in by.
    Channel { channel: MessageChannel },
    /// The message came through this account.
    Account {
        #[cfg_attr(
            feature = "openapi",
            schema(
                pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$"
            )
        )]
        account: String,
    },
    /// The sender's address is exactly this.
    Sender {
        #[cfg_attr(
            feature = "openapi",
            schema(
                pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+$",
                max_length = 254
            )
        )]
        address: String,
    },
    /// The sender's address is in this domain or a subdomain of it.
    SenderDomain {
        #[cfg_attr(
            feature = "openapi",
            schema(pattern = r"^@?[^\s@\x00-\x1f\x7f-\x9f]+$", max_length = 254)
        )]
        domain: String,
    },
    /// The sender is in this contact group (an address or a domain member).
    SenderGroup {
        #[cfg_attr(
            feature = "openapi",
            schema(
                pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$"
            )
        )]
        group: String,
    },
    /// This address is among To and Cc.
    Recipient {
        #[cfg_attr(
            feature = "openapi",
            schema(
                pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+@[^\s@\x00-\x1f\x7f-\x9f]+$",
                max_length = 254
            )
        )]
        address: String,
    },
    /// Every word occurs in the subject.
    Subject {
        #[cfg_attr(feature = "openapi", schema(pattern = r"\S", max_length = 1000))]
        words: String,
    },
    /// Every word occurs in the body text.
    Body {
        #[cfg_attr(feature = "openapi", schema(pattern = r"\S", max_length = 1000))]
        words: String,
    },
    /// The raw message is at least this many bytes.
    SizeAtLeast {
        #[serde(deserialize_with = "crate::int::u64")]
        #[cfg_attr(feature = "openapi", schema(maximum = 9223372036854775807_u64))]
        bytes: u64,
    },
    /// The raw message is smaller than this many bytes.
    SizeBelow {
        #[serde(deserialize_with = "crate::int::u64")]
        #[cfg_attr(feature = "openapi", schema(maximum = 9223372036854775807_u64))]
        bytes: u64,
    },
    /// The message has (or, with `present: false`, has no) attachment; inline images do not count.
    Attachment { present: bool },
    /// The message came through this mailing list (List-Id); `*` means any list.
    ListId {
        #[cfg_attr(
            feature = "openapi",
            schema(
                pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
                max_length = 500
            )
        )]
        list: String,
    },
    /// The importance headers say this.
    Importance { level: Importance },
}

fn yes() -> bool {
    true
}

/// A rule. The store assigns `id`; the position in the rule list is the order of evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Assigned by the store; 0 for a rule not saved yet.
    #[serde(default, deserialize_with = "crate::int::i64")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub id: i64,
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The profiles it applies in; empty: every profile.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::validate::schema::RoutingName>))]
    pub profiles: Vec<String>,
    /// Any one condition is enough (default: all must hold).
    #[serde(default)]
    pub match_any: bool,
    /// No condition: every message matches.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub conditions: Vec<Condition>,
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 20))]
    pub actions: Vec<Action>,
}

/// A named set of senders such as "VIP": addresses and `@domain`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContactGroup {
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::validate::schema::GroupMember>, max_items = 5000))]
    pub members: Vec<String>,
}

impl ContactGroup {
    pub fn validate(&self) -> Result<(), String> {
        crate::validate::name("group name", &self.name)?;
        for m in &self.members {
            validate_member(m).map_err(|e| format!("group '{}': {e}", self.name))?;
        }
        Ok(())
    }
}

/// A group member: an address or `@domain`.
pub fn validate_member(m: &str) -> Result<(), String> {
    match crate::facts::SenderPattern::parse(m)? {
        crate::facts::SenderPattern::Group(_) => {
            Err(format!("member '{m}': groups cannot contain groups"))
        }
        _ => Ok(()),
    }
}

fn words_ok(field: &str, words: &str) -> Result<(), String> {
    if words.split_whitespace().next().is_none() {
        return Err(format!("{field} condition has no words"));
    }
    if words.chars().count() > 1000 {
        return Err(format!("{field} condition is longer than 1000 characters"));
    }
    Ok(())
}

impl Condition {
    pub fn validate(&self) -> Result<(), String> {
        use crate::validate::{address, name};
        match self {
            Condition::Channel { .. }
            | Condition::Attachment { .. }
            | Condition::Importance { .. } => Ok(()),
            Condition::Account { account } => name("account", account),
            Condition::Sender { address: a } => address("sender address", a),
            Condition::Recipient { address: a } => address("recipient address", a),
            Condition::SenderDomain { domain } => {
                let d = domain.strip_prefix('@').unwrap_or(domain);
                if d.is_empty()
                    || d.contains('@')
                    || d.chars().any(|c| c.is_whitespace() || c.is_control())
                    || domain.chars().count() > 254
                {
                    Err(format!(
                        "sender domain '{}' is not a domain like example.org",
                        domain.escape_debug()
                    ))
                } else {
                    Ok(())
                }
            }
            Condition::SenderGroup { group } => name("group name", group),
            Condition::Subject { words } => words_ok("subject", words),
            Condition::Body { words } => words_ok("body", words),
            Condition::SizeAtLeast { bytes } | Condition::SizeBelow { bytes } => {
                if *bytes > i64::MAX as u64 {
                    Err(format!("size {bytes} is larger than {}", i64::MAX))
                } else {
                    Ok(())
                }
            }
            Condition::ListId { list } => {
                if list.trim().is_empty()
                    || list.chars().count() > 500
                    || list.chars().any(char::is_control)
                {
                    Err(format!(
                        "list id '{}' is empty, longer than 500 characters or has control characters",
                        list.escape_debug()
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// `sender is in group 'VIP'`: what the condition asks, for listings.
    pub fn describe(&self) -> String {
        match self {
            Condition::Channel { channel } => format!("came by {}", channel.as_str()),
            Condition::Account { account } => format!("came through account '{account}'"),
            Condition::Sender { address } => format!("sender is {address}"),
            Condition::SenderDomain { domain } => {
                format!("sender is in domain {}", domain.trim_start_matches('@'))
            }
            Condition::SenderGroup { group } => format!("sender is in group '{group}'"),
            Condition::Recipient { address } => format!("sent to {address}"),
            Condition::Subject { words } => format!("subject has '{words}'"),
            Condition::Body { words } => format!("body has '{words}'"),
            Condition::SizeAtLeast { bytes } => format!("size at least {bytes} bytes"),
            Condition::SizeBelow { bytes } => format!("size below {bytes} bytes"),
            Condition::Attachment { present: true } => "has an attachment".to_string(),
            Condition::Attachment { present: false } => "has no attachment".to_string(),
            Condition::ListId { list } if list == "*" => "came through a mailing list".to_string(),
            Condition::ListId { list } => format!("came through list {list}"),
            Condition::Importance { level } => format!("importance is {}", level.as_str()),
        }
    }
}

/// At most this many conditions and actions per rule, and rules per store.
pub const MAX_CONDITIONS: usize = 50;
pub const MAX_ACTIONS: usize = 20;
pub const MAX_RULES: usize = 10_000;

impl Rule {
    /// Checks what a person can type; the error names the field. Profile names are checked
    /// against the existing profiles by [`Rule::validate_profiles`].
    pub fn validate(&self) -> Result<(), String> {
        crate::validate::name("rule name", &self.name)?;
        if self.id < 0 {
            return Err(format!(
                "rule id {} is negative; ids are given by the store",
                self.id
            ));
        }
        if self.actions.is_empty() {
            return Err(format!("rule '{}' has no action (notify, forward_mail, forward_im, hold, mark_read, label, stop, deliver)", self.name));
        }
        if self.conditions.len() > MAX_CONDITIONS {
            return Err(format!(
                "rule '{}' has more than {MAX_CONDITIONS} conditions",
                self.name
            ));
        }
        if self.actions.len() > MAX_ACTIONS {
            return Err(format!(
                "rule '{}' has more than {MAX_ACTIONS} actions",
                self.name
            ));
        }
        for (i, c) in self.conditions.iter().enumerate() {
            c.validate()
                .map_err(|e| format!("rule '{}', condition {}: {e}", self.name, i + 1))?;
        }
        for (i, a) in self.actions.iter().enumerate() {
            let r = match a {
                Action::ForwardMail { to } | Action::ForwardIm { to } => {
                    crate::validate::address("forward address", to)
                }
                Action::Label { label } => crate::validate::name("label", label),
                _ => Ok(()),
            };
            r.map_err(|e| format!("rule '{}', action {}: {e}", self.name, i + 1))?;
        }
        for p in &self.profiles {
            crate::validate::name("profile name", p)
                .map_err(|e| format!("rule '{}': {e}", self.name))?;
        }
        Ok(())
    }

    /// Every profile the rule names exists.
    pub fn validate_profiles(&self, profiles: &[Profile]) -> Result<(), String> {
        for p in &self.profiles {
            if crate::find_profile(profiles, p).is_none() {
                return Err(format!(
                    "rule '{}': profile '{p}' does not exist",
                    self.name
                ));
            }
        }
        Ok(())
    }

    /// `if sender is in group 'VIP' → notify (critical), stop [Do not disturb]`.
    pub fn describe(&self) -> String {
        let conds = if self.conditions.is_empty() {
            "every message".to_string()
        } else {
            self.conditions
                .iter()
                .map(Condition::describe)
                .collect::<Vec<_>>()
                .join(if self.match_any { " or " } else { " and " })
        };
        let actions = self
            .actions
            .iter()
            .map(Action::describe)
            .collect::<Vec<_>>()
            .join(", ");
        let scope = if self.profiles.is_empty() {
            String::new()
        } else {
            format!(" [in {}]", self.profiles.join(", "))
        };
        let off = if self.enabled { "" } else { " (disabled)" };
        format!("if {conds} → {actions}{scope}{off}")
    }

    /// Whether the rule applies while `profile` is active.
    pub fn applies_in(&self, profile: &str) -> bool {
        self.profiles.is_empty()
            || self
                .profiles
                .iter()
                .any(|p| p.to_lowercase() == profile.to_lowercase())
    }
}

/// What "rule from this message" keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RuleBasis {
    /// The sender's address.
    Sender,
    /// The mailing list (List-Id).
    List,
}

/// A rule matching messages like this one: from the same sender, or through the same list.
pub fn rule_from_message(
    facts: &MessageFacts,
    basis: RuleBasis,
    actions: Vec<Action>,
) -> Result<Rule, String> {
    let (name, condition) = match basis {
        RuleBasis::Sender => {
            let s = facts
                .sender
                .clone()
                .ok_or("the message has no sender address to make a rule from")?;
            (
                format!("From {}", crate::validate::truncate(&s, 58)),
                Condition::Sender { address: s },
            )
        }
        RuleBasis::List => {
            let l = facts.list_id.clone().ok_or(
                "the message has no List-Id header: it did not come through a mailing list",
            )?;
            (
                format!("List {}", crate::validate::truncate(&l, 58)),
                Condition::ListId { list: l },
            )
        }
    };
    let rule = Rule {
        id: 0,
        name,
        enabled: true,
        profiles: Vec::new(),
        match_any: false,
        conditions: vec![condition],
        actions,
    };
    rule.validate()?;
    Ok(rule)
}

/// The rules every store starts with: VIPs (the "VIP" contact group) still reach the person
/// in a meeting or while not to be disturbed.
pub fn default_rules() -> Vec<Rule> {
    vec![Rule {
        id: 0,
        name: "VIPs break through".to_string(),
        enabled: true,
        profiles: vec!["Meeting".to_string(), "Do not disturb".to_string()],
        match_any: false,
        conditions: vec![Condition::SenderGroup {
            group: "VIP".to_string(),
        }],
        actions: vec![
            Action::Notify {
                urgency: crate::Urgency::Critical,
            },
            Action::Stop,
        ],
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_read_their_documented_json() {
        let json = r#"[
            {"if":"channel","channel":"mail"},
            {"if":"account","account":"work"},
            {"if":"sender","address":"bob@example.org"},
            {"if":"sender_domain","domain":"example.org"},
            {"if":"sender_group","group":"VIP"},
            {"if":"recipient","address":"me@example.org"},
            {"if":"subject","words":"invoice due"},
            {"if":"body","words":"unsubscribe"},
            {"if":"size_at_least","bytes":1000000},
            {"if":"size_below","bytes":10},
            {"if":"attachment","present":true},
            {"if":"list_id","list":"*"},
            {"if":"importance","level":"high"}
        ]"#;
        let conds: Vec<Condition> = serde_json::from_str(json).unwrap();
        assert_eq!(conds.len(), 13);
        for c in &conds {
            c.validate().unwrap();
            let back: Condition = serde_json::from_str(&serde_json::to_string(c).unwrap()).unwrap();
            assert_eq!(&back, c);
        }
        assert!(serde_json::from_str::<Condition>(r#"{"if":"weather","is":"rain"}"#).is_err());
    }

    #[test]
    fn rule_validation_names_rule_and_field() {
        let base = Rule {
            id: 0,
            name: "r".into(),
            enabled: true,
            profiles: vec![],
            match_any: false,
            conditions: vec![],
            actions: vec![Action::Hold],
        };
        base.validate().unwrap();
        let e = Rule {
            actions: vec![],
            ..base.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("no action"), "{e}");
        let e = Rule {
            conditions: vec![Condition::Subject { words: "  ".into() }],
            ..base.clone()
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("condition 1") && e.contains("no words"), "{e}");
        let e = Rule {
            actions: vec![Action::ForwardMail {
                to: "nobody".into(),
            }],
            ..base.clone()
        }
        .validate()
        .unwrap_err();
        assert!(
            e.contains("action 1") && e.contains("forward address"),
            "{e}"
        );
        let e = Rule {
            profiles: vec!["Gym".into()],
            ..base.clone()
        }
        .validate_profiles(&crate::default_profiles())
        .unwrap_err();
        assert!(e.contains("'Gym'"), "{e}");
        let e = Rule {
            name: "".into(),
            ..base
        }
        .validate()
        .unwrap_err();
        assert!(e.contains("rule name"), "{e}");
    }

    #[test]
    fn rules_from_a_message() {
        let f = MessageFacts::new(crate::FactsInput {
            sender: Some("News@Letters.example"),
            list_id: Some("weekly.letters.example"),
            message_key: "k",
            ..Default::default()
        });
        let r = rule_from_message(&f, RuleBasis::Sender, vec![Action::MarkRead]).unwrap();
        assert_eq!(
            r.conditions,
            [Condition::Sender {
                address: "news@letters.example".into()
            }]
        );
        let r = rule_from_message(
            &f,
            RuleBasis::List,
            vec![Action::Label {
                label: "news".into(),
            }],
        )
        .unwrap();
        assert_eq!(
            r.conditions,
            [Condition::ListId {
                list: "weekly.letters.example".into()
            }]
        );
        let bare = MessageFacts::new(crate::FactsInput {
            message_key: "k",
            ..Default::default()
        });
        assert!(
            rule_from_message(&bare, RuleBasis::Sender, vec![Action::Hold])
                .unwrap_err()
                .contains("no sender")
        );
        assert!(
            rule_from_message(&bare, RuleBasis::List, vec![Action::Hold])
                .unwrap_err()
                .contains("List-Id")
        );
        assert!(rule_from_message(&f, RuleBasis::List, vec![])
            .unwrap_err()
            .contains("no action"));
    }
}
