//! The client's decisions, without I/O: which server to try next, whether a body is downloaded
//! now (the size rule), whether the daily full check is due, and how a changes answer or a full
//! listing changes what the client knows. [`crate::IndexClient`] does the talking around these.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// Picks among servers; injectable so tests can force an order.
pub trait Rng: Send {
    /// A number in `0..n` (`n` ≥ 1).
    fn below(&mut self, n: usize) -> usize;
}

/// SplitMix64, seeded from the OS. Choosing a server needs no cryptographic randomness.
pub struct SplitMix(u64);

impl SplitMix {
    pub fn seeded(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    pub fn from_entropy() -> SplitMix {
        let mut bytes = [0u8; 8];
        if getrandom::getrandom(&mut bytes).is_err() {
            // No OS randomness: the clock still spreads clients over servers.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            bytes = (nanos ^ u64::from(std::process::id())).to_le_bytes();
        }
        SplitMix(u64::from_le_bytes(bytes))
    }
}

impl Rng for SplitMix {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z % n.max(1) as u64) as usize
    }
}

/// The order in which to try `n` servers: the one that answered last comes first (a working
/// server is kept, and its connection reused), then the others in random order. With none
/// answering yet, the first pick is random too, so clients spread over the servers.
pub fn try_order(n: usize, current: Option<usize>, rng: &mut dyn Rng) -> Vec<usize> {
    let mut rest: Vec<usize> = (0..n).filter(|i| Some(*i) != current).collect();
    // Fisher–Yates.
    for i in (1..rest.len()).rev() {
        rest.swap(i, rng.below(i + 1));
    }
    match current {
        Some(c) if c < n => std::iter::once(c).chain(rest).collect(),
        _ => rest,
    }
}

/// Whether a new message's body is downloaded while polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyDecision {
    Fetch,
    /// Left for later ([`crate::IndexClient::fetch_body`]): too big for a slow link.
    Defer,
}

/// Seed 000's size rule: the index tells the size, so on a slow link a message larger than the
/// limit is not downloaded until asked for. On a fast link, or without a limit, everything is.
pub fn body_decision(size: u64, slow_link: bool, limit: Option<u64>) -> BodyDecision {
    match limit {
        Some(limit) if slow_link && size > limit => BodyDecision::Defer,
        _ => BodyDecision::Fetch,
    }
}

/// How often the client checks its view against a full listing of the store.
pub const FULL_CHECK_EVERY_SECS: i64 = 24 * 3600;

/// A full check is due when none was ever done, when the last one is 24 h old, or when the
/// recorded time lies more than an hour in the future (the clock was set back: better one check
/// too many than none for months).
pub fn full_check_due(last: Option<i64>, now: i64) -> bool {
    match last {
        None => true,
        Some(t) => now - t >= FULL_CHECK_EVERY_SECS || t > now + 3600,
    }
}

/// Where a known message's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyState {
    /// Downloaded and kept in the state dir.
    Fetched,
    /// Skipped by the size rule; to be fetched on demand.
    Deferred,
    /// Known from a full listing (the first contact, or a reconcile before the size rule ran);
    /// fetched on demand.
    Remote,
}

/// What the client remembers of one message: modest on purpose (no subjects or senders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Known {
    pub size: u64,
    pub body: BodyState,
}

/// The persisted state (`state.json` in the state dir).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// The last change sequence seen; `None` before the first contact.
    pub seq: Option<i64>,
    /// Unix seconds of the last full check.
    pub last_full_check: Option<i64>,
    pub messages: BTreeMap<i64, Known>,
}

pub const STATE_VERSION: u32 = 1;

/// A message as the client reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageInfo {
    pub id: i64,
    pub size: u64,
    /// The sender's address.
    pub from: Option<String>,
    pub subject: String,
    pub date: Option<String>,
    pub body: BodyState,
}

/// One entry of a `/api/changes` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChangedMessage {
    pub id: i64,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub date: Option<String>,
}

impl ChangedMessage {
    fn info(&self, body: BodyState) -> MessageInfo {
        MessageInfo {
            id: self.id,
            size: self.size.max(0) as u64,
            from: self.from.clone(),
            subject: self.subject.clone(),
            date: self.date.clone(),
            body,
        }
    }
}

