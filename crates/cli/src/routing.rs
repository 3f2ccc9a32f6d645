//! `switchboard profile`, `schedule`, `rule`, `group` and `route`: the routing configuration
//! from the command line. All of it goes through the store's routing functions; times come
//! from the routing clock (`SWITCHBOARD_TEST_NOW` in tests, see `switchboard_store::clock`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use switchboard_route::schedule::parse_days;
use switchboard_route::{
    Action, ChannelTarget, Condition, DefaultAction, DeliveredWhen, Importance, MessageChannel,
    Profile, Rule, RuleBasis, ScheduleRange, TimeOfDay, Urgency,
};
use switchboard_store::{clock, local_time, RuleTrial, Store};

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

#[derive(Subcommand)]
pub enum ProfileCommand {
    /// Every profile, and which one is active and why.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One profile's settings.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Switch to a profile by hand; it holds until the next scheduled change.
    Use {
        name: String,
        /// Hold it across scheduled changes until `profile release`.
        #[arg(long)]
        until_released: bool,
    },
    /// End a manual switch: the schedule decides again.
    Release,
    /// Add a profile (delivering to this desktop unless told otherwise).
    Add {
        name: String,
        /// Start from a copy of this profile's settings.
        #[arg(long)]
        like: Option<String>,
        #[command(flatten)]
        edit: ProfileEdit,
    },
    /// Change a profile's settings.
    Edit {
        name: String,
        /// A new name (rules and the schedule follow).
        #[arg(long)]
        rename: Option<String>,
        #[command(flatten)]
        edit: ProfileEdit,
    },
    /// Remove a profile that nothing refers to.
    Remove { name: String },
    /// Past switches of the active profile, newest first.
    History {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

impl OnOff {
    fn yes(self) -> bool {
        matches!(self, OnOff::On)
    }
}

#[derive(Args, Default)]
pub struct ProfileEdit {
    /// deliver | hold | quiet: what happens when no rule decides.
    #[arg(long = "default", value_name = "ACTION")]
    default_action: Option<String>,
    /// Urgency of the desktop notifications `deliver` raises: low | normal | critical.
    #[arg(long)]
    urgency: Option<String>,
    /// Replace the channels: desktop, mail:ADDRESS, im:ADDRESS (repeatable; "none" for none).
    #[arg(long = "channel", value_name = "CHANNEL")]
    channels: Vec<String>,
    /// Add a channel.
    #[arg(long = "add-channel", value_name = "CHANNEL")]
    add_channels: Vec<String>,
    /// Remove a channel.
    #[arg(long = "remove-channel", value_name = "CHANNEL")]
    remove_channels: Vec<String>,
    /// Notifications without subject or text.
    #[arg(long, value_enum, value_name = "on|off")]
    hide_content: Option<OnOff>,
    /// At most one notification per conversation per this many minutes (0: no limit).
    #[arg(long, value_name = "MINUTES")]
    rate_limit: Option<u32>,
    /// No desktop notifications for messages of this account (repeatable).
    #[arg(long, value_name = "ACCOUNT")]
    mute_account: Vec<String>,
    #[arg(long, value_name = "ACCOUNT")]
    unmute_account: Vec<String>,
    /// A VIP sender: address, @domain or group:NAME (repeatable).
    #[arg(long, value_name = "SENDER")]
    vip: Vec<String>,
    #[arg(long, value_name = "SENDER")]
    no_vip: Vec<String>,
    /// Release what is held every day at this local time, HH:MM (repeatable).
    #[arg(long, value_name = "HH:MM")]
    release_at: Vec<String>,
    /// Forget the release times.
    #[arg(long)]
    no_release_times: bool,
    /// Message policy: attempts per channel.
    #[arg(long)]
    trials: Option<u32>,
    /// Message policy: seconds before the first retry (doubling after).
    #[arg(long, value_name = "SECONDS")]
    retry_after: Option<u32>,
    /// Message policy: seconds after which an undelivered channel has failed (0: never).
    #[arg(long, value_name = "SECONDS")]
    expiry: Option<u64>,
    /// Message policy: alternate channels in order (repeatable; "none" to clear).
    #[arg(long = "alternate", value_name = "CHANNEL")]
    alternates: Vec<String>,
    /// Message policy: what counts as delivered: accepted | read.
    #[arg(long, value_name = "WHEN")]
    delivered_when: Option<String>,
}

fn channels(list: &[String]) -> Result<Vec<ChannelTarget>> {
    if list.iter().any(|c| c == "none") {
        return Ok(Vec::new());
    }
    list.iter()
        .map(|c| c.parse::<ChannelTarget>().map_err(|e| anyhow!(e)))
        .collect()
}

impl ProfileEdit {
    fn apply(&self, p: &mut Profile) -> Result<()> {
        if let Some(d) = &self.default_action {
            p.default_action = d
                .parse::<DefaultAction>()
                .map_err(|e| anyhow!("--default: {e}"))?;
        }
        if let Some(u) = &self.urgency {
            p.urgency = u
                .parse::<Urgency>()
                .map_err(|e| anyhow!("--urgency: {e}"))?;
        }
        if !self.channels.is_empty() {
            p.channels = channels(&self.channels).context("--channel")?;
        }
        for c in channels(&self.add_channels).context("--add-channel")? {
            if !p.channels.contains(&c) {
                p.channels.push(c);
            }
        }
        for c in channels(&self.remove_channels).context("--remove-channel")? {
            if !p.channels.contains(&c) {
                bail!(
                    "--remove-channel: profile {} has no channel {}",
                    p.name,
                    c.label()
                );
            }
            p.channels.retain(|x| x != &c);
        }
        if let Some(h) = self.hide_content {
            p.notify.hide_content = h.yes();
        }
        if let Some(r) = self.rate_limit {
            p.notify.rate_limit_minutes = r;
        }
        for a in &self.mute_account {
            if !p.notify.muted_accounts.contains(a) {
                p.notify.muted_accounts.push(a.clone());
            }
        }
        p.notify
            .muted_accounts
            .retain(|a| !self.unmute_account.contains(a));
        for v in &self.vip {
            if !p.notify.vip.contains(v) {
                p.notify.vip.push(v.clone());
            }
        }
        p.notify.vip.retain(|v| !self.no_vip.contains(v));
        if self.no_release_times {
            p.hold.release_at.clear();
        }
        for t in &self.release_at {
            let t: TimeOfDay = t.parse().map_err(|e| anyhow!("--release-at: {e}"))?;
            if !p.hold.release_at.contains(&t) {
                p.hold.release_at.push(t);
            }
        }
        p.hold.release_at.sort();
        if let Some(n) = self.trials {
            p.policy.trials = n;
        }
        if let Some(n) = self.retry_after {
            p.policy.retry_after_secs = n;
        }
        if let Some(n) = self.expiry {
            p.policy.expiry_secs = n;
        }
        if !self.alternates.is_empty() {
            p.policy.alternates = channels(&self.alternates).context("--alternate")?;
        }
        if let Some(d) = &self.delivered_when {
            p.policy.delivered_when = match d.as_str() {
                "accepted" => DeliveredWhen::Accepted,
                "read" => DeliveredWhen::Read,
                other => bail!("--delivered-when '{other}' is not accepted or read"),
            };
        }
        p.validate().map_err(|e| anyhow!(e))
    }
}

fn channel_list(p: &Profile) -> String {
    if p.channels.is_empty() {
        "no channels".to_string()
    } else {
        p.channels
            .iter()
            .map(ChannelTarget::label)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn print_profile(p: &Profile) {
    println!("{}", p.name);
    println!(
        "  default:     {} (urgency {})",
        p.default_action.as_str(),
        p.urgency.as_str()
    );
    println!("  channels:    {}", channel_list(p));
    let n = &p.notify;
    println!(
        "  notify:      content {}, {}",
        if n.hide_content { "hidden" } else { "shown" },
        if n.rate_limit_minutes == 0 {
            "no rate limit".to_string()
        } else {
            format!(
                "at most one per conversation per {} min",
                n.rate_limit_minutes
            )
        }
    );
    if !n.muted_accounts.is_empty() {
        println!("  muted:       {}", n.muted_accounts.join(", "));
    }
    if !n.vip.is_empty() {
        println!("  VIP:         {}", n.vip.join(", "));
    }
    if !p.hold.release_at.is_empty() {
        let times: Vec<String> = p.hold.release_at.iter().map(|t| t.to_string()).collect();
        println!("  release at:  {}", times.join(", "));
    }
    let pol = &p.policy;
    println!(
        "  policy:      {} trials, first retry after {} s, expiry {}, delivered when {}",
        pol.trials,
        pol.retry_after_secs,
        if pol.expiry_secs == 0 {
            "never".to_string()
        } else {
            format!("{} s", pol.expiry_secs)
        },
        match pol.delivered_when {
            DeliveredWhen::Accepted => "accepted",
            DeliveredWhen::Read => "read",
        }
    );
    if !pol.alternates.is_empty() {
        let alts: Vec<String> = pol.alternates.iter().map(ChannelTarget::label).collect();
        println!("  alternates:  {}", alts.join(" then "));
    }
}

pub fn profile(dir: &Path, cmd: ProfileCommand) -> Result<ExitCode> {
    let mut store = Store::open_in(dir)?;
    let now = clock::now();
    // Whatever the schedule changed since the last look goes into the history first.
    store.record_active_profile(now)?;
    match cmd {
        ProfileCommand::List { json } => {
            let o = store.profiles_overview(now)?;
            if json {
                return print_json(&o).map(|_| ExitCode::SUCCESS);
            }
            println!("active: {} ({})", o.active.name, o.why);
            for p in &o.profiles {
                let mark = if p.is(&o.active.name) { '*' } else { ' ' };
                println!(
                    "{mark} {:<20} {:<8} {}",
                    p.name,
                    p.default_action.as_str(),
                    channel_list(p)
                );
            }
        }
        ProfileCommand::Show { name, json } => {
            let p = store.profile(&name)?;
            if json {
                return print_json(&p).map(|_| ExitCode::SUCCESS);
            }
            print_profile(&p);
        }
        ProfileCommand::Use {
            name,
            until_released,
        } => {
            store.use_profile(&name, until_released, now)?;
            let o = store.profiles_overview(now)?;
            println!("active: {} ({})", o.active.name, o.why);
        }
        ProfileCommand::Release => {
            let had = store.profiles_overview(now)?.manual.is_some();
            store.release_profile(now)?;
            let o = store.profiles_overview(now)?;
            if !had {
                println!("no manual switch to release");
            }
            println!("active: {} ({})", o.active.name, o.why);
        }
        ProfileCommand::Add { name, like, edit } => {
            let mut p = match like {
                Some(other) => store.profile(&other)?,
                None => Profile::new(&name),
            };
            p.name = name;
            edit.apply(&mut p)?;
            let p = store.add_profile(&p)?;
            println!("added profile '{}'", p.name);
            print_profile(&p);
        }
        ProfileCommand::Edit { name, rename, edit } => {
            let mut p = store.profile(&name)?;
            if let Some(new) = rename {
                p.name = new;
            }
            edit.apply(&mut p)?;
            let p = store.update_profile(&name, &p, now)?;
            println!("profile '{}' saved", p.name);
            print_profile(&p);
        }
        ProfileCommand::Remove { name } => {
            store.remove_profile(&name, now)?;
            println!("removed profile '{name}'");
        }
        ProfileCommand::History { limit, json } => {
            let h = store.switch_history(limit)?;
            if json {
                return print_json(&h).map(|_| ExitCode::SUCCESS);
            }
            let zone = store.routing(now)?.zone;
            for r in h {
                println!(
                    "{}  {:<20} {:<10} (from {})",
                    local_time(&zone, r.at),
                    r.profile,
                    r.reason.as_str(),
                    r.previous.as_deref().unwrap_or("-")
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum ScheduleCommand {
    /// The weekly plan, its time zone and fallback, and what is active now.
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Make a profile active every week on some days between two local times.
    Add {
        profile: String,
        /// mon-fri, sat,sun, weekdays, weekend, daily...
        #[arg(long)]
        days: String,
        /// Start, HH:MM local time.
        #[arg(long)]
        from: String,
        /// End, HH:MM local time; not after --from means the next day.
        #[arg(long)]
        to: String,
    },
    /// Remove range N (as numbered by `schedule show`).
    Remove { number: usize },
    /// The time zone the times are in: an IANA name (Europe/Berlin), or "system".
    Zone { zone: String },
    /// The profile active when no range covers the time.
    Fallback { profile: String },
    /// Remove every range.
    Clear,
}

pub fn schedule(dir: &Path, cmd: ScheduleCommand) -> Result<ExitCode> {
    let mut store = Store::open_in(dir)?;
    let now = clock::now();
    let mut s = store.schedule()?;
    match cmd {
        ScheduleCommand::Show { json } => {
            if json {
                return print_json(&s).map(|_| ExitCode::SUCCESS);
            }
            let r = store.routing(now)?;
            println!("time zone: {}", s.time_zone.as_deref().unwrap_or("system"));
            if let Some(p) = &r.zone_problem {
                println!("warning: {p}");
            }
            println!("fallback:  {}", s.fallback);
            if s.ranges.is_empty() {
                println!("no ranges: the fallback is active unless switched by hand");
            }
            for (i, range) in s.ranges.iter().enumerate() {
                println!("{:>3}. {}", i + 1, range.describe());
            }
            let o = store.profiles_overview(now)?;
            println!("now: {} ({})", o.active.name, o.why);
            return Ok(ExitCode::SUCCESS);
        }
        ScheduleCommand::Add {
            profile,
            days,
            from,
            to,
        } => {
            let range = ScheduleRange {
                profile,
                days: parse_days(&days).map_err(|e| anyhow!("--days: {e}"))?,
                start: from.parse().map_err(|e| anyhow!("--from: {e}"))?,
                end: to.parse().map_err(|e| anyhow!("--to: {e}"))?,
            };
            s.ranges.push(range);
        }
        ScheduleCommand::Remove { number } => {
            if number == 0 || number > s.ranges.len() {
                bail!(
                    "there is no range {number}; the schedule has {} (see `switchboard schedule show`)",
                    s.ranges.len()
                );
            }
            s.ranges.remove(number - 1);
        }
        ScheduleCommand::Zone { zone } => {
            s.time_zone = (zone != "system").then_some(zone);
        }
        ScheduleCommand::Fallback { profile } => s.fallback = profile,
        ScheduleCommand::Clear => s.ranges.clear(),
    }
    let s = store.set_schedule(&s, now)?;
    for (i, range) in s.ranges.iter().enumerate() {
        println!("{:>3}. {}", i + 1, range.describe());
    }
    println!(
        "time zone {}, fallback {}",
        s.time_zone.as_deref().unwrap_or("system"),
        s.fallback
    );
    let o = store.profiles_overview(now)?;
    println!("now: {} ({})", o.active.name, o.why);
    Ok(ExitCode::SUCCESS)
}

/// What a rule looks at and does, as options.
#[derive(Args, Default, Clone)]
pub struct RuleSpec {
    /// The whole rule as JSON (see crates/route/README.md); other options are not allowed with it.
    #[arg(long, value_name = "JSON")]
    json_rule: Option<String>,
    /// Sender address is exactly this.
    #[arg(long, value_name = "ADDRESS")]
    from: Option<String>,
    /// Sender is in this domain (or a subdomain).
    #[arg(long, value_name = "DOMAIN")]
    from_domain: Option<String>,
    /// Sender is in this contact group (e.g. VIP).
    #[arg(long, value_name = "GROUP")]
    from_group: Option<String>,
    /// This address is among To and Cc.
    #[arg(long, value_name = "ADDRESS")]
    to: Option<String>,
    /// Came through this account.
    #[arg(long)]
    account: Option<String>,
    /// Came by this channel: mail | im.
    #[arg(long)]
    channel: Option<String>,
    /// Every word occurs in the subject.
    #[arg(long, value_name = "WORDS")]
    subject: Option<String>,
    /// Every word occurs in the body.
    #[arg(long, value_name = "WORDS")]
    body: Option<String>,
    /// At least this size (bytes; K, M, G suffixes).
    #[arg(long, value_name = "SIZE")]
    larger_than: Option<String>,
    /// Smaller than this size.
    #[arg(long, value_name = "SIZE")]
    smaller_than: Option<String>,
    /// Has an attachment.
    #[arg(long, conflicts_with = "without_attachment")]
    with_attachment: bool,
    /// Has no attachment.
    #[arg(long)]
    without_attachment: bool,
    /// Came through this mailing list (List-Id); "*" for any list.
    #[arg(long, value_name = "LIST")]
    list_id: Option<String>,
    /// Importance headers say: low | normal | high.
    #[arg(long)]
    importance: Option<String>,
    /// Any one condition is enough (default: all).
    #[arg(long)]
    any: bool,
    /// Only while this profile is active (repeatable; default: every profile).
    #[arg(long = "in", value_name = "PROFILE")]
    profiles: Vec<String>,
    /// Action: a desktop notification (urgency low | normal | critical, default normal).
    #[arg(long, value_name = "URGENCY", num_args = 0..=1, default_missing_value = "normal")]
    notify: Option<String>,
    /// Action: deliver to the active profile's channels.
    #[arg(long)]
    deliver: bool,
    /// Action: forward by mail (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    forward_mail: Vec<String>,
    /// Action: forward as an instant message (repeatable).
    #[arg(long, value_name = "ADDRESS")]
    forward_im: Vec<String>,
    /// Action: hold for the digest.
    #[arg(long)]
    hold: bool,
    /// Action: mark read.
    #[arg(long)]
    mark_read: bool,
    /// Action: add a label (repeatable).
    #[arg(long, value_name = "LABEL")]
    label: Vec<String>,
    /// Action: stop (no later rule, no default).
    #[arg(long)]
    stop: bool,
    /// Save it disabled.
    #[arg(long)]
    disabled: bool,
}

/// `10M`, `500k`, `1200`.
fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1024),
        Some('M') => (&t[..t.len() - 1], 1024 * 1024),
        Some('G') => (&t[..t.len() - 1], 1024 * 1024 * 1024),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| anyhow!("size '{s}' is not a number of bytes (K, M and G suffixes allowed)"))
}

impl RuleSpec {
    fn actions(&self) -> Result<Vec<Action>> {
        let mut a = Vec::new();
        if self.mark_read {
            a.push(Action::MarkRead);
        }
        a.extend(
            self.label
                .iter()
                .map(|l| Action::Label { label: l.clone() }),
        );
        if let Some(u) = &self.notify {
            a.push(Action::Notify {
                urgency: u.parse().map_err(|e| anyhow!("--notify: {e}"))?,
            });
        }
        if self.deliver {
            a.push(Action::Deliver { urgency: None });
        }
        a.extend(
            self.forward_mail
                .iter()
                .map(|t| Action::ForwardMail { to: t.clone() }),
        );
        a.extend(
            self.forward_im
                .iter()
                .map(|t| Action::ForwardIm { to: t.clone() }),
        );
        if self.hold {
            a.push(Action::Hold);
        }
        if self.stop {
            a.push(Action::Stop);
        }
        Ok(a)
    }

    fn conditions(&self) -> Result<Vec<Condition>> {
        let mut c = Vec::new();
        if let Some(v) = &self.from {
            c.push(Condition::Sender { address: v.clone() });
        }
        if let Some(v) = &self.from_domain {
            c.push(Condition::SenderDomain { domain: v.clone() });
        }
        if let Some(v) = &self.from_group {
            c.push(Condition::SenderGroup { group: v.clone() });
        }
        if let Some(v) = &self.to {
            c.push(Condition::Recipient { address: v.clone() });
        }
        if let Some(v) = &self.account {
            c.push(Condition::Account { account: v.clone() });
        }
        if let Some(v) = &self.channel {
            let channel = match v.as_str() {
                "mail" => MessageChannel::Mail,
                "im" => MessageChannel::Im,
                other => bail!("--channel '{other}' is not mail or im"),
            };
            c.push(Condition::Channel { channel });
        }
        if let Some(v) = &self.subject {
            c.push(Condition::Subject { words: v.clone() });
        }
        if let Some(v) = &self.body {
            c.push(Condition::Body { words: v.clone() });
        }
        if let Some(v) = &self.larger_than {
            c.push(Condition::SizeAtLeast {
                bytes: parse_size(v).context("--larger-than")?,
            });
        }
        if let Some(v) = &self.smaller_than {
            c.push(Condition::SizeBelow {
                bytes: parse_size(v).context("--smaller-than")?,
            });
        }
        if self.with_attachment {
            c.push(Condition::Attachment { present: true });
        }
        if self.without_attachment {
            c.push(Condition::Attachment { present: false });
        }
        if let Some(v) = &self.list_id {
            c.push(Condition::ListId { list: v.clone() });
        }
        if let Some(v) = &self.importance {
            c.push(Condition::Importance {
                level: v
                    .parse::<Importance>()
                    .map_err(|e| anyhow!("--importance: {e}"))?,
            });
        }
        Ok(c)
    }

    /// The rule these options describe, named `name`.
    fn rule(&self, name: Option<String>) -> Result<Rule> {
        if let Some(json) = &self.json_rule {
            let conditions = self.conditions()?;
            if !conditions.is_empty() || !self.actions()?.is_empty() || !self.profiles.is_empty() {
                bail!("--json-rule gives the whole rule; leave out the other condition and action options");
            }
            let mut r: Rule = serde_json::from_str(json).context("--json-rule is not a rule")?;
            if let Some(n) = name {
                r.name = n;
            }
            return Ok(r);
        }
        let actions = self.actions()?;
        if actions.is_empty() {
            bail!("say what the rule does: --notify, --deliver, --forward-mail, --forward-im, --hold, --mark-read, --label or --stop");
        }
        Ok(Rule {
            id: 0,
            name: name.unwrap_or_else(|| "tried rule".to_string()),
            enabled: !self.disabled,
            profiles: self.profiles.clone(),
            match_any: self.any,
            conditions: self.conditions()?,
            actions,
        })
    }
}

#[derive(Subcommand)]
pub enum RuleCommand {
    /// The rules in the order they are looked at.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a rule (at the end, or at --position).
    Add {
        name: String,
        #[command(flatten)]
        spec: RuleSpec,
        /// 1 = first.
        #[arg(long)]
        position: Option<usize>,
    },
    /// Remove a rule.
    Remove { id: i64 },
    /// Move a rule to another position (1 = first).
    Move { id: i64, position: usize },
    /// Turn a rule on.
    Enable { id: i64 },
    /// Turn a rule off without removing it.
    Disable { id: i64 },
    /// Before saving: which of the newest messages a rule would match, and what would happen.
    Try {
        #[command(flatten)]
        spec: RuleSpec,
        /// Where it would go (1 = first; default: last).
        #[arg(long)]
        position: Option<usize>,
        /// Decide as if this profile were active.
        #[arg(long)]
        under: Option<String>,
        /// How many of the newest messages to look at.
        #[arg(long, default_value_t = 500)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Make a rule from a message: its sender or its mailing list, with the actions given.
    FromMessage {
        id: i64,
        #[arg(long, value_enum)]
        by: By,
        #[command(flatten)]
        spec: RuleSpec,
        #[arg(long)]
        position: Option<usize>,
        /// Show the rule and what it would match; do not save it.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum By {
    Sender,
    List,
}

fn print_rule(position: usize, r: &Rule) {
    println!("{position:>3}. [{}] {}: {}", r.id, r.name, r.describe());
}

fn print_trial(out: &switchboard_store::TrialOutcome) {
    println!(
        "{} of the {} newest messages match (deciding as profile {}):",
        out.matches.len(),
        out.scanned,
        out.profile
    );
    for m in &out.matches {
        let now: Vec<String> = m.now.iter().map(Action::describe).collect();
        println!(
            "  [{}] {} {} — {}",
            m.id,
            m.date.as_deref().unwrap_or("-"),
            m.from.as_deref().unwrap_or("(no sender)"),
            if m.subject.is_empty() {
                "(no subject)"
            } else {
                &m.subject
            }
        );
        println!(
            "      now: {}",
            if now.is_empty() {
                "keep quietly in the inbox".to_string()
            } else {
                now.join(", ")
            }
        );
        println!("      with the rule: {}", m.with_rule.summary());
    }
    for s in &out.skipped {
        println!("  skipped {s}");
    }
}

pub fn rule(dir: &Path, cmd: RuleCommand) -> Result<ExitCode> {
    let mut store = Store::open_in(dir)?;
    let now = clock::now();
    match cmd {
        RuleCommand::List { json } => {
            let rules = store.rules()?;
            if json {
                return print_json(&rules).map(|_| ExitCode::SUCCESS);
            }
            if rules.is_empty() {
                println!("no rules: every message gets the active profile's default");
            }
            for (i, r) in rules.iter().enumerate() {
                print_rule(i + 1, r);
            }
        }
        RuleCommand::Add {
            name,
            spec,
            position,
        } => {
            let r = store.add_rule(&spec.rule(Some(name))?, position)?;
            let pos = store
                .rules()?
                .iter()
                .position(|x| x.id == r.id)
                .unwrap_or(0)
                + 1;
            println!("added rule {}:", r.id);
            print_rule(pos, &r);
        }
        RuleCommand::Remove { id } => {
            let r = store.remove_rule(id)?;
            println!("removed rule {id} '{}'", r.name);
        }
        RuleCommand::Move { id, position } => {
            if position == 0 {
                bail!("positions start at 1");
            }
            for (i, r) in store.move_rule(id, position)?.iter().enumerate() {
                print_rule(i + 1, r);
            }
        }
        RuleCommand::Enable { id } | RuleCommand::Disable { id } => {
            let enable = matches!(cmd, RuleCommand::Enable { .. });
            let mut r = store.rule(id)?;
            r.enabled = enable;
            store.update_rule(id, &r)?;
            println!(
                "rule {id} '{}' {}",
                r.name,
                if enable { "enabled" } else { "disabled" }
            );
        }
        RuleCommand::Try {
            spec,
            position,
            under,
            limit,
            json,
        } => {
            let trial = RuleTrial {
                rule: spec.rule(None)?,
                position,
                profile: under,
                limit,
                owner: None,
            };
            let out = store.try_rule(&trial, now)?;
            if json {
                return print_json(&out).map(|_| ExitCode::SUCCESS);
            }
            println!("rule: {}", trial.rule.describe());
            print_trial(&out);
        }
        RuleCommand::FromMessage {
            id,
            by,
            spec,
            position,
            dry_run,
        } => {
            let facts = store.message_facts(id)?;
            let basis = match by {
                By::Sender => RuleBasis::Sender,
                By::List => RuleBasis::List,
            };
            let from_spec = spec.rule(None)?;
            let mut r = switchboard_route::rule_from_message(&facts, basis, from_spec.actions)
                .map_err(|e| anyhow!("message {id}: {e}"))?;
            r.profiles = from_spec.profiles;
            r.enabled = from_spec.enabled;
            if dry_run {
                println!("rule (not saved): {}", r.describe());
                let out = store.try_rule(
                    &RuleTrial {
                        rule: r,
                        position,
                        profile: None,
                        limit: 500,
                        owner: None,
                    },
                    now,
                )?;
                print_trial(&out);
            } else {
                let r = store.add_rule(&r, position)?;
                let pos = store
                    .rules()?
                    .iter()
                    .position(|x| x.id == r.id)
                    .unwrap_or(0)
                    + 1;
                println!("added rule {}:", r.id);
                print_rule(pos, &r);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Contact groups and their members.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add members (addresses or @domains) to a group, creating it if needed.
    Add {
        group: String,
        #[arg(required = true)]
        members: Vec<String>,
    },
    /// Remove members from a group, or the whole group when no member is named.
    Remove { group: String, members: Vec<String> },
}

pub fn group(dir: &Path, cmd: GroupCommand) -> Result<ExitCode> {
    let mut store = Store::open_in(dir)?;
    match cmd {
        GroupCommand::List { json } => {
            let groups = store.groups()?;
            if json {
                return print_json(&groups).map(|_| ExitCode::SUCCESS);
            }
            for g in groups {
                println!(
                    "{}: {}",
                    g.name,
                    if g.members.is_empty() {
                        "(no members)".to_string()
                    } else {
                        g.members.join(", ")
                    }
                );
            }
        }
        GroupCommand::Add { group, members } => {
            let g = store.add_group_members(&group, &members)?;
            println!("{}: {}", g.name, g.members.join(", "));
        }
        GroupCommand::Remove { group, members } => {
            if members.is_empty() {
                store.remove_group(&group)?;
                println!("removed group '{group}'");
            } else {
                let g = store.remove_group_members(&group, &members)?;
                println!("{}: {}", g.name, g.members.join(", "));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum RouteCommand {
    /// What the router decides for a message, which rule matched and why.
    Explain {
        id: i64,
        /// Decide as if this profile were active.
        #[arg(long)]
        profile: Option<String>,
        /// Also list every rule that did not match, and why not.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn route(dir: &Path, cmd: RouteCommand) -> Result<ExitCode> {
    let store = Store::open_in(dir)?;
    let now = clock::now();
    match cmd {
        RouteCommand::Explain {
            id,
            profile,
            all,
            json,
        } => {
            let e = store.explain_route(id, profile.as_deref(), now)?;
            if json {
                return print_json(&e).map(|_| ExitCode::SUCCESS);
            }
            println!("message {id}: {}", e.decision.summary());
            for line in &e.decision.explanation {
                println!("  {line}");
            }
            let n = &e.decision.notify;
            if n.hide_content {
                println!("  notifications of profile {} hide the content", e.profile);
            }
            if all {
                println!("rules:");
                for c in &e.rules {
                    let verdict = if !c.applies {
                        "does not apply in this profile (or is disabled)"
                    } else if c.matched {
                        "matched"
                    } else {
                        "did not match"
                    };
                    println!("  {:>3}. [{}] {}: {verdict}", c.position, c.rule_id, c.rule);
                    for cond in &c.conditions {
                        println!(
                            "         {} {}",
                            if cond.held { "yes" } else { "no " },
                            cond.why
                        );
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1200").unwrap(), 1200);
        assert_eq!(parse_size("10M").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("500k").unwrap(), 500 * 1024);
        assert!(parse_size("ten").unwrap_err().to_string().contains("'ten'"));
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn options_make_rules() {
        let spec = RuleSpec {
            from_domain: Some("example.org".into()),
            subject: Some("invoice".into()),
            notify: Some("critical".into()),
            label: vec!["bills".into()],
            stop: true,
            profiles: vec!["Work".into()],
            ..Default::default()
        };
        let r = spec.rule(Some("bills".into())).unwrap();
        assert_eq!(
            r.actions,
            [
                Action::Label {
                    label: "bills".into()
                },
                Action::Notify {
                    urgency: Urgency::Critical
                },
                Action::Stop
            ]
        );
        assert_eq!(r.conditions.len(), 2);
        assert_eq!(r.profiles, ["Work"]);
        let none = RuleSpec {
            from: Some("a@b".into()),
            ..Default::default()
        };
        assert!(none
            .rule(None)
            .unwrap_err()
            .to_string()
            .contains("say what the rule does"));
        let bad = RuleSpec {
            notify: Some("loud".into()),
            ..Default::default()
        };
        assert!(bad.rule(None).unwrap_err().to_string().contains("--notify"));
    }
}
