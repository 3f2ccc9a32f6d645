//! Which profile is active: weekly time ranges in the person's time zone, a fallback profile
//! for the rest of the week, and a manual switch that holds until the next scheduled boundary
//! (or, when asked, until it is released).
//!
//! Times are local wall-clock times in the schedule's IANA time zone, resolved through jiff
//! and the system's tz database, so ranges follow daylight saving time: "Mon–Fri 09:00–17:00"
//! starts at 09:00 local time in winter and in summer. On the day the clocks go forward, a
//! time inside the gap (02:30 in Europe/Berlin) is taken as the same length after the gap
//! (03:30 CEST); when they go back, a repeated time (02:30) means its first occurrence. A range
//! whose end is not after its start ends the next day (22:00–06:00); equal start and end
//! means a whole day.
//!
//! Everything here is a function of (schedule, zone, manual switch, now): nothing is stored
//! or read; the store keeps the data and the clock is passed in.

use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Profile;

/// At most this many ranges in a schedule.
pub const MAX_RANGES: usize = 200;

/// A wall-clock time of day, minute precision. JSON: `"HH:MM"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    minutes: u16,
}

impl TimeOfDay {
    pub fn new(hour: u8, minute: u8) -> Option<TimeOfDay> {
        (hour < 24 && minute < 60).then_some(TimeOfDay {
            minutes: u16::from(hour) * 60 + u16::from(minute),
        })
    }
    pub fn hour(self) -> i8 {
        (self.minutes / 60) as i8
    }
    pub fn minute(self) -> i8 {
        (self.minutes % 60) as i8
    }
    fn on(self, date: Date) -> jiff::civil::DateTime {
        date.at(self.hour(), self.minute(), 0, 0)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

impl std::str::FromStr for TimeOfDay {
    type Err = String;
    /// `H:MM` or `HH:MM`, 00:00 to 23:59.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("time '{s}' is not HH:MM (00:00 to 23:59)");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
        if h.is_empty() || h.len() > 2 || m.len() != 2 || !digits(h) || !digits(m) {
            return Err(bad());
        }
        let h: u8 = h.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        TimeOfDay::new(h, m).ok_or_else(bad)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A day of the week. JSON: `"mon"` … `"sun"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

pub const ALL_DAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

impl Weekday {
    pub fn as_str(self) -> &'static str {
        match self {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn of(date: Date) -> Weekday {
        ALL_DAYS[date.weekday().to_monday_zero_offset() as usize]
    }

    fn parse_one(s: &str) -> Option<Weekday> {
        let s = s.trim().to_ascii_lowercase();
        ALL_DAYS
            .into_iter()
            .find(|d| s.len() >= 3 && d.long_name().starts_with(&s))
    }

    fn long_name(self) -> &'static str {
        match self {
            Weekday::Mon => "monday",
            Weekday::Tue => "tuesday",
            Weekday::Wed => "wednesday",
            Weekday::Thu => "thursday",
            Weekday::Fri => "friday",
            Weekday::Sat => "saturday",
            Weekday::Sun => "sunday",
        }
    }
}

/// Reads a set of days: `mon-fri`, `sat,sun`, `fri-mon` (wrapping), `weekdays`, `weekend`,
/// `daily`. The result is in week order without repeats.
pub fn parse_days(s: &str) -> Result<Vec<Weekday>, String> {
    let bad = |part: &str| {
        format!("days '{s}': '{part}' is not a day (mon … sun), a range like mon-fri, weekdays, weekend or daily")
    };
    let mut set = [false; 7];
    for part in s.split(',').map(str::trim) {
        match part.to_ascii_lowercase().as_str() {
            "daily" | "all" | "every day" => set = [true; 7],
            "weekdays" => set[..5].iter_mut().for_each(|d| *d = true),
            "weekend" => set[5..].iter_mut().for_each(|d| *d = true),
            _ => {
                if let Some((a, b)) = part.split_once('-') {
                    let a = Weekday::parse_one(a).ok_or_else(|| bad(part))?;
                    let b = Weekday::parse_one(b).ok_or_else(|| bad(part))?;
                    let mut i = a.index();
                    loop {
                        set[i] = true;
                        if i == b.index() {
                            break;
                        }
                        i = (i + 1) % 7;
                    }
                } else {
                    set[Weekday::parse_one(part).ok_or_else(|| bad(part))?.index()] = true;
                }
            }
        }
    }
    Ok(ALL_DAYS.into_iter().filter(|d| set[d.index()]).collect())
}

/// Days as the CLI prints them: `mon-fri`, `sat,sun`, `daily`.
pub fn format_days(days: &[Weekday]) -> String {
    let mut set = [false; 7];
    days.iter().for_each(|d| set[d.index()] = true);
    if set.iter().all(|d| *d) {
        return "daily".to_string();
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < 7 {
        if !set[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < 7 && set[i + 1] {
            i += 1;
        }
        parts.push(if i - start >= 2 {
            format!("{}-{}", ALL_DAYS[start].as_str(), ALL_DAYS[i].as_str())
        } else {
            (start..=i)
                .map(|d| ALL_DAYS[d].as_str())
                .collect::<Vec<_>>()
                .join(",")
        });
        i += 1;
    }
    parts.join(",")
}

/// One weekly time range during which a profile is active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScheduleRange {
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub profile: String,
    /// The days the range starts on.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub days: Vec<Weekday>,
    /// "HH:MM", local time.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$"))]
    pub start: TimeOfDay,
    /// "HH:MM", local time; not after `start` means the next day.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$"))]
    pub end: TimeOfDay,
}

impl ScheduleRange {
    /// `Work mon-fri 09:00-17:00`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {}-{}",
            self.profile,
            format_days(&self.days),
            self.start,
            self.end
        )
    }

    /// Start and end instants (unix seconds) of the occurrence starting on `date`, if the
    /// range starts on that weekday.
    fn occurrence(&self, date: Date, tz: &TimeZone) -> Option<(i64, i64)> {
        if !self.days.contains(&Weekday::of(date)) {
            return None;
        }
        let start = tz.to_timestamp(self.start.on(date)).ok()?.as_second();
        let end_date = if self.end <= self.start {
            date.tomorrow().ok()?
        } else {
            date
        };
        let end = tz.to_timestamp(self.end.on(end_date)).ok()?.as_second();
        // A range that a clock change swallows entirely (02:10–02:40 on the spring-forward
        // day) does not happen that day.
        (end > start).then_some((start, end))
    }
}

/// The week plan: ranges, a fallback profile for the time no range covers, the time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// IANA name such as "Europe/Berlin"; null: the system's zone.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Active when no range covers the time and no manual switch holds.
    #[cfg_attr(
        feature = "openapi",
        schema(
            pattern = r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,62}[^\s\x00-\x1f\x7f-\x9f])?$"
        )
    )]
    pub fallback: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 200))]
    pub ranges: Vec<ScheduleRange>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            time_zone: None,
            fallback: "Home".to_string(),
            ranges: Vec::new(),
        }
    }
}

/// Resolves a time zone name (`None`: the system's zone) through the system's tz database.
pub fn resolve_zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name {
        None => Ok(TimeZone::system()),
        Some(n) => TimeZone::get(n).map_err(|e| {
            format!("time zone '{n}' is unknown ({e}); use an IANA name such as Europe/Berlin (the tzdata package provides them)")
        }),
    }
}

impl Schedule {
    /// The schedule's time zone.
    pub fn zone(&self) -> Result<TimeZone, String> {
        resolve_zone(self.time_zone.as_deref())
    }

    /// Checks the schedule's own shape; the error names the range.
    pub fn validate(&self) -> Result<(), String> {
        crate::validate::name("fallback profile", &self.fallback)?;
        if self.ranges.len() > MAX_RANGES {
            return Err(format!("a schedule has at most {MAX_RANGES} ranges"));
        }
        for (i, r) in self.ranges.iter().enumerate() {
            crate::validate::name("profile name", &r.profile)
                .map_err(|e| format!("schedule range {}: {e}", i + 1))?;
            if r.days.is_empty() {
                return Err(format!("schedule range {}: no days given", i + 1));
            }
        }
        Ok(())
    }

    /// Checks what the schedule refers to: the profiles exist, the time zone is known.
    pub fn validate_references(&self, profiles: &[Profile]) -> Result<(), String> {
        if crate::find_profile(profiles, &self.fallback).is_none() {
            return Err(format!(
                "fallback profile '{}' does not exist",
                self.fallback
            ));
        }
        if let Some(tz) = &self.time_zone {
            resolve_zone(Some(tz))?;
        }
        for (i, r) in self.ranges.iter().enumerate() {
            if crate::find_profile(profiles, &r.profile).is_none() {
                return Err(format!(
                    "schedule range {} ({}): profile '{}' does not exist",
                    i + 1,
                    r.describe(),
                    r.profile
                ));
            }
        }
        Ok(())
    }

    /// Every occurrence (range index, start, end) starting on the local dates from
    /// `from` to `to`, inclusive.
    fn occurrences(&self, tz: &TimeZone, from: Date, to: Date) -> Vec<(usize, i64, i64)> {
        let mut out = Vec::new();
        let mut date = from;
        while date <= to {
            for (i, r) in self.ranges.iter().enumerate() {
                if let Some((s, e)) = r.occurrence(date, tz) {
                    out.push((i, s, e));
                }
            }
            match date.tomorrow() {
                Ok(d) => date = d,
                Err(_) => break,
            }
        }
        out
    }

    /// The range in force at `now`: (index, start, end). Of overlapping ranges the one that
    /// started last wins (a meeting inside working hours); on a tie, the later in the list.
    pub fn range_at(&self, tz: &TimeZone, now: i64) -> Option<(usize, i64, i64)> {
        let date = local_date(tz, now)?;
        // A range lasts at most a day (25 hours on a clock change): it started today or
        // yesterday.
        let from = date.yesterday().unwrap_or(date);
        self.occurrences(tz, from, date)
            .into_iter()
            .filter(|&(_, s, e)| s <= now && now < e)
            .max_by_key(|&(i, s, _)| (s, i))
    }

    /// The first instant strictly after `after` at which a range starts or ends, within the
    /// next eight days; `None` when the schedule has no range.
    pub fn next_boundary(&self, tz: &TimeZone, after: i64) -> Option<i64> {
        let date = local_date(tz, after)?;
        let from = date.yesterday().unwrap_or(date);
        let to = date.checked_add(jiff::Span::new().days(8)).unwrap_or(date);
        self.occurrences(tz, from, to)
            .into_iter()
            .flat_map(|(_, s, e)| [s, e])
            .filter(|&t| t > after)
            .min()
    }

    /// The last instant at or before `at` at which a range started or ended, within the past
    /// eight days.
    pub fn previous_boundary(&self, tz: &TimeZone, at: i64) -> Option<i64> {
        let date = local_date(tz, at)?;
        let from = date.checked_sub(jiff::Span::new().days(9)).unwrap_or(date);
        self.occurrences(tz, from, date)
            .into_iter()
            .flat_map(|(_, s, e)| [s, e])
            .filter(|&t| t <= at)
            .max()
    }
}

fn local_date(tz: &TimeZone, t: i64) -> Option<Date> {
    Some(tz.to_datetime(Timestamp::from_second(t).ok()?).date())
}

/// A profile chosen by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ManualSwitch {
    pub profile: String,
    /// When the switch was made (unix seconds).
    pub at: i64,
    /// Holds until released, across scheduled boundaries.
    pub until_released: bool,
}

/// Why the active profile is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActiveReason {
    /// Chosen by hand.
    Manual,
    /// A schedule range covers the time.
    Scheduled,
    /// No range covers the time: the schedule's fallback.
    Fallback,
}

impl ActiveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ActiveReason::Manual => "manual",
            ActiveReason::Scheduled => "scheduled",
            ActiveReason::Fallback => "fallback",
        }
    }
}

/// The active profile at a moment, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActiveProfile {
    pub name: String,
    pub why: ActiveReason,
    /// Since when (unix seconds), when known: the manual switch, the range's start, the end
    /// of the last range.
    pub since: Option<i64>,
    /// Until when it stays active unless something changes (the next scheduled boundary);
    /// null: until released, or no schedule.
    pub until: Option<i64>,
    /// The schedule range (index from 0) when `why` is `scheduled`.
    pub range: Option<usize>,
}

impl ActiveProfile {
    /// `Work (scheduled: Work mon-fri 09:00-17:00)`, `Meeting (manual, until 17:00)`.
    pub fn describe(&self, schedule: &Schedule) -> String {
        let mut s = format!("{} ({}", self.name, self.why.as_str());
        if let Some(r) = self.range.and_then(|i| schedule.ranges.get(i)) {
            s.push_str(": ");
            s.push_str(&r.describe());
        }
        s.push(')');
        s
    }
}

/// The active profile at `now`. A manual switch holds until released when asked to, and
/// otherwise until the first scheduled boundary after it was made (the schedule as it is
/// now, so editing the schedule moves that boundary too); with no ranges at all it holds
/// until released.
pub fn active_profile(
    schedule: &Schedule,
    tz: &TimeZone,
    manual: Option<&ManualSwitch>,
    now: i64,
) -> ActiveProfile {
    if let Some(m) = manual {
        let until = if m.until_released {
            None
        } else {
            schedule.next_boundary(tz, m.at)
        };
        if until.is_none_or(|u| now < u) {
            return ActiveProfile {
                name: m.profile.clone(),
                why: ActiveReason::Manual,
                since: Some(m.at),
                until,
                range: None,
            };
        }
    }
    let until = schedule.next_boundary(tz, now);
    match schedule.range_at(tz, now) {
        Some((i, start, _)) => ActiveProfile {
            name: schedule.ranges[i].profile.clone(),
            why: ActiveReason::Scheduled,
            since: Some(start),
            until,
            range: Some(i),
        },
        None => ActiveProfile {
            name: schedule.fallback.clone(),
            why: ActiveReason::Fallback,
            since: schedule.previous_boundary(tz, now),
            until,
            range: None,
        },
    }
}

/// Whether a manual switch has run out at `now` (it can be forgotten).
pub fn manual_expired(schedule: &Schedule, tz: &TimeZone, m: &ManualSwitch, now: i64) -> bool {
    !m.until_released && schedule.next_boundary(tz, m.at).is_some_and(|u| now >= u)
}

/// Why the active profile changed, as the switch history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SwitchReason {
    /// Switched by hand.
    Manual,
    /// A manual switch was released.
    Released,
    /// The schedule moved on (a range began or ended, or a manual switch ran out).
    Scheduled,
    /// Profiles or the schedule were edited.
    Edited,
}

impl SwitchReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchReason::Manual => "manual",
            SwitchReason::Released => "released",
            SwitchReason::Scheduled => "scheduled",
            SwitchReason::Edited => "edited",
        }
    }
}

impl std::str::FromStr for SwitchReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "manual" => Ok(SwitchReason::Manual),
            "released" => Ok(SwitchReason::Released),
            "scheduled" => Ok(SwitchReason::Scheduled),
            "edited" => Ok(SwitchReason::Edited),
            _ => Err(format!("switch reason '{s}' is unknown")),
        }
    }
}

/// One entry of the switch history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SwitchRecord {
    /// When the new profile became active (unix seconds).
    pub at: i64,
    pub profile: String,
    pub previous: Option<String>,
    pub reason: SwitchReason,
}