/// A `/api/changes` answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChangesPage {
    pub seq: i64,
    #[serde(default)]
    pub more: bool,
    /// The log no longer reaches back: only a full listing can bring the client up to date.
    #[serde(default)]
    pub resync: bool,
    #[serde(default)]
    pub added: Vec<ChangedMessage>,
    #[serde(default)]
    pub updated: Vec<ChangedMessage>,
    #[serde(default)]
    pub removed: Vec<i64>,
}

/// What one poll found, accumulated over pages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub added: Vec<MessageInfo>,
    pub updated: Vec<MessageInfo>,
    pub removed: Vec<i64>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }

    /// Drops an id reported as added or updated earlier in the same poll; true if it was
    /// added in this poll (so its removal is news to no one).
    fn forget(&mut self, id: i64) -> bool {
        self.updated.retain(|m| m.id != id);
        let before = self.added.len();
        self.added.retain(|m| m.id != id);
        self.added.len() != before
    }

    /// Appends what a later step (a full check) found.
    pub fn merge(&mut self, later: Delta) {
        for id in later.removed {
            if !self.forget(id) {
                self.removed.push(id);
            }
        }
        for m in later.updated {
            self.updated.retain(|u| u.id != m.id);
            self.updated.push(m);
        }
        self.added.extend(later.added);
    }
}

/// Applies one page of changes to `state`, recording what is news in `delta`.
///
/// The server lists ids, not events: a message added and then flagged within the window is in
/// both `added` and `updated`; one added and gone again is only in `removed`; `added` and
/// `updated` hold only messages that existed when the page was made. So within a page,
/// presence wins over removal, and an id the client already knows is not news when "added".
pub fn apply_changes(state: &mut State, page: &ChangesPage, delta: &mut Delta) {
    let present: HashSet<i64> = page
        .added
        .iter()
        .chain(&page.updated)
        .map(|m| m.id)
        .collect();
    for &id in &page.removed {
        if present.contains(&id) {
            continue;
        }
        let added_now = delta.forget(id);
        if state.messages.remove(&id).is_some() && !added_now {
            delta.removed.push(id);
        }
    }
    for m in &page.added {
        if state.messages.contains_key(&m.id) {
            continue;
        }
        learn(state, m, delta);
    }
    for m in &page.updated {
        match state.messages.get_mut(&m.id) {
            None => learn(state, m, delta),
            Some(known) => {
                known.size = m.size.max(0) as u64;
                let body = known.body;
                if let Some(a) = delta.added.iter_mut().find(|a| a.id == m.id) {
                    // New in this poll: report it once, as it is now.
                    *a = m.info(a.body);
                } else {
                    delta.updated.retain(|u| u.id != m.id);
                    delta.updated.push(m.info(body));
                }
            }
        }
    }
}

fn learn(state: &mut State, m: &ChangedMessage, delta: &mut Delta) {
    state.messages.insert(
        m.id,
        Known {
            size: m.size.max(0) as u64,
            body: BodyState::Remote,
        },
    );
    delta.added.push(m.info(BodyState::Remote));
}

