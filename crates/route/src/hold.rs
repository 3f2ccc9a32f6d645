//! When held messages come out (seed 001: "hold messages for some period and deliver them
//! all together"): all at once, as one digest, when the profile changes to one that does
//! not hold, or at a release time of the profile they were held under.
//!
//! Pure: the delivery engine keeps the held messages, calls [`due_release`] when the profile
//! may have changed and at the times [`next_release_time`] names, and sends the digest
//! (one notification, one digest mail) over the [`Release::actions`].

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{Action, DefaultAction, Profile};

/// A message being held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Held {
    pub message_id: i64,
    /// When it was held (unix seconds).
    pub held_at: i64,
    /// The profile active when it was held.
    pub profile: String,
}

/// Why a digest goes out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReleaseReason {
    /// The active profile is now another one, which does not hold.
    ProfileChanged { to: String },
    /// A release time of the holding profile passed.
    ReleaseTime { at: i64 },
}

/// One digest: the messages it lists and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Release {
    /// Oldest first.
    pub message_ids: Vec<i64>,
    pub reason: ReleaseReason,
    /// Deliveries for the digest: the active profile's channels (empty when it has none or is
    /// quiet; the messages are then simply no longer held).
    pub actions: Vec<Action>,
}

/// The first daily release time of `profile` strictly after `after`, in zone `tz`.
pub fn next_release_time(profile: &Profile, tz: &TimeZone, after: i64) -> Option<i64> {
    let date = tz.to_datetime(Timestamp::from_second(after).ok()?).date();
    let mut best: Option<i64> = None;
    let mut d = date;
    for _ in 0..3 {
        for t in &profile.hold.release_at {
            let Ok(ts) = tz.to_timestamp(d.at(t.hour(), t.minute(), 0, 0)) else {
                continue;
            };
            let s = ts.as_second();
            if s > after && best.is_none_or(|b| s < b) {
                best = Some(s);
            }
        }
        if best.is_some() {
            break;
        }
        match d.tomorrow() {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }
    best
}

/// What is due for release at `now` with `active` the active profile. Everything due goes in
/// one digest; `None` when nothing is due.
///
/// A message is due when the active profile is not the one it was held under and the active
/// profile's default is not hold (going from "Do not disturb" to "Home" releases; going from
/// "Do not disturb" to another holding profile does not), or when a release time of its
/// holding profile lies in `(held_at, now]`.
pub fn due_release(
    held: &[Held],
    active: &Profile,
    profiles: &[Profile],
    tz: &TimeZone,
    now: i64,
) -> Option<Release> {
    let mut by_change = false;
    let mut time_at: Option<i64> = None;
    let mut ids: Vec<(i64, i64)> = Vec::new();
    for h in held {
        if !active.is(&h.profile) && active.default_action != DefaultAction::Hold {
            by_change = true;
            ids.push((h.held_at, h.message_id));
            continue;
        }
        let holder = crate::find_profile(profiles, &h.profile).unwrap_or(active);
        if let Some(t) = next_release_time(holder, tz, h.held_at).filter(|&t| t <= now) {
            time_at = Some(time_at.map_or(t, |x: i64| x.max(t)));
            ids.push((h.held_at, h.message_id));
        }
    }
    if ids.is_empty() {
        return None;
    }
    ids.sort();
    let reason = match (by_change, time_at) {
        (true, _) | (false, None) => ReleaseReason::ProfileChanged {
            to: active.name.clone(),
        },
        (false, Some(at)) => ReleaseReason::ReleaseTime { at },
    };
    let actions = if active.default_action == DefaultAction::Quiet {
        Vec::new()
    } else {
        active.deliver_actions(None)
    };
    Some(Release {
        message_ids: ids.into_iter().map(|(_, id)| id).collect(),
        reason,
        actions,
    })
}
