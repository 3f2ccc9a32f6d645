//! The routing configuration and its service functions: profiles, the schedule and the manual
//! switch, the switch history, ordered rules, contact groups and labels. Definitions are kept
//! as JSON in the shapes of `switchboard_route`'s serde types; the decisions themselves are
//! that crate's pure functions, fed from here.
//!
//! A new store gets the default profiles (Home, Work, Travelling, Meeting, Do not disturb),
//! the "VIPs break through" rule and an empty "VIP" group the first time routing is used.
//!
//! For the delivery engine: [`Store::decision_for`] is the decision for one stored message
//! with the active profile and rules of the moment; [`Store::routing`] loads everything once
//! for many decisions; [`Store::apply_local_actions`] marks read and labels.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use switchboard_route::{
    active_profile, decide, find_profile, schedule, Action, ActiveProfile, ContactGroup, Decision,
    ManualSwitch, MessageChannel, MessageFacts, Profile, Rule, RuleCheck, RuleSet, Schedule,
    SwitchReason, SwitchRecord, TimeZone,
};

use crate::{now_unix, InboxQuery, Result, Store, StoreError};

/// At most this many profiles, groups and members per group: lists people edit by hand.
pub const MAX_PROFILES: usize = 100;
pub const MAX_GROUPS: usize = 200;
pub const MAX_GROUP_MEMBERS: usize = 5000;

fn invalid(field: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        detail: detail.into(),
    }
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| invalid("json", e.to_string()))
}

/// Everything a decision needs, loaded at one moment.
#[derive(Debug, Clone)]
pub struct Routing {
    pub profiles: Vec<Profile>,
    pub schedule: Schedule,
    pub manual: Option<ManualSwitch>,
    /// The schedule's time zone (UTC when its name cannot be resolved; see `zone_problem`).
    pub zone: TimeZone,
    pub zone_problem: Option<String>,
    pub active: ActiveProfile,
    pub rules: Vec<Rule>,
    pub groups: Vec<ContactGroup>,
    pub rule_set: RuleSet,
}

impl Routing {
    /// The active profile's settings. Should its name not exist (a store edited by hand), the
    /// first profile stands in rather than routing stopping.
    pub fn active_profile(&self) -> &Profile {
        find_profile(&self.profiles, &self.active.name)
            .or(self.profiles.first())
            .expect("a store always has a profile")
    }

    pub fn profile(&self, name: &str) -> Result<&Profile> {
        find_profile(&self.profiles, name).ok_or_else(|| no_profile(name))
    }

    /// The decision for a message under the active profile.
    pub fn decide(&self, facts: &MessageFacts, now: i64) -> Decision {
        decide(facts, self.active_profile(), &self.rule_set, now)
    }
}

fn no_profile(name: &str) -> StoreError {
    StoreError::NotFound(format!("no profile named '{name}'"))
}

fn conflict(detail: impl Into<String>) -> StoreError {
    StoreError::Conflict(detail.into())
}

/// Names the API uses for its own paths under /api/profiles.
const RESERVED_PROFILE_NAMES: [&str; 2] = ["active", "history"];

/// Checks a profile to be saved and removes repeated channels.
fn checked_profile(p: &Profile) -> Result<Profile> {
    p.validate().map_err(|e| invalid("profile", e))?;
    if RESERVED_PROFILE_NAMES.iter().any(|r| p.is(r)) {
        return Err(conflict(format!(
            "'{}' cannot be a profile name: the API uses it (/api/profiles/{})",
            p.name,
            p.name.to_lowercase()
        )));
    }
    let mut p = p.clone();
    let mut seen = Vec::new();
    p.channels.retain(|c| {
        let new = !seen.contains(c);
        seen.push(c.clone());
        new
    });
    Ok(p)
}

fn no_rule(id: i64) -> StoreError {
    StoreError::NotFound(format!("no rule with id {id}"))
}

fn no_group(name: &str) -> StoreError {
    StoreError::NotFound(format!("no contact group named '{name}'"))
}

/// `rule try`: a rule to test before it is saved.
#[derive(Debug, Clone)]
pub struct RuleTrial {
    pub rule: Rule,
    /// Where it would go in the list (1 = first); `None`: at the end.
    pub position: Option<usize>,
    /// The profile to decide under; `None`: the active one.
    pub profile: Option<String>,
    /// How many of the newest messages to look at.
    pub limit: usize,
    /// Only messages of this household member's accounts.
    pub owner: Option<String>,
}

/// One message the tried rule matches, and what would happen to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrialMatch {
    pub id: i64,
    pub from: Option<String>,
    pub subject: String,
    pub date: Option<String>,
    /// What happens today, without the rule.
    pub now: Vec<Action>,
    /// What would happen with the rule in place.
    pub with_rule: Decision,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrialOutcome {
    pub profile: String,
    /// Messages looked at (the newest first).
    pub scanned: usize,
    pub matches: Vec<TrialMatch>,
    /// Messages that could not be read (damaged raw data), with the reason.
    pub skipped: Vec<String>,
}

