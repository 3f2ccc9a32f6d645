//! From a routing decision to tracked deliveries (seed 001's message manager dispatching to
//! the delivery agents). Pure: the decision, the active profile and the settings go in; the
//! routing record and the deliveries to create come out, and the store writes them in one
//! transaction, so every message is routed exactly once.

use switchboard_route::{Action, Decision, Profile};
use switchboard_store::{NewDelivery, RouteRecord};

use crate::forward::ForwardMode;
use crate::spec::{AlternateOptions, ChannelSpec, DeliverySpec};

/// Delivery settings that are not part of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RouteSettings {
    pub forward_mode: ForwardMode,
}

/// One line naming a message in lists: `"Subject" from sender`.
pub fn summary_line(subject: &str, sender: Option<&str>) -> String {
    let subject = if subject.trim().is_empty() {
        "(no subject)".to_string()
    } else {
        let flat: String = subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(200)
            .collect();
        format!("\"{}\"", flat.trim())
    };
    match sender {
        Some(s) if !s.is_empty() => format!("{subject} from {s}"),
        _ => subject,
    }
}

/// The record and deliveries for `decision` about message `message_id`.
pub fn plan_deliveries(
    message_id: i64,
    decision: &Decision,
    profile: &Profile,
    summary: &str,
    settings: &RouteSettings,
    now_ms: i64,
) -> (RouteRecord, Vec<NewDelivery>) {
    let mut record = RouteRecord {
        routed: true,
        reason: if decision.explanation.is_empty() {
            format!("{} (profile {})", decision.summary(), decision.profile)
        } else {
            decision.explanation.join(" ")
        },
        mark_read: false,
        labels: Vec::new(),
    };
    // Every channel of the decision counts as used: an alternate never duplicates a sibling.
    let used: Vec<_> = decision.deliveries().filter_map(Action::channel).collect();
    let urgency = decision
        .actions
        .iter()
        .find_map(|a| match a {
            Action::Notify { urgency } => Some(*urgency),
            _ => None,
        })
        .unwrap_or(profile.urgency);
    let alternate = AlternateOptions {
        urgency,
        hide_content: decision.notify.hide_content,
        forward_mode: settings.forward_mode,
        conversation: decision.conversation.clone(),
    };
    let mut out = Vec::new();
    for action in &decision.actions {
        let channel = match action {
            Action::MarkRead => {
                record.mark_read = true;
                continue;
            }
            Action::Label { label } => {
                record.labels.push(label.clone());
                continue;
            }
            Action::Notify { urgency } => ChannelSpec::Desktop {
                urgency: *urgency,
                hide_content: decision.notify.hide_content,
                rate_limit_secs: decision.notify.rate_limit_secs,
                conversation: decision.conversation.clone(),
            },
            Action::ForwardMail { to } => ChannelSpec::Mail {
                to: to.clone(),
                mode: settings.forward_mode,
            },
            Action::ForwardIm { to } => ChannelSpec::Im { to: to.clone() },
            Action::Hold => ChannelSpec::Hold {
                profile: decision.profile.clone(),
            },
            // Never part of a decision (see switchboard_route::Decision).
            Action::Stop | Action::Deliver { .. } => continue,
        };
        let held = matches!(channel, ChannelSpec::Hold { .. });
        let spec = DeliverySpec {
            channel,
            policy: profile.policy.clone(),
            used: used.clone(),
            alternate: alternate.clone(),
            profile: Some(decision.profile.clone()),
        };
        out.push(NewDelivery {
            message_id: Some(message_id),
            outgoing_id: None,
            parent_id: None,
            channel: spec.channel.channel_name().to_string(),
            target: spec.channel.target(),
            spec: spec.to_json(),
            summary: summary.to_string(),
            held,
            due_at: now_ms,
            note: Some(if held {
                format!("held under profile {}", decision.profile)
            } else {
                format!("routed under profile {}", decision.profile)
            }),
        });
    }
    (record, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_route::{
        decide, default_profiles, default_rules, find_profile, ContactGroup, FactsInput,
        MessageFacts, RuleSet, Urgency,
    };

    fn decision(profile: &str, sender: &str) -> (Decision, Profile) {
        let profiles = default_profiles();
        let p = find_profile(&profiles, profile).unwrap().clone();
        let rules = RuleSet::new(
            &default_rules(),
            &[ContactGroup {
                name: "VIP".into(),
                members: vec!["boss@example.org".into()],
            }],
        );
        let facts = MessageFacts::new(FactsInput {
            sender: Some(sender),
            subject: "Budget",
            message_key: "m1@example.org",
            ..Default::default()
        });
        (decide(&facts, &p, &rules, 0), p)
    }

    #[test]
    fn a_notify_decision_becomes_one_desktop_delivery() {
        let (d, p) = decision("Home", "someone@example.org");
        let (record, list) = plan_deliveries(7, &d, &p, "\"Budget\"", &RouteSettings::default(), 5);
        assert!(record.routed);
        assert!(!record.reason.is_empty());
        assert_eq!(list.len(), 1);
        let spec = DeliverySpec::from_json(&list[0].spec).unwrap();
        assert!(matches!(
            spec.channel,
            ChannelSpec::Desktop {
                urgency: Urgency::Normal,
                ..
            }
        ));
        assert_eq!(list[0].channel, "desktop");
        assert_eq!(
            (list[0].message_id, list[0].due_at, list[0].held),
            (Some(7), 5, false)
        );
    }

    #[test]
    fn do_not_disturb_holds_and_vips_break_through() {
        let (d, p) = decision("Do not disturb", "someone@example.org");
        let (_, list) = plan_deliveries(1, &d, &p, "s", &RouteSettings::default(), 0);
        assert_eq!(list.len(), 1);
        assert!(list[0].held);
        assert_eq!(list[0].channel, "hold");
        let (d, p) = decision("Do not disturb", "boss@example.org");
        let (_, list) = plan_deliveries(1, &d, &p, "s", &RouteSettings::default(), 0);
        assert!(!list[0].held);
        let spec = DeliverySpec::from_json(&list[0].spec).unwrap();
        assert!(matches!(
            spec.channel,
            ChannelSpec::Desktop {
                urgency: Urgency::Critical,
                ..
            }
        ));
    }

    #[test]
    fn forwards_local_actions_and_channels_are_planned() {
        let (mut d, mut p) = decision("Home", "someone@example.org");
        d.actions = vec![
            Action::MarkRead,
            Action::Label {
                label: "lists".into(),
            },
            Action::ForwardMail {
                to: "me@phone.example".into(),
            },
            Action::ForwardIm {
                to: "me@im.example".into(),
            },
        ];
        p.policy.alternates = vec![switchboard_route::ChannelTarget::Desktop];
        let settings = RouteSettings {
            forward_mode: ForwardMode::Inline,
        };
        let (record, list) = plan_deliveries(3, &d, &p, "s", &settings, 0);
        assert!(record.mark_read);
        assert_eq!(record.labels, vec!["lists"]);
        assert_eq!(list.len(), 2);
        let mail = DeliverySpec::from_json(&list[0].spec).unwrap();
        assert_eq!(
            mail.channel,
            ChannelSpec::Mail {
                to: "me@phone.example".into(),
                mode: ForwardMode::Inline
            }
        );
        assert_eq!(mail.used.len(), 2, "both channels count as used");
        assert_eq!(mail.policy.alternates, p.policy.alternates);
        assert_eq!(list[1].target, "me@im.example");
    }

    #[test]
    fn quiet_decisions_route_to_nothing() {
        let (mut d, p) = decision("Home", "someone@example.org");
        d.actions.clear();
        let (record, list) = plan_deliveries(3, &d, &p, "s", &RouteSettings::default(), 0);
        assert!(record.routed && list.is_empty());
    }

    #[test]
    fn summaries_are_one_line() {
        assert_eq!(
            summary_line("Hi\r\nthere", Some("bob@x")),
            "\"Hi  there\" from bob@x"
        );
        assert_eq!(summary_line("", None), "(no subject)");
    }
}
