//! A failover in words, for the summary (and the replay and `--json`): the failover line with
//! the checkpoint restored and where its files live, each recovery's phases (detection, cancel,
//! restart delay, deploy, restore), and what the restarted attempts held when they went.

use super::human::ms;
use crate::cluster::config::RestartStrategy;
use crate::cluster::jobmanager::FailoverReport;
use crate::cluster::state::ExecutionState;
use crate::run::Run;
use crate::sim::fmt_time;
use crate::trace::{FailureCause, Note};
use std::fmt::Write;

/// Where checkpoint `cp`'s metadata and state files live: `<execution.checkpointing.dir>/<job-id>/chk-<cp>`
/// of the scenario's first job (a run with `submit-job` steps names no single job).
pub(super) fn checkpoint_home(run: &Run, cp: u64) -> String {
    let resubmits = run.scenario.faults.iter().any(|f| matches!(f.action, crate::fault::FaultAction::SubmitJob(_)));
    if resubmits {
        let dir = run.scenario.flink.checkpoint_dir.as_deref().unwrap_or("<execution.checkpointing.dir>");
        format!("{dir}/<job-id>/chk-{cp}")
    } else {
        crate::cluster::jobmanager::snapshot_path_of(&run.scenario, 0, cp, false)
    }
}

pub(super) fn failover_line(run: &Run, i: usize, f: &FailoverReport) -> String {
    let g = &run.graph;
    let mut s = match f.failed_subtask {
        Some(st) => format!(
            "failover #{}: {} failed at {} ({}); JobManager knew {} later",
            i + 1,
            g.subtask_name(st),
            fmt_time(f.failed_at_us),
            f.cause.tag(),
            ms(f.detected_at_us - f.failed_at_us)
        ),
        None => format!(
            "failover #{}: a global failure at {} ({}), no task failed: the JobManager restarts the whole job",
            i + 1,
            fmt_time(f.failed_at_us),
            f.cause.tag()
        ),
    };
    if f.exhausted {
        s.push_str(match run.scenario.flink.restart_strategy {
            _ if f.cause == FailureCause::Unrecoverable => "; unrecoverable, no restart asked for: job fails",
            _ if run.outcome.notes.iter().any(|e| matches!(&e.note, crate::trace::Note::NoRestart { failover, reason } if *failover == i && reason.contains("StopWithSavepointStoppingException"))) => {
                "; after the stop-with-savepoint's savepoint completed: StopWithSavepointStoppingException, job fails"
            }
            RestartStrategy::None => "; restart strategy none: job fails",
            RestartStrategy::FailureRate { .. } => "; failure rate exceeded: job fails",
            _ => "; restart strategy exhausted: job fails",
        });
        return s;
    }
    let _ = write!(s, "; restarted {}/{} subtasks", f.restarted.len(), g.subtask_count());
    if let Some(cp) = f.restored_checkpoint {
        let _ = write!(
            s,
            " from checkpoint {cp} (from the JobManager's in-memory completed-checkpoint store; files in {})",
            checkpoint_home(run, cp)
        );
    } else if f.restart_at_us.is_some() {
        s.push_str(" from empty state (no checkpoint completed)");
    }
    if f.running_again_at_us.is_some() {
        // The recovery time is on the next line, measured from the fault.
    } else if f.restart_at_us.is_some() {
        s.push_str("; superseded by the next failover before all ran");
    }
    s
}

/// Where the time of a completed recovery went, from the trace (virtual µs).
pub struct Phases {
    /// The last fault injected before the failure, if one was.
    pub fault_at_us: Option<u64>,
    pub failed_at_us: u64,
    pub detected_at_us: u64,
    /// The last subtask of the failed set reached a terminal state.
    pub canceled_at_us: u64,
    /// The restart strategy's delay ended.
    pub restart_at_us: u64,
    /// The last restarted subtask was DEPLOYING (slots found).
    pub deploying_at_us: u64,
    pub initializing_at_us: u64,
    /// Every restarted subtask RUNNING again.
    pub running_at_us: u64,
}

impl Phases {
    /// The recovery time: from the fault (or the task failure without one) to all RUNNING.
    pub fn recovery_us(&self) -> u64 {
        self.running_at_us - self.fault_at_us.unwrap_or(self.failed_at_us)
    }

    pub(crate) fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = self.fault_at_us {
            parts.push(format!("fault → task failure {}", ms(self.failed_at_us - t)));
        }
        parts.push(format!("→ JobManager {}", ms(self.detected_at_us - self.failed_at_us)));
        parts.push(format!("cancel {}", ms(self.canceled_at_us - self.detected_at_us)));
        parts.push(format!("restart delay until {}", fmt_time(self.restart_at_us)));
        if self.deploying_at_us > self.restart_at_us {
            parts.push(format!("wait for slots {}", ms(self.deploying_at_us - self.restart_at_us)));
        }
        parts.push(format!("deploy {}", ms(self.initializing_at_us - self.deploying_at_us)));
        parts.push(format!("restore {}", ms(self.running_at_us - self.initializing_at_us)));
        format!(
            "recovery time {} (from the {} to all RUNNING): {}",
            ms(self.recovery_us()),
            if self.fault_at_us.is_some() { "fault" } else { "task failure" },
            parts.join(", ")
        )
    }
}

