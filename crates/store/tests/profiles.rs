//! Profiles, the schedule, rules, groups and decisions as the store keeps and serves them.

use switchboard_route::{
    Action, ActiveReason, Condition, DefaultAction, Profile, Rule, Schedule, ScheduleRange,
    SwitchReason, Urgency,
};
use switchboard_store::{
    AccountKind, IncomingMessage, NewAccount, RuleTrial, SourceKey, Store, StoreError, SyncPolicy,
    TlsMode,
};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    (dir, store)
}

/// Unix seconds of a local time in Europe/Berlin.
fn berlin(s: &str) -> i64 {
    let dt: jiff::civil::DateTime = s.parse().unwrap();
    jiff::tz::TimeZone::get("Europe/Berlin")
        .unwrap()
        .to_timestamp(dt)
        .unwrap()
        .as_second()
}

fn work_week() -> Schedule {
    Schedule {
        time_zone: Some("Europe/Berlin".into()),
        fallback: "Home".into(),
        ranges: vec![ScheduleRange {
            profile: "work".into(), // any case; stored as the profile's own spelling
            days: switchboard_route::schedule::parse_days("mon-fri").unwrap(),
            start: "09:00".parse().unwrap(),
            end: "17:00".parse().unwrap(),
        }],
    }
}

fn rule(name: &str, conditions: Vec<Condition>, actions: Vec<Action>) -> Rule {
    Rule {
        id: 0,
        name: name.into(),
        enabled: true,
        profiles: vec![],
        match_any: false,
        conditions,
        actions,
    }
}

fn add_mail(store: &mut Store, uid: u32, raw: &str) -> i64 {
    let account = match store.account("mail").unwrap() {
        Some(a) => a.id,
        None => {
            store
                .add_account(&NewAccount {
                    name: "mail".into(),
                    kind: AccountKind::Imap,
                    host: "127.0.0.1".into(),
                    port: 993,
                    tls: TlsMode::Implicit,
                    username: "alice".into(),
                    trust_cert: None,
                    mailboxes: vec![],
                    policy: SyncPolicy::Mirror,
                })
                .unwrap()
                .id
        }
    };
    let raw = raw.replace('\n', "\r\n").into_bytes();
    store
        .ingest(
            account,
            &[IncomingMessage {
                parsed: switchboard_model::parse(&raw),
                raw,
                source: SourceKey::Imap {
                    mailbox: "INBOX".into(),
                    uidvalidity: 1,
                    uid,
                },
                flags: None,
            }],
        )
        .unwrap();
    store.inbox(&Default::default()).unwrap()[0].id
}

#[test]
fn a_new_store_has_the_default_profiles_rule_and_group() {
    let (_d, store) = open();
    let names: Vec<String> = store
        .profiles()
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        names,
        ["Home", "Work", "Travelling", "Meeting", "Do not disturb"]
    );
    let rules = store.rules().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].name, "VIPs break through");
    assert!(rules[0].id > 0);
    assert_eq!(store.group("vip").unwrap().members, Vec::<String>::new());
    let r = store.routing(0).unwrap();
    assert_eq!(r.active.name, "Home");
    assert_eq!(r.active.why, ActiveReason::Fallback);
    // Seeding happens once, also with a second connection.
    let again = Store::open(store.path()).unwrap();
    assert_eq!(again.profiles().unwrap().len(), 5);
    assert_eq!(again.rules().unwrap().len(), 1);
}

