//! The decision maker: `decide(facts, profile, rules, now) -> Decision`, a pure function.
//!
//! Rules are looked at in order; those disabled or limited to other profiles are skipped.
//! Every rule whose conditions hold contributes its actions. A rule with `stop` ends the
//! walk. Afterwards:
//!
//! * the profile's default action (deliver to its channels, hold, or quiet) applies only when
//!   no matching rule chose where the message goes (a delivery action, `deliver` or `hold`)
//!   and none stopped;
//! * `hold` wins over deliveries in the same decision: the message waits for the digest, and
//!   the explanation names what was not done now;
//! * the profile's notification options shape `notify`: a VIP sender gets critical urgency
//!   and no rate limit; a message that came only through muted accounts raises none;
//! * duplicates go: one action per channel (the highest urgency for the desktop), one label
//!   of each name.
//!
//! The explanation says in sentences which rules matched and why, what the default did, and
//! what the options changed; `route explain` prints it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::facts::{
    domain_matches, Importance, MessageChannel, MessageFacts, SenderPattern, WordIndex,
};
use crate::rule::{Condition, ContactGroup, Rule};
use crate::{Action, DefaultAction, Profile, Urgency};

/// How the delivery engine should show notifications of this decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotifyOptions {
    /// Show no subject or text.
    pub hide_content: bool,
    /// At most one notification per conversation per this many seconds (0: no limit).
    pub rate_limit_secs: u64,
    /// The sender is a VIP of the profile.
    pub vip: bool,
}

/// A rule that matched, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleMatch {
    pub rule_id: i64,
    pub rule: String,
    /// Position in the rule list, from 1.
    pub position: usize,
    /// One sentence per condition that held (for `match_any` rules: those that held).
    pub because: Vec<String>,
    pub actions: Vec<Action>,
}

/// What to do with one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Decision {
    /// The profile the decision was made under.
    pub profile: String,
    /// Concrete actions in order: store changes (mark read, labels) first, then either the
    /// deliveries (notify, forward by mail, forward as IM; one per channel) or `hold`. Never
    /// `stop` or `deliver`. Empty: keep quietly in the inbox.
    pub actions: Vec<Action>,
    pub matched: Vec<RuleMatch>,
    /// The profile's default action was applied (no rule chose where the message goes).
    pub default_applied: bool,
    /// The rule whose `stop` ended the walk.
    pub stopped_by: Option<i64>,
    pub notify: NotifyOptions,
    /// The conversation key the rate limit counts by.
    pub conversation: String,
    /// When the decision was made (unix seconds).
    pub decided_at: i64,
    /// Sentences for people: which rule matched and why, what the default did.
    pub explanation: Vec<String>,
}

impl Decision {
    pub fn is_held(&self) -> bool {
        self.actions.contains(&Action::Hold)
    }

    /// The delivery actions (notify, forward by mail, forward as IM).
    pub fn deliveries(&self) -> impl Iterator<Item = &Action> {
        self.actions.iter().filter(|a| a.is_delivery())
    }