/// `route explain`: the decision and every rule's verdict for one message.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RouteExplanation {
    pub message_id: i64,
    pub active: ActiveProfile,
    /// The profile the decision was made under (the active one unless another was asked for).
    pub profile: String,
    pub decision: Decision,
    pub rules: Vec<RuleCheck>,
}

/// The routing configuration as a whole (for listing and backup).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfilesOverview {
    pub active: ActiveProfile,
    /// `manual`, `scheduled: Work mon-fri 09:00-17:00`, `fallback` — in words.
    pub why: String,
    pub profiles: Vec<Profile>,
    pub schedule: Schedule,
    pub manual: Option<ManualSwitch>,
}

/// Runs `f` in a BEGIN IMMEDIATE transaction on `conn` (which must be in autocommit mode).
fn write_tx<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn load_profiles(conn: &Connection) -> Result<Vec<Profile>> {
    let mut stmt = conn.prepare_cached("SELECT id, settings FROM profile ORDER BY id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, settings) = row?;
        match serde_json::from_str::<Profile>(&settings) {
            Ok(p) => out.push(p),
            // One damaged row must not stop routing for every message.
            Err(e) => tracing::warn!("stored profile {id} is damaged and ignored: {e}"),
        }
    }
    Ok(out)
}

fn load_rules(conn: &Connection) -> Result<Vec<Rule>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, definition FROM route_rule ORDER BY position, id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, def) = row?;
        match serde_json::from_str::<Rule>(&def) {
            Ok(mut rule) => {
                rule.id = id;
                out.push(rule)
            }
            Err(e) => tracing::warn!("stored rule {id} is damaged and ignored: {e}"),
        }
    }
    Ok(out)
}

fn load_groups(conn: &Connection) -> Result<Vec<ContactGroup>> {
    let mut stmt = conn.prepare_cached(
        "SELECT g.name, m.member FROM contact_group g \
         LEFT JOIN contact_group_member m ON m.group_name = g.name \
         ORDER BY g.name COLLATE NOCASE, m.member",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
    })?;
    let mut out: Vec<ContactGroup> = Vec::new();
    for row in rows {
        let (name, member) = row?;
        if out.last().is_none_or(|g| g.name != name) {
            out.push(ContactGroup {
                name,
                members: Vec::new(),
            });
        }
        if let (Some(m), Some(g)) = (member, out.last_mut()) {
            g.members.push(m);
        }
    }
    Ok(out)
}