#[test]
fn a_manual_switch_holds_until_the_next_boundary_and_history_records_every_switch() {
    let (_d, mut store) = open();
    store
        .set_schedule(&work_week(), berlin("2026-01-05T07:00"))
        .unwrap();
    assert_eq!(store.schedule().unwrap().ranges[0].profile, "Work");

    // Monday 08:00: fallback Home. Switch to Meeting by hand.
    let t0 = berlin("2026-01-05T08:00");
    let a = store.use_profile("meeting", false, t0).unwrap();
    assert_eq!((a.name.as_str(), a.why), ("Meeting", ActiveReason::Manual));
    assert_eq!(a.until, Some(berlin("2026-01-05T09:00")));
    // Still Meeting a minute before the boundary, Work from the boundary on.
    assert_eq!(
        store
            .routing(berlin("2026-01-05T08:59"))
            .unwrap()
            .active
            .name,
        "Meeting"
    );
    let at_nine = store.routing(berlin("2026-01-05T09:00")).unwrap().active;
    assert_eq!(
        (at_nine.name.as_str(), at_nine.why),
        ("Work", ActiveReason::Scheduled)
    );

    // The watcher records the scheduled switch at the boundary's time.
    let rec = store
        .record_active_profile(berlin("2026-01-05T09:00") + 3)
        .unwrap()
        .expect("a switch to record");
    assert_eq!(rec.profile, "Work");
    assert_eq!(rec.at, berlin("2026-01-05T09:00"));
    assert_eq!(rec.reason, SwitchReason::Scheduled);
    assert!(store
        .record_active_profile(berlin("2026-01-05T09:01"))
        .unwrap()
        .is_none());

    // Held until released: survives the 17:00 boundary.
    let t1 = berlin("2026-01-05T10:00");
    store.use_profile("Do not disturb", true, t1).unwrap();
    let evening = store.routing(berlin("2026-01-05T18:00")).unwrap().active;
    assert_eq!(
        (evening.name.as_str(), evening.why),
        ("Do not disturb", ActiveReason::Manual)
    );
    assert_eq!(evening.until, None);
    let released = store.release_profile(berlin("2026-01-05T18:00")).unwrap();
    assert_eq!(
        (released.name.as_str(), released.why),
        ("Home", ActiveReason::Fallback)
    );

    let history = store.switch_history(10).unwrap();
    let seen: Vec<(&str, SwitchReason)> = history
        .iter()
        .map(|h| (h.profile.as_str(), h.reason))
        .collect();
    assert_eq!(
        seen,
        [
            ("Home", SwitchReason::Released),
            ("Do not disturb", SwitchReason::Manual),
            ("Work", SwitchReason::Scheduled),
            ("Meeting", SwitchReason::Manual),
            ("Home", SwitchReason::Scheduled),
        ]
    );
    assert_eq!(history[0].previous.as_deref(), Some("Do not disturb"));
}

