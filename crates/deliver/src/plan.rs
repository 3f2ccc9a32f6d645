//! The delivery policy in action (seed 001's retry process): after each attempt, whether to
//! try again and when, to re-route over the next alternate channel, or to give up (a dead
//! letter). Pure: the tracker state, the policy and the time go in, a step comes out.
//!
//! * Delivered: done — unless the policy counts only read messages as delivered; then the
//!   delivery waits (`accepted`) until the message is read, or the expiry passes.
//! * A transient failure (a 4xx answer, no connection, no notification service) or an
//!   interrupted attempt: retried after the policy's delay (doubling), while trials remain
//!   and the retry would come before the expiry.
//! * A permanent failure (5xx, refused login, untrusted certificate), used-up trials or an
//!   expired channel: the next alternate channel of the policy the message has not been to
//!   takes over (a new delivery); with none left the delivery is dead.
//!
//! Policy durations are seconds; [`PolicyClock`] says how long one lasts in milliseconds
//! (1000; tests shorten it through `SWITCHBOARD_TEST_POLICY_SECOND_MS`).

use crate::spec::DeliverySpec;

/// How an attempt ended, as the channel saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        code: Option<u16>,
        answer: String,
    },
    Failed {
        code: Option<u16>,
        answer: String,
        transient: bool,
    },
    /// The process making the attempt stopped before it ended: the channel may or may not
    /// have the message.
    Interrupted,
}

/// The length of a policy second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyClock {
    pub second_ms: i64,
}

impl Default for PolicyClock {
    fn default() -> Self {
        PolicyClock { second_ms: 1000 }
    }
}

/// The tracker's counters of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Attempts in the current round (a manual retry starts a new one), the last included.
    pub trials_used: i64,
    /// When the current round's first attempt started (unix ms).
    pub first_attempt_at: Option<i64>,
}

/// What happens next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Delivered,
    /// Delivered to the channel; done once the message is read.
    AwaitRead,
    RetryAt {
        at: i64,
        note: String,
    },
    Reroute {
        reason: String,
        spec: Box<DeliverySpec>,
    },
    Dead {
        reason: String,
    },
}

fn expiry_ms(spec: &DeliverySpec, clock: PolicyClock) -> Option<i64> {
    (spec.policy.expiry_secs > 0)
        .then(|| (spec.policy.expiry_secs as i64).saturating_mul(clock.second_ms))
}

fn expired(spec: &DeliverySpec, p: Progress, at: i64, clock: PolicyClock) -> bool {
    match (expiry_ms(spec, clock), p.first_attempt_at) {
        (Some(limit), Some(first)) => at.saturating_sub(first) >= limit,
        _ => false,
    }
}

