//! Profiles (seed 001's contact profiles): where messages go while a profile is active. The
//! person edits them; exactly one is active at any moment (see [`crate::schedule`]).

use serde::{Deserialize, Serialize};

use crate::schedule::TimeOfDay;
use crate::{ChannelTarget, MessagePolicy, Urgency};

/// What happens to a message no rule decided about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DefaultAction {
    /// Deliver to every channel of the profile.
    #[default]
    Deliver,
    /// Hold it for the digest (see [`crate::hold`]).
    Hold,
    /// Keep it in the inbox only; nothing is sent anywhere.
    Quiet,
}

impl DefaultAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultAction::Deliver => "deliver",
            DefaultAction::Hold => "hold",
            DefaultAction::Quiet => "quiet",
        }
    }
}

impl std::str::FromStr for DefaultAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "deliver" => Ok(DefaultAction::Deliver),
            "hold" => Ok(DefaultAction::Hold),
            "quiet" => Ok(DefaultAction::Quiet),
            _ => Err(format!(
                "default action '{s}' is not one of deliver, hold, quiet"
            )),
        }
    }
}

/// Notification options of a profile. They shape the `Notify` actions of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// Show only that a message came, and from whom — no subject, no text.
    pub hide_content: bool,
    /// At most one notification per conversation per this many minutes (0: no limit). The
    /// decision carries it; [`crate::NotifyLimiter`] applies it.
    #[cfg_attr(feature = "openapi", schema(maximum = 10080))]
    #[serde(deserialize_with = "crate::int::u32")]
    pub rate_limit_minutes: u32,
    /// Accounts whose messages never raise a desktop notification (VIPs excepted).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::validate::schema::RoutingName>))]
    pub muted_accounts: Vec<String>,
    /// Senders whose notifications are always critical, never muted and never rate-limited:
    /// an address (`boss@example.org`), a domain (`@example.org`) or a contact group
    /// (`group:VIP`).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::validate::schema::VipSender>))]
    pub vip: Vec<String>,
}

/// When held messages of this profile are released besides a profile change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct HoldSettings {
    /// Local times ("HH:MM", the schedule's time zone) at which everything held so far is
    /// released as one digest, every day.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::validate::schema::LocalTime>, max_items = 48))]
    pub release_at: Vec<TimeOfDay>,
}

/// One profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Unique, compared without regard to case; 1–64 characters, spaces allowed.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub name: String,
    /// Where `deliver` sends messages (a channel listed twice counts once).
    #[serde(default)]
    pub channels: Vec<ChannelTarget>,
    /// What happens when no rule decided.
    #[serde(default)]
    pub default_action: DefaultAction,
    /// Urgency of the desktop notifications `deliver` raises.
    #[serde(default)]
    pub urgency: Urgency,
    #[serde(default)]
    pub notify: NotifySettings,
    #[serde(default)]
    pub hold: HoldSettings,
    #[serde(default)]
    pub policy: MessagePolicy,
}

impl Profile {
    /// A profile delivering to this desktop, everything else default.
    pub fn new(name: &str) -> Profile {
        Profile {
            name: name.to_string(),
            channels: vec![ChannelTarget::Desktop],
            default_action: DefaultAction::Deliver,
            urgency: Urgency::Normal,
            notify: NotifySettings::default(),
            hold: HoldSettings::default(),
            policy: MessagePolicy::default(),
        }
    }

    /// Same name, ignoring case.
    pub fn is(&self, name: &str) -> bool {
        self.name.to_lowercase() == name.trim().to_lowercase()
    }

    /// Checks everything a person can type; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        crate::validate::name("profile name", &self.name)?;
        for c in &self.channels {
            validate_channel("channel", c)?;
        }
        for a in &self.notify.muted_accounts {
            crate::validate::name("muted account", a)?;
        }
        if self.notify.rate_limit_minutes > 7 * 24 * 60 {
            return Err(format!(
                "rate_limit_minutes must be at most a week (10080), not {}",
                self.notify.rate_limit_minutes
            ));
        }
        for v in &self.notify.vip {
            crate::facts::SenderPattern::parse(v).map_err(|e| format!("vip: {e}"))?;
        }
        if self.hold.release_at.len() > 48 {
            return Err("at most 48 hold release times".to_string());
        }
        self.policy.validate()
    }

    /// The concrete actions `deliver` means in this profile.
    pub fn deliver_actions(&self, urgency: Option<Urgency>) -> Vec<crate::Action> {
        let urgency = urgency.unwrap_or(self.urgency);
        self.channels.iter().map(|c| c.action(urgency)).collect()
    }
}

pub(crate) fn validate_channel(field: &str, c: &ChannelTarget) -> Result<(), String> {
    match c {
        ChannelTarget::Desktop => Ok(()),
        ChannelTarget::Mail { address } | ChannelTarget::Im { address } => {
            crate::validate::address(&format!("{field} address"), address)
        }
    }
}

/// Names of the profiles every store starts with.
pub const DEFAULT_PROFILE_NAMES: [&str; 5] =
    ["Home", "Work", "Travelling", "Meeting", "Do not disturb"];

/// The profiles a new store starts with; the person edits them.
///
/// * Home, Work, Travelling: deliver to this desktop (add a mail or IM address to Travelling).
/// * Meeting: deliver with low urgency and without the message content on screen.
/// * Do not disturb: hold everything; it comes as one digest when the profile ends.
pub fn default_profiles() -> Vec<Profile> {
    let mut meeting = Profile::new("Meeting");
    meeting.urgency = Urgency::Low;
    meeting.notify.hide_content = true;
    let mut dnd = Profile::new("Do not disturb");
    dnd.default_action = DefaultAction::Hold;
    vec![
        Profile::new("Home"),
        Profile::new("Work"),
        Profile::new("Travelling"),
        meeting,
        dnd,
    ]
}

/// Finds a profile by name, ignoring case.
pub fn find_profile<'a>(profiles: &'a [Profile], name: &str) -> Option<&'a Profile> {
    profiles.iter().find(|p| p.is(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_distinct() {
        let p = default_profiles();
        assert_eq!(p.len(), 5);
        for (profile, name) in p.iter().zip(DEFAULT_PROFILE_NAMES) {
            assert_eq!(profile.name, name);
            profile.validate().unwrap();
        }
        assert_eq!(
            find_profile(&p, "do NOT disturb").unwrap().default_action,
            DefaultAction::Hold
        );
        assert!(find_profile(&p, "Gym").is_none());
    }

    #[test]
    fn a_profile_reads_from_minimal_json_and_rejects_unknown_fields() {
        let p: Profile = serde_json::from_str(r#"{"name":"Gym"}"#).unwrap();
        assert_eq!(p.default_action, DefaultAction::Deliver);
        assert!(p.channels.is_empty());
        assert!(serde_json::from_str::<Profile>(r#"{"name":"Gym","colour":"red"}"#).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let mut p = Profile::new("Home");
        p.channels.push(ChannelTarget::Mail {
            address: "nope".into(),
        });
        assert!(p.validate().unwrap_err().contains("channel address"));
        let mut p = Profile::new("Home");
        p.notify.vip.push("group:".into());
        assert!(p.validate().unwrap_err().contains("vip"));
        let mut p = Profile::new(" Home");
        assert!(p.validate().unwrap_err().contains("profile name"));
        p.name = "Home".into();
        p.policy.trials = 0;
        assert!(p.validate().unwrap_err().contains("trials"));
    }
}