#[test]
fn profiles_are_edited_renamed_and_protected() {
    let (_d, mut store) = open();
    let now = berlin("2026-01-05T12:00");
    store.set_schedule(&work_week(), now).unwrap();
    let mut gym = Profile::new("Gym");
    gym.default_action = DefaultAction::Quiet;
    store.add_profile(&gym).unwrap();
    let e = store
        .add_profile(&Profile::new("GYM"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("already exists"), "{e}");
    let e = store
        .add_profile(&Profile::new(""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("profile name"), "{e}");

    let mut r = rule("Gym only", vec![], vec![Action::MarkRead]);
    r.profiles = vec!["gym".into()];
    let r = store.add_rule(&r, None).unwrap();
    assert_eq!(r.profiles, ["Gym"]);

    // Renaming carries into rules and the schedule.
    let mut work = store.profile("Work").unwrap();
    work.name = "Office".into();
    work.channels.push("mail:me@example.org".parse().unwrap());
    store.update_profile("work", &work, now).unwrap();
    assert_eq!(store.schedule().unwrap().ranges[0].profile, "Office");
    assert_eq!(store.routing(now).unwrap().active.name, "Office");
    let mut gym2 = store.profile("gym").unwrap();
    gym2.name = "Fitness".into();
    store.update_profile("Gym", &gym2, now).unwrap();
    assert_eq!(store.rule(r.id).unwrap().profiles, ["Fitness"]);
    let e = store
        .update_profile("Fitness", &Profile::new("home"), now)
        .unwrap_err()
        .to_string();
    assert!(e.contains("already exists"), "{e}");

    // Removing: refused while referenced, with the reason named.
    let e = store.remove_profile("Office", now).unwrap_err().to_string();
    assert!(e.contains("active"), "{e}");
    let e = store.remove_profile("Home", now).unwrap_err().to_string();
    assert!(e.contains("fallback"), "{e}");
    let e = store
        .remove_profile("Fitness", now)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rule") && e.contains("Gym only"), "{e}");
    store.remove_rule(r.id).unwrap();
    store.remove_profile("fitness", now).unwrap();
    assert!(matches!(
        store.profile("Fitness"),
        Err(StoreError::NotFound(_))
    ));
    let e = store.remove_profile("Nope", now).unwrap_err().to_string();
    assert_eq!(e, "no profile named 'Nope'");

    // A schedule naming a missing profile or an unknown zone is refused.
    let mut bad = work_week();
    bad.ranges[0].profile = "Nope".into();
    assert!(store
        .set_schedule(&bad, now)
        .unwrap_err()
        .to_string()
        .contains("'Nope'"));
    let mut bad = work_week();
    bad.time_zone = Some("Mars/Olympus".into());
    assert!(store
        .set_schedule(&bad, now)
        .unwrap_err()
        .to_string()
        .contains("Mars/Olympus"));
}

#[test]
fn rules_keep_their_order_through_adds_moves_and_removes() {
    let (_d, mut store) = open();
    let seeded = store.rules().unwrap()[0].id;
    let a = store
        .add_rule(&rule("a", vec![], vec![Action::MarkRead]), None)
        .unwrap();
    let b = store
        .add_rule(&rule("b", vec![], vec![Action::Hold]), Some(1))
        .unwrap();
    let c = store
        .add_rule(&rule("c", vec![], vec![Action::Stop]), Some(99))
        .unwrap();
    let order = |s: &Store| {
        s.rules()
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(order(&store), [b.id, seeded, a.id, c.id]);
    store.move_rule(c.id, 1).unwrap();
    assert_eq!(order(&store), [c.id, b.id, seeded, a.id]);
    store.move_rule(c.id, 100).unwrap();
    assert_eq!(order(&store), [b.id, seeded, a.id, c.id]);
    store.remove_rule(seeded).unwrap();
    assert_eq!(order(&store), [b.id, a.id, c.id]);
    store.move_rule(a.id, 1).unwrap();
    assert_eq!(order(&store), [a.id, b.id, c.id]);
    let mut changed = rule(
        "b2",
        vec![Condition::SizeAtLeast { bytes: 5 }],
        vec![Action::Hold],
    );
    changed.enabled = false;
    let b2 = store.update_rule(b.id, &changed).unwrap();
    assert_eq!(store.rule(b.id).unwrap(), b2);
    assert_eq!(
        order(&store),
        [a.id, b.id, c.id],
        "an edit keeps the position"
    );

    assert_eq!(
        store.remove_rule(9999).unwrap_err().to_string(),
        "no rule with id 9999"
    );
    assert!(store.move_rule(9999, 1).is_err());
    let e = store
        .add_rule(
            &rule("bad", vec![], vec![Action::ForwardMail { to: "x".into() }]),
            None,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("forward address"), "{e}");
    let mut unknown = rule("scoped", vec![], vec![Action::Hold]);
    unknown.profiles = vec!["Nowhere".into()];
    assert!(store
        .add_rule(&unknown, None)
        .unwrap_err()
        .to_string()
        .contains("'Nowhere'"));
}

const BOSS: &str = "Message-ID: <boss1@example.org>
From: The Boss <Boss@Example.org>
To: alice@example.org
Subject: Budget
Importance: high
Date: Mon, 5 Jan 2026 10:00:00 +0000

Please look at the budget today.
";

const LIST: &str = "Message-ID: <l1@lists.example.net>
From: Dev List <dev@lists.example.net>
To: dev@lists.example.net
List-Id: Developers <dev.lists.example.net>
Subject: [dev] weekly notes
Date: Mon, 5 Jan 2026 11:00:00 +0000

Notes of the week.
";

#[test]
fn decisions_explanations_trials_and_local_actions_for_stored_messages() {
    let (_d, mut store) = open();
    let boss = add_mail(&mut store, 1, BOSS);
    let list = add_mail(&mut store, 2, LIST);
    let now = berlin("2026-01-05T12:00");

    // Home, no rule matches: delivered to the desktop by the default.
    let d = store.decision_for(boss, now).unwrap();
    assert_eq!(d.profile, "Home");
    assert_eq!(
        d.actions,
        [Action::Notify {
            urgency: Urgency::Normal
        }]
    );
    assert!(d.default_applied);

    let facts = store.message_facts(boss).unwrap();
    assert_eq!(facts.sender.as_deref(), Some("boss@example.org"));
    assert_eq!(facts.accounts, ["mail"]);
    assert_eq!(facts.importance, switchboard_route::Importance::High);
    assert_eq!(
        store.message_facts(list).unwrap().list_id.as_deref(),
        Some("dev.lists.example.net")
    );

    // Do not disturb holds; the boss in the VIP group breaks through.
    store.use_profile("Do not disturb", false, now).unwrap();
    assert_eq!(
        store.decision_for(boss, now).unwrap().actions,
        [Action::Hold]
    );
    store
        .add_group_members("VIP", &["boss@example.org".into()])
        .unwrap();
    let d = store.decision_for(boss, now).unwrap();
    assert_eq!(
        d.actions,
        [Action::Notify {
            urgency: Urgency::Critical
        }]
    );
    let ex = store.explain_route(boss, None, now).unwrap();
    assert_eq!(ex.profile, "Do not disturb");
    assert!(
        ex.decision.explanation[0].contains("manual"),
        "{:?}",
        ex.decision.explanation
    );
    assert!(
        ex.decision.explanation[1].contains("'VIPs break through' matched")
            && ex.decision.explanation[1].contains("group 'VIP'"),
        "{:?}",
        ex.decision.explanation
    );
    assert!(ex.rules[0].matched);
    let under_home = store.explain_route(boss, Some("home"), now).unwrap();
    assert!(
        !under_home.rules[0].applies,
        "the VIP rule is limited to other profiles"
    );

    // Try a list rule before saving it: only the list message matches.
    let trial = RuleTrial {
        rule: rule(
            "lists",
            vec![Condition::ListId { list: "*".into() }],
            vec![
                Action::Label {
                    label: "lists".into(),
                },
                Action::MarkRead,
                Action::Stop,
            ],
        ),
        position: Some(1),
        profile: Some("Home".into()),
        limit: 100,
        owner: None,
    };
    let out = store.try_rule(&trial, now).unwrap();
    assert_eq!(out.profile, "Home");
    assert_eq!(out.scanned, 2);
    assert_eq!(out.matches.len(), 1);
    assert_eq!(out.matches[0].id, list);
    assert_eq!(
        out.matches[0].now,
        [Action::Notify {
            urgency: Urgency::Normal
        }]
    );
    assert_eq!(
        out.matches[0].with_rule.actions,
        [
            Action::Label {
                label: "lists".into()
            },
            Action::MarkRead
        ]
    );
    assert_eq!(store.rules().unwrap().len(), 1, "trying saves nothing");

    // Carrying out the store part of a decision.
    store
        .apply_local_actions(list, &out.matches[0].with_rule.actions)
        .unwrap();
    store
        .apply_local_actions(list, &out.matches[0].with_rule.actions)
        .unwrap();
    assert_eq!(store.labels(list).unwrap(), ["lists"]);
    assert!(store.message(list).unwrap().summary.flags.contains(&"seen"));

    assert!(matches!(
        store.decision_for(9999, now),
        Err(StoreError::NoSuchMessage(9999))
    ));
    let e = store
        .explain_route(boss, Some("Nope"), now)
        .unwrap_err()
        .to_string();
    assert!(e.contains("'Nope'"), "{e}");
}

#[test]
fn groups_take_addresses_and_domains() {
    let (_d, mut store) = open();
    let g = store
        .add_group_members(
            "Family",
            &["Mum@Example.org".into(), "@kids.example".into()],
        )
        .unwrap();
    assert_eq!(g.members, ["@kids.example", "mum@example.org"]);
    let e = store
        .add_group_members("Family", &["not an address".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not an address"), "{e}");
    let g = store
        .remove_group_members("family", &["mum@example.org".into()])
        .unwrap();
    assert_eq!(g.members, ["@kids.example"]);
    store.remove_group("FAMILY").unwrap();
    assert!(matches!(
        store.group("Family"),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.groups().unwrap().len(), 1, "VIP stays");
}
