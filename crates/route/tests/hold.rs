//! Held messages come out together as one digest: on a change to a profile that does not
//! hold, or at a release time of the holding profile (DST-correct like the schedule).

use switchboard_route::{
    due_release, find_profile, next_release_time, Action, DefaultAction, Held, Profile,
    ReleaseReason, TimeZone, Urgency,
};

fn t(s: &str) -> i64 {
    s.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn profiles() -> Vec<Profile> {
    let mut ps = switchboard_route::default_profiles();
    let dnd = ps.iter_mut().find(|p| p.name == "Do not disturb").unwrap();
    dnd.hold.release_at = vec!["07:00".parse().unwrap(), "12:30".parse().unwrap()];
    let mut night = Profile::new("Night");
    night.default_action = DefaultAction::Hold;
    ps.push(night);
    let mut quiet = Profile::new("Quiet");
    quiet.default_action = DefaultAction::Quiet;
    ps.push(quiet);
    ps
}

fn held(id: i64, at: &str, profile: &str) -> Held {
    Held {
        message_id: id,
        held_at: t(at),
        profile: profile.into(),
    }
}

#[test]
fn release_table() {
    let ps = profiles();
    let tz = TimeZone::get("Europe/Berlin").unwrap();
    let p = |n: &str| find_profile(&ps, n).unwrap();
    let dnd_night = vec![
        held(3, "2026-01-05T23:10:00+01:00", "Do not disturb"),
        held(1, "2026-01-05T22:00:00+01:00", "Do not disturb"),
        held(2, "2026-01-05T22:30:00+01:00", "do not disturb"),
    ];
    // (case, held, active profile, now, released ids, reason, digest actions)
    type Row<'a> = (
        &'a str,
        Vec<Held>,
        &'a str,
        &'a str,
        Option<(Vec<i64>, ReleaseReason, Vec<Action>)>,
    );
    let rows: Vec<Row<'_>> = vec![
        ("still in Do not disturb before 07:00: nothing", dnd_night.clone(), "Do not disturb",
            "2026-01-06T06:59:59+01:00", None),
        ("07:00 in Do not disturb: one digest of all three, oldest first", dnd_night.clone(), "Do not disturb",
            "2026-01-06T07:00:00+01:00",
            Some((vec![1, 2, 3], ReleaseReason::ReleaseTime { at: t("2026-01-06T07:00:00+01:00") },
                vec![Action::Notify { urgency: Urgency::Normal }]))),
        ("switching to Home releases at once", dnd_night.clone(), "Home", "2026-01-05T23:30:00+01:00",
            Some((vec![1, 2, 3], ReleaseReason::ProfileChanged { to: "Home".into() },
                vec![Action::Notify { urgency: Urgency::Normal }]))),
        ("switching to Meeting releases, at Meeting's urgency", dnd_night.clone(), "Meeting", "2026-01-05T23:30:00+01:00",
            Some((vec![1, 2, 3], ReleaseReason::ProfileChanged { to: "Meeting".into() },
                vec![Action::Notify { urgency: Urgency::Low }]))),
        ("switching to another holding profile does not release", dnd_night.clone(), "Night", "2026-01-05T23:30:00+01:00", None),
        ("... but the holding profile's release time still does, to the active profile's channels",
            dnd_night.clone(), "Night", "2026-01-06T07:00:00+01:00",
            Some((vec![1, 2, 3], ReleaseReason::ReleaseTime { at: t("2026-01-06T07:00:00+01:00") },
                vec![Action::Notify { urgency: Urgency::Normal }]))),
        ("a quiet profile releases with no digest delivery", dnd_night.clone(), "Quiet", "2026-01-05T23:30:00+01:00",
            Some((vec![1, 2, 3], ReleaseReason::ProfileChanged { to: "Quiet".into() }, vec![]))),
        ("held after 07:00: waits for 12:30",
            vec![held(9, "2026-01-06T07:00:01+01:00", "Do not disturb")], "Do not disturb", "2026-01-06T12:29:00+01:00", None),
        ("nothing held, nothing released", vec![], "Home", "2026-01-06T12:00:00+01:00", None),
    ];
    for (case, list, active, now, want) in rows {
        let got = due_release(&list, p(active), &ps, &tz, t(now));
        let got = got.map(|r| (r.message_ids, r.reason, r.actions));
        assert_eq!(got, want, "{case}");
    }
}

#[test]
fn release_times_follow_local_time_across_dst() {
    let ps = profiles();
    let dnd = find_profile(&ps, "Do not disturb").unwrap();
    let tz = TimeZone::get("Europe/Berlin").unwrap();
    // 07:00 CET = 06:00Z in winter; 07:00 CEST = 05:00Z after the spring change.
    assert_eq!(
        next_release_time(dnd, &tz, t("2026-03-28T23:00:00Z")),
        Some(t("2026-03-29T05:00:00Z"))
    );
    assert_eq!(
        next_release_time(dnd, &tz, t("2026-03-27T23:00:00Z")),
        Some(t("2026-03-28T06:00:00Z"))
    );
    assert_eq!(
        next_release_time(dnd, &tz, t("2026-03-28T06:00:00Z")),
        Some(t("2026-03-28T11:30:00Z"))
    );
    let home = find_profile(&ps, "Home").unwrap();
    assert_eq!(next_release_time(home, &tz, 0), None, "no release times");
}
