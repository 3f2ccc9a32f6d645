//! The decision, table-driven: a set of rules and profiles, and rows of (message, profile)
//! with the actions expected and words the explanation must contain. Odd input included:
//! empty subject, no sender, huge body, unicode.

use switchboard_route::{
    decide, Action, ChannelTarget, Condition, ContactGroup, DefaultAction, FactsInput, Importance,
    MessageChannel, MessageFacts, Profile, Rule, RuleSet, Urgency,
};

fn rule(name: &str, profiles: &[&str], conditions: Vec<Condition>, actions: Vec<Action>) -> Rule {
    Rule {
        id: 0,
        name: name.into(),
        enabled: true,
        profiles: profiles.iter().map(|p| p.to_string()).collect(),
        match_any: false,
        conditions,
        actions,
    }
}

fn rules() -> Vec<Rule> {
    use Condition as C;
    let mut v = vec![
        rule(
            "VIP",
            &["Meeting", "Do not disturb"],
            vec![C::SenderGroup {
                group: "VIP".into(),
            }],
            vec![
                Action::Notify {
                    urgency: Urgency::Critical,
                },
                Action::Stop,
            ],
        ),
        rule(
            "Newsletters",
            &[],
            vec![C::ListId { list: "*".into() }],
            vec![
                Action::Label {
                    label: "news".into(),
                },
                Action::MarkRead,
                Action::Stop,
            ],
        ),
        rule(
            "Invoices",
            &[],
            vec![C::Subject {
                words: "invoice".into(),
            }],
            vec![
                Action::Label {
                    label: "invoices".into(),
                },
                Action::ForwardMail {
                    to: "accounts@example.org".into(),
                },
            ],
        ),
        rule(
            "Held big in Travelling",
            &["travelling"],
            vec![C::SizeAtLeast { bytes: 10_000_000 }],
            vec![Action::Hold],
        ),
        rule(
            "Big",
            &[],
            vec![C::SizeAtLeast { bytes: 10_000_000 }],
            vec![Action::Notify {
                urgency: Urgency::Low,
            }],
        ),
        rule(
            "Urgent",
            &[],
            vec![C::Importance {
                level: Importance::High,
            }],
            vec![Action::Deliver {
                urgency: Some(Urgency::Critical),
            }],
        ),
        rule(
            "Clients at work",
            &["Work"],
            vec![C::SenderDomain {
                domain: "@Client.example".into(),
            }],
            vec![
                Action::Notify {
                    urgency: Urgency::Normal,
                },
                Action::Label {
                    label: "client".into(),
                },
            ],
        ),
        rule(
            "Attachments",
            &[],
            vec![C::Attachment { present: true }],
            vec![Action::Label {
                label: "attachments".into(),
            }],
        ),
        rule(
            "Alias",
            &[],
            vec![C::Recipient {
                address: "Alias@Home.example".into(),
            }],
            vec![Action::ForwardIm {
                to: "me@im.example".into(),
            }],
        ),
        rule(
            "News account",
            &[],
            vec![C::Account {
                account: "news".into(),
            }],
            vec![Action::MarkRead],
        ),
        rule(
            "Bulk",
            &[],
            vec![C::Body {
                words: "unsubscribe".into(),
            }],
            vec![Action::Label {
                label: "bulk".into(),
            }],
        ),
        rule(
            "Unicode",
            &[],
            vec![
                C::Subject {
                    words: "Grüße".into(),
                },
                C::SenderDomain {
                    domain: "例え.jp".into(),
                },
            ],
            vec![Action::Label {
                label: "überall".into(),
            }],
        ),
        rule(
            "IM",
            &[],
            vec![
                C::Channel {
                    channel: MessageChannel::Im,
                },
                C::SizeBelow { bytes: 100 },
            ],
            vec![Action::Label {
                label: "chat".into(),
            }],
        ),
        rule(
            "Sender",
            &[],
            vec![C::Sender {
                address: "Exact@Example.org".into(),
            }],
            vec![Action::Label {
                label: "exact".into(),
            }],
        ),
    ];
    let mut spam = rule(
        "Spam",
        &[],
        vec![
            C::Subject {
                words: "lottery".into(),
            },
            C::Body {
                words: "winner".into(),
            },
        ],
        vec![
            Action::Label {
                label: "spam".into(),
            },
            Action::Stop,
        ],
    );
    spam.match_any = true;
    v.push(spam);
    let mut off = rule("Disabled", &[], vec![], vec![Action::Hold, Action::Stop]);
    off.enabled = false;
    v.push(off);
    for (i, r) in v.iter_mut().enumerate() {
        r.id = i as i64 + 1;
        r.validate().unwrap();
    }
    v
}