/// Brings `state` in line with a full listing of the store. On the first contact (`baseline`)
/// every listed message becomes known without being news; otherwise the ones the client did not
/// know are reported as added and the ones it knew that are gone as removed.
pub fn reconcile(state: &mut State, listing: &[MessageInfo], baseline: bool) -> Delta {
    let mut delta = Delta::default();
    let listed: HashSet<i64> = listing.iter().map(|m| m.id).collect();
    let gone: Vec<i64> = state
        .messages
        .keys()
        .filter(|id| !listed.contains(id))
        .copied()
        .collect();
    for id in gone {
        state.messages.remove(&id);
        delta.removed.push(id);
    }
    for m in listing {
        match state.messages.get_mut(&m.id) {
            Some(known) => known.size = m.size,
            None => {
                state.messages.insert(
                    m.id,
                    Known {
                        size: m.size,
                        body: BodyState::Remote,
                    },
                );
                let mut info = m.clone();
                info.body = BodyState::Remote;
                delta.added.push(info);
            }
        }
    }
    if baseline {
        delta.removed.clear();
    }
    delta
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Always picks the given positions in turn (then 0).
    struct Scripted(Vec<usize>);
    impl Rng for Scripted {
        fn below(&mut self, n: usize) -> usize {
            if self.0.is_empty() {
                0
            } else {
                self.0.remove(0) % n
            }
        }
    }

    #[test]
    fn the_working_server_is_kept_and_the_others_follow_in_random_order() {
        let mut rng = SplitMix::seeded(7);
        for _ in 0..50 {
            let order = try_order(4, Some(2), &mut rng);
            assert_eq!(order[0], 2);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, vec![0, 1, 2, 3]);
        }
        assert_eq!(try_order(1, None, &mut rng), vec![0]);
        assert!(try_order(0, None, &mut rng).is_empty());
        // A stale index (the list shrank) is ignored.
        assert_eq!(try_order(1, Some(5), &mut rng), vec![0]);
    }

    #[test]
    fn the_first_pick_is_random_and_spreads_over_all_servers() {
        let mut rng = SplitMix::seeded(42);
        let mut firsts = [0usize; 3];
        for _ in 0..300 {
            firsts[try_order(3, None, &mut rng)[0]] += 1;
        }
        assert!(firsts.iter().all(|&n| n > 50), "{firsts:?}");
        // The injected RNG decides: Fisher–Yates over [0, 1, 2] swapping 2↔0 then 1↔0.
        let order = try_order(3, None, &mut Scripted(vec![0, 0]));
        assert_eq!(order, vec![1, 2, 0]);
    }

    #[test]
    fn big_messages_wait_on_a_slow_link_only() {
        assert_eq!(
            body_decision(200_000, true, Some(50_000)),
            BodyDecision::Defer
        );
        assert_eq!(
            body_decision(50_000, true, Some(50_000)),
            BodyDecision::Fetch
        );
        assert_eq!(
            body_decision(200_000, false, Some(50_000)),
            BodyDecision::Fetch
        );
        assert_eq!(body_decision(200_000, true, None), BodyDecision::Fetch);
    }

    #[test]
    fn the_full_check_runs_at_most_daily() {
        let now = 1_700_000_000;
        assert!(full_check_due(None, now));
        assert!(!full_check_due(Some(now - 60), now));
        assert!(!full_check_due(Some(now - FULL_CHECK_EVERY_SECS + 1), now));
        assert!(full_check_due(Some(now - FULL_CHECK_EVERY_SECS), now));
        assert!(full_check_due(Some(now - 25 * 3600), now));
        // The clock went back a long way.
        assert!(full_check_due(Some(now + 2 * 3600), now));
        assert!(!full_check_due(Some(now + 60), now));
    }

    fn changed(id: i64, subject: &str) -> ChangedMessage {
        ChangedMessage {
            id,
            size: 100 * id,
            from: Some("carol@example.org".into()),
            subject: subject.into(),
            date: None,
        }
    }

    fn page(added: &[i64], updated: &[i64], removed: &[i64]) -> ChangesPage {
        ChangesPage {
            seq: 0,
            more: false,
            resync: false,
            added: added.iter().map(|i| changed(*i, "a")).collect(),
            updated: updated.iter().map(|i| changed(*i, "u")).collect(),
            removed: removed.to_vec(),
        }
    }

    fn known(ids: &[i64]) -> State {
        State {
            messages: ids
                .iter()
                .map(|i| {
                    (
                        *i,
                        Known {
                            size: 1,
                            body: BodyState::Fetched,
                        },
                    )
                })
                .collect(),
            ..Default::default()
        }
    }

    fn ids(list: &[MessageInfo]) -> Vec<i64> {
        list.iter().map(|m| m.id).collect()
    }

    #[test]
    fn changes_add_update_and_remove() {
        let mut s = known(&[1, 2, 3]);
        let mut d = Delta::default();
        apply_changes(&mut s, &page(&[4], &[2], &[3]), &mut d);
        assert_eq!(ids(&d.added), vec![4]);
        assert_eq!(d.added[0].body, BodyState::Remote);
        assert_eq!(ids(&d.updated), vec![2]);
        assert_eq!(d.updated[0].body, BodyState::Fetched);
        assert_eq!(d.removed, vec![3]);
        assert_eq!(
            s.messages.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 4]
        );
        assert_eq!(s.messages[&2].size, 200);
    }

    #[test]
    fn added_then_flagged_is_reported_once_as_added() {
        let mut s = known(&[]);
        let mut d = Delta::default();
        apply_changes(&mut s, &page(&[5], &[5], &[]), &mut d);
        assert_eq!(ids(&d.added), vec![5]);
        assert_eq!(d.added[0].subject, "u");
        assert!(d.updated.is_empty());
    }

    #[test]
    fn added_and_gone_within_one_poll_is_no_news() {
        let mut s = known(&[]);
        let mut d = Delta::default();
        apply_changes(&mut s, &page(&[6], &[], &[]), &mut d);
        apply_changes(&mut s, &page(&[], &[], &[6]), &mut d);
        assert!(d.is_empty(), "{d:?}");
        assert!(s.messages.is_empty());
        // Removal of something never known is not news either.
        apply_changes(&mut s, &page(&[], &[], &[99]), &mut d);
        assert!(d.is_empty());
    }

    #[test]
    fn presence_in_the_same_page_wins_over_removal() {
        let mut s = known(&[7]);
        let mut d = Delta::default();
        apply_changes(&mut s, &page(&[], &[7], &[7]), &mut d);
        assert!(s.messages.contains_key(&7));
        assert!(d.removed.is_empty());
        assert_eq!(ids(&d.updated), vec![7]);
    }

    #[test]
    fn an_update_of_an_unknown_message_is_learned_as_added() {
        let mut s = known(&[]);
        let mut d = Delta::default();
        apply_changes(&mut s, &page(&[], &[8], &[]), &mut d);
        assert_eq!(ids(&d.added), vec![8]);
        // Already known "added" (e.g. learned from a listing) is not reported again.
        let mut d = Delta::default();
        apply_changes(&mut s, &page(&[8], &[], &[]), &mut d);
        assert!(d.is_empty());
    }

    #[test]
    fn repeated_updates_are_reported_once() {
        let mut s = known(&[1]);
        let mut d = Delta::default();
        apply_changes(&mut s, &page(&[], &[1], &[]), &mut d);
        apply_changes(&mut s, &page(&[], &[1], &[]), &mut d);
        assert_eq!(ids(&d.updated), vec![1]);
    }

    fn listed(id: i64) -> MessageInfo {
        changed(id, "l").info(BodyState::Fetched)
    }

    #[test]
    fn a_listing_reconciles_both_ways() {
        let mut s = known(&[1, 2, 999]);
        let d = reconcile(&mut s, &[listed(1), listed(2), listed(3)], false);
        assert_eq!(d.removed, vec![999]);
        assert_eq!(ids(&d.added), vec![3]);
        assert_eq!(d.added[0].body, BodyState::Remote);
        assert_eq!(
            s.messages.keys().copied().collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        // What was fetched stays fetched.
        assert_eq!(s.messages[&1].body, BodyState::Fetched);
    }

    #[test]
    fn the_first_listing_learns_everything_quietly() {
        let mut s = State::default();
        let d = reconcile(&mut s, &[listed(1), listed(2)], true);
        assert_eq!(ids(&d.added), vec![1, 2]);
        assert!(d.removed.is_empty());
        assert!(s.messages.values().all(|k| k.body == BodyState::Remote));
    }

    #[test]
    fn a_later_full_check_merges_into_the_poll() {
        let mut d = Delta {
            added: vec![listed(5)],
            updated: vec![listed(1)],
            removed: vec![],
        };
        d.merge(Delta {
            added: vec![listed(6)],
            updated: vec![],
            removed: vec![5, 9],
        });
        assert_eq!(ids(&d.added), vec![6]);
        assert_eq!(d.removed, vec![9]);
        assert_eq!(ids(&d.updated), vec![1]);
    }

    #[test]
    fn the_state_file_round_trips_with_integer_keys() {
        let s = known(&[1, 42]);
        let text = serde_json::to_string(&s).unwrap();
        assert!(
            text.contains("\"42\":{\"size\":1,\"body\":\"fetched\"}"),
            "{text}"
        );
        let back: State = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
    }
}