fn describe_secs(secs: u64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3600 == 0 => format!("{} h", s / 3600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Gives up on this channel: the next alternate the message has not been to, or dead.
pub fn give_up(spec: &DeliverySpec, reason: String) -> Step {
    let mut used = spec.used.clone();
    if let Some(c) = spec.channel.target_channel() {
        used.push(c);
    }
    match spec.policy.next_alternate(&used) {
        Some(next) => Step::Reroute {
            reason,
            spec: Box::new(spec.alternate_to(next)),
        },
        None => Step::Dead {
            reason: if spec.policy.alternates.is_empty() {
                format!("{reason}; the policy names no alternate channel")
            } else {
                format!("{reason}; no alternate channel left")
            },
        },
    }
}

/// The step after an attempt that ended at `now`.
pub fn after_attempt(
    spec: &DeliverySpec,
    p: Progress,
    outcome: &Outcome,
    now: i64,
    clock: PolicyClock,
) -> Step {
    let (transient, what) = match outcome {
        Outcome::Delivered { .. } => {
            return if spec.needs_read() {
                Step::AwaitRead
            } else {
                Step::Delivered
            }
        }
        Outcome::Failed {
            transient,
            code,
            answer,
        } => (
            *transient,
            match code {
                Some(c) => format!("{c} {answer}"),
                None => answer.clone(),
            },
        ),
        Outcome::Interrupted => (true, "the attempt was interrupted".to_string()),
    };
    let trials = spec.policy.trials.max(1) as i64;
    if !transient {
        return give_up(spec, format!("failed for good ({what})"));
    }
    let next_attempt = (p.trials_used + 1).max(2);
    let Some(delay) = spec.policy.retry_delay(next_attempt as u32) else {
        return give_up(
            spec,
            format!(
                "{} attempt{} failed (last: {what})",
                p.trials_used,
                if p.trials_used == 1 { "" } else { "s" }
            ),
        );
    };
    let at = now.saturating_add((delay as i64).saturating_mul(clock.second_ms));
    if expired(spec, p, at, clock) {
        return give_up(
            spec,
            format!(
                "not delivered within the policy's expiry of {} (last: {what})",
                describe_secs(spec.policy.expiry_secs)
            ),
        );
    }
    Step::RetryAt {
        at,
        note: format!(
            "attempt {next_attempt} of {trials} in {}",
            describe_secs(delay)
        ),
    }
}

/// Before an attempt: a channel whose expiry passed is given up without trying.
pub fn before_attempt(
    spec: &DeliverySpec,
    p: Progress,
    now: i64,
    clock: PolicyClock,
) -> Option<Step> {
    expired(spec, p, now, clock).then(|| {
        give_up(
            spec,
            format!(
                "expired: not delivered within {} of the first attempt",
                describe_secs(spec.policy.expiry_secs)
            ),
        )
    })
}

/// While accepted and waiting to be read: delivered once read; given up at the expiry.
pub fn while_accepted(
    spec: &DeliverySpec,
    p: Progress,
    read: bool,
    now: i64,
    clock: PolicyClock,
) -> Option<Step> {
    if read {
        return Some(Step::Delivered);
    }
    expired(spec, p, now, clock).then(|| {
        give_up(
            spec,
            format!(
                "not read within the policy's expiry of {}",
                describe_secs(spec.policy.expiry_secs)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::ForwardMode;
    use crate::spec::{AlternateOptions, ChannelSpec};
    use switchboard_route::{ChannelTarget, DeliveredWhen, MessagePolicy, Urgency};

    const SEC: PolicyClock = PolicyClock { second_ms: 1000 };

    fn mail(to: &str, policy: MessagePolicy) -> DeliverySpec {
        DeliverySpec {
            channel: ChannelSpec::Mail {
                to: to.into(),
                mode: ForwardMode::Attachment,
            },
            policy,
            used: vec![],
            alternate: AlternateOptions {
                urgency: Urgency::Critical,
                ..Default::default()
            },
            profile: Some("Home".into()),
        }
    }

    fn policy(trials: u32, expiry: u64, alternates: Vec<ChannelTarget>) -> MessagePolicy {
        MessagePolicy {
            trials,
            retry_after_secs: 10,
            expiry_secs: expiry,
            alternates,
            delivered_when: DeliveredWhen::Accepted,
        }
    }

    fn tmp(code: u16) -> Outcome {
        Outcome::Failed {
            code: Some(code),
            answer: "4.3.0 later".into(),
            transient: true,
        }
    }

    fn progress(trials_used: i64, first: i64) -> Progress {
        Progress {
            trials_used,
            first_attempt_at: Some(first),
        }
    }

    /// (trials used after this attempt, outcome, expected step kind, retry at)
    #[test]
    fn the_policy_table() {
        let alt = vec![ChannelTarget::Desktop];
        let s = mail("a@x.org", policy(3, 0, alt.clone()));
        let cases: Vec<(i64, Outcome, &str, Option<i64>)> = vec![
            (
                1,
                Outcome::Delivered {
                    code: Some(250),
                    answer: "ok".into(),
                },
                "delivered",
                None,
            ),
            (1, tmp(451), "retry", Some(10_000)),
            (2, tmp(451), "retry", Some(20_000)),
            (3, tmp(451), "reroute", None),
            (1, Outcome::Interrupted, "retry", Some(10_000)),
            (3, Outcome::Interrupted, "reroute", None),
            (
                1,
                Outcome::Failed {
                    code: Some(550),
                    answer: "no".into(),
                    transient: false,
                },
                "reroute",
                None,
            ),
        ];
        for (used, outcome, want, at) in cases {
            let step = after_attempt(&s, progress(used, 0), &outcome, 0, SEC);
            let (kind, got_at) = match &step {
                Step::Delivered => ("delivered", None),
                Step::AwaitRead => ("await", None),
                Step::RetryAt { at, .. } => ("retry", Some(*at)),
                Step::Reroute { .. } => ("reroute", None),
                Step::Dead { .. } => ("dead", None),
            };
            assert_eq!((kind, got_at), (want, at), "{used} {outcome:?}: {step:?}");
        }
    }

    #[test]
    fn rerouting_walks_the_alternates_then_dies() {
        let alts = vec![
            ChannelTarget::Mail {
                address: "a@x.org".into(),
            },
            ChannelTarget::Im {
                address: "me@im.x".into(),
            },
            ChannelTarget::Desktop,
        ];
        let first = mail("a@x.org", policy(1, 0, alts));
        let perm = Outcome::Failed {
            code: Some(550),
            answer: "5.1.1 unknown".into(),
            transient: false,
        };
        // a@x.org is the failing channel itself: skipped; IM is next.
        let Step::Reroute {
            spec: second,
            reason,
        } = after_attempt(&first, progress(1, 0), &perm, 0, SEC)
        else {
            panic!()
        };
        assert!(reason.contains("550 5.1.1 unknown"), "{reason}");
        assert_eq!(
            second.channel,
            ChannelSpec::Im {
                to: "me@im.x".into()
            }
        );
        let Step::Reroute { spec: third, .. } =
            after_attempt(&second, progress(1, 0), &perm, 0, SEC)
        else {
            panic!()
        };
        assert!(matches!(
            third.channel,
            ChannelSpec::Desktop {
                urgency: Urgency::Critical,
                ..
            }
        ));
        let Step::Dead { reason } = after_attempt(&third, progress(1, 0), &perm, 0, SEC) else {
            panic!()
        };
        assert!(reason.contains("no alternate channel left"), "{reason}");
        let lonely = mail("a@x.org", policy(1, 0, vec![]));
        let Step::Dead { reason } = after_attempt(&lonely, progress(1, 0), &perm, 0, SEC) else {
            panic!()
        };
        assert!(reason.contains("names no alternate"), "{reason}");
    }

    #[test]
    fn expiry_stops_retries_and_attempts() {
        let s = mail("a@x.org", policy(10, 60, vec![]));
        // First attempt at 0; a retry at 10 s is fine, one at 80 s (after 4 more) is not.
        assert!(matches!(
            after_attempt(&s, progress(1, 0), &tmp(451), 1_000, SEC),
            Step::RetryAt { at: 11_000, .. }
        ));
        let late = after_attempt(&s, progress(4, 0), &tmp(451), 30_000, SEC);
        assert!(
            matches!(&late, Step::Dead { reason } if reason.contains("expiry of 1 min")),
            "{late:?}"
        );
        assert_eq!(before_attempt(&s, progress(1, 0), 59_999, SEC), None);
        assert!(matches!(
            before_attempt(&s, progress(1, 0), 60_000, SEC),
            Some(Step::Dead { .. })
        ));
        assert_eq!(
            before_attempt(
                &s,
                Progress {
                    trials_used: 0,
                    first_attempt_at: None
                },
                i64::MAX,
                SEC
            ),
            None,
            "no attempt yet: nothing expires"
        );
        // The test clock shrinks every policy duration.
        let fast = PolicyClock { second_ms: 10 };
        assert!(matches!(
            after_attempt(&s, progress(1, 0), &tmp(451), 0, fast),
            Step::RetryAt { at: 100, .. }
        ));
    }

    #[test]
    fn read_policies_wait_for_the_reader() {
        let mut p = policy(3, 3600, vec![ChannelTarget::Desktop]);
        p.delivered_when = DeliveredWhen::Read;
        let s = mail("a@x.org", p);
        let ok = Outcome::Delivered {
            code: Some(250),
            answer: "ok".into(),
        };
        assert_eq!(
            after_attempt(&s, progress(1, 0), &ok, 0, SEC),
            Step::AwaitRead
        );
        assert_eq!(while_accepted(&s, progress(1, 0), false, 1000, SEC), None);
        assert_eq!(
            while_accepted(&s, progress(1, 0), true, 1000, SEC),
            Some(Step::Delivered)
        );
        let unread = while_accepted(&s, progress(1, 0), false, 3_600_000, SEC);
        assert!(matches!(unread, Some(Step::Reroute { .. })), "{unread:?}");
    }
}