fn profiles() -> Vec<Profile> {
    let mut ps = switchboard_route::default_profiles();
    let home = ps.iter_mut().find(|p| p.name == "Home").unwrap();
    home.notify.muted_accounts = vec!["news".into()];
    home.notify.vip = vec!["@boss.example".into()];
    let travelling = ps.iter_mut().find(|p| p.name == "Travelling").unwrap();
    travelling.channels.push(ChannelTarget::Mail {
        address: "phone@example.org".into(),
    });
    let meeting = ps.iter_mut().find(|p| p.name == "Meeting").unwrap();
    meeting.notify.rate_limit_minutes = 10;
    let mut quiet = Profile::new("Quiet");
    quiet.default_action = DefaultAction::Quiet;
    ps.push(quiet);
    let mut nowhere = Profile::new("Nowhere");
    nowhere.channels.clear();
    ps.push(nowhere);
    ps
}

#[derive(Default, Clone)]
struct Msg {
    sender: Option<&'static str>,
    subject: &'static str,
    body: String,
    to: Vec<&'static str>,
    accounts: Vec<&'static str>,
    size: u64,
    attachment: bool,
    list: Option<&'static str>,
    importance: Importance,
    channel: MessageChannel,
}

impl Msg {
    fn facts(&self) -> MessageFacts {
        MessageFacts::new(FactsInput {
            message_id: Some(1),
            channel: self.channel,
            accounts: self.accounts.iter().map(|a| a.to_string()).collect(),
            sender: self.sender,
            recipients: self.to.clone(),
            subject: self.subject,
            body: &self.body,
            size: self.size.max(1),
            has_attachment: self.attachment,
            list_id: self.list,
            importance: self.importance,
            message_key: "m@x",
            ..Default::default()
        })
    }
}

fn notify(u: Urgency) -> Action {
    Action::Notify { urgency: u }
}
fn label(l: &str) -> Action {
    Action::Label { label: l.into() }
}