/// Where the time of a completed recovery went, from the trace: the fault, detection at the
/// task and at the JobManager, cancellation, the restart delay, deployment, state restore.
/// What the restarted attempts held when they went, from their TaskManagers' notes: records
/// dropped from input queues, records sources had read past the checkpoint (read again after
/// the restore), records in open transactions (aborted, written again), and subtasks that died
/// with their TaskManager's process (nothing could tell what they held).
pub(super) fn in_flight_line(run: &Run, f: &FailoverReport) -> Option<String> {
    let (restart_at, cp) = (f.restart_at_us?, f.restored_checkpoint);
    let notes = &run.outcome.notes;
    let set = |st: &crate::job::graph::SubtaskId| f.restarted.contains(st);
    let mut buffered = 0u64;
    // Per partition, the furthest any discarded source attempt had read it.
    let mut read: std::collections::BTreeMap<u32, u64> = std::collections::BTreeMap::new();
    let mut seen: Vec<crate::job::graph::SubtaskId> = Vec::new();
    for e in notes.iter().filter(|e| e.at_us >= f.failed_at_us && e.at_us <= restart_at) {
        if let Note::AttemptDiscarded { st, buffered: b, read: r } = &e.note
            && set(st)
            && !seen.contains(st)
        {
            seen.push(*st);
            buffered += b;
            for &(p, off) in r {
                let had = read.entry(p).or_insert(off);
                *had = (*had).max(off);
            }
        }
    }
    let (mut reread, mut aborted) = (0u64, 0u64);
    let mut rewound: Vec<crate::job::graph::SubtaskId> = Vec::new();
    let until = f.running_again_at_us.unwrap_or(u64::MAX);
    for e in notes.iter().filter(|e| e.at_us >= restart_at && e.at_us <= until) {
        match &e.note {
            Note::SourceRewound { st, positions } if set(st) && !rewound.contains(st) => {
                rewound.push(*st);
                for &(p, from) in positions {
                    let had = read.get(&p).copied().unwrap_or(from);
                    reread += had.saturating_sub(from);
                }
            }
            Note::SinkAborted { st, records, .. } if set(st) => aborted += records,
            _ => {}
        }
    }
    // A source always notes what it had read when its TaskManager tears it down: one without a
    // note died with its TaskManager's process.
    let is_source = |st: &crate::job::graph::SubtaskId| {
        let op = run.graph.task_of(*st).operators[0];
        matches!(run.graph.spec.operators[op.0 as usize].kind, crate::job::spec::OperatorKind::Source(_))
    };
    // Only an attempt that was RUNNING had read anything: one that failed or was cancelled
    // while deploying or restoring held nothing.
    let running_at_failure = |st: &crate::job::graph::SubtaskId| {
        notes
            .iter()
            .take_while(|e| e.at_us < f.failed_at_us)
            .filter_map(|e| match &e.note {
                Note::TaskState { st: s, to, .. } if s == st => Some(*to),
                _ => None,
            })
            .last()
            .is_some_and(|to| to == crate::cluster::state::ExecutionState::Running)
    };
    let died = f.restarted.iter().filter(|st| is_source(st) && !seen.contains(st) && running_at_failure(st)).count();
    let since = cp.map_or("the start".to_string(), |c| format!("checkpoint {c}"));
    let plural = |n: u64| if n == 1 { "" } else { "s" };
    let mut parts = Vec::new();
    if buffered > 0 {
        parts.push(format!("{buffered} queued record{} dropped", plural(buffered)));
    }
    if reread > 0 {
        parts.push(format!("{reread} record{} read again by the sources", plural(reread)));
    }
    if aborted > 0 {
        parts.push(format!("{aborted} record{} in open transactions aborted and written again", plural(aborted)));
    }
    if died > 0 {
        let n = died as u64;
        parts.push(format!(
            "{died} source subtask{} died with {} TaskManager ({} reads since then are redone too)",
            plural(n),
            if died == 1 { "its" } else { "their" },
            if died == 1 { "its" } else { "their" }
        ));
    }
    let what = if parts.is_empty() { String::new() } else { format!(": {}", parts.join(", ")) };
    Some(format!("in flight: nothing saved at the failure, back to {since}{what}"))
}

pub fn recovery_phases(run: &Run, f: &FailoverReport) -> Option<Phases> {
    let (restart_at, running_at) = (f.restart_at_us?, f.running_again_at_us?);
    let notes = &run.outcome.notes;
    let in_set = |st: &crate::job::graph::SubtaskId| f.to_restart.contains(st);
    let canceled_at = notes
        .iter()
        .filter(|e| e.at_us >= f.detected_at_us && e.at_us <= restart_at)
        .filter_map(|e| match &e.note {
            Note::TaskState { st, to, .. } if to.is_terminal() && in_set(st) => Some(e.at_us),
            _ => None,
        })
        .max()
        .unwrap_or(f.detected_at_us);
    let last_reached = |state: ExecutionState| {
        notes
            .iter()
            .filter(|e| e.at_us >= restart_at && e.at_us <= running_at)
            .filter_map(|e| match &e.note {
                Note::TaskState { st, to, .. } if *to == state && f.restarted.contains(st) => Some(e.at_us),
                _ => None,
            })
            .max()
            .unwrap_or(restart_at)
    };
    // The last fault injected before the failure (a poison record fires again on each replay).
    let fault_at_us = notes
        .iter()
        .filter(|e| e.at_us <= f.failed_at_us && matches!(e.note, Note::FaultInjected { .. }))
        .map(|e| e.at_us)
        .max();
    Some(Phases {
        fault_at_us,
        failed_at_us: f.failed_at_us,
        detected_at_us: f.detected_at_us,
        canceled_at_us: canceled_at,
        restart_at_us: restart_at,
        deploying_at_us: last_reached(ExecutionState::Deploying),
        initializing_at_us: last_reached(ExecutionState::Initializing),
        running_at_us: running_at,
    })
}