    /// `notify (critical), label 'x'` or `keep quietly`.
    pub fn summary(&self) -> String {
        if self.actions.is_empty() {
            return "keep quietly in the inbox".to_string();
        }
        self.actions
            .iter()
            .map(Action::describe)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// FNV-1a as a `Hasher`: group lookups hash short addresses millions of times, and the keys
/// are the person's own contacts, not attacker-chosen in bulk.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastSet = std::collections::HashSet<String, std::hash::BuildHasherDefault<Fnv>>;

/// A contact group made ready for lookups.
#[derive(Debug, Clone, Default)]
struct Members {
    addresses: FastSet,
    domains: Vec<String>,
}

impl Members {
    fn contains(&self, facts: &MessageFacts) -> Option<String> {
        let sender = facts.sender.as_deref()?;
        if self.addresses.contains(sender) {
            return Some(sender.to_string());
        }
        let domain = facts.sender_domain()?;
        self.domains
            .iter()
            .find(|d| domain_matches(domain, d))
            .map(|d| format!("@{d}"))
    }
}

/// A word of a subject or body condition, lower-cased; a plain one (letters and digits
/// only) is looked up in the message's word index by its hash.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    hash: Option<u64>,
}

impl Word {
    fn new(w: &str) -> Word {
        let text = w.to_lowercase();
        let plain = !text.is_empty() && text.chars().all(char::is_alphanumeric);
        Word {
            hash: plain.then(|| crate::facts::word_hash(&text)),
            text,
        }
    }
}

/// A condition made ready to compare: lower-cased, words split, groups resolved by name.
#[derive(Debug, Clone)]
enum Test {
    Channel(MessageChannel),
    Account(String),
    Sender(String),
    SenderDomain(String),
    /// (the group's index in the rule set, when it exists; its name as written)
    SenderGroup(Option<usize>, String),
    Recipient(String),
    Subject(Vec<Word>),
    Body(Vec<Word>),
    SizeAtLeast(u64),
    SizeBelow(u64),
    Attachment(bool),
    AnyList,
    List(String),
    Importance(Importance),
}

impl Test {
    fn new(c: &Condition, groups: &HashMap<String, usize>) -> Test {
        let words = |w: &str| w.split_whitespace().map(Word::new).collect();
        match c {
            Condition::Channel { channel } => Test::Channel(*channel),
            Condition::Account { account } => Test::Account(account.clone()),
            Condition::Sender { address } => Test::Sender(address.trim().to_lowercase()),
            Condition::SenderDomain { domain } => {
                Test::SenderDomain(domain.trim().trim_start_matches('@').to_lowercase())
            }
            Condition::SenderGroup { group } => Test::SenderGroup(
                groups.get(&group.trim().to_lowercase()).copied(),
                group.trim().to_string(),
            ),
            Condition::Recipient { address } => Test::Recipient(address.trim().to_lowercase()),
            Condition::Subject { words: w } => Test::Subject(words(w)),
            Condition::Body { words: w } => Test::Body(words(w)),
            Condition::SizeAtLeast { bytes } => Test::SizeAtLeast(*bytes),
            Condition::SizeBelow { bytes } => Test::SizeBelow(*bytes),
            Condition::Attachment { present } => Test::Attachment(*present),
            Condition::ListId { list } if list.trim() == "*" => Test::AnyList,
            Condition::ListId { list } => Test::List(list.trim().to_lowercase()),
            Condition::Importance { level } => Test::Importance(*level),
        }
    }

    /// A rough rank of how much checking this costs.
    fn cost(&self) -> u8 {
        match self {
            Test::Channel(_)
            | Test::SizeAtLeast(_)
            | Test::SizeBelow(_)
            | Test::Attachment(_)
            | Test::AnyList
            | Test::Importance(_) => 0,
            Test::Sender(_) | Test::List(_) | Test::SenderDomain(_) => 1,
            Test::Account(_) | Test::Recipient(_) => 2,
            Test::SenderGroup(..) => 3,
            Test::Subject(_) => 4,
            Test::Body(_) => 5,
        }
    }

    fn holds(&self, f: &MessageFacts, groups: &[Members]) -> bool {
        match self {
            Test::Channel(c) => f.channel == *c,
            Test::Account(a) => f.accounts.iter().any(|x| x.eq_ignore_ascii_case(a)),
            Test::Sender(s) => f.sender.as_deref() == Some(s.as_str()),
            Test::SenderDomain(d) => f.sender_domain().is_some_and(|x| domain_matches(x, d)),
            Test::SenderGroup(g, _) => g.is_some_and(|i| groups[i].contains(f).is_some()),
            Test::Recipient(r) => f.recipients.iter().any(|x| x == r),
            Test::Subject(w) => w
                .iter()
                .all(|w| text_has(&f.subject_lc, &f.subject_words, w)),
            Test::Body(w) => w.iter().all(|w| text_has(&f.body_lc, &f.body_words, w)),
            Test::SizeAtLeast(n) => f.size >= *n,
            Test::SizeBelow(n) => f.size < *n,
            Test::Attachment(p) => f.has_attachment == *p,
            Test::AnyList => f.list_id.is_some(),
            Test::List(l) => f.list_id.as_deref() == Some(l.as_str()),
            Test::Importance(i) => f.importance == *i,
        }
    }

