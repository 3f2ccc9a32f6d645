//! Routing decisions per second on one core: 100,000 generated messages against 200 rules.
//!
//!     cargo run --release -p switchboard-route --example bench_decide [-- MESSAGES RULES RUNS]
//!
//! Messages and rules come from a fixed-seed generator, so every run decides the same thing:
//! senders from 5,000 addresses in 500 domains, a tenth through mailing lists, subjects and
//! bodies (300–1,500 bytes of text) drawn like natural language from a 3,000-word vocabulary
//! (log-uniform ranks, so a few words are everywhere and most are rare), some attachments,
//! some importance headers, one to three accounts. Rules mix every condition kind (sender, domain, group,
//! recipient, account, list, subject and body words, size, attachment, importance), some
//! limited to profiles, some stopping, some `match_any`. The facts are built before the clock
//! starts (that is the parser's and the store's work); what is timed is `decide` alone, on
//! this thread, for every message, RUNS times (default 5); the median run is reported, by
//! wall time and by the thread's CPU time (from /proc, so a busy machine shows up as the
//! difference). The output ends with `decisions_per_second=N` (wall) and
//! `cpu_decisions_per_second=N` for scripts.

use std::time::Instant;

use switchboard_route::{
    decide, find_profile, Action, Condition, ContactGroup, FactsInput, Importance, MessageFacts,
    Rule, RuleSet, Urgency,
};

/// xorshift64*: small, fast, and the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "meeting",
    "invoice",
    "report",
    "budget",
    "project",
    "update",
    "weekly",
    "notes",
    "lunch",
    "travel",
    "flight",
    "hotel",
    "review",
    "draft",
    "contract",
    "offer",
    "order",
    "shipping",
    "delivery",
    "payment",
    "reminder",
    "urgent",
    "question",
    "answer",
    "photo",
    "family",
    "school",
    "holiday",
    "garden",
    "football",
    "concert",
    "ticket",
    "account",
    "password",
    "security",
    "release",
    "version",
    "server",
    "backup",
    "unsubscribe",
    "newsletter",
    "sale",
    "discount",
    "winner",
    "lottery",
    "grüße",
    "café",
    "naïve",
    "straße",
    "日本",
    "plan",
    "team",
    "agenda",
    "minutes",
    "deadline",
    "customer",
    "support",
    "ticket",
    "bug",
    "feature",
];

/// Vocabulary rank to word: the named words first, then synthetic ones.
fn word(rank: u64) -> String {
    match WORDS.get(rank as usize) {
        Some(w) => w.to_string(),
        None => format!("w{rank}"),
    }
}

const VOCABULARY: f64 = 3000.0;

/// A word rank, log-uniform over the vocabulary (roughly Zipf's law).
fn natural_rank(rng: &mut Rng) -> u64 {
    let u = (rng.below(1 << 30) as f64) / (1u64 << 30) as f64;
    (VOCABULARY.powf(u) as u64).saturating_sub(1)
}

/// A word for a condition: mid-frequency, as people pick words worth filtering on.
fn condition_word(rng: &mut Rng) -> String {
    word(20 + rng.below(1500))
}

fn domain(i: u64) -> String {
    format!("d{i}.example")
}

fn address(rng: &mut Rng) -> String {
    let d = rng.below(500);
    let u = rng.below(10);
    format!("user{u}@{}", domain(d))
}

fn text(rng: &mut Rng, min: usize, max: usize) -> String {
    let target = min + rng.below((max - min) as u64) as usize;
    let mut s = String::with_capacity(target + 16);
    while s.len() < target {
        if !s.is_empty() {
            s.push(if rng.below(12) == 0 { '\n' } else { ' ' });
        }
        s.push_str(&word(natural_rank(rng)));
    }
    s
}

struct Raw {
    sender: String,
    to: Vec<String>,
    subject: String,
    body: String,
    list: Option<String>,
    accounts: Vec<String>,
    size: u64,
    attachment: bool,
    importance: Importance,
    key: String,
}

fn messages(n: usize, rng: &mut Rng) -> Vec<MessageFacts> {
    let raws: Vec<Raw> = (0..n)
        .map(|i| {
            let sender = address(rng);
            let body = text(rng, 300, 1500);
            let attachment = rng.below(8) == 0;
            Raw {
                to: (0..1 + rng.below(3)).map(|_| address(rng)).collect(),
                subject: text(rng, 10, 60),
                list: (rng.below(10) == 0).then(|| format!("list{}.lists.example", rng.below(50))),
                accounts: (0..1 + rng.below(2))
                    .map(|_| format!("acct{}", rng.below(5)))
                    .collect(),
                size: body.len() as u64 + 800 + if attachment { rng.below(20_000_000) } else { 0 },
                attachment,
                importance: match rng.below(20) {
                    0 => Importance::High,
                    1 => Importance::Low,
                    _ => Importance::Normal,
                },
                key: format!("m{i}@bench.example"),
                sender,
                body,
            }
        })
        .collect();
    raws.iter()
        .map(|r| {
            MessageFacts::new(FactsInput {
                message_id: None,
                accounts: r.accounts.clone(),
                sender: Some(&r.sender),
                recipients: r.to.iter().map(String::as_str).collect(),
                subject: &r.subject,
                body: &r.body,
                size: r.size,
                has_attachment: r.attachment,
                list_id: r.list.as_deref(),
                importance: r.importance,
                message_key: &r.key,
                ..Default::default()
            })
        })
        .collect()
}

