//! The delivery engine: the worker `switchboard serve` and `sync --watch` run beside sync.
//!
//! One pass:
//! 1. **Recover**: a delivery in `sending` whose runner is gone (its process was killed) was
//!    interrupted; that is recorded, with the policy's next step (usually a retry).
//! 2. **Route**: every message stored since and still `pending` gets the routing decision
//!    of the active profile and rules (`switchboard_route`), and its deliveries, in one
//!    transaction with the record that it was routed — exactly once, even across crashes. A
//!    message that carries this installation's forward mark is not routed (a loop is cut);
//!    the reason is recorded.
//! 3. **Release**: held deliveries due for release (the profile changed, or a release time
//!    passed) go out together as one digest per channel.
//! 4. **Settle**: deliveries waiting for the message to be read are done once it is, or
//!    given up at the expiry.
//! 5. **Attempt**: due deliveries are claimed (`sending`, committed first) and attempted,
//!    several at a time; each outcome is recorded with the channel's answer and the policy's
//!    next step (delivered, retry at, re-route to an alternate, dead).
//!
//! Between passes the engine sleeps until the next delivery is due, at most a second, and
//! wakes early when sync stored mail, the API queued something, or another process committed
//! to the store (SQLite's data_version, checked every 100 ms).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_route::{due_release, Action, ChannelTarget, Held, NotifyLimiter, ReleaseReason};
use switchboard_store::{
    now_millis, AccountKind, AttemptNext, AttemptRecord, Delivery, DeliveryState, NewDelivery,
    RouteRecord, Store, StoreError,
};
use switchboard_sync::{Reporter, SyncEvent};
use tokio::sync::{Notify, Semaphore};

use crate::channels::{self, failed};
use crate::headers::loop_reason;
use crate::im::ImChannel;
use crate::notify::{DesktopNotifier, Notifier};
use crate::plan::{self, Outcome, PolicyClock, Progress, Step};
use crate::route::{plan_deliveries, summary_line, RouteSettings};
use crate::runner::Runner;
use crate::spec::{ChannelSpec, DeliverySpec};

/// Test-only: how many milliseconds one second of a message policy lasts (default 1000), so
/// end-to-end tests see retries and expiry in moments. Never set it in real use.
pub const TEST_POLICY_SECOND_VAR: &str = "SWITCHBOARD_TEST_POLICY_SECOND_MS";

/// Attempts under way at once.
const CONCURRENCY: usize = 8;
/// Messages routed per transaction batch.
const ROUTE_BATCH: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot register this process for deliveries in {dir}: {source}")]
    Runner {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("a delivery task failed: {0}")]
    Task(String),
}

/// How the engine runs.
#[derive(Clone)]
pub struct EngineOptions {
    pub clock: PolicyClock,
    /// Route newly stored messages (off: only deliver what is queued).
    pub route: bool,
    pub notifier: Arc<dyn Notifier>,
    pub im: Option<Arc<dyn ImChannel>>,
}

impl EngineOptions {
    /// The desktop's notifications, no IM channel, routing on, the policy clock from
    /// [`TEST_POLICY_SECOND_VAR`] when a test set it.
    pub fn standard() -> EngineOptions {
        let second_ms = std::env::var(TEST_POLICY_SECOND_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|v| *v > 0)
            .unwrap_or(1000);
        EngineOptions {
            clock: PolicyClock { second_ms },
            route: true,
            notifier: Arc::new(DesktopNotifier::new()),
            im: None,
        }
    }
}

struct Shared {
    db: Mutex<Store>,
    data_dir: PathBuf,
    runner: Runner,
    install_id: String,
    opts: EngineOptions,
    limiter: Mutex<NotifyLimiter>,
    wake: Arc<Notify>,
    slots: Arc<Semaphore>,
}

/// The delivery engine of one process. Cheap to clone.
#[derive(Clone)]
pub struct Engine(Arc<Shared>);

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub recovered: usize,
    pub routed: usize,
    pub released: usize,
    pub settled: usize,
    pub started: usize,
}

impl PassReport {
    pub fn did_something(&self) -> bool {
        *self != PassReport::default()
    }
}