#[test]
fn decisions_table() {
    let groups = [ContactGroup {
        name: "vip".into(),
        members: vec!["boss@example.org".into(), "@board.example".into()],
    }];
    let set = RuleSet::new(&rules(), &groups);
    let profiles = profiles();
    let big_body = format!("{}\nunsubscribe here", "lorem ipsum ".repeat(80_000)); // ~960 KB
    let too_far = format!("{}unsubscribe", "x ".repeat(600_000)); // the word lies past 1 MiB
    let normal = Urgency::Normal;

    // (case, message, profile, expected actions, words the explanation contains)
    type Row<'a> = (&'a str, Msg, &'a str, Vec<Action>, Vec<&'a str>);
    let rows: Vec<Row<'_>> = vec![
        (
            "empty message, Home: the default delivers",
            Msg::default(),
            "Home",
            vec![notify(normal)],
            vec!["no rule matched", "default action: deliver"],
        ),
        (
            "no sender, Do not disturb: held",
            Msg::default(),
            "Do not disturb",
            vec![Action::Hold],
            vec!["hold for the digest"],
        ),
        (
            "empty subject from a VIP, Do not disturb: breaks through",
            Msg {
                sender: Some("Boss@Example.org"),
                ..Default::default()
            },
            "Do not disturb",
            vec![notify(Urgency::Critical)],
            vec![
                "rule 1 'VIP' matched",
                "is in group 'VIP' (as boss@example.org)",
                "stops",
            ],
        ),
        (
            "VIP by domain member in Meeting",
            Msg {
                sender: Some("chair@sub.board.example"),
                ..Default::default()
            },
            "meeting",
            vec![notify(Urgency::Critical)],
            vec!["(as @board.example)"],
        ),
        (
            "VIP rule does not apply at Home",
            Msg {
                sender: Some("boss@example.org"),
                ..Default::default()
            },
            "Home",
            vec![notify(normal)],
            vec!["no rule matched"],
        ),
        (
            "a list message is labelled, marked read, and stops",
            Msg {
                sender: Some("list@lists.example"),
                list: Some("dev.lists.example"),
                ..Default::default()
            },
            "Home",
            vec![label("news"), Action::MarkRead],
            vec![
                "rule 2 'Newsletters' matched",
                "came through list dev.lists.example",
                "stops",
            ],
        ),
        (
            "invoice: forwarded, no default delivery",
            Msg {
                subject: "Your INVOICE #12",
                ..Default::default()
            },
            "Travelling",
            vec![
                label("invoices"),
                Action::ForwardMail {
                    to: "accounts@example.org".into(),
                },
            ],
            vec!["subject has 'invoice'"],
        ),
        (
            "'invoices' is another word",
            Msg {
                subject: "invoices attached",
                ..Default::default()
            },
            "Home",
            vec![notify(normal)],
            vec!["no rule matched"],
        ),
        (
            "huge body: the word near the end of the first MiB counts",
            Msg {
                body: big_body.clone(),
                ..Default::default()
            },
            "Home",
            vec![label("bulk"), notify(normal)],
            vec!["body has 'unsubscribe'"],
        ),
        (
            "huge body: a word past the first MiB is not looked at",
            Msg {
                body: too_far,
                ..Default::default()
            },
            "Home",
            vec![notify(normal)],
            vec!["no rule matched"],
        ),
        (
            "unicode subject and domain",
            Msg {
                sender: Some("ünï@例え.jp"),
                subject: "Herzliche GRÜSSE? nein: grüße!",
                ..Default::default()
            },
            "Home",
            vec![label("überall"), notify(normal)],
            vec!["subject has 'grüße'", "sender is ünï@例え.jp"],
        ),
        (
            "high importance delivers critically to every channel of Travelling",
            Msg {
                importance: Importance::High,
                ..Default::default()
            },
            "Travelling",
            vec![
                notify(Urgency::Critical),
                Action::ForwardMail {
                    to: "phone@example.org".into(),
                },
            ],
            vec!["importance is high"],
        ),
        (
            "high importance in Do not disturb: a rule's deliver beats the default hold",
            Msg {
                importance: Importance::High,
                ..Default::default()
            },
            "Do not disturb",
            vec![notify(Urgency::Critical)],
            vec!["'Urgent' matched"],
        ),
        (
            "big message at Home: notify low, the default is not applied",
            Msg {
                size: 20_000_000,
                ..Default::default()
            },
            "Home",
            vec![notify(Urgency::Low)],
            vec!["size is 20000000 bytes"],
        ),
        (
            "big message while travelling: hold wins over the notification",
            Msg {
                size: 20_000_000,
                ..Default::default()
            },
            "Travelling",
            vec![Action::Hold],
            vec!["held: not done now: notify (low)"],
        ),
        (
            "client at work: notify once and label",
            Msg {
                sender: Some("anna@mail.client.example"),
                ..Default::default()
            },
            "work",
            vec![label("client"), notify(normal)],
            vec!["rule 7 'Clients at work' matched"],
        ),
        (
            "attachment: labelled, then delivered by default",
            Msg {
                attachment: true,
                ..Default::default()
            },
            "Home",
            vec![label("attachments"), notify(normal)],
            vec!["has an attachment"],
        ),
        (
            "to the alias: forwarded as IM",
            Msg {
                to: vec!["someone@x.example", "ALIAS@home.example"],
                ..Default::default()
            },
            "Home",
            vec![Action::ForwardIm {
                to: "me@im.example".into(),
            }],
            vec!["alias@home.example is among the recipients"],
        ),
        (
            "muted account at Home: marked read, no notification",
            Msg {
                accounts: vec!["news"],
                ..Default::default()
            },
            "Home",
            vec![Action::MarkRead],
            vec!["account 'news' is muted"],
        ),
        (
            "muted account but a VIP of Home: notified critically",
            Msg {
                accounts: vec!["news"],
                sender: Some("ceo@boss.example"),
                ..Default::default()
            },
            "Home",
            vec![Action::MarkRead, notify(Urgency::Critical)],
            vec!["VIP of profile Home (@boss.example)"],
        ),
        (
            "a message through a muted and an unmuted account still notifies",
            Msg {
                accounts: vec!["news", "work"],
                ..Default::default()
            },
            "Home",
            vec![Action::MarkRead, notify(normal)],
            vec![],
        ),
        (
            "match_any: the body alone is enough",
            Msg {
                body: "You are a WINNER.".into(),
                ..Default::default()
            },
            "Home",
            vec![label("spam")],
            vec!["rule 15 'Spam' matched", "body has 'winner'"],
        ),
        (
            "quiet profile: nothing is sent",
            Msg::default(),
            "Quiet",
            vec![],
            vec!["quiet"],
        ),
        (
            "a profile without channels: deliver sends nothing",
            Msg::default(),
            "Nowhere",
            vec![],
            vec!["no channels"],
        ),
        (
            "IM channel and tiny size",
            Msg {
                channel: MessageChannel::Im,
                size: 20,
                ..Default::default()
            },
            "Home",
            vec![label("chat"), notify(normal)],
            vec!["came by im"],
        ),
        (
            "exact sender, case-insensitive",
            Msg {
                sender: Some("EXACT@example.ORG"),
                ..Default::default()
            },
            "Home",
            vec![label("exact"), notify(normal)],
            vec!["sender is exact@example.org"],
        ),
        (
            "several rules: labels from all, deduplicated deliveries",
            Msg {
                subject: "invoice",
                attachment: true,
                importance: Importance::High,
                ..Default::default()
            },
            "Home",
            vec![
                label("invoices"),
                label("attachments"),
                Action::ForwardMail {
                    to: "accounts@example.org".into(),
                },
                notify(Urgency::Critical),
            ],
            vec![
                "'Invoices' matched",
                "'Urgent' matched",
                "'Attachments' matched",
            ],
        ),
    ];

    for (case, msg, profile, want, words) in rows {
        let p = switchboard_route::find_profile(&profiles, profile).unwrap();
        let facts = msg.facts();
        let d = decide(&facts, p, &set, 1_000);
        assert_eq!(d.actions, want, "{case}\n{:#?}", d.explanation);
        let text = d.explanation.join("\n");
        for w in words {
            assert!(text.contains(w), "{case}: explanation lacks {w:?}:\n{text}");
        }
        assert!(
            !d.actions
                .iter()
                .any(|a| matches!(a, Action::Stop | Action::Deliver { .. })),
            "{case}"
        );
        assert_eq!(d.profile, p.name);
        assert_eq!(d.decided_at, 1_000);
        assert!(!d.explanation.is_empty(), "{case}");
        assert_eq!(
            decide(&facts, p, &set, 1_000),
            d,
            "{case}: not deterministic"
        );
    }
}

