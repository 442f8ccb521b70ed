//! The `[[fault]]` tables: one action each, its trigger (`at`, `at-record`, `at-late-delivery`;
//! `at-phase` in `phase.rs`), the options of each action, host names, message rules, and the
//! check that a restarted TaskManager was stopped before.

use super::schema::{HostList, RawFault};
use super::{Cx, DAY_US, Res, closest};
use crate::cluster::config::ClusterSpec;
use crate::fault::{FaultAction, FaultSpec, FaultTrigger, HostRef, MessageKind, MessageRule, RestoreFrom};
use crate::job::spec::JobSpec;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// The actions of a `[[fault]]`, for the hint when it has none or several.
const FAULT_ACTIONS: &str = "one of kill-taskmanager = N, restart-taskmanager = N, fail-task = \"op[i]\", \
     lose-taskmanager-host = N, freeze-taskmanager = N (with duration = \"70s\"), stop-taskmanager = N, \
     partition = [[\"jobmanager\"], [\"tm-1\"]], lose-messages = \"<message kind>\", \
     delay-messages = \"<message kind>\" (with delay = \"3s\"), rolling-update = \"10s\", kill-jobmanager = true, \
     storage-outage = \"8s\", storage-slow = \"20s\" (with slowdown = 10); or an operation: cancel-job = true, \
     stop-with-savepoint = true, submit-job = \"savepoint\" | \"retained-checkpoint\" | \"nothing\"";

/// `storage-slow` without `slowdown`: transfers take ten times as long.
pub const DEFAULT_SLOWDOWN: u32 = 10;
/// The most `slowdown` a scenario may ask for.
const MAX_SLOWDOWN: u64 = 1_000;

/// The actions that are operations of the user rather than faults: only at a time.
const OPERATIONS: &[&str] = &["cancel-job", "stop-with-savepoint", "submit-job"];