fn to_next(d: &Delivery, step: Step, follow_ups: Vec<NewDelivery>) -> AttemptNext {
    match step {
        Step::Delivered => AttemptNext::Delivered { follow_ups },
        Step::AwaitRead => AttemptNext::Accepted,
        Step::RetryAt { at, note } => AttemptNext::RetryAt { at, note },
        Step::Reroute { reason, spec } => AttemptNext::Reroute {
            to: NewDelivery {
                message_id: d.message_id,
                outgoing_id: d.outgoing_id,
                parent_id: Some(d.id),
                channel: spec.channel.channel_name().to_string(),
                target: spec.channel.target(),
                spec: spec.to_json(),
                summary: d.summary.clone(),
                held: false,
                due_at: now_millis(),
                note: Some(format!("takes over from delivery {}: {reason}", d.id)),
            },
            reason,
        },
        Step::Dead { reason } => AttemptNext::Dead { reason },
    }
}

fn progress(d: &Delivery) -> Progress {
    Progress {
        trials_used: d.trials_used,
        first_attempt_at: d.first_attempt_at,
    }
}

fn step_event(step: &Step) -> &'static str {
    match step {
        Step::Delivered => "delivered",
        Step::AwaitRead => "accepted",
        _ => "failed",
    }
}

/// Wakes the engine whenever a sync pass ends (new mail may be stored).
pub struct WakeOnSync {
    pub inner: Arc<dyn Reporter>,
    pub wake: Arc<Notify>,
}

impl Reporter for WakeOnSync {
    fn event(&self, e: &SyncEvent<'_>) {
        if let SyncEvent::Finished { .. } = e {
            self.wake.notify_one();
        }
        self.inner.event(e);
    }
}

impl Engine {
    /// Opens the store of `data_dir` and registers this process as a runner. `wake` makes a
    /// sleeping engine look again at once.
    pub fn open(
        data_dir: &Path,
        opts: EngineOptions,
        wake: Arc<Notify>,
    ) -> Result<Engine, DeliverError> {
        let store = Store::open_in(data_dir)?;
        let install_id = store.install_id()?;
        let runner = Runner::register(data_dir).map_err(|source| DeliverError::Runner {
            dir: data_dir.to_path_buf(),
            source,
        })?;
        Ok(Engine(Arc::new(Shared {
            db: Mutex::new(store),
            data_dir: data_dir.to_path_buf(),
            runner,
            install_id,
            opts,
            limiter: Mutex::new(NotifyLimiter::new()),
            wake,
            slots: Arc::new(Semaphore::new(CONCURRENCY)),
        })))
    }

    pub fn runner_id(&self) -> &str {
        self.0.runner.id()
    }

