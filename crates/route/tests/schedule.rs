//! The active profile over the week: ranges, overlaps, midnight and week-end crossings, DST
//! transitions in Europe/Berlin and America/New_York, and the manual switch. Table-driven:
//! each row names an instant (RFC 3339 with its offset, so ambiguous local times are not) and
//! what must be active then.

use switchboard_route::schedule::parse_days;
use switchboard_route::{
    active_profile, ActiveReason, ManualSwitch, Schedule, ScheduleRange, TimeZone,
};

fn t(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .as_second()
}

fn range(profile: &str, days: &str, start: &str, end: &str) -> ScheduleRange {
    ScheduleRange {
        profile: profile.into(),
        days: parse_days(days).unwrap(),
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
    }
}

fn schedule(zone: &str, ranges: Vec<ScheduleRange>) -> (Schedule, TimeZone) {
    let s = Schedule {
        time_zone: Some(zone.into()),
        fallback: "Home".into(),
        ranges,
    };
    let tz = s
        .zone()
        .expect("the tz database has this zone (package tzdata)");
    (s, tz)
}

/// (instant, active profile, why, until)
type Row<'a> = (&'a str, &'a str, ActiveReason, Option<&'a str>);

fn check(s: &Schedule, tz: &TimeZone, manual: Option<&ManualSwitch>, rows: &[Row<'_>]) {
    for (at, name, why, until) in rows {
        let a = active_profile(s, tz, manual, t(at));
        assert_eq!(
            (a.name.as_str(), a.why, a.until),
            (*name, *why, until.map(t)),
            "at {at}"
        );
    }
}

use ActiveReason::{Fallback, Manual, Scheduled};

#[test]
fn a_week_in_berlin_with_overlaps_midnight_and_the_week_end() {
    let (s, tz) = schedule(
        "Europe/Berlin",
        vec![
            range("Work", "mon-fri", "09:00", "17:00"),
            range("Meeting", "mon", "10:00", "11:00"),
            range("Do not disturb", "mon-fri", "22:00", "06:00"),
            range("Travelling", "sun", "22:00", "01:00"),
        ],
    );
    // January: CET, +01:00. Monday 5 January 2026.
    check(
        &s,
        &tz,
        None,
        &[
            (
                "2026-01-05T05:59:59+01:00",
                "Home",
                Fallback,
                Some("2026-01-05T09:00:00+01:00"),
            ),
            (
                "2026-01-05T08:59:59+01:00",
                "Home",
                Fallback,
                Some("2026-01-05T09:00:00+01:00"),
            ),
            (
                "2026-01-05T09:00:00+01:00",
                "Work",
                Scheduled,
                Some("2026-01-05T10:00:00+01:00"),
            ),
            (
                "2026-01-05T10:30:00+01:00",
                "Meeting",
                Scheduled,
                Some("2026-01-05T11:00:00+01:00"),
            ),
            (
                "2026-01-05T11:00:00+01:00",
                "Work",
                Scheduled,
                Some("2026-01-05T17:00:00+01:00"),
            ),
            (
                "2026-01-05T16:59:59+01:00",
                "Work",
                Scheduled,
                Some("2026-01-05T17:00:00+01:00"),
            ),
            (
                "2026-01-05T17:00:00+01:00",
                "Home",
                Fallback,
                Some("2026-01-05T22:00:00+01:00"),
            ),
            // Crossing midnight: Monday's 22:00 range ends Tuesday 06:00.
            (
                "2026-01-05T23:30:00+01:00",
                "Do not disturb",
                Scheduled,
                Some("2026-01-06T06:00:00+01:00"),
            ),
            (
                "2026-01-06T05:59:59+01:00",
                "Do not disturb",
                Scheduled,
                Some("2026-01-06T06:00:00+01:00"),
            ),
            (
                "2026-01-06T06:00:00+01:00",
                "Home",
                Fallback,
                Some("2026-01-06T09:00:00+01:00"),
            ),
            // Friday night runs into Saturday; then nothing until Sunday night.
            (
                "2026-01-10T05:00:00+01:00",
                "Do not disturb",
                Scheduled,
                Some("2026-01-10T06:00:00+01:00"),
            ),
            (
                "2026-01-10T12:00:00+01:00",
                "Home",
                Fallback,
                Some("2026-01-11T22:00:00+01:00"),
            ),
            // Crossing the week end: Sunday 22:00 to Monday 01:00.
            (
                "2026-01-11T22:00:00+01:00",
                "Travelling",
                Scheduled,
                Some("2026-01-12T01:00:00+01:00"),
            ),
            (
                "2026-01-12T00:30:00+01:00",
                "Travelling",
                Scheduled,
                Some("2026-01-12T01:00:00+01:00"),
            ),
            (
                "2026-01-12T01:00:00+01:00",
                "Home",
                Fallback,
                Some("2026-01-12T09:00:00+01:00"),
            ),
        ],
    );
    let a = active_profile(&s, &tz, None, t("2026-01-05T10:30:00+01:00"));
    assert_eq!(a.range, Some(1));
    assert_eq!(a.since, Some(t("2026-01-05T10:00:00+01:00")));
    assert_eq!(
        a.describe(&s),
        "Meeting (scheduled: Meeting mon 10:00-11:00)"
    );
    let f = active_profile(&s, &tz, None, t("2026-01-05T18:00:00+01:00"));
    assert_eq!(f.since, Some(t("2026-01-05T17:00:00+01:00")));
}

#[test]
fn berlin_daylight_saving_time_both_ways() {
    let (s, tz) = schedule(
        "Europe/Berlin",
        vec![
            range("Work", "mon-fri", "09:00", "17:00"),
            // 02:30 does not exist on 29 March and happens twice on 25 October.
            range("Meeting", "sun", "02:30", "04:00"),
            range("Do not disturb", "sat", "22:00", "06:00"),
        ],
    );
    check(
        &s,
        &tz,
        None,
        &[
            // Work starts at 09:00 local in winter (08:00Z) and in summer (07:00Z).
            (
                "2026-03-27T08:00:00Z",
                "Work",
                Scheduled,
                Some("2026-03-27T16:00:00Z"),
            ),
            (
                "2026-03-30T07:00:00Z",
                "Work",
                Scheduled,
                Some("2026-03-30T15:00:00Z"),
            ),
            (
                "2026-03-30T06:59:59Z",
                "Home",
                Fallback,
                Some("2026-03-30T07:00:00Z"),
            ),
            // Spring forward (02:00 CET -> 03:00 CEST): Saturday's night range ends at
            // 06:00 CEST, seven real hours after 22:00 CET.
            (
                "2026-03-29T03:59:00Z",
                "Do not disturb",
                Scheduled,
                Some("2026-03-29T04:00:00Z"),
            ),
            // The gap time 02:30 is taken as 03:30 CEST (01:30Z). Meeting started after
            // Saturday's 22:00, so it wins while both run.
            (
                "2026-03-29T01:29:59Z",
                "Do not disturb",
                Scheduled,
                Some("2026-03-29T01:30:00Z"),
            ),
            (
                "2026-03-29T01:30:00Z",
                "Meeting",
                Scheduled,
                Some("2026-03-29T02:00:00Z"),
            ),
            (
                "2026-03-29T02:00:00Z",
                "Do not disturb",
                Scheduled,
                Some("2026-03-29T04:00:00Z"),
            ),
            // Fall back (03:00 CEST -> 02:00 CET): 02:30 means its first occurrence (CEST).
            (
                "2026-10-25T00:30:00Z",
                "Meeting",
                Scheduled,
                Some("2026-10-25T03:00:00Z"),
            ),
            (
                "2026-10-25T02:59:59Z",
                "Meeting",
                Scheduled,
                Some("2026-10-25T03:00:00Z"),
            ),
            // Saturday 22:00 CEST to Sunday 06:00 CET lasts nine real hours.
            (
                "2026-10-25T04:59:59Z",
                "Do not disturb",
                Scheduled,
                Some("2026-10-25T05:00:00Z"),
            ),
            (
                "2026-10-25T05:00:00Z",
                "Home",
                Fallback,
                Some("2026-10-26T08:00:00Z"),
            ),
        ],
    );
}

#[test]
fn new_york_daylight_saving_time_both_ways() {
    let (s, tz) = schedule(
        "America/New_York",
        vec![
            range("Work", "mon-fri", "09:00", "17:00"),
            // 02:00-03:00 falls entirely into the spring gap: that day it does not happen.
            range("Meeting", "daily", "02:00", "03:00"),
            // 01:30 happens twice on 1 November; the range starts at the first one.
            range("Travelling", "sun", "01:30", "02:30"),
        ],
    );
    check(
        &s,
        &tz,
        None,
        &[
            // Winter: EST, -05:00. Monday 2 March 09:00 = 14:00Z.
            (
                "2026-03-02T14:00:00Z",
                "Work",
                Scheduled,
                Some("2026-03-02T22:00:00Z"),
            ),
            // Spring forward on Sunday 8 March at 02:00 EST -> 03:00 EDT: Travelling's end
            // 02:30 is in the gap and taken as 03:30 EDT (07:30Z); Meeting does not happen.
            (
                "2026-03-08T06:30:00Z",
                "Travelling",
                Scheduled,
                Some("2026-03-08T07:30:00Z"),
            ),
            (
                "2026-03-08T07:00:00Z",
                "Travelling",
                Scheduled,
                Some("2026-03-08T07:30:00Z"),
            ),
            (
                "2026-03-08T07:30:00Z",
                "Home",
                Fallback,
                Some("2026-03-09T06:00:00Z"),
            ),
            (
                "2026-03-09T06:30:00Z",
                "Meeting",
                Scheduled,
                Some("2026-03-09T07:00:00Z"),
            ),
            // Summer: EDT, -04:00. Monday 9 March 09:00 = 13:00Z.
            (
                "2026-03-09T12:59:59Z",
                "Home",
                Fallback,
                Some("2026-03-09T13:00:00Z"),
            ),
            (
                "2026-03-09T13:00:00Z",
                "Work",
                Scheduled,
                Some("2026-03-09T21:00:00Z"),
            ),
            // Fall back on Sunday 1 November at 02:00 EDT -> 01:00 EST: Travelling runs from
            // the first 01:30 (05:30Z) to 02:30 EST (07:30Z), two real hours; the Meeting of
            // 02:00-03:00 EST inside it started later and wins.
            (
                "2026-11-01T05:30:00Z",
                "Travelling",
                Scheduled,
                Some("2026-11-01T07:00:00Z"),
            ),
            (
                "2026-11-01T06:45:00Z",
                "Travelling",
                Scheduled,
                Some("2026-11-01T07:00:00Z"),
            ),
            (
                "2026-11-01T07:00:00Z",
                "Meeting",
                Scheduled,
                Some("2026-11-01T07:30:00Z"),
            ),
            (
                "2026-11-01T07:30:00Z",
                "Meeting",
                Scheduled,
                Some("2026-11-01T08:00:00Z"),
            ),
            (
                "2026-11-01T08:00:00Z",
                "Home",
                Fallback,
                Some("2026-11-02T07:00:00Z"),
            ),
        ],
    );
}

#[test]
fn a_manual_switch_holds_until_the_next_boundary_or_release() {
    let (s, tz) = schedule(
        "Europe/Berlin",
        vec![range("Work", "mon-fri", "09:00", "17:00")],
    );
    let at = |when: &str, until_released| ManualSwitch {
        profile: "Meeting".into(),
        at: t(when),
        until_released,
    };
    // Switched Monday 08:00: held until 09:00, then the schedule decides.
    let m = at("2026-01-05T08:00:00+01:00", false);
    check(
        &s,
        &tz,
        Some(&m),
        &[
            (
                "2026-01-05T08:00:00+01:00",
                "Meeting",
                Manual,
                Some("2026-01-05T09:00:00+01:00"),
            ),
            (
                "2026-01-05T08:59:59+01:00",
                "Meeting",
                Manual,
                Some("2026-01-05T09:00:00+01:00"),
            ),
            (
                "2026-01-05T09:00:00+01:00",
                "Work",
                Scheduled,
                Some("2026-01-05T17:00:00+01:00"),
            ),
        ],
    );
    assert!(switchboard_route::schedule::manual_expired(
        &s,
        &tz,
        &m,
        t("2026-01-05T09:00:00+01:00")
    ));
    // Switched exactly at a boundary: held until the next one.
    let m = at("2026-01-05T09:00:00+01:00", false);
    check(
        &s,
        &tz,
        Some(&m),
        &[(
            "2026-01-05T12:00:00+01:00",
            "Meeting",
            Manual,
            Some("2026-01-05T17:00:00+01:00"),
        )],
    );
    // Switched on Saturday: held across the week end until Monday 09:00.
    let m = at("2026-01-10T12:00:00+01:00", false);
    check(
        &s,
        &tz,
        Some(&m),
        &[
            (
                "2026-01-11T23:59:59+01:00",
                "Meeting",
                Manual,
                Some("2026-01-12T09:00:00+01:00"),
            ),
            (
                "2026-01-12T09:00:00+01:00",
                "Work",
                Scheduled,
                Some("2026-01-12T17:00:00+01:00"),
            ),
        ],
    );
    // Until released: across any boundary.
    let m = at("2026-01-05T08:00:00+01:00", true);
    check(
        &s,
        &tz,
        Some(&m),
        &[("2026-01-07T12:00:00+01:00", "Meeting", Manual, None)],
    );
    assert!(!switchboard_route::schedule::manual_expired(
        &s,
        &tz,
        &m,
        t("2027-01-01T00:00:00Z")
    ));
    // No schedule at all: a manual switch holds until released.
    let (empty, tz) = schedule("Europe/Berlin", vec![]);
    let m = at("2026-01-05T08:00:00+01:00", false);
    check(
        &empty,
        &tz,
        Some(&m),
        &[("2026-06-01T00:00:00Z", "Meeting", Manual, None)],
    );
    check(
        &empty,
        &tz,
        None,
        &[("2026-06-01T00:00:00Z", "Home", Fallback, None)],
    );
}

#[test]
fn days_and_times_parse_and_print() {
    use switchboard_route::schedule::format_days;
    for (input, printed) in [
        ("mon-fri", "mon-fri"),
        ("weekdays", "mon-fri"),
        ("weekend", "sat,sun"),
        ("daily", "daily"),
        ("Monday, Wednesday,fri", "mon,wed,fri"),
        ("fri-mon", "mon,fri-sun"),
        ("tue-thu,sun", "tue-thu,sun"),
        ("sat-fri", "daily"),
    ] {
        assert_eq!(format_days(&parse_days(input).unwrap()), printed, "{input}");
    }
    for bad in ["", "funday", "mo", "mon-", "mon-xyz"] {
        let e = parse_days(bad).unwrap_err();
        assert!(e.contains("days"), "{bad}: {e}");
    }
    for (input, ok) in [
        ("9:00", true),
        ("09:30", true),
        ("23:59", true),
        ("24:00", false),
        ("9", false),
        ("09:60", false),
        ("-1:00", false),
        ("", false),
        ("12:5", false),
    ] {
        assert_eq!(
            input.parse::<switchboard_route::TimeOfDay>().is_ok(),
            ok,
            "{input}"
        );
    }
    let e = Schedule {
        time_zone: Some("Nowhere/Atlantis".into()),
        ..Default::default()
    }
    .zone()
    .unwrap_err();
    assert!(
        e.contains("Nowhere/Atlantis") && e.contains("tzdata"),
        "{e}"
    );
}