fn load_state(conn: &Connection) -> Result<(Schedule, Option<ManualSwitch>)> {
    let (schedule, profile, at, until_released): (String, Option<String>, Option<i64>, bool) = conn
        .query_row(
            "SELECT schedule, manual_profile, manual_at, manual_until_released \
             FROM routing_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
    let schedule = serde_json::from_str(&schedule).unwrap_or_else(|e| {
        tracing::warn!("the stored schedule is damaged; using none: {e}");
        Schedule::default()
    });
    let manual = match (profile, at) {
        (Some(profile), Some(at)) => Some(ManualSwitch {
            profile,
            at,
            until_released,
        }),
        _ => None,
    };
    Ok((schedule, manual))
}

fn zone_of(schedule: &Schedule) -> (TimeZone, Option<String>) {
    match schedule.zone() {
        Ok(z) => (z, None),
        Err(e) => (TimeZone::UTC, Some(format!("{e}; using UTC"))),
    }
}

fn last_switch(conn: &Connection) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT at, profile FROM profile_switch ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

fn insert_switch(conn: &Connection, rec: &SwitchRecord) -> Result<()> {
    conn.execute(
        "INSERT INTO profile_switch (at, profile, previous, reason) VALUES (?1, ?2, ?3, ?4)",
        params![rec.at, rec.profile, rec.previous, rec.reason.as_str()],
    )?;
    Ok(())
}

/// Records a change of the active profile in the history (inside a transaction): when the
/// profile active at `now` is not the last one recorded. A manual switch that ran out is
/// forgotten. The record's time is when the change happened (the boundary), when known.
fn note_active(conn: &Connection, now: i64, reason: SwitchReason) -> Result<Option<SwitchRecord>> {
    let (schedule, manual) = load_state(conn)?;
    let (zone, _) = zone_of(&schedule);
    if let Some(m) = &manual {
        if schedule::manual_expired(&schedule, &zone, m, now) {
            conn.execute(
                "UPDATE routing_state SET manual_profile = NULL, manual_at = NULL, \
                 manual_until_released = 0 WHERE id = 1",
                [],
            )?;
        }
    }
    let active = active_profile(&schedule, &zone, manual.as_ref(), now);
    let last = last_switch(conn)?;
    if last.as_ref().is_some_and(|(_, p)| p == &active.name) {
        return Ok(None);
    }
    let last_at = last.as_ref().map_or(i64::MIN, |(at, _)| *at);
    let at = match active.since {
        Some(s) if s > last_at && s <= now => s,
        _ => now,
    };
    let rec = SwitchRecord {
        at,
        profile: active.name.clone(),
        previous: last.map(|(_, p)| p),
        reason,
    };
    insert_switch(conn, &rec)?;
    Ok(Some(rec))
}

fn canonical_name(profiles: &[Profile], name: &str) -> Result<String> {
    find_profile(profiles, name)
        .map(|p| p.name.clone())
        .ok_or_else(|| no_profile(name))
}

impl Store {
    /// Puts the default profiles, rule and group in place the first time routing is used.
    fn ensure_routing(&self) -> Result<()> {
        let conn = self.conn();
        let seeded: bool =
            conn.query_row("SELECT count(*) > 0 FROM routing_state", [], |r| r.get(0))?;
        if seeded {
            return Ok(());
        }
        write_tx(conn, |c| {
            // Another process may have seeded while we waited for the lock.
            let seeded: bool =
                c.query_row("SELECT count(*) > 0 FROM routing_state", [], |r| r.get(0))?;
            if seeded {
                return Ok(());
            }
            let now = crate::clock::now();
            for p in switchboard_route::default_profiles() {
                c.execute(
                    "INSERT INTO profile (name, settings, created_at) VALUES (?1, ?2, ?3)",
                    params![p.name, json(&p)?, now],
                )?;
            }
            for (i, r) in switchboard_route::default_rules().iter().enumerate() {
                c.execute(
                    "INSERT INTO route_rule (position, definition, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?3)",
                    params![i as i64 + 1, json(r)?, now],
                )?;
            }
            c.execute(
                "INSERT INTO contact_group (name, created_at) VALUES ('VIP', ?1)",
                [now],
            )?;
            let schedule = Schedule::default();
            c.execute(
                "INSERT INTO routing_state (id, schedule) VALUES (1, ?1)",
                [json(&schedule)?],
            )?;
            insert_switch(
                c,
                &SwitchRecord {
                    at: crate::clock::now(),
                    profile: schedule.fallback,
                    previous: None,
                    reason: SwitchReason::Scheduled,
                },
            )?;
            Ok(())
        })
    }

    /// Profiles, schedule, active profile, rules and groups at `now`.
    pub fn routing(&self, now: i64) -> Result<Routing> {
        self.ensure_routing()?;
        let conn = self.conn();
        let profiles = load_profiles(conn)?;
        if profiles.is_empty() {
            return Err(invalid("profiles", "the store has no readable profile"));
        }
        let (schedule, manual) = load_state(conn)?;
        let (zone, zone_problem) = zone_of(&schedule);
        let active = active_profile(&schedule, &zone, manual.as_ref(), now);
        let rules = load_rules(conn)?;
        let groups = load_groups(conn)?;
        let rule_set = RuleSet::new(&rules, &groups);
        Ok(Routing {
            profiles,
            schedule,
            manual,
            zone,
            zone_problem,
            active,
            rules,
            groups,
            rule_set,
        })
    }

    /// The active profile and why, with every profile and the schedule.
    pub fn profiles_overview(&self, now: i64) -> Result<ProfilesOverview> {
        let r = self.routing(now)?;
        Ok(ProfilesOverview {
            why: why_words(&r),
            active: r.active,
            profiles: r.profiles,
            schedule: r.schedule,
            manual: r.manual,
        })
    }

    pub fn profiles(&self) -> Result<Vec<Profile>> {
        self.ensure_routing()?;
        load_profiles(self.conn())
    }

    pub fn profile(&self, name: &str) -> Result<Profile> {
        self.profiles()?
            .into_iter()
            .find(|p| p.is(name))
            .ok_or_else(|| no_profile(name))
    }

    /// Adds a profile; names are unique regardless of case.
    pub fn add_profile(&mut self, p: &Profile) -> Result<Profile> {
        let p = &checked_profile(p)?;
        self.ensure_routing()?;
        write_tx(self.conn(), |c| {
            let profiles = load_profiles(c)?;
            if find_profile(&profiles, &p.name).is_some() {
                return Err(conflict(format!(
                    "a profile named '{}' already exists",
                    p.name
                )));
            }
            if profiles.len() >= MAX_PROFILES {
                return Err(conflict(format!(
                    "there are already {MAX_PROFILES} profiles, the most a store keeps"
                )));
            }
            c.execute(
                "INSERT INTO profile (name, settings, created_at) VALUES (?1, ?2, ?3)",
                params![p.name, json(p)?, now_unix()],
            )?;
            Ok(p.clone())
        })
    }

    /// Replaces profile `name` with `p`. A new name is carried into rules, the schedule and
    /// the manual switch in the same transaction.
    pub fn update_profile(&mut self, name: &str, p: &Profile, now: i64) -> Result<Profile> {
        let p = &checked_profile(p)?;
        self.ensure_routing()?;
        write_tx(self.conn(), |c| {
            let profiles = load_profiles(c)?;
            let old = canonical_name(&profiles, name)?;
            if let Some(other) = find_profile(&profiles, &p.name) {
                if !other.is(&old) {
                    return Err(conflict(format!(
                        "a profile named '{}' already exists",
                        other.name
                    )));
                }
            }
            c.execute(
                "UPDATE profile SET name = ?2, settings = ?3 WHERE name = ?1",
                params![old, p.name, json(p)?],
            )?;
            if p.name != old {
                rename_references(c, &old, &p.name)?;
            }
            note_active(c, now, SwitchReason::Edited)?;
            Ok(p.clone())
        })
    }

    /// Removes a profile that nothing refers to: not the last one, not active, not in the
    /// schedule, not named by a rule.
    pub fn remove_profile(&mut self, name: &str, now: i64) -> Result<()> {
        self.ensure_routing()?;
        write_tx(self.conn(), |c| {
            let profiles = load_profiles(c)?;
            let name = canonical_name(&profiles, name)?;
            if profiles.len() == 1 {
                return Err(conflict(format!(
                    "'{name}' is the only profile; one must remain"
                )));
            }
            let (schedule, manual) = load_state(c)?;
            let (zone, _) = zone_of(&schedule);
            let active = active_profile(&schedule, &zone, manual.as_ref(), now);
            if active.name.to_lowercase() == name.to_lowercase() {
                return Err(conflict(format!(
                    "'{name}' is the active profile; switch to another first"
                )));
            }
            if schedule.fallback.to_lowercase() == name.to_lowercase() {
                return Err(conflict(format!(
                    "'{name}' is the schedule's fallback; choose another fallback first"
                )));
            }
            if let Some((i, r)) = schedule
                .ranges
                .iter()
                .enumerate()
                .find(|(_, r)| r.profile.to_lowercase() == name.to_lowercase())
            {
                return Err(conflict(format!(
                    "'{name}' is used by schedule range {} ({}); remove that range first",
                    i + 1,
                    r.describe()
                )));
            }
            if let Some(r) = load_rules(c)?.iter().find(|r| {
                r.profiles
                    .iter()
                    .any(|p| p.to_lowercase() == name.to_lowercase())
            }) {
                return Err(conflict(format!(
                    "'{name}' is named by rule {} '{}'; change or remove that rule first",
                    r.id, r.name
                )));
            }
            if manual
                .as_ref()
                .is_some_and(|m| m.profile.to_lowercase() == name.to_lowercase())
            {
                c.execute(
                    "UPDATE routing_state SET manual_profile = NULL, manual_at = NULL, \
                     manual_until_released = 0 WHERE id = 1",
                    [],
                )?;
            }
            c.execute("DELETE FROM profile WHERE name = ?1", [&name])?;
            Ok(())
        })
    }

    /// Switches to a profile by hand. It holds until the next scheduled boundary, or until
    /// released when `until_released`.
    pub fn use_profile(
        &mut self,
        name: &str,
        until_released: bool,
        now: i64,
    ) -> Result<ActiveProfile> {
        self.ensure_routing()?;
        write_tx(self.conn(), |c| {
            let profiles = load_profiles(c)?;
            let name = canonical_name(&profiles, name)?;
            let previous = last_switch(c)?.map(|(_, p)| p);
            c.execute(
                "UPDATE routing_state SET manual_profile = ?1, manual_at = ?2, \
                 manual_until_released = ?3 WHERE id = 1",
                params![name, now, until_released],
            )?;
            insert_switch(
                c,
                &SwitchRecord {
                    at: now,
                    profile: name.clone(),
                    previous,
                    reason: SwitchReason::Manual,
                },
            )?;
            let (schedule, manual) = load_state(c)?;
            let (zone, _) = zone_of(&schedule);
            Ok(active_profile(&schedule, &zone, manual.as_ref(), now))
        })
    }

    /// Ends a manual switch: the schedule decides again. Doing it with no manual switch in
    /// force changes nothing.
    pub fn release_profile(&mut self, now: i64) -> Result<ActiveProfile> {
        self.ensure_routing()?;
        write_tx(self.conn(), |c| {
            c.execute(
                "UPDATE routing_state SET manual_profile = NULL, manual_at = NULL, \
                 manual_until_released = 0 WHERE id = 1",
                [],
            )?;
            note_active(c, now, SwitchReason::Released)?;
            let (schedule, manual) = load_state(c)?;
            let (zone, _) = zone_of(&schedule);
            Ok(active_profile(&schedule, &zone, manual.as_ref(), now))
        })
    }

    /// Records in the history a switch the schedule made (a range began or ended, a manual
    /// switch ran out) if the active profile at `now` is not the last one recorded. `serve`
    /// calls it at every boundary; it is cheap and idempotent.
    pub fn record_active_profile(&mut self, now: i64) -> Result<Option<SwitchRecord>> {
        self.ensure_routing()?;
        let conn = self.conn();
        // Cheap check first: most calls find nothing to record and take no write lock.
        let (schedule, manual) = load_state(conn)?;
        let (zone, _) = zone_of(&schedule);
        let active = active_profile(&schedule, &zone, manual.as_ref(), now);
        let expired = manual
            .as_ref()
            .is_some_and(|m| schedule::manual_expired(&schedule, &zone, m, now));
        if !expired && last_switch(conn)?.is_some_and(|(_, p)| p == active.name) {
            return Ok(None);
        }
        write_tx(conn, |c| note_active(c, now, SwitchReason::Scheduled))
    }

    /// When the active profile may next change by itself (the next scheduled boundary).
    pub fn next_profile_change(&self, now: i64) -> Result<Option<i64>> {
        let r = self.routing(now)?;
        Ok(r.active.until)
    }

    /// The switch history, newest first.
    pub fn switch_history(&self, limit: usize) -> Result<Vec<SwitchRecord>> {
        self.ensure_routing()?;
        let mut stmt = self.conn().prepare_cached(
            "SELECT at, profile, previous, reason FROM profile_switch ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit.max(1) as i64], |r| {
            let reason: String = r.get(3)?;
            Ok(SwitchRecord {
                at: r.get(0)?,
                profile: r.get(1)?,
                previous: r.get(2)?,
                reason: reason.parse().unwrap_or(SwitchReason::Edited),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn schedule(&self) -> Result<Schedule> {
        self.ensure_routing()?;
        Ok(load_state(self.conn())?.0)
    }

    /// Replaces the schedule (checked against the profiles and the tz database).
    pub fn set_schedule(&mut self, s: &Schedule, now: i64) -> Result<Schedule> {
        s.validate().map_err(|e| invalid("schedule", e))?;
        self.ensure_routing()?;
        write_tx(self.conn(), |c| {
            let profiles = load_profiles(c)?;
            s.validate_references(&profiles).map_err(conflict)?;
            let mut s = s.clone();
            s.fallback = canonical_name(&profiles, &s.fallback)?;
            for r in &mut s.ranges {
                r.profile = canonical_name(&profiles, &r.profile)?;
            }
            c.execute(
                "UPDATE routing_state SET schedule = ?1 WHERE id = 1",
                [json(&s)?],
            )?;
            note_active(c, now, SwitchReason::Edited)?;
            Ok(s)
        })
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> Result<Vec<Rule>> {
        self.ensure_routing()?;
        load_rules(self.conn())
    }

    pub fn rule(&self, id: i64) -> Result<Rule> {
        self.rules()?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| no_rule(id))
    }

    fn check_rule(c: &Connection, rule: &Rule) -> Result<Rule> {
        rule.validate().map_err(|e| invalid("rule", e))?;
        let profiles = load_profiles(c)?;
        rule.validate_profiles(&profiles).map_err(conflict)?;
        let mut rule = rule.clone();
        for p in &mut rule.profiles {
            *p = canonical_name(&profiles, p)?;
        }
        Ok(rule)
    }

    /// Adds a rule at `position` (1 = first; `None` or past the end: last). Returns it with
    /// its id.
    pub fn add_rule(&mut self, rule: &Rule, position: Option<usize>) -> Result<Rule> {
        self.ensure_routing()?;
        write_tx(self.conn(), |c| {
            let mut rule = Self::check_rule(c, rule)?;
            let n: i64 = c.query_row("SELECT count(*) FROM route_rule", [], |r| r.get(0))?;
            if n as usize >= switchboard_route::rule::MAX_RULES {
                return Err(conflict(format!(
                    "there are already {} rules, the most a store keeps",
                    switchboard_route::rule::MAX_RULES
                )));
            }
            let pos = position.map_or(n + 1, |p| (p.max(1) as i64).min(n + 1));
            c.execute(
                "UPDATE route_rule SET position = position + 1 WHERE position >= ?1",
                [pos],
            )?;
            rule.id = 0;
            let now = now_unix();
            c.execute(
                "INSERT INTO route_rule (position, definition, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?3)",
                params![pos, json(&rule)?, now],
            )?;
            rule.id = c.last_insert_rowid();
            Ok(rule)
        })
    }

    /// Replaces rule `id`'s definition; its position stays.
    pub fn update_rule(&mut self, id: i64, rule: &Rule) -> Result<Rule> {
        self.ensure_routing()?;
        write_tx(self.conn(), |c| {
            let mut rule = Self::check_rule(c, rule)?;
            rule.id = 0;
            let n = c.execute(
                "UPDATE route_rule SET definition = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, json(&rule)?, now_unix()],
            )?;
            if n == 0 {
                return Err(no_rule(id));
            }
            rule.id = id;
            Ok(rule)
        })
    }

    pub fn remove_rule(&mut self, id: i64) -> Result<Rule> {
        self.ensure_routing()?;
        let rule = self.rule(id)?;
        write_tx(self.conn(), |c| {
            let pos: Option<i64> = c
                .query_row("SELECT position FROM route_rule WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            let pos = pos.ok_or_else(|| no_rule(id))?;
            c.execute("DELETE FROM route_rule WHERE id = ?1", [id])?;
            c.execute(
                "UPDATE route_rule SET position = position - 1 WHERE position > ?1",
                [pos],
            )?;
            Ok(())
        })?;
        Ok(rule)
    }

    /// Moves rule `id` to `position` (1 = first; past the end: last). Returns the new order.
    pub fn move_rule(&mut self, id: i64, position: usize) -> Result<Vec<Rule>> {
        self.ensure_routing()?;
        write_tx(self.conn(), |c| {
            let ids: Vec<i64> = {
                let mut stmt = c.prepare("SELECT id FROM route_rule ORDER BY position, id")?;
                let rows = stmt.query_map([], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            let from = ids
                .iter()
                .position(|&x| x == id)
                .ok_or_else(|| no_rule(id))?;
            let mut ids = ids;
            ids.remove(from);
            let to = position.max(1).min(ids.len() + 1) - 1;
            ids.insert(to, id);
            for (i, rid) in ids.iter().enumerate() {
                c.execute(
                    "UPDATE route_rule SET position = ?2 WHERE id = ?1",
                    params![rid, i as i64 + 1],
                )?;
            }
            Ok(())
        })?;
        self.rules()
    }

    pub fn groups(&self) -> Result<Vec<ContactGroup>> {
        self.ensure_routing()?;
        load_groups(self.conn())
    }

    /// Adds members to a group, creating the group when needed.
    pub fn add_group_members(&mut self, group: &str, members: &[String]) -> Result<ContactGroup> {
        self.change_group(group, members, false)
    }

    /// Makes `members` the whole membership of `group`, creating it when needed.
    pub fn set_group(&mut self, group: &str, members: &[String]) -> Result<ContactGroup> {
        if members.len() > MAX_GROUP_MEMBERS {
            return Err(invalid(
                "members",
                format!("a group has at most {MAX_GROUP_MEMBERS} members"),
            ));
        }
        self.change_group(group, members, true)
    }

    fn change_group(
        &mut self,
        group: &str,
        members: &[String],
        replace: bool,
    ) -> Result<ContactGroup> {
        switchboard_route::validate_name("group name", group).map_err(|e| invalid("group", e))?;
        for m in members {
            switchboard_route::rule::validate_member(m).map_err(|e| invalid("member", e))?;
        }
        self.ensure_routing()?;
        write_tx(self.conn(), |c| {
            let existing: Option<String> = c
                .query_row(
                    "SELECT name FROM contact_group WHERE name = ?1",
                    [group],
                    |r| r.get(0),
                )
                .optional()?;
            let name = match existing {
                Some(n) => n,
                None => {
                    let n: i64 =
                        c.query_row("SELECT count(*) FROM contact_group", [], |r| r.get(0))?;
                    if n as usize >= MAX_GROUPS {
                        return Err(conflict(format!(
                            "there are already {MAX_GROUPS} contact groups, the most a store keeps"
                        )));
                    }
                    c.execute(
                        "INSERT INTO contact_group (name, created_at) VALUES (?1, ?2)",
                        params![group, now_unix()],
                    )?;
                    group.to_string()
                }
            };
            if replace {
                c.execute(
                    "DELETE FROM contact_group_member WHERE group_name = ?1",
                    [&name],
                )?;
            }
            for m in members {
                c.execute(
                    "INSERT OR IGNORE INTO contact_group_member (group_name, member) VALUES (?1, ?2)",
                    params![name, m.to_lowercase()],
                )?;
            }
            let n: i64 = c.query_row(
                "SELECT count(*) FROM contact_group_member WHERE group_name = ?1",
                [&name],
                |r| r.get(0),
            )?;
            if n as usize > MAX_GROUP_MEMBERS {
                return Err(conflict(format!(
                    "a group has at most {MAX_GROUP_MEMBERS} members"
                )));
            }
            Ok(())
        })?;
        self.group(group)
    }

    pub fn group(&self, name: &str) -> Result<ContactGroup> {
        self.groups()?
            .into_iter()
            .find(|g| g.name.to_lowercase() == name.to_lowercase())
            .ok_or_else(|| no_group(name))
    }

    /// Removes members from a group (absent ones are ignored).
    pub fn remove_group_members(
        &mut self,
        group: &str,
        members: &[String],
    ) -> Result<ContactGroup> {
        let g = self.group(group)?;
        write_tx(self.conn(), |c| {
            for m in members {
                c.execute(
                    "DELETE FROM contact_group_member WHERE group_name = ?1 AND member = ?2",
                    params![g.name, m.trim().to_lowercase()],
                )?;
            }
            Ok(())
        })?;
        self.group(group)
    }

    /// Removes a group and its members. Rules naming it then match nobody.
    pub fn remove_group(&mut self, group: &str) -> Result<()> {
        let g = self.group(group)?;
        write_tx(self.conn(), |c| {
            c.execute(
                "DELETE FROM contact_group_member WHERE group_name = ?1",
                [&g.name],
            )?;
            c.execute("DELETE FROM contact_group WHERE name = ?1", [&g.name])?;
            Ok(())
        })
    }

    /// What the router knows about a stored message. Reads the raw message (for the body
    /// text and the importance headers the parsed columns do not keep).
    pub fn message_facts(&self, id: i64) -> Result<MessageFacts> {
        let visible: bool = self.conn().query_row(
            "SELECT count(*) > 0 FROM message WHERE id = ?1 AND deleted_at IS NULL",
            [id],
            |r| r.get(0),
        )?;
        if !visible {
            return Err(StoreError::NoSuchMessage(id));
        }
        let raw = self.raw(id)?;
        let mut stmt = self.conn().prepare_cached(
            "SELECT DISTINCT a.name, a.kind FROM source s JOIN account a ON a.id = s.account_id \
             WHERE s.message_id = ?1 ORDER BY a.name",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let sources: Vec<(String, String)> = rows.collect::<rusqlite::Result<_>>()?;
        let im = sources.iter().any(|(_, kind)| kind == "xmpp");
        // An IM's raw form is its XMPP stanza, not RFC 5322: its facts come from the fields
        // stored for it.
        let parsed = if im {
            self.im_uniform(id)?
        } else {
            switchboard_model::parse(&raw)
        };
        let mut facts = MessageFacts::from_uniform(
            &parsed,
            Some(id),
            sources.iter().map(|(n, _)| n.clone()).collect(),
            (!im).then_some(&raw[..]),
        );
        if im {
            facts.channel = MessageChannel::Im;
        }
        Ok(facts)
    }

    /// The decision for stored message `id` under the profile active at `now` and the rules
    /// of the moment. This is what the delivery engine calls for each new message.
    pub fn decision_for(&self, id: i64, now: i64) -> Result<Decision> {
        let facts = self.message_facts(id)?;
        Ok(self.routing(now)?.decide(&facts, now))
    }

    /// `route explain`: the decision for message `id` and each rule's verdict, under the
    /// active profile or the one named.
    pub fn explain_route(
        &self,
        id: i64,
        profile: Option<&str>,
        now: i64,
    ) -> Result<RouteExplanation> {
        let facts = self.message_facts(id)?;
        let routing = self.routing(now)?;
        let p = match profile {
            Some(name) => routing.profile(name)?,
            None => routing.active_profile(),
        };
        let mut decision = decide(&facts, p, &routing.rule_set, now);
        let why = if p.is(&routing.active.name) {
            format!("profile {}", routing.active.describe(&routing.schedule))
        } else {
            format!(
                "profile {} (asked for; the active one is {})",
                p.name, routing.active.name
            )
        };
        decision.explanation.insert(0, why);
        Ok(RouteExplanation {
            message_id: id,
            profile: p.name.clone(),
            rules: routing.rule_set.check_all(&facts, &p.name),
            active: routing.active,
            decision,
        })
    }

    /// `rule try`: which of the newest messages a rule would match, and what would happen to
    /// them with the rule in place, before it is saved.
    pub fn try_rule(&self, trial: &RuleTrial, now: i64) -> Result<TrialOutcome> {
        trial.rule.validate().map_err(|e| invalid("rule", e))?;
        let routing = self.routing(now)?;
        trial
            .rule
            .validate_profiles(&routing.profiles)
            .map_err(conflict)?;
        let profile = match &trial.profile {
            Some(name) => routing.profile(name)?,
            None => routing.active_profile(),
        };
        let mut candidate = trial.rule.clone();
        candidate.enabled = true;
        let mut with: Vec<Rule> = routing.rules.clone();
        let pos = trial
            .position
            .map_or(with.len(), |p| p.max(1).min(with.len() + 1) - 1);
        with.insert(pos, candidate.clone());
        let with_set = RuleSet::new(&with, &routing.groups);
        let alone = RuleSet::new(&[candidate], &routing.groups);
        let list = self.inbox(&InboxQuery {
            limit: trial.limit.clamp(1, 5000),
            owner: trial.owner.clone(),
            ..Default::default()
        })?;
        let mut out = TrialOutcome {
            profile: profile.name.clone(),
            scanned: list.len(),
            matches: Vec::new(),
            skipped: Vec::new(),
        };
        for m in list {
            let facts = match self.message_facts(m.id) {
                Ok(f) => f,
                Err(e) => {
                    out.skipped.push(format!("message {}: {e}", m.id));
                    continue;
                }
            };
            let matched = alone
                .check_all(&facts, &profile.name)
                .first()
                .is_some_and(|c| c.matched);
            if !matched {
                continue;
            }
            let before = decide(&facts, profile, &routing.rule_set, now);
            out.matches.push(TrialMatch {
                id: m.id,
                from: m.from.map(|a| a.email),
                subject: m.subject,
                date: m.date,
                now: before.actions,
                with_rule: decide(&facts, profile, &with_set, now),
            });
        }
        Ok(out)
    }

    /// Applies the store changes of a decision: `mark_read` (pushed to IMAP like any flag
    /// change) and `label`. Idempotent.
    pub fn apply_local_actions(&mut self, id: i64, actions: &[Action]) -> Result<()> {
        if actions.contains(&Action::MarkRead) {
            self.set_local_flags(id, Some(true), None)?;
        }
        let now = now_unix();
        for a in actions {
            if let Action::Label { label } = a {
                self.conn().execute(
                    "INSERT OR IGNORE INTO message_label (message_id, label, added_at) \
                     VALUES (?1, ?2, ?3)",
                    params![id, label, now],
                )?;
            }
        }
        Ok(())
    }

    /// The labels of a message, sorted.
    pub fn labels(&self, id: i64) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT label FROM message_label WHERE message_id = ?1 ORDER BY label",
        )?;
        let rows = stmt.query_map([id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Carries a profile's new name into rules, the schedule and the manual switch.
fn rename_references(c: &Connection, old: &str, new: &str) -> Result<()> {
    let same = |p: &str| p.to_lowercase() == old.to_lowercase();
    for rule in load_rules(c)? {
        if rule.profiles.iter().any(|p| same(p)) {
            let mut r = rule.clone();
            for p in &mut r.profiles {
                if same(p) {
                    *p = new.to_string();
                }
            }
            let id = r.id;
            r.id = 0;
            c.execute(
                "UPDATE route_rule SET definition = ?2 WHERE id = ?1",
                params![id, json(&r)?],
            )?;
        }
    }
    let (mut schedule, manual) = load_state(c)?;
    if same(&schedule.fallback) {
        schedule.fallback = new.to_string();
    }
    for r in &mut schedule.ranges {
        if same(&r.profile) {
            r.profile = new.to_string();
        }
    }
    c.execute(
        "UPDATE routing_state SET schedule = ?1 WHERE id = 1",
        [json(&schedule)?],
    )?;
    if manual.is_some_and(|m| same(&m.profile)) {
        c.execute(
            "UPDATE routing_state SET manual_profile = ?1 WHERE id = 1",
            [new],
        )?;
    }
    Ok(())
}

/// `manual (until 17:00 UTC)`, `scheduled: Work mon-fri 09:00-17:00` — for people.
fn why_words(r: &Routing) -> String {
    let a = &r.active;
    let until = a
        .until
        .map(|u| format!(" until {}", local_time(&r.zone, u)))
        .unwrap_or_default();
    match a.why {
        switchboard_route::ActiveReason::Manual => {
            if r.manual.as_ref().is_some_and(|m| m.until_released) {
                "manual, until released".to_string()
            } else if a.until.is_some() {
                format!("manual,{until} (the next scheduled change)")
            } else {
                "manual, until released (no schedule)".to_string()
            }
        }
        switchboard_route::ActiveReason::Scheduled => {
            let range = a
                .range
                .and_then(|i| r.schedule.ranges.get(i))
                .map(|x| x.describe())
                .unwrap_or_default();
            format!("scheduled: {range}{until}")
        }
        switchboard_route::ActiveReason::Fallback => {
            format!("no schedule range now: the fallback profile{until}")
        }
    }
}

/// `Mon 2026-01-05 17:00 CET`: an instant in the schedule's zone.
pub fn local_time(zone: &TimeZone, t: i64) -> String {
    match jiff::Timestamp::from_second(t) {
        Ok(ts) => ts
            .to_zoned_datetime(zone.clone())
            .strftime("%a %Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => t.to_string(),
    }
}