    /// Runs blocking store work off the async threads.
    async fn db<T, F>(&self, f: F) -> Result<T, DeliverError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        let shared = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = shared
                .db
                .lock()
                .map_err(|_| DeliverError::Task("the store lock is poisoned".into()))?;
            f(&mut store).map_err(DeliverError::from)
        })
        .await
        .map_err(|e| DeliverError::Task(e.to_string()))?
    }

    /// Records interrupted attempts of runners that are gone.
    pub async fn recover(&self) -> Result<usize, DeliverError> {
        let mine = self.runner_id().to_string();
        let data_dir = self.0.data_dir.clone();
        let clock = self.0.opts.clock;
        self.db(move |s| {
            let mut n = 0;
            for d in s.sending_deliveries()? {
                let Some(runner) = d.runner.clone() else {
                    continue;
                };
                if runner == mine || !Runner::is_gone(&data_dir, &runner) {
                    continue;
                }
                let (step, answer) = match DeliverySpec::from_json(&d.spec) {
                    Ok(spec) => (
                        plan::after_attempt(
                            &spec,
                            progress(&d),
                            &Outcome::Interrupted,
                            now_millis(),
                            clock,
                        ),
                        format!(
                            "attempt {} was interrupted: the process making it stopped (killed or \
                             crashed) before it ended; whether the channel got it is unknown",
                            d.attempts
                        ),
                    ),
                    Err(e) => (Step::Dead { reason: e.clone() }, e),
                };
                let rec = AttemptRecord {
                    event: "interrupted",
                    code: None,
                    answer,
                    next: to_next(&d, step, vec![]),
                };
                if s.finish_attempt(d.id, &runner, &rec)? {
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
    }

    /// Routes messages waiting for the router.
    pub async fn route_pending(&self) -> Result<usize, DeliverError> {
        if !self.0.opts.route {
            return Ok(0);
        }
        let install_id = self.0.install_id.clone();
        self.db(move |s| {
            let ids = s.pending_routes(ROUTE_BATCH)?;
            if ids.is_empty() {
                return Ok(0);
            }
            let now = switchboard_store::clock::now();
            let routing = s.routing(now)?;
            let settings = RouteSettings {
                forward_mode: s
                    .delivery_setting("forward_mode")?
                    .and_then(|m| m.parse().ok())
                    .unwrap_or_default(),
            };
            let mut n = 0;
            for id in ids {
                if route_one(s, &routing, id, &install_id, &settings, now)? {
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
    }

    /// Releases held deliveries that are due, as one digest per channel of the active profile.
    pub async fn release_holds(&self) -> Result<usize, DeliverError> {
        self.db(move |s| {
            let held = s.held_deliveries()?;
            if held.is_empty() {
                return Ok(0);
            }
            let now = switchboard_store::clock::now();
            let _ = s.record_active_profile(now);
            let routing = s.routing(now)?;
            let mut list = Vec::new();
            let mut orphans = Vec::new();
            for d in &held {
                let profile = match DeliverySpec::from_json(&d.spec).map(|sp| sp.channel) {
                    Ok(ChannelSpec::Hold { profile }) => profile,
                    _ => routing.active.name.clone(),
                };
                match d.message_id {
                    Some(m) => list.push(Held {
                        message_id: m,
                        held_at: d.created_at / 1000,
                        profile,
                    }),
                    None => orphans.push(d.id),
                }
            }
            let mut released = 0;
            if !orphans.is_empty() {
                released += s.release_held(&orphans, &[], "the message was deleted")?.1;
            }
            let active = routing.active_profile();
            let Some(release) = due_release(&list, active, &routing.profiles, &routing.zone, now)
            else {
                return Ok(released);
            };
            let ids: Vec<i64> = held
                .iter()
                .filter(|d| {
                    d.message_id
                        .is_some_and(|m| release.message_ids.contains(&m))
                })
                .map(|d| d.id)
                .collect();
            let reason = match &release.reason {
                ReleaseReason::ProfileChanged { to } => format!("the profile changed to {to}"),
                ReleaseReason::ReleaseTime { at } => format!(
                    "release time {}",
                    switchboard_store::local_time(&routing.zone, *at)
                ),
            };
            let n = release.message_ids.len();
            let summary = format!(
                "digest of {n} held message{}",
                if n == 1 { "" } else { "s" }
            );
            let digests: Vec<NewDelivery> = release
                .actions
                .iter()
                .filter_map(|a| {
                    let via = a.channel()?;
                    let urgency = match a {
                        Action::Notify { urgency } => *urgency,
                        _ => active.urgency,
                    };
                    let spec = DeliverySpec {
                        channel: ChannelSpec::Digest {
                            message_ids: release.message_ids.clone(),
                            via: via.clone(),
                            urgency,
                            hide_content: active.notify.hide_content,
                            reason: reason.clone(),
                        },
                        policy: switchboard_route::MessagePolicy {
                            alternates: Vec::new(),
                            ..active.policy.clone()
                        },
                        used: vec![],
                        alternate: Default::default(),
                        profile: Some(active.name.clone()),
                    };
                    Some(NewDelivery {
                        message_id: None,
                        outgoing_id: None,
                        parent_id: None,
                        channel: spec.channel.channel_name().to_string(),
                        target: spec.channel.target(),
                        spec: spec.to_json(),
                        summary: summary.clone(),
                        held: false,
                        due_at: now_millis(),
                        note: Some(format!("released: {reason}")),
                    })
                })
                .collect();
            released += s
                .release_held(&ids, &digests, &format!("released: {reason}"))?
                .1;
            Ok(released)
        })
        .await
    }

    /// Deliveries waiting for the message to be read: done when read, given up at expiry.
    pub async fn settle_read(&self) -> Result<usize, DeliverError> {
        let clock = self.0.opts.clock;
        self.db(move |s| {
            let mut n = 0;
            for (d, read) in s.awaiting_read()? {
                let Ok(spec) = DeliverySpec::from_json(&d.spec) else {
                    continue;
                };
                let Some(step) =
                    plan::while_accepted(&spec, progress(&d), read, now_millis(), clock)
                else {
                    continue;
                };
                let (event, answer) = match &step {
                    Step::Delivered => ("delivered", "the message was read".to_string()),
                    _ => ("expired", "the message was not read in time".to_string()),
                };
                if s.settle_delivery(
                    d.id,
                    DeliveryState::Accepted,
                    event,
                    &answer,
                    &to_next(&d, step, vec![]),
                )? {
                    n += 1;
                }
            }
            Ok(n)
        })
        .await
    }

    /// Claims due deliveries and starts their attempts (at most [`CONCURRENCY`] at once).
    pub async fn start_due(&self) -> Result<usize, DeliverError> {
        let now = now_millis();
        let due = self
            .db(move |s| s.due_deliveries(now, CONCURRENCY * 4))
            .await?;
        let mut started = 0;
        for d in due {
            let spec = match DeliverySpec::from_json(&d.spec) {
                Ok(spec) => spec,
                Err(e) => {
                    let (id, state) = (d.id, d.state);
                    self.db(move |s| {
                        s.settle_delivery(
                            id,
                            state,
                            "failed",
                            &e,
                            &AttemptNext::Dead { reason: e.clone() },
                        )
                    })
                    .await?;
                    continue;
                }
            };
            if let Some(step) = plan::before_attempt(&spec, progress(&d), now, self.0.opts.clock) {
                let (id, state) = (d.id, d.state);
                let next = to_next(&d, step, vec![]);
                self.db(move |s| {
                    s.settle_delivery(
                        id,
                        state,
                        "expired",
                        "not attempted: the channel expired",
                        &next,
                    )
                })
                .await?;
                continue;
            }
            let Ok(permit) = self.0.slots.clone().try_acquire_owned() else {
                break;
            };
            let runner = self.runner_id().to_string();
            let id = d.id;
            let claimed = self
                .db(move |s| s.claim_delivery(id, &runner, now, false))
                .await?;
            let Some(claimed) = claimed else {
                continue;
            };
            started += 1;
            let engine = self.clone();
            tokio::spawn(async move {
                engine.attempt(claimed, spec).await;
                drop(permit);
                engine.0.wake.notify_one();
            });
        }
        Ok(started)
    }

    /// One pass of everything (see the module documentation).
    pub async fn pass(&self) -> Result<PassReport, DeliverError> {
        Ok(PassReport {
            recovered: self.recover().await?,
            routed: self.route_pending().await?,
            released: self.release_holds().await?,
            settled: self.settle_read().await?,
            started: self.start_due().await?,
        })
    }

    /// Waits until no attempt of this engine is under way.
    pub async fn idle(&self) {
        if let Ok(all) = self.0.slots.acquire_many(CONCURRENCY as u32).await {
            drop(all);
        }
    }

    /// Passes until nothing is left to do now (for `deliveries run` and tests); attempts due
    /// later stay queued for a running engine.
    pub async fn drain(&self) -> Result<PassReport, DeliverError> {
        let mut total = PassReport::default();
        loop {
            let r = self.pass().await?;
            self.idle().await;
            total.recovered += r.recovered;
            total.routed += r.routed;
            total.released += r.released;
            total.settled += r.settled;
            total.started += r.started;
            if !r.did_something() {
                return Ok(total);
            }
        }
    }

    /// Runs until the future is dropped.
    pub async fn run(&self) {
        let mut warned_at: Option<Instant> = None;
        loop {
            if let Err(e) = self.pass().await {
                // A locked or damaged store is worth one line a minute, not a flood.
                if warned_at.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    eprintln!("warning: delivery: {e}");
                    warned_at = Some(Instant::now());
                }
            }
            let next_due = self.db(|s| s.next_due_at()).await.ok().flatten();
            let version = self.db(|s| s.data_version()).await.ok();
            let now = now_millis();
            let wait = next_due.map(|t| (t - now).clamp(0, 1000)).unwrap_or(1000) as u64;
            let deadline = Instant::now() + Duration::from_millis(wait);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                tokio::select! {
                    _ = self.0.wake.notified() => break,
                    _ = tokio::time::sleep(left.min(Duration::from_millis(100))) => {}
                }
                let now_version = self.db(|s| s.data_version()).await.ok();
                if now_version != version {
                    break;
                }
            }
        }
    }

    /// Claims delivery `id` now, even if not yet due, and makes the attempt in this task.
    /// `None` when it could not be claimed (done, held, or under way elsewhere).
    pub async fn attempt_now(&self, id: i64) -> Result<Option<Delivery>, DeliverError> {
        let runner = self.runner_id().to_string();
        let claimed = self
            .db(move |s| s.claim_delivery(id, &runner, now_millis(), true))
            .await?;
        let Some(d) = claimed else {
            return Ok(None);
        };
        let spec = match DeliverySpec::from_json(&d.spec) {
            Ok(s) => s,
            Err(e) => {
                let runner = self.runner_id().to_string();
                let rec = AttemptRecord {
                    event: "failed",
                    code: None,
                    answer: e.clone(),
                    next: AttemptNext::Dead { reason: e },
                };
                self.db(move |s| s.finish_attempt(id, &runner, &rec))
                    .await?;
                return self.db(move |s| s.delivery(id)).await;
            }
        };
        self.attempt(d, spec).await;
        self.db(move |s| s.delivery(id)).await
    }

    async fn attempt(&self, d: Delivery, spec: DeliverySpec) {
        let outcome = self.run_channel(&d, &spec).await;
        self.record(&d, &spec, outcome).await;
    }

    async fn record(&self, d: &Delivery, spec: &DeliverySpec, outcome: Outcome) {
        let clock = self.0.opts.clock;
        let step = plan::after_attempt(spec, progress(d), &outcome, now_millis(), clock);
        let follow_ups = match (&spec.channel, &step) {
            (ChannelSpec::Submit, Step::Delivered) => self.sent_copy_for(d).await,
            _ => vec![],
        };
        let (code, answer) = match &outcome {
            Outcome::Delivered { code, answer } | Outcome::Failed { code, answer, .. } => {
                (code.map(i64::from), answer.clone())
            }
            Outcome::Interrupted => (None, "interrupted".to_string()),
        };
        let rec = AttemptRecord {
            event: step_event(&step),
            code,
            answer,
            next: to_next(d, step, follow_ups),
        };
        let wake = matches!(
            &rec.next,
            AttemptNext::Reroute { .. } | AttemptNext::Delivered { .. }
        );
        let runner = self.runner_id().to_string();
        let id = d.id;
        if let Err(e) = self.db(move |s| s.finish_attempt(id, &runner, &rec)).await {
            // The attempt stays `sending` under this runner; when this process ends it is
            // recovered as interrupted and retried, so nothing is lost.
            eprintln!("warning: delivery {id}: the outcome could not be recorded: {e}");
        }
        if wake {
            self.0.wake.notify_one();
        }
    }

    /// After a submission: filing the copy in the Sent folder, for IMAP accounts.
    async fn sent_copy_for(&self, d: &Delivery) -> Vec<NewDelivery> {
        let Some(outgoing_id) = d.outgoing_id else {
            return vec![];
        };
        let summary = d.summary.clone();
        let planned = self
            .db(move |s| {
                let Some(o) = s.outgoing(outgoing_id)? else {
                    return Ok(None);
                };
                let Some(account) = o.account_id.and_then(|a| s.account_by_id(a).ok().flatten())
                else {
                    return Ok(None);
                };
                if account.kind != AccountKind::Imap {
                    return Ok(None);
                }
                let mailbox = s.smtp_server(account.id)?.and_then(|x| x.sent_mailbox);
                Ok(Some(mailbox))
            })
            .await;
        let Ok(Some(mailbox)) = planned else {
            return vec![];
        };
        let spec = DeliverySpec {
            channel: ChannelSpec::SentCopy { mailbox },
            policy: crate::spec::submit_policy(),
            used: vec![],
            alternate: Default::default(),
            profile: None,
        };
        vec![NewDelivery {
            message_id: None,
            outgoing_id: Some(outgoing_id),
            parent_id: Some(d.id),
            channel: spec.channel.channel_name().to_string(),
            target: spec.channel.target(),
            spec: spec.to_json(),
            summary,
            held: false,
            due_at: now_millis(),
            note: Some(format!("a copy of what delivery {} sent", d.id)),
        }]
    }

    async fn show(&self, note: crate::notify::DesktopNote) -> Outcome {
        let notifier = self.0.opts.notifier.clone();
        match tokio::task::spawn_blocking(move || notifier.show(&note)).await {
            Ok(Ok(answer)) => Outcome::Delivered { code: None, answer },
            Ok(Err(f)) => failed(f.answer, f.transient),
            Err(e) => failed(format!("the notification task failed: {e}"), true),
        }
    }

    async fn im_send(&self, d: &Delivery, to: &str, text: &str) -> Outcome {
        let Some(im) = self.0.opts.im.clone() else {
            return failed(
                "no instant-messaging channel is set up in this process",
                false,
            );
        };
        match im.send(d.id, d.message_id, to, text).await {
            Ok(answer) => Outcome::Delivered { code: None, answer },
            Err(f) => failed(f.answer, f.transient),
        }
    }

    async fn run_channel(&self, d: &Delivery, spec: &DeliverySpec) -> Outcome {
        let install_id = self.0.install_id.clone();
        let d2 = d.clone();
        match spec.channel.clone() {
            ChannelSpec::Desktop {
                urgency,
                hide_content,
                rate_limit_secs,
                conversation,
            } => {
                let now = switchboard_store::clock::now();
                if let Some(o) =
                    channels::rate_limited(&self.0.limiter, &conversation, rate_limit_secs, now)
                {
                    return o;
                }
                let note = self
                    .db(move |s| Ok(channels::desktop_note_for(s, &d2, urgency, hide_content)))
                    .await;
                match note {
                    Ok(Ok(note)) => self.show(note).await,
                    Ok(Err(o)) => o,
                    Err(e) => failed(e.to_string(), true),
                }
            }
            ChannelSpec::Mail { to, mode } => {
                match self.db(move |s| Ok(channels::forward_job(s, &d2))).await {
                    Ok(Ok(job)) => channels::forward(&install_id, d, job, &to, mode).await,
                    Ok(Err(o)) => o,
                    Err(e) => failed(e.to_string(), true),
                }
            }
            ChannelSpec::Im { to } => {
                let text = self
                    .db(move |s| {
                        Ok(channels::desktop_note_for(
                            s,
                            &d2,
                            Default::default(),
                            false,
                        ))
                    })
                    .await;
                match text {
                    Ok(Ok(n)) => {
                        self.im_send(d, &to, &format!("{}: {}", n.summary, n.body))
                            .await
                    }
                    Ok(Err(o)) => o,
                    Err(e) => failed(e.to_string(), true),
                }
            }
            ChannelSpec::Hold { .. } => failed("a held delivery is not attempted", false),
            ChannelSpec::Digest {
                message_ids,
                via,
                urgency,
                hide_content,
                reason,
            } => {
                self.digest(d, message_ids, via, urgency, hide_content, reason)
                    .await
            }
            ChannelSpec::Submit => match self.db(move |s| Ok(channels::submit_job(s, &d2))).await {
                Ok(Ok(job)) => {
                    channels::submit_via(
                        &install_id,
                        &job.account,
                        &job.smtp,
                        &job.outgoing.envelope_from,
                        &job.outgoing.recipients,
                        &job.outgoing.raw,
                    )
                    .await
                }
                Ok(Err(o)) => o,
                Err(e) => failed(e.to_string(), true),
            },
            ChannelSpec::SentCopy { mailbox } => {
                match self.db(move |s| Ok(channels::submit_job(s, &d2))).await {
                    Ok(Ok(job)) => channels::sent_copy(&install_id, job, mailbox.as_deref()).await,
                    Ok(Err(o)) => o,
                    Err(e) => failed(e.to_string(), true),
                }
            }
        }
    }

    async fn digest(
        &self,
        d: &Delivery,
        ids: Vec<i64>,
        via: ChannelTarget,
        urgency: switchboard_route::Urgency,
        hide_content: bool,
        reason: String,
    ) -> Outcome {
        let ids2 = ids.clone();
        let lines = match self.db(move |s| Ok(channels::digest_lines(s, &ids2))).await {
            Ok(l) => l,
            Err(e) => return failed(e.to_string(), true),
        };
        if lines.is_empty() {
            return Outcome::Delivered {
                code: None,
                answer: "nothing to list: every held message was deleted".into(),
            };
        }
        match via {
            ChannelTarget::Desktop => {
                self.show(channels::digest_desktop_note(
                    &lines,
                    &reason,
                    hide_content,
                    urgency,
                ))
                .await
            }
            ChannelTarget::Im { address } => {
                let note = channels::digest_desktop_note(&lines, &reason, hide_content, urgency);
                self.im_send(d, &address, &format!("{}\n{}", note.summary, note.body))
                    .await
            }
            ChannelTarget::Mail { address } => {
                let install_id = self.0.install_id.clone();
                let d2 = d.clone();
                let prepared = self
                    .db(move |s| {
                        let accounts = channels::digest_accounts(s, &ids);
                        let Some((account, smtp)) = channels::outgoing_account(s, &accounts)?
                        else {
                            return Ok(Err(failed(
                                "no outgoing (SMTP) server is set up for the digest mail",
                                false,
                            )));
                        };
                        let identity = channels::identity_of(&smtp);
                        Ok(channels::digest_mail(
                            &install_id,
                            &d2,
                            &identity,
                            &address,
                            &lines,
                            &reason,
                            hide_content,
                        )
                        .map(|built| (account, smtp, built)))
                    })
                    .await;
                match prepared {
                    Ok(Ok((account, smtp, built))) => {
                        channels::submit_via(
                            &self.0.install_id,
                            &account,
                            &smtp,
                            &built.envelope_from,
                            &built.recipients,
                            &built.raw,
                        )
                        .await
                    }
                    Ok(Err(o)) => o,
                    Err(e) => failed(e.to_string(), true),
                }
            }
        }
    }
}

/// Routes one pending message; `false` when it was no longer pending.
fn route_one(
    s: &mut Store,
    routing: &switchboard_store::Routing,
    id: i64,
    install_id: &str,
    settings: &RouteSettings,
    now: i64,
) -> Result<bool, StoreError> {
    let skip = |s: &mut Store, reason: String| {
        s.route_message(
            id,
            &RouteRecord {
                routed: false,
                reason,
                mark_read: false,
                labels: vec![],
            },
            &[],
        )
        .map(|r| r.is_some())
    };
    // A message that cannot be read is recorded as not routed (with why) rather than
    // holding up every message after it.
    let raw = match s.raw(id) {
        Ok(r) => r,
        Err(StoreError::NoSuchMessage(_)) => {
            return skip(s, "the message was deleted before it was routed".into())
        }
        Err(e @ StoreError::Corrupt { .. }) => return skip(s, format!("not routed: {e}")),
        Err(e) => return Err(e),
    };
    if let Some(reason) = loop_reason(&raw, install_id) {
        return skip(s, reason);
    }
    let facts = match s.message_facts(id) {
        Ok(f) => f,
        Err(StoreError::NoSuchMessage(_)) => {
            return skip(s, "the message was deleted before it was routed".into())
        }
        Err(e @ StoreError::Corrupt { .. }) => return skip(s, format!("not routed: {e}")),
        Err(e) => return Err(e),
    };
    let decision = routing.decide(&facts, now);
    let m = s.message(id)?;
    let summary = summary_line(
        &m.summary.subject,
        m.summary.from.as_ref().map(|a| a.email.as_str()),
    );
    let (record, deliveries) = plan_deliveries(
        id,
        &decision,
        routing.active_profile(),
        &summary,
        settings,
        now_millis(),
    );
    Ok(s.route_message(id, &record, &deliveries)?.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::{
        AccountKind, IncomingMessage, MailboxState, NewAccount, SourceKey, SyncPolicy, TlsMode,
    };

    fn setup() -> (tempfile::TempDir, Engine, Store, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in(dir.path()).unwrap();
        let account = store
            .add_account(&NewAccount {
                name: "work".into(),
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
            .id;
        // Mail from now on is news, not the first download.
        store
            .save_mailbox_state(
                account,
                "INBOX",
                &MailboxState {
                    uidvalidity: Some(1),
                    complete: true,
                    ..Default::default()
                },
            )
            .unwrap();
        let engine = Engine::open(
            dir.path(),
            EngineOptions::standard(),
            Arc::new(Notify::new()),
        )
        .unwrap();
        (dir, engine, store, account)
    }

    fn ingest(store: &mut Store, account: i64, uid: u32, extra: &str) -> i64 {
        let raw = format!(
            "{extra}Message-ID: <m{uid}@x>\r\nFrom: bob@example.org\r\nSubject: s{uid}\r\n\r\nbody\r\n"
        )
        .into_bytes();
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
            .unwrap()[0]
            .message_id()
    }

    #[tokio::test]
    async fn routes_once_cuts_loops_and_skips_damaged_messages() {
        let (dir, engine, mut store, account) = setup();
        let install = store.install_id().unwrap();
        let plain = ingest(&mut store, account, 1, "");
        let looped = ingest(
            &mut store,
            account,
            2,
            &format!("X-Switchboard-Forwarded: {install}\r\n"),
        );
        let damaged = ingest(&mut store, account, 3, "");
        let conn = rusqlite::Connection::open(dir.path().join(switchboard_store::DB_FILE)).unwrap();
        conn.execute(
            "UPDATE message_raw SET data = x'00' WHERE message_id = ?1",
            [damaged],
        )
        .unwrap();
        assert_eq!(engine.route_pending().await.unwrap(), 3);
        assert_eq!(engine.route_pending().await.unwrap(), 0, "routed once");

        let (state, _) = store.route_state(plain).unwrap().unwrap();
        assert_eq!(state, "routed");
        let d = store.message_deliveries(plain).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].delivery.channel, "desktop",
            "Home notifies this desktop"
        );

        let (state, reason) = store.route_state(looped).unwrap().unwrap();
        assert_eq!(state, "skipped");
        assert!(reason.unwrap().contains("forwarding loop"));
        assert!(store.message_deliveries(looped).unwrap().is_empty());

        let (state, reason) = store.route_state(damaged).unwrap().unwrap();
        assert_eq!(state, "skipped");
        assert!(reason.unwrap().contains("damaged"));
    }

    #[tokio::test]
    async fn an_attempt_of_a_vanished_process_is_recorded_as_interrupted_and_retried() {
        let (dir, engine, mut store, account) = setup();
        let m = ingest(&mut store, account, 1, "");
        engine.route_pending().await.unwrap();
        let id = store.message_deliveries(m).unwrap()[0].delivery.id;
        // Another process claimed it and died (its lock file is gone with it).
        let gone = Runner::register(dir.path()).unwrap();
        let gone_id = gone.id().to_string();
        store
            .claim_delivery(id, &gone_id, now_millis(), false)
            .unwrap()
            .unwrap();
        // While that process lives, its attempt is left alone.
        assert_eq!(engine.recover().await.unwrap(), 0);
        drop(gone);
        assert_eq!(engine.recover().await.unwrap(), 1);
        let v = &store.message_deliveries(m).unwrap()[0];
        assert_eq!(v.delivery.state, DeliveryState::Failed);
        assert!(v.delivery.next_attempt_at.is_some());
        let steps: Vec<&str> = v.events.iter().map(|e| e.state.as_str()).collect();
        assert_eq!(steps, ["queued", "sending", "interrupted", "retried"]);
        assert_eq!(engine.recover().await.unwrap(), 0, "recorded once");
    }
}