impl Cx<'_> {
    pub(super) fn fault(
        &self,
        f: &Spanned<RawFault>,
        job: &JobSpec,
        cluster: &ClusterSpec,
        end_us: u64,
        checkpointing: bool,
        earlier: &[FaultSpec],
    ) -> Res<FaultSpec> {
        let r = f.get_ref();
        // The action keys that are set, in file order.
        let mut actions: Vec<(&str, Range<usize>)> = [
            ("kill-taskmanager", r.kill_taskmanager.as_ref().map(Spanned::span)),
            ("restart-taskmanager", r.restart_taskmanager.as_ref().map(Spanned::span)),
            ("fail-task", r.fail_task.as_ref().map(Spanned::span)),
            ("lose-taskmanager-host", r.lose_taskmanager_host.as_ref().map(Spanned::span)),
            ("freeze-taskmanager", r.freeze_taskmanager.as_ref().map(Spanned::span)),
            ("stop-taskmanager", r.stop_taskmanager.as_ref().map(Spanned::span)),
            ("partition", r.partition.as_ref().map(Spanned::span)),
            ("lose-messages", r.lose_messages.as_ref().map(Spanned::span)),
            ("delay-messages", r.delay_messages.as_ref().map(Spanned::span)),
            ("rolling-update", r.rolling_update.as_ref().map(Spanned::span)),
            ("kill-jobmanager", r.kill_jobmanager.as_ref().map(Spanned::span)),
            ("cancel-job", r.cancel_job.as_ref().map(Spanned::span)),
            ("stop-with-savepoint", r.stop_with_savepoint.as_ref().map(Spanned::span)),
            ("submit-job", r.submit_job.as_ref().map(Spanned::span)),
            ("storage-outage", r.storage_outage.as_ref().map(Spanned::span)),
            ("storage-slow", r.storage_slow.as_ref().map(Spanned::span)),
        ]
        .into_iter()
        .filter_map(|(name, span)| Some((name, span?)))
        .collect();
        actions.sort_by_key(|(_, span)| span.start);
        let kind = match actions.as_slice() {
            [(kind, _)] => *kind,
            // An `at-phase` fault kills the TaskManager running the subtask unless told otherwise.
            [] if r.at_phase.is_some() => "kill-taskmanager",
            [] => return self.err_hint(f.span(), "a [[fault]] needs exactly one action", FAULT_ACTIONS),
            [(first, _), (second, span), ..] => {
                return self.err_hint(
                    span.clone(),
                    format!("a [[fault]] needs exactly one action; this one has `{first}` and `{second}`"),
                    FAULT_ACTIONS,
                );
            }
        };
        // Options that belong to some actions only.
        // (option, where it is set, the actions it belongs to)
        type Owned<'a> = (&'a str, Option<Range<usize>>, &'a [&'a str]);
        let options: [Owned; 10] = [
            ("suppress-restarts", r.suppress_restarts.as_ref().map(Spanned::span), &["fail-task"]),
            ("duration", r.duration.as_ref().map(Spanned::span), &["freeze-taskmanager"]),
            ("one-way", r.one_way.as_ref().map(Spanned::span), &["partition"]),
            ("heal-at", r.heal_at.as_ref().map(Spanned::span), &["partition"]),
            ("from", r.from.as_ref().map(Spanned::span), &["lose-messages", "delay-messages"]),
            ("to", r.to.as_ref().map(Spanned::span), &["lose-messages", "delay-messages"]),
            ("probability", r.probability.as_ref().map(Spanned::span), &["lose-messages", "delay-messages"]),
            ("until", r.until.as_ref().map(Spanned::span), &["lose-messages", "delay-messages"]),
            ("delay", r.delay.as_ref().map(Spanned::span), &["delay-messages"]),
            ("slowdown", r.slowdown.as_ref().map(Spanned::span), &["storage-slow"]),
        ];
        for (option, span, owners) in options {
            if let Some(span) = span
                && !owners.contains(&kind)
            {
                return self
                    .err(span, format!("`{option}` is only for {} faults (this one is {kind})", owners.join(" and ")));
            }
        }
        if let Some(p) = &r.poison
            && r.at_record.is_none()
        {
            return self.err_hint(
                p.span(),
                "`poison` goes with `at-record`",
                "the n-th record becomes a poison record",
            );
        }
        for (key, span) in [
            ("subtask", r.subtask.as_ref().map(Spanned::span)),
            ("checkpoint", r.checkpoint.as_ref().map(Spanned::span)),
            ("after", r.after.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span
                && r.at_phase.is_none()
            {
                return self.err_hint(
                    span,
                    format!("`{key}` goes with `at-phase`"),
                    "at-phase = \"snapshot-taken\", subtask = \"count[0]\"",
                );
            }
        }
        if let Some(n) = &r.nth
            && r.at_late_delivery.is_none()
        {
            return self.err_hint(n.span(), "`nth` goes with `at-late-delivery`", "at-late-delivery = 1, nth = 2");
        }
        let trigger = match (&r.at, &r.at_record, &r.at_phase, &r.at_late_delivery) {
            (None, None, None, Some(of)) => self.at_late_delivery(of, r.nth.as_ref(), earlier)?,
            (Some(at), None, None, None) => {
                let at_us = self.duration(at, "at")?;
                if at_us >= end_us {
                    return self.err(at.span(), "the fault is after the end of the run (duration + drain)");
                }
                FaultTrigger::At { at_us }
            }
            (_, _, _, _) if OPERATIONS.contains(&kind) && r.at.is_none() => {
                return self.err_hint(
                    f.span(),
                    format!("`{kind}` is an operation of the user: it happens `at` a time"),
                    "at = \"30s\"",
                );
            }
            (None, Some(n), None, None) => {
                if kind != "fail-task" {
                    return self.err_hint(
                        n.span(),
                        "`at-record` only works with `fail-task`",
                        "use `at` for every other fault",
                    );
                }
                if *n.get_ref() < 1 {
                    return self.err(n.span(), "`at-record` counts from 1");
                }
                FaultTrigger::AtRecord { n: *n.get_ref(), poison: r.poison.as_ref().is_some_and(|p| *p.get_ref()) }
            }
            (None, None, Some(p), None) => self.at_phase(f, p, job, end_us, checkpointing)?,
            _ => {
                return self.err_hint(
                    f.span(),
                    "a [[fault]] needs exactly one of `at`, `at-record`, `at-phase` and `at-late-delivery`",
                    "at = \"12s\", at-record = 500, at-phase = \"snapshot-taken\" or at-late-delivery = 1",
                );
            }
        };
        // Only `fail-task` may have an `at-record` trigger, and it has no times to check against `at`.
        let at_us = match trigger {
            FaultTrigger::At { at_us } => at_us,
            FaultTrigger::AtRecord { .. } | FaultTrigger::AtLateDelivery { .. } => 0,
            FaultTrigger::AtPhase { after_us, .. } => after_us,
        };
        let tm = |v: &Spanned<u64>| -> Res<u32> {
            if *v.get_ref() < u64::from(cluster.taskmanagers) {
                Ok(*v.get_ref() as u32)
            } else {
                self.err_hint(
                    v.span(),
                    format!("no TaskManager {} (the cluster has {})", v.get_ref(), cluster.taskmanagers),
                    "TaskManagers are numbered from 0",
                )
            }
        };
        // A point in time after `at` and before the end of the run.
        let after_at = |v: &Spanned<String>, what: &str| -> Res<u64> {
            let us = self.duration(v, what)?;
            if us <= at_us {
                return self.err(
                    v.span(),
                    format!(
                        "`{what}` ({}) must be after the fault's `at` ({})",
                        crate::sim::fmt_duration(us),
                        crate::sim::fmt_duration(at_us)
                    ),
                );
            }
            if us >= end_us {
                return self.err_hint(
                    v.span(),
                    format!("`{what}` is after the end of the run (duration + drain)"),
                    format!("leave `{what}` out: the fault then lasts to the end of the run"),
                );
            }
            Ok(us)
        };
        // A length of time, up to 24h; `min_us` is 0 or 1.
        let length = |v: &Spanned<String>, what: &str, min_us: u64| -> Res<u64> {
            let us = self.duration(v, what)?;
            if us < min_us {
                return self.err(v.span(), format!("`{what}` must be longer than 0"));
            }
            if us > DAY_US {
                return self.err(v.span(), format!("`{what}` must be at most 24h"));
            }
            Ok(us)
        };
        let needs = |option: Option<&Spanned<String>>, what: &str, example: &str| -> Res<Spanned<String>> {
            match option {
                Some(v) => Ok(v.clone()),
                None => self.err_hint(f.span(), format!("a `{kind}` fault needs a `{what}`"), example),
            }
        };
        let hosts = |list: &HostList, what: &str| -> Res<Vec<HostRef>> {
            if list.get_ref().is_empty() {
                return self.err_hint(
                    list.span(),
                    format!("`{what}` names no host"),
                    "name at least one host, or leave the list out",
                );
            }
            let mut out: Vec<HostRef> = Vec::new();
            for name in list.get_ref() {
                let host = self.host(name, cluster)?;
                if out.contains(&host) {
                    return self.err(name.span(), format!("`{what}` names {:?} twice", name.get_ref()));
                }
                out.push(host);
            }
            Ok(out)
        };
        let rule = |kind_name: &Spanned<String>| -> Res<MessageRule> {
            let Some(message_kind) = MessageKind::parse(kind_name.get_ref()) else {
                let list = MessageKind::NAMES.join(", ");
                // "acknowledge" for "acknowledge-checkpoint": a unique prefix is as good a guess.
                let word = kind_name.get_ref().as_str();
                let mut prefixed = MessageKind::NAMES.iter().filter(|n| !word.is_empty() && n.starts_with(word));
                let unique_prefix = match (prefixed.next(), prefixed.next()) {
                    (Some(n), None) => Some(*n),
                    _ => None,
                };
                let hint = match closest(word, &MessageKind::NAMES).or(unique_prefix) {
                    Some(c) => format!("did you mean \"{c}\"? message kinds: {list}"),
                    None => format!("message kinds: {list}"),
                };
                return self.err_hint(
                    kind_name.span(),
                    format!("unknown message kind {:?}", kind_name.get_ref()),
                    hint,
                );
            };
            let probability = match &r.probability {
                None => 1.0,
                Some(p) if *p.get_ref() > 0.0 && *p.get_ref() <= 1.0 => *p.get_ref(),
                Some(p) => {
                    return self.err_hint(
                        p.span(),
                        format!("`probability` = {} must be more than 0 and at most 1", p.get_ref()),
                        "1.0 (the default) hits every matching message",
                    );
                }
            };
            Ok(MessageRule {
                kind: message_kind,
                from: r.from.as_ref().map_or(Ok(Vec::new()), |l| hosts(l, "from"))?,
                to: r.to.as_ref().map_or(Ok(Vec::new()), |l| hosts(l, "to"))?,
                probability,
                until_us: r.until.as_ref().map(|u| after_at(u, "until")).transpose()?,
            })
        };
        let action = if let FaultTrigger::AtPhase { subtask, .. } = trigger
            && actions.is_empty()
        {
            FaultAction::KillTaskManagerOf(subtask)
        } else if let Some(v) = &r.kill_taskmanager {
            FaultAction::KillTaskManager(tm(v)?)
        } else if let Some(v) = &r.restart_taskmanager {
            FaultAction::RestartTaskManager(tm(v)?)
        } else if let Some(v) = &r.fail_task {
            match &r.suppress_restarts {
                Some(s) if *s.get_ref() => {
                    if r.at.is_none() {
                        return self.err_hint(
                            s.span(),
                            "`suppress-restarts` goes with a `fail-task` that happens `at` a time",
                            "at = \"10s\"",
                        );
                    }
                    FaultAction::FailTaskUnrecoverable(self.subtask_ref(v, job)?)
                }
                _ => FaultAction::FailTask(self.subtask_ref(v, job)?),
            }
        } else if let Some(v) = &r.lose_taskmanager_host {
            FaultAction::LoseTaskManagerHost(tm(v)?)
        } else if let Some(v) = &r.freeze_taskmanager {
            let tm = tm(v)?;
            let d = needs(r.duration.as_ref(), "duration", "duration = \"70s\": how long the process stays stopped")?;
            FaultAction::FreezeTaskManager { tm, duration_us: length(&d, "duration", 1)? }
        } else if let Some(v) = &r.stop_taskmanager {
            FaultAction::StopTaskManager(tm(v)?)
        } else if let Some(p) = &r.partition {
            let [a, b] = p.get_ref().as_slice() else {
                return self.err_hint(
                    p.span(),
                    format!("`partition` takes two lists of hosts, not {}", p.get_ref().len()),
                    "partition = [[\"jobmanager\"], [\"tm-1\"]]",
                );
            };
            let (raw_b, a, b) = (b, hosts(a, "partition")?, hosts(b, "partition")?);
            if let Some(i) = b.iter().position(|h| a.contains(h)) {
                let name = &raw_b.get_ref()[i];
                return self.err(name.span(), format!("{:?} is on both sides of the partition", name.get_ref()));
            }
            FaultAction::Partition {
                a,
                b,
                one_way: r.one_way.as_ref().is_some_and(|w| *w.get_ref()),
                heal_at_us: r.heal_at.as_ref().map(|h| after_at(h, "heal-at")).transpose()?,
            }
        } else if let Some(v) = &r.lose_messages {
            FaultAction::LoseMessages(rule(v)?)
        } else if let Some(v) = &r.delay_messages {
            let rule = rule(v)?;
            let d = needs(r.delay.as_ref(), "delay", "delay = \"3s\": how much later matching messages arrive")?;
            FaultAction::DelayMessages { rule, delay_us: length(&d, "delay", 1)? }
        } else if let Some(v) = &r.rolling_update {
            FaultAction::RollingUpdate { interval_us: length(v, "rolling-update", 0)? }
        } else if let Some(v) = &r.kill_jobmanager {
            if !*v.get_ref() {
                return self.err_hint(
                    v.span(),
                    "`kill-jobmanager` takes `true`",
                    "leave the [[fault]] out to keep the JobManager running",
                );
            }
            FaultAction::KillJobManager
        } else if let Some(v) = r.cancel_job.as_ref().or(r.stop_with_savepoint.as_ref()) {
            if !*v.get_ref() {
                return self.err_hint(v.span(), format!("`{kind}` takes `true`"), "leave the [[fault]] out instead");
            }
            if kind == "cancel-job" { FaultAction::CancelJob } else { FaultAction::StopWithSavepoint }
        } else if let Some(v) = &r.submit_job {
            let from = match v.get_ref().as_str() {
                "savepoint" => RestoreFrom::Savepoint,
                "retained-checkpoint" => RestoreFrom::RetainedCheckpoint,
                "nothing" => RestoreFrom::Nothing,
                other => {
                    return self.err_hint(
                        v.span(),
                        format!("unknown snapshot to submit from {other:?}"),
                        "one of \"savepoint\" (the previous job's stop-with-savepoint), \"retained-checkpoint\" (its latest completed checkpoint, if retained), \"nothing\" (empty state, sources from the start)",
                    );
                }
            };
            FaultAction::SubmitJob(from)
        } else if let Some(v) = &r.storage_outage {
            FaultAction::StorageOutage { duration_us: length(v, "storage-outage", 1)? }
        } else if let Some(v) = &r.storage_slow {
            let factor = match &r.slowdown {
                None => DEFAULT_SLOWDOWN,
                Some(s) if (2..=MAX_SLOWDOWN).contains(s.get_ref()) => *s.get_ref() as u32,
                Some(s) => {
                    return self.err_hint(
                        s.span(),
                        format!("`slowdown` must be from 2 to {MAX_SLOWDOWN}"),
                        "how many times as long each upload and download takes while storage is slow",
                    );
                }
            };
            FaultAction::StorageSlow { duration_us: length(v, "storage-slow", 1)?, factor }
        } else {
            return self.err_hint(f.span(), "a [[fault]] needs exactly one action", FAULT_ACTIONS);
        };
        Ok(FaultSpec { trigger, action })
    }

    /// A host name as a fault names it: `jobmanager`, `tm-N`, `checkpoint-storage`, `sink-store`,
    /// `ha-store`.
    fn host(&self, s: &Spanned<String>, cluster: &ClusterSpec) -> Res<HostRef> {
        let name = s.get_ref().as_str();
        let n = cluster.taskmanagers;
        let tms = match n {
            1 => "tm-0".to_string(),
            2 => "tm-0, tm-1".to_string(),
            _ => format!("tm-0 … tm-{}", n - 1),
        };
        match HostRef::parse(name) {
            // Only the canonical spelling: `tm-01` and `tm-+1` are not host names.
            Some(h) if h.name() == name => match h {
                HostRef::TaskManager(i) if i >= n => self.err_hint(
                    s.span(),
                    format!("no TaskManager host {name:?} (the cluster has {n})"),
                    format!("TaskManagers are numbered from 0: {tms}"),
                ),
                _ => Ok(h),
            },
            _ => {
                let list = format!("jobmanager, {tms}, checkpoint-storage, sink-store, ha-store");
                let mut known: Vec<String> =
                    ["jobmanager", "checkpoint-storage", "sink-store", "ha-store"].map(String::from).to_vec();
                known.extend((0..n).map(|i| HostRef::TaskManager(i).name()));
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                let hint = match closest(name, &known) {
                    Some(c) => format!("did you mean \"{c}\"? hosts: {list}"),
                    None => format!("hosts: {list}"),
                };
                self.err_hint(s.span(), format!("unknown host {name:?}"), hint)
            }
        }
    }

    /// `at-late-delivery = N` (the N-th `[[fault]]` of the file, an earlier `delay-messages`,
    /// `lose-messages` or `partition`) with its `nth`.
    fn at_late_delivery(
        &self,
        of: &Spanned<u64>,
        nth: Option<&Spanned<u64>>,
        earlier: &[FaultSpec],
    ) -> Res<FaultTrigger> {
        let n = *of.get_ref();
        let hint =
            "faults are numbered from 1 in file order; name an earlier delay-messages, lose-messages or partition";
        let Some(f) = (n as usize).checked_sub(1).and_then(|i| earlier.get(i)) else {
            return self.err_hint(
                of.span(),
                format!("no earlier fault {n} (this is fault {})", earlier.len() + 1),
                hint,
            );
        };
        if !matches!(
            f.action,
            FaultAction::DelayMessages { .. } | FaultAction::LoseMessages(_) | FaultAction::Partition { .. }
        ) {
            return self.err_hint(of.span(), format!("fault {n} makes no message late"), hint);
        }
        let nth = match nth {
            Some(v) if *v.get_ref() < 1 => return self.err(v.span(), "`nth` counts from 1"),
            Some(v) if *v.get_ref() > 1_000_000 => return self.err(v.span(), "`nth` is at most 1000000"),
            Some(v) => *v.get_ref() as u32,
            None => 1,
        };
        Ok(FaultTrigger::AtLateDelivery { of: n as usize - 1, nth })
    }

    /// `restart-taskmanager = N` starts a TaskManager process that is not running; on one that is
    /// running it would do nothing, so that is refused here, where the fault times tell. With a
    /// rolling update (Kubernetes replaces pods on its own schedule) only the run can tell, and
    /// the timeline shows a warning instead.
    pub(super) fn restarts_need_a_stopped_taskmanager(
        &self,
        raw: &[Spanned<RawFault>],
        faults: &[FaultSpec],
    ) -> Res<()> {
        if faults.iter().any(|f| matches!(f.action, FaultAction::RollingUpdate { .. })) {
            return Ok(());
        }
        let time = |f: &FaultSpec| match f.trigger {
            FaultTrigger::At { at_us } => at_us,
            FaultTrigger::AtRecord { .. } | FaultTrigger::AtPhase { .. } | FaultTrigger::AtLateDelivery { .. } => {
                u64::MAX
            }
        };
        let mut order: Vec<usize> = (0..faults.len()).collect();
        order.sort_by_key(|&i| (time(&faults[i]), i));
        // Per TaskManager: the fault that last took it down, if it is down.
        let mut down: BTreeMap<u32, &'static str> = BTreeMap::new();
        for i in order {
            match faults[i].action {
                FaultAction::KillTaskManager(tm) => {
                    down.insert(tm, "kill-taskmanager");
                }
                FaultAction::StopTaskManager(tm) => {
                    down.insert(tm, "stop-taskmanager");
                }
                FaultAction::LoseTaskManagerHost(tm) => {
                    down.insert(tm, "lose-taskmanager-host");
                }
                FaultAction::RestartTaskManager(tm) => {
                    let span = raw[i].get_ref().restart_taskmanager.as_ref().map_or(raw[i].span(), |v| v.span());
                    match down.remove(&tm) {
                        Some("lose-taskmanager-host") => {
                            return self.err_hint(
                                span,
                                format!("restart-taskmanager = {tm}: tm-{tm}'s host is lost before it; nothing can start there"),
                                "a lost host stays lost; restart a TaskManager that was killed or stopped",
                            );
                        }
                        Some(_) => {}
                        None => {
                            return self.err_hint(
                                span,
                                format!("restart-taskmanager = {tm}: tm-{tm} is running at that time, so the restart would do nothing"),
                                format!("restart-taskmanager starts a stopped TaskManager: kill it first (a fault with an earlier `at` and kill-taskmanager = {tm}), or use kill-taskmanager"),
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}