fn rules(n: usize, rng: &mut Rng) -> Vec<Rule> {
    let profiles = ["Home", "Work", "Travelling", "Meeting", "Do not disturb"];
    (0..n)
        .map(|i| {
            let condition = |rng: &mut Rng| match rng.below(12) {
                0 | 1 => Condition::Sender {
                    address: address(rng),
                },
                2 | 3 => Condition::SenderDomain {
                    domain: domain(rng.below(500)),
                },
                4 => Condition::SenderGroup {
                    group: format!("group{}", rng.below(5)),
                },
                5 => Condition::Recipient {
                    address: address(rng),
                },
                6 => Condition::Account {
                    account: format!("acct{}", rng.below(5)),
                },
                7 => Condition::ListId {
                    list: format!("list{}.lists.example", rng.below(50)),
                },
                8 => Condition::Subject {
                    words: condition_word(rng),
                },
                9 => Condition::Body {
                    words: format!("{} {}", condition_word(rng), condition_word(rng)),
                },
                10 => match rng.below(3) {
                    0 => Condition::SizeAtLeast {
                        bytes: 1_000_000 + rng.below(10_000_000),
                    },
                    1 => Condition::Attachment { present: true },
                    _ => Condition::SizeBelow { bytes: 1000 },
                },
                _ => Condition::Importance {
                    level: Importance::High,
                },
            };
            let conditions: Vec<Condition> =
                (0..1 + rng.below(3)).map(|_| condition(rng)).collect();
            let mut actions = vec![match rng.below(6) {
                0 => Action::Notify {
                    urgency: Urgency::Critical,
                },
                1 => Action::ForwardMail { to: address(rng) },
                2 => Action::Label {
                    label: format!("label{}", rng.below(20)),
                },
                3 => Action::MarkRead,
                4 => Action::Hold,
                _ => Action::Deliver { urgency: None },
            }];
            if rng.below(10) == 0 {
                actions.push(Action::Stop);
            }
            Rule {
                id: i as i64 + 1,
                name: format!("rule {i}"),
                enabled: rng.below(20) != 0,
                profiles: if rng.below(4) == 0 {
                    vec![rng.pick(&profiles).to_string()]
                } else {
                    Vec::new()
                },
                match_any: rng.below(5) == 0,
                conditions,
                actions,
            }
        })
        .collect()
}

/// CPU time of this thread so far, in seconds (utime + stime from /proc; Linux's USER_HZ is
/// 100 on every architecture Switchboard builds for).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name may contain spaces; the fields after it start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("arguments: MESSAGES RULES RUNS (numbers)"))
        .collect();
    let n_messages = args.first().copied().unwrap_or(100_000);
    let n_rules = args.get(1).copied().unwrap_or(200);
    let runs = args.get(2).copied().unwrap_or(5).max(1);

    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let rules = rules(n_rules, &mut rng);
    for r in &rules {
        r.validate().expect("generated rules are valid");
    }
    let groups: Vec<ContactGroup> = (0..5)
        .map(|g| ContactGroup {
            name: format!("group{g}"),
            members: (0..40)
                .map(|_| {
                    if rng.below(4) == 0 {
                        format!("@{}", domain(rng.below(500)))
                    } else {
                        address(&mut rng)
                    }
                })
                .collect(),
        })
        .collect();
    let set = RuleSet::new(&rules, &groups);
    let facts = messages(n_messages, &mut rng);
    let mut profiles = switchboard_route::default_profiles();
    for p in &mut profiles {
        p.notify.vip = vec!["group:group0".into()];
        p.notify.muted_accounts = vec!["acct4".into()];
    }
    let profile_names = ["Home", "Work", "Travelling", "Meeting", "Do not disturb"];

    let mut times = Vec::new();
    let mut cpu_times = Vec::new();
    let mut checksum = 0usize;
    for run in 0..runs {
        let cpu_start = thread_cpu_seconds();
        let start = Instant::now();
        let mut actions = 0usize;
        for (i, f) in facts.iter().enumerate() {
            // The active profile changes now and then, as it does through a day.
            let p = find_profile(&profiles, profile_names[(i / 20_000) % 5]).expect("profile");
            let d = decide(f, p, &set, 1_767_254_400 + i as i64);
            actions += d.actions.len() + d.matched.len();
        }
        let elapsed = start.elapsed();
        times.push(elapsed.as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu_seconds()) {
            cpu_times.push(b - a);
        }
        if run == 0 {
            checksum = actions;
        } else {
            assert_eq!(checksum, actions, "the decisions are not deterministic");
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    let per_second = n_messages as f64 / median;
    println!(
        "{n_messages} messages, {n_rules} rules, {runs} runs on one thread: median {:.3} s \
         (best {:.3} s, worst {:.3} s); {:.0} decisions/s; {:.2} µs per decision; \
         {} actions and matches in total",
        median,
        times[0],
        times[times.len() - 1],
        per_second,
        median * 1e6 / n_messages as f64,
        checksum
    );
    println!("decisions_per_second={per_second:.0}");
    if cpu_times.len() == times.len() {
        cpu_times.sort_by(|a, b| a.total_cmp(b));
        let cpu = cpu_times[cpu_times.len() / 2].max(0.01);
        println!(
            "thread CPU time: median {cpu:.2} s per run; {:.0} decisions per CPU-second",
            n_messages as f64 / cpu
        );
        println!("cpu_decisions_per_second={:.0}", n_messages as f64 / cpu);
    }
}
