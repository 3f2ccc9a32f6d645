//! Routing (seed 001's user manager and decision maker): profiles, the weekly schedule that
//! picks the active one, ordered rules, and the decision for each message — pure logic with
//! no I/O. The store keeps profiles, rules and the switch history
//! (`switchboard_store::Store::routing`), the delivery engine carries decisions out.
//!
//! ```
//! use switchboard_route::*;
//! let profiles = default_profiles();
//! let rules = RuleSet::new(&default_rules(), &[ContactGroup {
//!     name: "VIP".into(), members: vec!["boss@example.org".into()] }]);
//! let facts = MessageFacts::new(FactsInput {
//!     sender: Some("Boss@example.org"), subject: "Budget", message_key: "m1@example.org",
//!     ..Default::default() });
//! let dnd = find_profile(&profiles, "Do not disturb").unwrap();
//! let d = decide(&facts, dnd, &rules, 0);
//! assert_eq!(d.actions, [Action::Notify { urgency: Urgency::Critical }]);
//! assert!(d.explanation[0].contains("'VIPs break through' matched"));
//! ```
//!
//! The one thing that reads the system is resolving a time zone name
//! ([`resolve_zone`], [`Schedule::zone`]) through jiff and the system tz database
//! (`/usr/share/zoneinfo`, Debian's `tzdata`). jiff rather than chrono + chrono-tz: it
//! reads the system database instead of compiling one into the binary, and its
//! civil-time-to-instant conversion states how DST gaps and folds are resolved.

mod action;
mod decide;
pub mod facts;
pub mod hold;
mod notify;
mod policy;
mod profile;
pub mod rule;
pub mod schedule;
mod validate;

/// Deserializers for whole numbers that also take `3.0` (for API bodies).
pub use validate::int;
/// Schemas of the checked strings, for the server's API description.
#[cfg(feature = "openapi")]
pub use validate::schema as api_schema;

pub use action::{Action, ChannelTarget, Urgency};
pub use decide::{decide, ConditionCheck, Decision, NotifyOptions, RuleCheck, RuleMatch, RuleSet};
pub use facts::{FactsInput, Importance, MessageChannel, MessageFacts};
pub use hold::{due_release, next_release_time, Held, Release, ReleaseReason};
pub use notify::{NotifyLimiter, RateVerdict};
pub use policy::{DeliveredWhen, MessagePolicy};
pub use profile::{
    default_profiles, find_profile, DefaultAction, HoldSettings, NotifySettings, Profile,
    DEFAULT_PROFILE_NAMES,
};
pub use rule::{default_rules, rule_from_message, Condition, ContactGroup, Rule, RuleBasis};
pub use schedule::{
    active_profile, resolve_zone, ActiveProfile, ActiveReason, ManualSwitch, Schedule,
    ScheduleRange, SwitchReason, SwitchRecord, TimeOfDay, Weekday,
};

/// The time zone type schedules are computed in.
pub use jiff::tz::TimeZone;

/// Checks a name (profile, group, label) as the store does: 1–64 characters, no leading or
/// trailing spaces, no control characters. The error names `field`.
pub fn validate_name(field: &str, name: &str) -> Result<(), String> {
    validate::name(field, name)
}

/// Checks an address (forward target, group member): name@domain, no spaces.
pub fn validate_address(field: &str, address: &str) -> Result<(), String> {
    validate::address(field, address)
}