#[test]
fn notification_options_travel_with_the_decision() {
    let set = RuleSet::new(&rules(), &[]);
    let profiles = profiles();
    let meeting = switchboard_route::find_profile(&profiles, "Meeting").unwrap();
    let d = decide(&Msg::default().facts(), meeting, &set, 0);
    assert_eq!(d.actions, [notify(Urgency::Low)]);
    assert!(d.notify.hide_content);
    assert_eq!(d.notify.rate_limit_secs, 600);
    assert!(d
        .explanation
        .join(" ")
        .contains("at most one notification per 10 minutes"));
    assert_eq!(d.conversation, "m@x");
    let home = switchboard_route::find_profile(&profiles, "Home").unwrap();
    let vip = decide(
        &Msg {
            sender: Some("x@boss.example"),
            ..Default::default()
        }
        .facts(),
        home,
        &set,
        0,
    );
    assert!(vip.notify.vip);
    assert_eq!(vip.notify.rate_limit_secs, 0);
    assert!(!vip.notify.hide_content);
}

#[test]
fn explaining_every_rule() {
    let set = RuleSet::new(&rules(), &[]);
    let facts = Msg {
        subject: "invoice",
        ..Default::default()
    }
    .facts();
    let checks = set.check_all(&facts, "Home");
    assert_eq!(checks.len(), 16);
    assert!(!checks[0].applies, "VIP is limited to other profiles");
    assert!(
        checks[0].conditions[0]
            .why
            .contains("group 'VIP' does not exist"),
        "{:?}",
        checks[0]
    );
    let invoices = &checks[2];
    assert!(invoices.applies && invoices.matched);
    assert!(invoices.conditions[0].held);
    let newsletters = &checks[1];
    assert!(!newsletters.matched);
    assert_eq!(
        newsletters.conditions[0].why,
        "the message came through no mailing list"
    );
    assert!(!checks[15].applies, "disabled");
}

#[test]
fn no_rules_at_all() {
    let set = RuleSet::new(&[], &[]);
    assert!(set.is_empty());
    let p = switchboard_route::Profile::new("Solo");
    let d = decide(&MessageFacts::default(), &p, &set, 0);
    assert_eq!(d.actions, [notify(Urgency::Normal)]);
    assert!(d.default_applied);
    assert_eq!(d.stopped_by, None);
}