    /// A sentence about this message and this condition, whether it held or not.
    fn explain(&self, f: &MessageFacts, groups: &[Members]) -> String {
        let sender = f.sender.as_deref().unwrap_or("(none)");
        match self {
            Test::Channel(c) => format!(
                "the message came by {} (rule: {})",
                f.channel.as_str(),
                c.as_str()
            ),
            Test::Account(a) => {
                if f.accounts.is_empty() {
                    format!("the message came through no account (rule: account '{a}')")
                } else {
                    format!(
                        "the message came through {} (rule: account '{a}')",
                        quote_list(&f.accounts)
                    )
                }
            }
            Test::Sender(s) => format!("sender is {sender} (rule: {s})"),
            Test::SenderDomain(d) => format!("sender is {sender} (rule: domain {d})"),
            Test::SenderGroup(key, g) => match key.map(|i| &groups[i]) {
                None => format!("sender is {sender}; group '{g}' does not exist or has no members"),
                Some(m) => match m.contains(f) {
                    Some(by) => format!("sender {sender} is in group '{g}' (as {by})"),
                    None => format!("sender {sender} is not in group '{g}'"),
                },
            },
            Test::Recipient(r) => {
                if f.recipients.iter().any(|x| x == r) {
                    format!("{r} is among the recipients")
                } else {
                    format!("{r} is not among the {} recipients", f.recipients.len())
                }
            }
            Test::Subject(w) => word_sentence("subject", &f.subject_lc, &f.subject_words, w),
            Test::Body(w) => word_sentence("body", &f.body_lc, &f.body_words, w),
            Test::SizeAtLeast(n) => format!("size is {} bytes (rule: at least {n})", f.size),
            Test::SizeBelow(n) => format!("size is {} bytes (rule: below {n})", f.size),
            Test::Attachment(p) => format!(
                "the message has {} (rule: {})",
                if f.has_attachment {
                    "an attachment"
                } else {
                    "no attachment"
                },
                if *p { "has one" } else { "has none" }
            ),
            Test::AnyList => match &f.list_id {
                Some(l) => format!("the message came through list {l}"),
                None => "the message came through no mailing list".to_string(),
            },
            Test::List(l) => match &f.list_id {
                Some(x) => format!("the message came through list {x} (rule: {l})"),
                None => format!("the message came through no mailing list (rule: {l})"),
            },
            Test::Importance(i) => format!(
                "importance is {} (rule: {})",
                f.importance.as_str(),
                i.as_str()
            ),
        }
    }
}

fn quote_list(items: &[String]) -> String {
    items
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn word_sentence(field: &str, text: &str, index: &WordIndex, words: &[Word]) -> String {
    let (found, missing): (Vec<&Word>, Vec<&Word>) =
        words.iter().partition(|w| text_has(text, index, w));
    let list = |ws: Vec<&Word>| {
        ws.iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    };
    if missing.is_empty() {
        format!("{field} has '{}'", list(found))
    } else {
        format!("{field} lacks '{}'", list(missing))
    }
}

/// A word condition: through the word index for plain words, by scanning for the others
/// ("e-mail", "re:").
fn text_has(text: &str, index: &WordIndex, w: &Word) -> bool {
    match w.hash {
        Some(h) => index.contains_hashed(text, &w.text, h),
        None => has_word(text, &w.text),
    }
}

/// Whether `word` occurs in `text` with no letter or digit right before or after it.
fn has_word(text: &str, word: &str) -> bool {
    if word.is_empty() {
        return true;
    }
    let mut from = 0;
    while let Some(pos) = text[from..].find(word) {
        let i = from + pos;
        let j = i + word.len();
        let before = text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after = text[j..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric());
        if before && after {
            return true;
        }
        from = i + text[i..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

#[derive(Debug, Clone)]
struct Compiled {
    rule: Rule,
    /// Lower-case profile names; empty: every profile.
    profiles: Vec<String>,
    tests: Vec<Test>,
    /// The same tests, cheapest first: the order they are evaluated in (all/any do not care
    /// about order; explanations keep the rule's own).
    by_cost: Vec<Test>,
    /// It decides where the message goes (a delivery, deliver or hold).
    routes: bool,
    stops: bool,
}

/// Rules and contact groups, prepared once and used for many decisions.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Compiled>,
    groups: Vec<Members>,
    /// Lower-case group name to its index in `groups`.
    group_index: HashMap<String, usize>,
}

impl RuleSet {
    /// Prepares `rules` (in order) and `groups`. Invalid rules are not refused here (the
    /// store refuses them on saving); a condition that cannot hold simply does not.
    pub fn new(rules: &[Rule], groups: &[ContactGroup]) -> RuleSet {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut members: Vec<Members> = Vec::new();
        for group in groups {
            let i = *index
                .entry(group.name.trim().to_lowercase())
                .or_insert_with(|| {
                    members.push(Members::default());
                    members.len() - 1
                });
            let m = &mut members[i];
            for member in &group.members {
                match SenderPattern::parse(member) {
                    Ok(SenderPattern::Address(a)) => {
                        m.addresses.insert(a);
                    }
                    Ok(SenderPattern::Domain(d)) => m.domains.push(d),
                    _ => {}
                }
            }
        }
        let rules = rules
            .iter()
            .map(|r| Compiled {
                profiles: r.profiles.iter().map(|p| p.trim().to_lowercase()).collect(),
                tests: r.conditions.iter().map(|c| Test::new(c, &index)).collect(),
                by_cost: {
                    let mut t: Vec<Test> =
                        r.conditions.iter().map(|c| Test::new(c, &index)).collect();
                    t.sort_by_key(Test::cost);
                    t
                },
                routes: r
                    .actions
                    .iter()
                    .any(|a| a.is_delivery() || matches!(a, Action::Hold | Action::Deliver { .. })),
                stops: r.actions.contains(&Action::Stop),
                rule: r.clone(),
            })
            .collect();
        RuleSet {
            rules,
            groups: members,
            group_index: index,
        }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|c| &c.rule)
    }

    fn matches(&self, c: &Compiled, f: &MessageFacts) -> bool {
        if c.tests.is_empty() {
            return true;
        }
        if c.rule.match_any {
            c.by_cost.iter().any(|t| t.holds(f, &self.groups))
        } else {
            c.by_cost.iter().all(|t| t.holds(f, &self.groups))
        }
    }

    /// Whether the sender matches a VIP pattern of a profile (address, @domain, group:NAME).
    /// Patterns are usually written in lower case already; only others are lower-cased here.
    fn sender_in(&self, pattern: &str, f: &MessageFacts) -> bool {
        let lowered;
        let p = if pattern.chars().any(char::is_uppercase) {
            lowered = pattern.to_lowercase();
            lowered.as_str()
        } else {
            pattern
        };
        if let Some(g) = p.strip_prefix("group:") {
            return self
                .group_index
                .get(g)
                .is_some_and(|&i| self.groups[i].contains(f).is_some());
        }
        if let Some(d) = p.strip_prefix('@') {
            return f.sender_domain().is_some_and(|x| domain_matches(x, d));
        }
        f.sender.as_deref() == Some(p)
    }

    /// For `route explain --all`: every rule in order, whether it applies in `profile`,
    /// whether it matched, and a sentence per condition.
    pub fn check_all(&self, f: &MessageFacts, profile: &str) -> Vec<RuleCheck> {
        let profile_lc = profile.to_lowercase();
        self.rules
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let applies =
                    c.rule.enabled && (c.profiles.is_empty() || c.profiles.contains(&profile_lc));
                RuleCheck {
                    position: i + 1,
                    rule_id: c.rule.id,
                    rule: c.rule.name.clone(),
                    applies,
                    matched: applies && self.matches(c, f),
                    conditions: c
                        .tests
                        .iter()
                        .map(|t| (t.holds(f, &self.groups), t.explain(f, &self.groups)))
                        .map(|(held, why)| ConditionCheck { held, why })
                        .collect(),
                }
            })
            .collect()
    }
}

/// One rule as `route explain --all` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleCheck {
    pub position: usize,
    pub rule_id: i64,
    pub rule: String,
    /// Enabled and not limited to other profiles.
    pub applies: bool,
    pub matched: bool,
    pub conditions: Vec<ConditionCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConditionCheck {
    pub held: bool,
    pub why: String,
}

/// Adds a delivery, one per channel; for the desktop the highest urgency wins.
fn push_delivery(out: &mut Vec<Action>, a: Action) {
    if let Action::Notify { urgency } = a {
        for x in out.iter_mut() {
            if let Action::Notify { urgency: u } = x {
                *u = (*u).max(urgency);
                return;
            }
        }
    } else if out.contains(&a) {
        return;
    }
    out.push(a);
}

/// The decision for one message under `profile`. Pure: the same input gives the same output.
pub fn decide(facts: &MessageFacts, profile: &Profile, rules: &RuleSet, now: i64) -> Decision {
    let profile_lc = profile.name.to_lowercase();
    let mut local: Vec<Action> = Vec::new();
    let mut deliveries: Vec<Action> = Vec::new();
    let mut hold = false;
    let mut routed = false;
    let mut matched = Vec::new();
    let mut stopped_by = None;
    let mut explanation = Vec::new();

    for (i, c) in rules.rules.iter().enumerate() {
        if !c.rule.enabled || !(c.profiles.is_empty() || c.profiles.contains(&profile_lc)) {
            continue;
        }
        if !rules.matches(c, facts) {
            continue;
        }
        let because: Vec<String> = c
            .tests
            .iter()
            .filter(|t| t.holds(facts, &rules.groups))
            .map(|t| t.explain(facts, &rules.groups))
            .collect();
        explanation.push(format!(
            "rule {} '{}' matched: {} → {}",
            i + 1,
            c.rule.name,
            if because.is_empty() {
                "it has no conditions".to_string()
            } else {
                because.join("; ")
            },
            c.rule
                .actions
                .iter()
                .map(Action::describe)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for a in &c.rule.actions {
            match a {
                Action::Stop => {}
                Action::Hold => hold = true,
                Action::Deliver { urgency } => {
                    let expanded = profile.deliver_actions(*urgency);
                    if expanded.is_empty() {
                        explanation.push(format!(
                            "profile {} has no channels: deliver sends nothing",
                            profile.name
                        ));
                    }
                    expanded
                        .into_iter()
                        .for_each(|d| push_delivery(&mut deliveries, d));
                }
                Action::MarkRead | Action::Label { .. } => {
                    if !local.contains(a) {
                        local.push(a.clone());
                    }
                }
                Action::Notify { .. } | Action::ForwardMail { .. } | Action::ForwardIm { .. } => {
                    push_delivery(&mut deliveries, a.clone())
                }
            }
        }
        routed |= c.routes;
        matched.push(RuleMatch {
            rule_id: c.rule.id,
            rule: c.rule.name.clone(),
            position: i + 1,
            because,
            actions: c.rule.actions.clone(),
        });
        if c.stops {
            stopped_by = Some(c.rule.id);
            explanation.push(format!(
                "rule {} '{}' stops: later rules and the profile's default are skipped",
                i + 1,
                c.rule.name
            ));
            break;
        }
    }
    if matched.is_empty() {
        explanation.push("no rule matched".to_string());
    }

    let default_applied = stopped_by.is_none() && !routed;
    if default_applied {
        let what = match profile.default_action {
            DefaultAction::Deliver => {
                let d = profile.deliver_actions(None);
                let what = if d.is_empty() {
                    "deliver, but the profile has no channels".to_string()
                } else {
                    format!(
                        "deliver: {}",
                        d.iter()
                            .map(Action::describe)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                d.into_iter()
                    .for_each(|a| push_delivery(&mut deliveries, a));
                what
            }
            DefaultAction::Hold => {
                hold = true;
                "hold for the digest".to_string()
            }
            DefaultAction::Quiet => "quiet: keep it in the inbox only".to_string(),
        };
        explanation.push(format!("profile {}'s default action: {what}", profile.name));
    }

    let vip = profile
        .notify
        .vip
        .iter()
        .find(|p| rules.sender_in(p, facts));
    let mut notify = NotifyOptions {
        hide_content: profile.notify.hide_content,
        rate_limit_secs: u64::from(profile.notify.rate_limit_minutes) * 60,
        vip: vip.is_some(),
    };
    if hold && !deliveries.is_empty() {
        explanation.push(format!(
            "held: not done now: {}",
            deliveries
                .iter()
                .map(Action::describe)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        deliveries.clear();
    }
    if deliveries
        .iter()
        .any(|a| matches!(a, Action::Notify { .. }))
    {
        if let Some(v) = vip {
            for a in deliveries.iter_mut() {
                if let Action::Notify { urgency } = a {
                    *urgency = Urgency::Critical;
                }
            }
            notify.rate_limit_secs = 0;
            explanation.push(format!(
                "sender is a VIP of profile {} ({v}): critical, not rate-limited",
                profile.name
            ));
        } else if !facts.accounts.is_empty()
            && facts.accounts.iter().all(|a| {
                profile
                    .notify
                    .muted_accounts
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(a))
            })
        {
            deliveries.retain(|a| !matches!(a, Action::Notify { .. }));
            explanation.push(format!(
                "no desktop notification: account {} is muted in profile {}",
                quote_list(&facts.accounts),
                profile.name
            ));
        }
    }
    if notify.rate_limit_secs > 0
        && deliveries
            .iter()
            .any(|a| matches!(a, Action::Notify { .. }))
    {
        explanation.push(format!(
            "at most one notification per {} minutes in this conversation",
            notify.rate_limit_secs / 60
        ));
    }

    let mut actions = local;
    if hold {
        actions.push(Action::Hold);
    } else {
        actions.extend(deliveries);
    }
    Decision {
        profile: profile.name.clone(),
        actions,
        matched,
        default_applied,
        stopped_by,
        notify,
        conversation: facts.conversation.clone(),
        decided_at: now,
        explanation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_whole_words() {
        assert!(has_word("pay the invoice now", "invoice"));
        assert!(has_word("invoice", "invoice"));
        assert!(has_word("(invoice)", "invoice"));
        assert!(!has_word("invoices", "invoice"));
        assert!(!has_word("preinvoice", "invoice"));
        assert!(has_word("preinvoice, invoice", "invoice"));
        assert!(has_word("grüße aus köln", "köln"));
        assert!(!has_word("kölner", "köln"));
        assert!(has_word("日本語 テキスト", "テキスト"));
        assert!(!has_word("", "x"));
        assert!(has_word("anything", ""));
    }
}
